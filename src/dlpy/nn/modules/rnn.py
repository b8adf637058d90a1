"""``torch.nn.modules.rnn``: the recurrent layers and cells with their bases ``RNNBase``
(``RNNBase(mode, input_size, hidden_size, ...)``) and ``RNNCellBase`` (``RNNCellBase(input_size,
hidden_size, bias, num_chunks)``) (dlpy.nn.rnn's), and ``apply_permutation`` (deprecated) /
``_apply_permutation``: ``tensor.index_select(dim, permutation)``."""

import warnings

from dlpy.nn import init  # noqa: F401
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)
from dlpy.nn.rnn import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    RNNBase,
    RNNCell,
    RNNCellBase,
)
from dlpy.nn.utils_rnn import PackedSequence  # noqa: F401

__all__ = [
    "RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell",
]


def _apply_permutation(tensor, permutation, dim: int = 1):
    """``tensor.index_select(dim, permutation)``: a state's batch reordered, as a packed
    sequence's sorted_indices reorder it (torch's helper)."""
    return tensor.index_select(dim, permutation)


def apply_permutation(tensor, permutation, dim: int = 1):
    """torch's deprecated name of ``_apply_permutation`` (it warns, FutureWarning)."""
    warnings.warn("`apply_permutation` is deprecated, please use `tensor.index_select(dim, "
                  "permutation)` instead", FutureWarning, stacklevel=2)
    return _apply_permutation(tensor, permutation, dim)
