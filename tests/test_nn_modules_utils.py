"""dlpy.nn.modules.utils (torch.nn.modules.utils): n-tuples and stripping a key prefix."""

from collections import OrderedDict

from dlpy import nn
from dlpy.nn.modules.utils import (
    _pair,
    _reverse_repeat_tuple,
    _triple,
    consume_prefix_in_state_dict_if_present,
)


def test_ntuples():
    assert _pair(3) == (3, 3) and _pair([1, 2]) == (1, 2) and _triple(0) == (0, 0, 0)
    assert _reverse_repeat_tuple((1, 2), 2) == (2, 2, 1, 1)


def test_consume_prefix_strips_keys_and_metadata():
    wrapped = nn.Sequential()
    wrapped.add_module("module", nn.Linear(2, 1))
    state = wrapped.state_dict()
    consume_prefix_in_state_dict_if_present(state, "module.")
    assert list(state) == ["weight", "bias"]
    assert "" in state._metadata and "module" not in state._metadata
    nn.Linear(2, 1).load_state_dict(state)
    plain = OrderedDict(a=1, **{"m.b": 2})
    consume_prefix_in_state_dict_if_present(plain, "m.")
    assert list(plain) == ["a", "b"]
