"""DTensor: a tensor laid out over a DeviceMesh, one Placement per mesh dimension.

A DTensor is a dlpy Tensor whose ``.data`` is this rank's piece (the *local* tensor) and whose
``shape`` is the global one; ``placements`` say how the pieces make the global value. Every
change of layout is a recorded op whose backward is the reverse change (torch's rule: Partial
becomes Replicate on the way back), so gradients flow through ``from_local``, ``to_local``,
``redistribute`` and ``full_tensor``.

Gradients keep one convention: the gradient of a Shard DTensor is sharded like it, that of a
Replicate or Partial DTensor is the whole gradient on every rank. An op that combines a
Replicate operand with a sharded one (``x @ w`` with x Replicate and w sharded) gives that
operand only this rank's share of its gradient, so it is passed through ``_PartialGrad``
(identity forward, all-reduce backward): Megatron's "f" operator, where torch would carry a
Partial gradient and reduce it later (same sums, one more all-reduce at most).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.device_mesh import DeviceMesh, init_device_mesh
from dlpy.distributed.tensor.placement_types import (
    Partial,
    Placement,
    Replicate,
    Shard,
    _StridedShard,
)
from dlpy.nn.module import Module, Parameter
from dlpy.size import Size
from dlpy.tensor import Op, Tensor, _comparable, as_array, register_piece_type

ReduceOp = torch_api.ReduceOp


# ----------------------------------------------------------------- layout arithmetic
def chunk_range(size: int, pieces: int, index: int) -> tuple[int, int]:
    """[start, end) of piece ``index`` when ``size`` is split as torch.chunk does."""
    step = -(-size // pieces) if size else 0
    return min(index * step, size), min((index + 1) * step, size)


class DTensorSpec:
    """The mesh, the placements (Shard dims made >= 0), the global shape and dtype."""

    __slots__ = ("mesh", "placements", "shape", "dtype")

    def __init__(self, mesh: DeviceMesh, placements: tuple[Placement, ...],
                 shape: tuple[int, ...], dtype: np.dtype):
        self.mesh, self.placements, self.shape, self.dtype = mesh, placements, shape, dtype

    def with_placements(self, placements: tuple[Placement, ...]) -> DTensorSpec:
        return DTensorSpec(self.mesh, placements, self.shape, self.dtype)

    def local_range(self, dim: int) -> tuple[int, int]:
        """[start, end) of this rank's piece along tensor dimension ``dim``."""
        start, end = 0, self.shape[dim]
        for mesh_dim, placement in enumerate(self.placements):
            if placement.is_shard(dim):
                piece = chunk_range(end - start, self.mesh.size(mesh_dim),
                                    self.mesh.get_local_rank(mesh_dim))
                start, end = start + piece[0], start + piece[1]
        return start, end

    def local_shape(self) -> tuple[int, ...]:
        return tuple(end - start for start, end in map(self.local_range, range(len(self.shape))))


def _normalized(name: str, mesh: DeviceMesh, placements: Any, ndim: int
                ) -> tuple[Placement, ...]:
    """``placements`` as a tuple with one Placement per mesh dimension, Shard dims >= 0."""
    if placements is None:
        return tuple(Replicate() for _ in range(mesh.ndim))
    if isinstance(placements, Placement):
        placements = (placements,)
    placements = tuple(placements)
    if len(placements) != mesh.ndim:
        raise ValueError(f"{name}: `placements` must have the same length as "
                         f"`device_mesh.ndim`! Found placements length: {len(placements)}, and "
                         f"device_mesh.ndim: {mesh.ndim} ({list(placements)})")
    result = []
    for placement in placements:
        if not isinstance(placement, Placement):
            raise TypeError(f"{name}: expected Shard, Replicate or Partial placements, got "
                            f"{placement!r}")
        if isinstance(placement, _StridedShard):
            raise NotImplementedError(f"{name}: dlpy's DTensor lays out Shard, Replicate and "
                                      f"Partial only, not {placement!r}")
        if placement.is_shard():
            if not -ndim <= placement.dim < ndim:
                raise IndexError(f"{name}: Shard(dim={placement.dim}): Dimension out of range "
                                 f"(expected to be in range of [{-ndim}, {ndim - 1}], but got "
                                 f"{placement.dim})")
            placement = Shard(placement.dim % ndim)
        result.append(placement)
    return tuple(result)


def _gradient_placements(placements: tuple[Placement, ...]) -> tuple[Placement, ...]:
    """The layout gradients come in: a Partial value's gradient is Replicate (torch's)."""
    return tuple(Replicate() if p.is_partial() else p for p in placements)


# ----------------------------------------------------------------- one mesh dimension
def _pad_to(array: np.ndarray, dim: int, size: int) -> np.ndarray:
    if array.shape[dim] == size:
        return array
    widths = [(0, 0)] * array.ndim
    widths[dim] = (0, size - array.shape[dim])
    return np.pad(array, widths)


def _all_gather(array: np.ndarray, dim: int, size: int, mesh: DeviceMesh, mesh_dim: int
                ) -> np.ndarray:
    """Shard(dim) -> Replicate: the pieces (padded to the chunk size) gathered and trimmed."""
    n = mesh.size(mesh_dim)
    step = -(-size // n) if size else 0
    block = np.ascontiguousarray(np.moveaxis(_pad_to(array, dim, step), dim, 0))
    out = np.empty((n * step, *block.shape[1:]), dtype=array.dtype)
    torch_api.all_gather_into_tensor(out, block, mesh.get_group(mesh_dim))
    return np.moveaxis(out[:size], 0, dim)


def _reduce_scatter(array: np.ndarray, dim: int, mesh: DeviceMesh, mesh_dim: int
                    ) -> np.ndarray:
    """Partial -> Shard(dim): the sum of the ranks' arrays, this rank's piece of it."""
    n, size = mesh.size(mesh_dim), array.shape[dim]
    step = -(-size // n) if size else 0
    block = np.ascontiguousarray(np.moveaxis(_pad_to(array, dim, n * step), dim, 0))
    out = np.empty((step, *block.shape[1:]), dtype=array.dtype)
    torch_api.reduce_scatter_tensor(out, block, ReduceOp.SUM, mesh.get_group(mesh_dim))
    start, end = chunk_range(size, n, mesh.get_local_rank(mesh_dim))
    return np.moveaxis(out[:end - start], 0, dim)


def _all_reduce(array: np.ndarray, mesh: DeviceMesh, mesh_dim: int) -> np.ndarray:
    """Partial -> Replicate."""
    out = np.array(array, order="C")
    torch_api.all_reduce(out, ReduceOp.SUM, mesh.get_group(mesh_dim))
    return out


def _chunk(array: np.ndarray, dim: int, mesh: DeviceMesh, mesh_dim: int) -> np.ndarray:
    """Replicate -> Shard(dim): this rank's piece, no communication."""
    start, end = chunk_range(array.shape[dim], mesh.size(mesh_dim),
                             mesh.get_local_rank(mesh_dim))
    index = [slice(None)] * array.ndim
    index[dim] = slice(start, end)
    return np.ascontiguousarray(array[tuple(index)])


def _all_to_all(array: np.ndarray, source: int, target: int, sizes: tuple[int, ...],
                mesh: DeviceMesh, mesh_dim: int) -> np.ndarray:
    """Shard(source) -> Shard(target): piece j of my ``target`` axis goes to rank j, which
    joins what it receives along ``source``."""
    n, me = mesh.size(mesh_dim), mesh.get_local_rank(mesh_dim)
    sends = []
    for j in range(n):
        start, end = chunk_range(sizes[target], n, j)
        index = [slice(None)] * array.ndim
        index[target] = slice(start, end)
        sends.append(np.ascontiguousarray(array[tuple(index)]))
    mine = chunk_range(sizes[target], n, me)
    receives = []
    for j in range(n):
        start, end = chunk_range(sizes[source], n, j)
        shape = list(array.shape)
        shape[source], shape[target] = end - start, mine[1] - mine[0]
        receives.append(np.empty(shape, dtype=array.dtype))
    torch_api.all_to_all(receives, sends, mesh.get_group(mesh_dim))
    return np.concatenate(receives, axis=source)


def transform(array: np.ndarray, spec: DTensorSpec, placements: tuple[Placement, ...]
              ) -> np.ndarray:
    """This rank's piece in ``placements`` from its piece in ``spec.placements``: per mesh
    dimension, first what gathers or reduces (S->R all-gather, P->R all-reduce, P->S
    reduce-scatter, S(i)->S(j) all-to-all), then what splits (R->S local chunk, R->P divide by
    the number of ranks)."""
    mesh, shape = spec.mesh, spec.shape
    current = list(spec.placements)

    def check_single(mesh_dim: int, dim: int) -> None:
        others = [i for i, p in enumerate(current) if p.is_shard(dim) and i != mesh_dim]
        if others:
            raise NotImplementedError(
                f"redistribute: tensor dimension {dim} would be sharded over mesh dimensions "
                f"{sorted([mesh_dim, *others])} at once ({spec.placements} -> {placements}); "
                "dlpy shards a tensor dimension over one mesh dimension at a time")

    for stage in ("reduce", "reshard", "split"):
        for mesh_dim, (old, new) in enumerate(zip(list(current), placements)):
            if old == new:
                continue
            if stage == "reduce" and old.is_shard() and not new.is_shard():
                check_single(mesh_dim, old.dim)
                array = _all_gather(array, old.dim, shape[old.dim], mesh, mesh_dim)
                current[mesh_dim] = Replicate()
            elif stage == "reduce" and old.is_partial() and new.is_replicate():
                array = _all_reduce(array, mesh, mesh_dim)
                current[mesh_dim] = new
            elif stage == "reshard" and old.is_partial() and new.is_shard():
                check_single(mesh_dim, new.dim)
                array = _reduce_scatter(array, new.dim, mesh, mesh_dim)
                current[mesh_dim] = new
            elif stage == "reshard" and old.is_shard() and new.is_shard():
                check_single(mesh_dim, old.dim)
                check_single(mesh_dim, new.dim)
                array = _all_to_all(array, old.dim, new.dim, shape, mesh, mesh_dim)
                current[mesh_dim] = new
            elif stage == "split" and old.is_replicate() and new.is_shard():
                check_single(mesh_dim, new.dim)
                array = _chunk(array, new.dim, mesh, mesh_dim)
                current[mesh_dim] = new
            elif stage == "split" and old.is_replicate() and new.is_partial():
                array = array / mesh.size(mesh_dim)
                current[mesh_dim] = new
    return array


# ----------------------------------------------------------------- recorded ops
class _Identity(Op):
    """y = x (a DTensor's local piece as a plain Tensor, or back);  dx = dy."""

    saves = ()
    reads_local_piece = True  # the engine lets it take a DTensor

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return (grad_output,)


class _Redistribute(Op):
    """y = x laid out in other placements;  dx = dy laid out back (Partial read as
    Replicate on the way back, as torch's)."""

    saves = ()
    reads_local_piece = True  # the engine lets it take a DTensor

    def __init__(self, spec: DTensorSpec, placements: tuple[Placement, ...]):
        self.spec, self.placements = spec, placements

    def forward(self, x):
        return transform(x, self.spec, self.placements)

    def backward(self, grad_output):
        back = self.spec.with_placements(_gradient_placements(self.placements))
        return (transform(grad_output, back, _gradient_placements(self.spec.placements)),)


class _PartialGrad(Op):
    """y = x;  dx = the sum of dy over the ranks of the given mesh dimensions (a Replicate
    operand's gradient from an op with sharded operands is only this rank's share)."""

    saves = ()

    def __init__(self, mesh: DeviceMesh, mesh_dims: Sequence[int]):
        self.mesh, self.mesh_dims = mesh, tuple(mesh_dims)

    def forward(self, x):
        return x

    def backward(self, grad_output):
        grad = grad_output
        for mesh_dim in self.mesh_dims:
            grad = _all_reduce(grad, self.mesh, mesh_dim)
        return (grad,)


# ----------------------------------------------------------------- DTensor
class DTensor(Tensor):
    """A tensor spread over a DeviceMesh. ``.data`` is this rank's piece; ``shape``,
    ``ndim``, ``size()`` and ``numel()`` are the global ones. Make one with
    ``distribute_tensor`` or ``DTensor.from_local``."""

    __slots__ = ("_spec",)

    # ------------------------------------------------------------- construction
    @staticmethod
    def _adopt(out: Tensor, spec: DTensorSpec, cls: type | None = None) -> DTensor:
        """A DTensor that takes the place of ``out`` (an op's output) in the graph."""
        result = Tensor.__new__(cls or DTensor)
        result._spec = spec
        result.data = out.data
        result._grad = None
        result.requires_grad = out.requires_grad
        result.op = out.op
        result.name = None
        result._hooks = None
        result._tick = getattr(out, "_tick", 0)
        return result

    @staticmethod
    def from_local(local_tensor: Any, device_mesh: DeviceMesh | None = None,
                   placements: Sequence[Placement] | None = None, *, run_check: bool = False,
                   shape: Sequence[int] | None = None, stride: Sequence[int] | None = None
                   ) -> DTensor:
        """The DTensor whose piece on this rank is ``local_tensor`` (differentiable: the
        gradient comes back as the local piece's). Without ``shape`` the pieces are taken to
        be even (global = local x mesh size along each Shard). ``run_check=True`` checks
        that the ranks agree on dtype and global shape and broadcasts rank 0's piece along
        Replicate dimensions."""
        if isinstance(local_tensor, DTensor):
            raise RuntimeError("DTensor.from_local: the local_tensor argument only accepts a "
                               "plain Tensor but got a DTensor")
        if not isinstance(local_tensor, Tensor):
            local_tensor = Tensor(np.asarray(local_tensor))
        mesh = _mesh_or_world(device_mesh, "DTensor.from_local")
        local = local_tensor.data
        placements = _normalized("DTensor.from_local", mesh, placements, local.ndim)
        if shape is None:
            global_shape = list(local.shape)
            for mesh_dim, placement in enumerate(placements):
                if placement.is_shard():
                    global_shape[placement.dim] *= mesh.size(mesh_dim)
            shape = tuple(global_shape)
        else:
            shape = tuple(int(s) for s in shape)
            if len(shape) != local.ndim:
                raise ValueError(f"DTensor.from_local: shape {shape} has {len(shape)} "
                                 f"dimensions, the local tensor {local.shape} {local.ndim}")
        spec = DTensorSpec(mesh, placements, shape, local.dtype)
        if stride is not None and tuple(stride) != _contiguous_stride(shape):
            raise ValueError(f"DTensor.from_local: dlpy's DTensors are contiguous; stride "
                             f"{tuple(stride)} differs from {_contiguous_stride(shape)}")
        if spec.local_shape() != local.shape:
            raise ValueError(f"DTensor.from_local: the local tensor has shape {local.shape}, "
                             f"but global shape {shape} with {list(placements)} gives this rank "
                             f"{spec.local_shape()}")
        if run_check:
            _run_check(local, spec)
            for mesh_dim, placement in enumerate(placements):
                if placement.is_replicate():
                    local = np.array(local, order="C")
                    group = mesh.get_group(mesh_dim)
                    torch_api.broadcast(local, torch_api.get_global_rank(group, 0), group)
            if local is not local_tensor.data:  # rank 0's values, still from local_tensor
                local_tensor = _Replace(local)(local_tensor)
        return DTensor._adopt(_Identity()(local_tensor), spec)

    # ------------------------------------------------------------- layout
    @property
    def device_mesh(self) -> DeviceMesh:
        return self._spec.mesh

    @property
    def placements(self) -> tuple[Placement, ...]:
        return self._spec.placements

    @property
    def shape(self) -> Size:
        return Size(self._spec.shape)

    @property
    def ndim(self) -> int:
        return len(self._spec.shape)

    def dim(self) -> int:
        return self.ndim

    def size(self, dim: int | None = None):
        return Size(self._spec.shape) if dim is None else self._spec.shape[dim]

    def numel(self) -> int:
        return int(np.prod(self._spec.shape))

    def __len__(self) -> int:
        if not self._spec.shape:
            raise TypeError("len() of a 0-d DTensor")
        return self._spec.shape[0]

    def stride(self, dim: int | None = None):
        stride = _contiguous_stride(self._spec.shape)
        return stride if dim is None else stride[dim]

    def __repr__(self) -> str:
        return (f"DTensor(local_tensor={self.data!r}, device_mesh={self.device_mesh!r}, "
                f"placements={self.placements})")

    # ------------------------------------------------------------- conversions
    def to_local(self, *, grad_placements: Sequence[Placement] | None = None) -> Tensor:
        """This rank's piece as a plain Tensor (a view, differentiable). ``grad_placements``:
        the layout the gradient of the result will have (by default these placements)."""
        local = _Identity()(self)
        if grad_placements is None:
            return local
        placements = _normalized("to_local", self.device_mesh, grad_placements, self.ndim)
        target = _gradient_placements(self.placements)
        if placements == target:
            return local
        # the gradient arrives in ``placements`` and must become ``target``: a redistribute
        # from target to placements whose backward does it (its forward is the identity here)
        return _GradLayout(self._spec.with_placements(target), placements)(local)

    def full_tensor(self, *, grad_placements: Sequence[Placement] | None = None) -> Tensor:
        """The global value on every rank (all-gathers and all-reduces), a plain Tensor."""
        replicated = self.redistribute(placements=[Replicate()] * self.device_mesh.ndim)
        return replicated.to_local(grad_placements=grad_placements)

    def redistribute(self, device_mesh: DeviceMesh | None = None,
                     placements: Sequence[Placement] | None = None, *, async_op: bool = False,
                     forward_dtype: Any = None, backward_dtype: Any = None) -> DTensor:
        """The same global value in other placements (differentiable: the backward
        redistributes the gradient back)."""
        if device_mesh is not None and device_mesh != self.device_mesh:
            raise NotImplementedError(f"redistribute: cross-mesh redistribution is not "
                                      f"supported ({self.device_mesh} -> {device_mesh})")
        if forward_dtype is not None or backward_dtype is not None:
            raise NotImplementedError("redistribute: forward_dtype/backward_dtype are not "
                                      "supported")
        if placements is None:
            raise RuntimeError("placements is needed for redistribute!")
        placements = _normalized("redistribute", self.device_mesh, placements, self.ndim)
        for old, new in zip(self.placements, placements):
            if new.is_partial() and old != new:
                raise RuntimeError(f"Can not redistribute from {old} to {new}, "
                                   "redistributing to Partial is for internal use only!")
        return _redistribute(self, placements)

    def detach(self) -> DTensor:
        return DTensor._adopt(Tensor(self.data), self._spec)

    def item(self):
        """The value of a one-element DTensor that every rank holds whole (Replicate)."""
        if not all(p.is_replicate() for p in self.placements):
            raise _ops()._unsupported("item (of a DTensor not Replicate)", self)
        return self.data.item()

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops().reshape(self, shape)

    def view(self, *shape):
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        start, end = start_dim % max(self.ndim, 1), end_dim % max(self.ndim, 1)
        shape = self.shape
        return _ops().reshape(self, (*shape[:start], int(np.prod(shape[start:end + 1])),
                                     *shape[end + 1:]))

    @staticmethod
    def _check_op(op: Op) -> None:
        """Called by the engine for an op given a DTensor: only DTensor's own ops may see
        its local piece; any other would compute on the piece as if it were the whole."""
        if not getattr(op, "reads_local_piece", False):
            raise NotImplementedError(
                f"DTensor: operator {type(op).__name__!r} has no sharding rule in dlpy (it "
                "was given a DTensor through a function that does not dispatch on DTensors); "
                "call .full_tensor() or .to_local() first, or redistribute")

    @staticmethod
    def grad_norm_power(params: Sequence[Any], norm_type: float) -> float:
        """sum |g|^norm_type over the whole gradients of DTensor ``params`` (``inf``: the
        largest |g|), the same on every rank: each local gradient's part, summed (or maxed)
        over the mesh dimensions its parameter is sharded on (replicas hold equal pieces and
        count once); one all-reduce per (mesh, sharded dims) group, in the parameters' order.
        clip_grad_norm_'s part for FSDP2 and tensor-parallel parameters."""
        from dlpy.optim.optimizer import norm_power

        inf = norm_type == np.inf
        groups: dict[tuple[int, tuple[int, ...]], list[Any]] = {}
        for p in params:
            spec = p._spec
            dims = tuple(i for i, pl in enumerate(spec.placements) if pl.is_shard())
            part = norm_power([as_array(p.grad)], norm_type)
            entry = groups.setdefault((id(spec.mesh), dims), [spec.mesh, dims, 0.0])
            entry[2] = max(entry[2], part) if inf else entry[2] + part
        total = 0.0
        for mesh, dims, part in groups.values():
            value = np.array([part], dtype=np.float64)
            for dim in dims:
                torch_api.all_reduce(value, ReduceOp.MAX if inf else ReduceOp.SUM,
                                     mesh.get_group(dim))
            total = max(total, float(value[0])) if inf else total + float(value[0])
        return total

    # ------------------------------------------------------------- ops (see _ops.py)
    @classmethod
    def __dlpy_function__(cls, name: str, input: Any, *args, **kwargs):  # noqa: A002
        return _ops().dispatch(name, input, *args, **kwargs)

    def __add__(self, other):
        return _ops().binary("add", self, other)

    def __radd__(self, other):
        return _ops().binary("add", other, self)

    def __sub__(self, other):
        return _ops().binary("sub", self, other)

    def __rsub__(self, other):
        return _ops().binary("sub", other, self)

    def __mul__(self, other):
        return _ops().binary("mul", self, other)

    def __rmul__(self, other):
        return _ops().binary("mul", other, self)

    def __truediv__(self, other):
        return _ops().binary("div", self, other)

    def __rtruediv__(self, other):
        return _ops().binary("div", other, self)

    def __neg__(self):
        return _ops().unary("neg", lambda x: -x, self, linear_op=True)

    # comparisons: a boolean DTensor laid out as the operands (torch's), not this rank's
    # piece compared as if it were the whole
    def __eq__(self, other):
        return _ops().binary("eq", self, other) if _comparable(other) else NotImplemented

    def __ne__(self, other):
        return _ops().binary("ne", self, other) if _comparable(other) else NotImplemented

    def __lt__(self, other):
        return _ops().binary("lt", self, other)

    def __le__(self, other):
        return _ops().binary("le", self, other)

    def __gt__(self, other):
        return _ops().binary("gt", self, other)

    def __ge__(self, other):
        return _ops().binary("ge", self, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__
    __hash__ = Tensor.__hash__  # by identity, as every Tensor

    def __matmul__(self, other):
        return _ops().matmul(self, other)

    def __rmatmul__(self, other):
        return _ops().matmul(other, self)

    def matmul(self, other):
        return _ops().matmul(self, other)

    def relu(self):
        return _ops().unary("relu", lambda x: x.relu(), self)

    def tanh(self):
        return _ops().unary("tanh", lambda x: x.tanh(), self)

    def sigmoid(self):
        return _ops().unary("sigmoid", lambda x: x.sigmoid(), self)

    @property
    def T(self):  # noqa: N802 - PyTorch's name
        """The transpose of a 2-D DTensor (Shard(0) <-> Shard(1))."""
        if self.ndim != 2:
            raise _ops()._unsupported("T (other than 2-D)", self)
        return _ops().transpose_2d(self)

    @property
    def mT(self):  # noqa: N802 - PyTorch's name
        raise _ops()._unsupported("mT", self)


register_piece_type(DTensor)


def _ops():
    from dlpy.distributed.tensor import _ops as ops

    return ops


def _refuse(name: str):
    def refused(self, *args, **kwargs):
        raise _ops()._unsupported(name, self)

    refused.__name__ = name
    return refused


# Tensor methods without a sharding rule here: an error naming them, never a silent result
# computed on the local piece alone
for _name in ("sum", "mean", "max", "min", "amax", "amin", "transpose",
              "permute", "unsqueeze", "squeeze", "expand", "__getitem__",
              "__setitem__", "softmax", "log_softmax", "exp", "log", "sqrt", "abs", "pow",
              "__pow__", "norm", "var", "std", "argmax", "argmin", "masked_fill",
              "t", "__iter__"):
    setattr(DTensor, _name, _refuse(_name))
del _name


def _redistribute(dt: DTensor, placements: tuple[Placement, ...]) -> DTensor:
    """``dt`` in ``placements`` (normalised; Replicate -> Partial allowed: ops use it)."""
    if placements == dt.placements:
        return dt
    out = _Redistribute(dt._spec, placements)(dt)
    return DTensor._adopt(out, dt._spec.with_placements(placements))


class _GradLayout(Op):
    """y = x;  dx = dy moved from the layout the caller promised to the canonical one."""

    saves = ()
    reads_local_piece = True  # the engine lets it take a DTensor

    def __init__(self, spec: DTensorSpec, grad_placements: tuple[Placement, ...]):
        self.spec, self.grad_placements = spec, grad_placements

    def forward(self, x):
        return x

    def backward(self, grad_output):
        given = self.spec.with_placements(self.grad_placements)
        return (transform(grad_output, given, self.spec.placements),)


class _Replace(Op):
    """y = the given values (rank 0's, after run_check's broadcast);  dx = dy."""

    saves = ()
    reads_local_piece = True  # the engine lets it take a DTensor

    def __init__(self, values: np.ndarray):
        self.values = values

    def forward(self, x):
        return self.values

    def backward(self, grad_output):
        return (grad_output,)


_DATA = Tensor.__dict__["data"]  # the slot that holds a Tensor's array


class DParameter(DTensor, Parameter):
    """A DTensor that a Module registers as a parameter (torch's nn.Parameter(DTensor)).
    Assigning it an array of the global shape (``load_state_dict`` of a full state dict)
    keeps this rank's piece of it."""

    __slots__ = ()

    @property
    def data(self) -> np.ndarray:
        return _DATA.__get__(self)

    @data.setter
    def data(self, value: np.ndarray) -> None:
        spec = self._spec
        shape = np.shape(value)
        if shape != spec.local_shape() and shape == spec.shape:
            whole = spec.with_placements(tuple(Replicate() for _ in spec.placements))
            value = transform(np.asarray(value), whole, spec.placements)  # a cut, no messages
        _DATA.__set__(self, value)

    def __repr__(self) -> str:
        return f"Parameter({DTensor.__repr__(self)})"

    # ------------------------------------------------------------- Module.state_dict
    def state_dict_value(self) -> DTensor:
        """What ``Module.state_dict()`` holds for it: a DTensor copy (torch's)."""
        return dtensor_copy(self)

    def load_state_dict_value(self, name: str, value: Any) -> None:
        """``Module.load_state_dict``'s entry ``name`` (see ``local_piece``) loaded."""
        self.data = local_piece(value, self, f"load_state_dict: {name}").astype(
            self.data.dtype, copy=True)


def local_piece(value: Any, like: DTensor, what: str) -> np.ndarray:
    """This rank's piece, for a DTensor laid out as ``like``, of ``value``: a DTensor of the
    same global shape on the same mesh (relaid out if its placements differ), or an array or
    Tensor of the global shape (cut, no messages), or of this rank's piece's shape (taken as
    that piece: what ``dlpy.save`` wrote of a DTensor on this rank)."""
    spec = like._spec
    if isinstance(value, DTensor):
        if value.shape != spec.shape:
            raise ValueError(f"{what}: expected a DTensor of shape {spec.shape}, got "
                             f"{value.shape}")
        if value.device_mesh != spec.mesh:
            raise ValueError(f"{what}: the value lies on another mesh ({value.device_mesh}) "
                             f"than the parameter ({spec.mesh})")
        return transform(value.data, value._spec, spec.placements)
    array = as_array(value)  # a Tensor, an array, a torch tensor
    if array.shape == spec.shape:
        whole = spec.with_placements(tuple(Replicate() for _ in spec.placements))
        return transform(array, whole, spec.placements)
    if array.shape == spec.local_shape():
        return array
    raise ValueError(f"{what}: expected a DTensor or an array of the global shape "
                     f"{spec.shape} or of this rank's piece {spec.local_shape()} "
                     f"({list(spec.placements)}), got shape {array.shape}")


def _contiguous_stride(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride, step = [], 1
    for size in reversed(shape):
        stride.append(step)
        step *= max(size, 1)
    return tuple(reversed(stride))


def _mesh_or_world(mesh: DeviceMesh | None, name: str) -> DeviceMesh:
    if mesh is None:
        return init_device_mesh("cpu", (torch_api.get_world_size(),))
    if not isinstance(mesh, DeviceMesh):
        raise TypeError(f"{name}: device_mesh must be a DeviceMesh, got {type(mesh).__name__}")
    return mesh


def _run_check(local: np.ndarray, spec: DTensorSpec) -> None:
    """Every rank of the mesh must agree on the dtype, global shape and placements."""
    _same_on_mesh("DTensor.from_local(run_check=True)", spec.mesh,
                  (str(local.dtype), spec.shape, tuple(map(repr, spec.placements))),
                  "the ranks disagree on dtype, global shape or placements")


# ----------------------------------------------------------------- public functions
def distribute_tensor(tensor: Any, device_mesh: DeviceMesh | None = None,
                      placements: Sequence[Placement] | None = None, *,
                      src_data_rank: int | None = 0) -> DTensor:
    """A leaf DTensor holding this rank's piece of ``tensor`` (the global value; Partial: the
    value / n on each of the n ranks). With ``src_data_rank`` (0 by default) the values of the
    rank at that coordinate of every mesh dimension are used (broadcast); None: each rank's own
    ``tensor`` is cut, no communication."""
    name = "distribute_tensor"
    if isinstance(tensor, DTensor):
        raise ValueError(f"{name}: the tensor is already a DTensor; use redistribute")
    requires_grad = isinstance(tensor, Tensor) and tensor.requires_grad
    array = np.array(tensor.data if isinstance(tensor, Tensor) else tensor, order="C")
    mesh = _mesh_or_world(device_mesh, name)
    placements = _normalized(name, mesh, placements, array.ndim)
    if src_data_rank is not None:
        if isinstance(src_data_rank, bool) or not isinstance(src_data_rank, int) or \
                not all(0 <= src_data_rank < s for s in mesh.shape):
            raise ValueError(f"{name}: src_data_rank must be a coordinate of every mesh "
                             f"dimension (0..{min(mesh.shape) - 1}), got {src_data_rank!r}")
        _same_on_mesh(name, mesh, (array.shape, str(array.dtype)),
                      "every rank must pass a tensor of the same shape and dtype")
        for mesh_dim in range(mesh.ndim):  # the values of coordinate (src, src, ...)
            group = mesh.get_group(mesh_dim)
            torch_api.broadcast(array, torch_api.get_global_rank(group, src_data_rank), group)
    spec = DTensorSpec(mesh, placements, array.shape, array.dtype)
    local = transform(array, spec.with_placements(tuple(Replicate() for _ in placements)),
                      placements)
    return _leaf(np.array(local, order="C"), spec, requires_grad)


def _same_on_mesh(name: str, mesh: DeviceMesh, mine: Any, what: str) -> None:
    """A ValueError on every rank of the mesh unless they all hold the same ``mine``."""
    for mesh_dim in range(mesh.ndim):
        group = mesh.get_group(mesh_dim)
        if torch_api.get_world_size(group) == 1:
            continue
        every: list[Any] = [None] * torch_api.get_world_size(group)
        torch_api.all_gather_object(every, mine, group)
        if any(other != mine for other in every):
            ranks = torch_api.get_process_group_ranks(group)
            described = "; ".join(f"rank {r}: {e}" for r, e in zip(ranks, every))
            raise ValueError(f"{name}: {what} ({described})")


def dtensor_copy(dt: DTensor, array: Any = None) -> DTensor:
    """A leaf DTensor with ``dt``'s layout holding a copy of ``array`` (``dt``'s own local
    piece by default; an optimiser slot of the same local shape otherwise)."""
    local = np.array(dt.data if array is None else array, copy=True)
    spec = DTensorSpec(dt._spec.mesh, dt._spec.placements, dt._spec.shape, local.dtype)
    return _leaf(local, spec, False)


def _leaf(local: np.ndarray, spec: DTensorSpec, requires_grad: bool,
          cls: type = DTensor) -> DTensor:
    leaf = Tensor(local)
    leaf.requires_grad = requires_grad
    return DTensor._adopt(leaf, spec, cls)


def distribute_parameter(parameter: Any, mesh: DeviceMesh, placements: Sequence[Placement],
                         src_data_rank: int | None = 0) -> DParameter:
    """A Module parameter laid out over ``mesh`` (torch:
    ``nn.Parameter(distribute_tensor(...))``)."""
    requires_grad = parameter.requires_grad if isinstance(parameter, Tensor) else True
    if isinstance(parameter, DTensor):
        dt = parameter.redistribute(mesh, placements)
    else:
        dt = distribute_tensor(parameter, mesh, placements, src_data_rank=src_data_rank)
    return _leaf(np.array(dt.data, order="C"), dt._spec, requires_grad, DParameter)


def distribute_module(module: Module, device_mesh: DeviceMesh | None = None,
                      partition_fn: Any = None, input_fn: Any = None, output_fn: Any = None
                      ) -> Module:
    """Lay out ``module``'s parameters over the mesh: ``partition_fn(name, submodule, mesh)``
    for every submodule (it replaces parameters with DTensor ones); by default every
    parameter is replicated. ``input_fn(module, args, mesh)`` runs before every forward,
    ``output_fn(module, outputs, mesh)`` after (their results replace args / outputs)."""
    if not isinstance(module, Module):
        raise TypeError(f"distribute_module: expected a dlpy.nn.Module, got "
                        f"{type(module).__name__}")
    mesh = _mesh_or_world(device_mesh, "distribute_module")
    for name, submodule in list(module.named_modules()):
        if partition_fn is not None:
            partition_fn(name, submodule, mesh)
    for submodule in module.modules():  # what partition_fn left (or all): replicated
        for key, value in list(submodule._parameters.items()):
            if value is not None and not isinstance(value, DTensor):
                setattr(submodule, key, distribute_parameter(
                    value, mesh, [Replicate()] * mesh.ndim))
    if input_fn is not None:
        module.register_forward_pre_hook(lambda m, args: input_fn(m, args, mesh))
    if output_fn is not None:
        module.register_forward_hook(lambda m, args, out: output_fn(m, out, mesh))
    return module


__all__ = ["DTensor", "DParameter", "Partial", "Placement", "Replicate", "Shard",
           "distribute_module", "distribute_parameter", "distribute_tensor", "dtensor_copy",
           "local_piece"]
