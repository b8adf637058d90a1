"""torch.distributed._functional_collectives: collectives that return a new tensor instead of
writing into their argument (``y = funcol.all_reduce(x, "sum", group)``).

dlpy's collectives finish before they return, so a result is already complete: ``wait_tensor``
gives its argument back. ``group`` is a ProcessGroup (None: the default group), a DeviceMesh of
one dimension, or a ``(DeviceMesh, mesh_dim)`` pair. The results are plain Tensors with no
graph, except ``all_to_all_single_autograd``, whose backward is the reverse exchange.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dlpy.distributed import torch_api
from dlpy.distributed.device_mesh import DeviceMesh
from dlpy.tensor import Op, Tensor


def _group(group: Any) -> Any:
    """The ProcessGroup that ``group`` (a group, a mesh or a (mesh, dim) pair) stands for."""
    if isinstance(group, tuple) and len(group) == 2 and isinstance(group[0], DeviceMesh):
        return group[0].get_group(group[1])
    if isinstance(group, DeviceMesh):
        return group.get_group()
    return group


def wait_tensor(tensor: Tensor) -> Tensor:
    """The finished result of a functional collective: ``tensor`` itself (dlpy's are
    synchronous)."""
    return tensor


def all_reduce(self: Tensor, reduceOp: str, group: Any) -> Tensor:  # noqa: N803
    """A copy of ``self`` reduced over the ranks of ``group`` with ``reduceOp`` ("sum",
    "avg", "max", "min", "product")."""
    out = self.detach().clone()
    torch_api.all_reduce(out, getattr(torch_api.ReduceOp, reduceOp.upper()), _group(group))
    return out


def all_gather_tensor(self: Tensor, gather_dim: int, group: Any) -> Tensor:
    """The ranks' ``self`` concatenated along ``gather_dim`` (in rank order)."""
    pg = _group(group)
    source = self.detach().movedim(gather_dim, 0).contiguous()
    out = source.new_empty((source.shape[0] * torch_api.get_world_size(pg),)
                           + tuple(source.shape[1:]))
    torch_api.all_gather_into_tensor(out, source, pg)
    return out.movedim(0, gather_dim).contiguous()


def reduce_scatter_tensor(self: Tensor, reduceOp: str, scatter_dim: int,  # noqa: N803
                          group: Any) -> Tensor:
    """``self`` reduced over the ranks and split along ``scatter_dim``: this rank's piece."""
    pg = _group(group)
    source = self.detach().movedim(scatter_dim, 0).contiguous()
    out = source.new_empty((source.shape[0] // torch_api.get_world_size(pg),)
                           + tuple(source.shape[1:]))
    torch_api.reduce_scatter_tensor(out, source, getattr(torch_api.ReduceOp, reduceOp.upper()),
                                    pg)
    return out.movedim(0, scatter_dim).contiguous()


def _exchange(x: Tensor, output_split_sizes: Sequence[int] | None,
              input_split_sizes: Sequence[int] | None, pg: Any) -> Tensor:
    """all_to_all_single into a new tensor: rows ``input_split_sizes[j]`` go to rank j."""
    rows = (sum(output_split_sizes) if output_split_sizes is not None else x.shape[0])
    out = x.new_empty((rows,) + tuple(x.shape[1:]))
    torch_api.all_to_all_single(out, x.contiguous(),
                                None if output_split_sizes is None else list(output_split_sizes),
                                None if input_split_sizes is None else list(input_split_sizes),
                                pg)
    return out


def all_to_all_single(self: Tensor, output_split_sizes: Sequence[int] | None,
                      input_split_sizes: Sequence[int] | None, group: Any) -> Tensor:
    """The rows the ranks send this one (``self``'s rows split by ``input_split_sizes``, part j
    to rank j; equal parts when None)."""
    return _exchange(self.detach(), output_split_sizes, input_split_sizes, _group(group))


class _AllToAll(Op):
    """all_to_all_single whose gradient goes back by the reverse exchange."""

    saves = ()

    def __init__(self, output_split_sizes, input_split_sizes, pg):
        self.sizes, self.pg = (output_split_sizes, input_split_sizes), pg

    def forward(self, x):
        return _exchange(Tensor(x), *self.sizes, self.pg).data

    def backward(self, grad_output):
        return (_exchange(Tensor(grad_output), self.sizes[1], self.sizes[0], self.pg).data,)


def all_to_all_single_autograd(self: Tensor, output_split_sizes: Sequence[int] | None,
                               input_split_sizes: Sequence[int] | None, group: Any) -> Tensor:
    """all_to_all_single recorded for autograd: the backward sends the gradient's rows back
    to where they came from."""
    return _AllToAll(output_split_sizes, input_split_sizes, _group(group))(self)
