"""AdaptiveLogSoftmaxWithLoss: Grave et al.'s adaptive softmax (a frequent-class head plus one
low-rank cluster a tail), built from Linear, log_softmax, gather and index_add."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dlpy import functional as F
from dlpy.nn.container import ModuleList, Sequential
from dlpy.nn.linear import Linear
from dlpy.nn.module import Module
from dlpy.ops import ArgError
from dlpy.ops.indexing import index_add
from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array, no_grad, parameter_dtype


class _ASMoutput(NamedTuple):
    """output: each row's log-probability of its target, (batch,); loss: the mean of -output.
    Named as PyTorch's namedtuple (_ASMoutput); dlpy exports it as ASMOutput too."""
    output: Tensor
    loss: Tensor


ASMOutput = _ASMoutput


class AdaptiveLogSoftmaxWithLoss(Module):
    """torch.nn.AdaptiveLogSoftmaxWithLoss: classes below cutoffs[0] scored by the head, the
    others by cluster i's two bias-free Linears (in -> in // div_value**(i+1) -> cluster size),
    weighted by the head's log-probability of the cluster. Parameters named as PyTorch's:
    head.weight (cutoffs[0] + n_clusters, in), tail.{i}.0.weight, tail.{i}.1.weight.
    """

    def __init__(self, in_features: int, n_classes: int, cutoffs, div_value: float = 4.0,
                 head_bias: bool = False, rng=None, dtype=None):
        dtype = parameter_dtype(dtype, type(self).__name__)
        super().__init__()
        cutoffs = list(cutoffs)
        if not cutoffs:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs must be a non-empty sequence, "
                             "got []")
        if (any(not float(c).is_integer() for c in cutoffs) or cutoffs != sorted(cutoffs)
                or len(set(cutoffs)) != len(cutoffs) or min(cutoffs) <= 0
                or max(cutoffs) > n_classes - 1):
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: cutoffs must be unique increasing "
                             f"integers in [1, n_classes - 1 = {n_classes - 1}], got {cutoffs}")
        rng = get_rng(rng)
        self.in_features, self.n_classes = in_features, n_classes
        self.cutoffs = [int(c) for c in cutoffs] + [n_classes]
        self.div_value, self.head_bias = div_value, head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        self.head = Linear(in_features, self.head_size, bias=head_bias, rng=rng, dtype=dtype)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(
                Linear(in_features, hidden, bias=False, rng=rng, dtype=dtype),
                Linear(hidden, size, bias=False, rng=rng, dtype=dtype)))

    def reset_parameters(self) -> None:
        """The head's and every cluster's Linears redrawn in place (PyTorch's)."""
        self.head.reset_parameters()
        for projection, output in self.tail:
            projection.reset_parameters()
            output.reset_parameters()

    def _batched(self, name: str, x: Tensor) -> tuple[Tensor, bool]:
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ArgError(f"AdaptiveLogSoftmaxWithLoss.{name}: expected input (batch, "
                           f"{self.in_features}) or ({self.in_features},), got {x.shape}")
        return (x, True) if x.ndim == 2 else (x.reshape(1, -1), False)

    def forward(self, input_: Tensor, target_) -> ASMOutput:
        """input_ (batch, in_features) and target_ (batch,) of class indices, or (in_features,)
        and a single index (torch's parameter names); output (batch,) (or ()) and loss, a
        number."""
        x, target = input_, target_
        target = as_array(target)
        if target.ndim > 1 or not np.issubdtype(target.dtype, np.integer):
            raise ArgError(f"AdaptiveLogSoftmaxWithLoss: target must be 0-D or 1-D integers, "
                             f"got shape {target.shape} dtype {target.dtype}")
        if x.ndim != target.ndim + 1 or (target.ndim and x.shape[0] != target.shape[0]):
            raise ArgError(f"AdaptiveLogSoftmaxWithLoss: expected input (batch, "
                           f"{self.in_features}) with target (batch,) or input "
                           f"({self.in_features},) with a 0-D target, got {x.shape} and "
                           f"{target.shape}")
        x, batched = self._batched("forward", x)
        target = target.reshape(-1)
        if target.size and (target.min() < 0 or target.max() >= self.n_classes):
            raise ArgError(f"AdaptiveLogSoftmaxWithLoss: target values must be in [0, "
                           f"{self.n_classes - 1}], got [{target.min()}, {target.max()}]")
        # head column per row: the class itself in the shortlist, else its cluster's entry
        cluster = np.searchsorted(self.cutoffs, target, side="right")  # 0 = shortlist
        head_index = np.where(cluster == 0, target, self.shortlist_size + cluster - 1)
        head_logprob = F.log_softmax(self.head(x), dim=1)
        output = F.gather(head_logprob, 1, head_index.reshape(-1, 1)).reshape(-1)
        for i in range(1, len(self.cutoffs)):
            rows = np.flatnonzero(cluster == i)
            if rows.size == 0:
                continue
            local = (target[rows] - self.cutoffs[i - 1]).reshape(-1, 1)
            cluster_logprob = F.log_softmax(self.tail[i - 1](F.index_select(x, 0, rows)), dim=1)
            output = index_add(output, 0, rows, F.gather(cluster_logprob, 1, local).reshape(-1))
        loss = (-output).mean()
        return ASMOutput(output if batched else output.reshape(()), loss)

    def _full_log_prob(self, x: Tensor, head_output: Tensor) -> Tensor:
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i, tail in enumerate(self.tail):
            cluster_logprob = F.log_softmax(tail(x), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i:
                                                        self.shortlist_size + i + 1])
        return F.cat(parts, dim=1)

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-probabilities of every class: (batch, n_classes) for x (batch, in_features)."""
        x, batched = self._batched("log_prob", x)
        out = self._full_log_prob(x, self.head(x))
        return out if batched else out.reshape(-1)

    def predict(self, x: Tensor) -> Tensor:
        """The most likely class of each row (an int64 Tensor, (batch,) or ()); the tails are
        evaluated only for rows whose head argmax is a cluster."""
        x, batched = self._batched("predict", x)
        with no_grad():
            head_output = self.head(x)
            prediction = np.argmax(head_output.data, axis=1).astype(np.int64)
            rows = np.flatnonzero(prediction >= self.shortlist_size)
            if rows.size:
                full = self._full_log_prob(F.index_select(x, 0, rows),
                                           F.index_select(head_output, 0, rows))
                prediction[rows] = np.argmax(full.data, axis=1)
        return Tensor(prediction if batched else prediction[0])
    # no extra_repr: torch's prints its head and tail only
