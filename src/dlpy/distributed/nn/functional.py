"""Differentiable collectives (torch.distributed.nn.functional): they return new tensors and
record an op whose backward is the matching collective of the gradient.

all_reduce (SUM or AVG): backward all_reduce of the gradient with the same op. broadcast:
backward the sum of the ranks' gradients on ``src``, zero on the others. all_gather: a tuple of
world_size tensors; backward reduce_scatter (the sum over ranks of each one's gradient for my
slice). Every rank must run the backward (the collectives in it wait for each other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.torch_api import ReduceOp
from dlpy.tensor import Op, Tensor


class AllReduce(Op):
    """y = the reduction over the ranks of x;  dx = all_reduce(dy) with the same op (the sum's
    gradient is the sum of the ranks' gradients: every rank's x feeds every rank's y)."""

    saves = ()

    def __init__(self, op: ReduceOp, group: Any):
        self.op, self.group = op, group

    def forward(self, x):
        out = np.array(x, order="C")
        torch_api.all_reduce(out, self.op, self.group)
        return out

    def backward(self, grad_output):
        grad = np.array(grad_output, order="C")
        torch_api.all_reduce(grad, self.op, self.group)
        return (grad,)


class Broadcast(Op):
    """y = x of rank src on every rank;  dx = sum over ranks of dy on src, 0 on the others."""

    saves = ()

    def __init__(self, src: int, group: Any):
        self.src, self.group = src, group

    def forward(self, x):
        out = np.array(x, order="C")
        torch_api.broadcast(out, self.src, self.group)
        return out

    def backward(self, grad_output):
        grad = np.array(grad_output, order="C")
        torch_api.reduce(grad, self.src, ReduceOp.SUM, self.group)
        if torch_api.get_rank() != self.src:
            grad[...] = 0
        return (grad,)


class AllGather(Op):
    """y[r] = rank r's x, stacked (world_size, *x.shape);  dx = sum over ranks of dy[rank]."""

    saves = ()

    def __init__(self, group: Any):
        self.group = group

    def forward(self, x):
        out = np.empty((torch_api.get_world_size(self.group), *x.shape), dtype=x.dtype)
        torch_api.all_gather_into_tensor(out, np.ascontiguousarray(x), self.group)
        return out

    def backward(self, grad_output):
        grad = np.empty(grad_output.shape[1:], dtype=grad_output.dtype)
        torch_api.reduce_scatter_tensor(grad, np.ascontiguousarray(grad_output),
                                        ReduceOp.SUM, self.group)
        return (grad,)


def _check(name: str, tensor: Any, group: Any) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}: expected a dlpy Tensor, got {type(tensor).__name__}")
    if group is torch_api.GroupMember.NON_GROUP_MEMBER:
        raise ValueError(f"{name}: this rank is not a member of the group")


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM, group: Any = None) -> Tensor:
    """The reduction over the ranks of ``tensor``, differentiable for SUM and AVG."""
    _check("all_reduce", tensor, group)
    if op not in (ReduceOp.SUM, ReduceOp.AVG):
        raise ValueError(f"all_reduce: the differentiable all_reduce takes ReduceOp.SUM or "
                         f"ReduceOp.AVG, got {torch_api._op_name(op)} (torch would "
                         "back-propagate its gradient through the same op, which is not the "
                         "gradient of MIN, MAX, PRODUCT)")
    return AllReduce(op, group)(tensor)


def broadcast(tensor: Tensor, src: int, group: Any = None) -> Tensor:
    """Global rank ``src``'s ``tensor`` on every rank, differentiable."""
    _check("broadcast", tensor, group)
    return Broadcast(src, group)(tensor)


def all_gather(tensor: Tensor, group: Any = None) -> tuple[Tensor, ...]:
    """Every rank's ``tensor`` (same shapes), as a tuple in rank order, differentiable."""
    _check("all_gather", tensor, group)
    stacked = AllGather(group)(tensor)
    return tuple(stacked[r] for r in range(stacked.shape[0]))
