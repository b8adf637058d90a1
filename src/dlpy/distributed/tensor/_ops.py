"""Ops on DTensors: the sharding rules tensor parallelism needs, computed on the local pieces.

matmul / linear (per mesh dimension: R@R -> R, S(batch or row)@R -> S, R@S(col) -> S(-1),
S(-1)@S(0) -> Partial, P@R and R@P -> P), elementwise + - * / with broadcasting (matching
placements; a Replicate operand is cut to a sharded one's piece, or made Partial next to a
Partial one for + and -), unary activations on Shard / Replicate, layer_norm over an
unsharded last dimension (SequenceParallel), reshape keeping sharded dimensions whole, embedding
(rowwise: Partial; colwise: Shard(-1)), cross_entropy (parallel/loss.py). Anything else is a
NotImplementedError naming the op and the placements. Inside
``experimental.implicit_replication()`` a plain Tensor operand counts as a Replicate DTensor on
the other operand's mesh (torch refuses the mix otherwise).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from dlpy import functional as F
from dlpy.distributed.tensor._api import (
    DTensor,
    DTensorSpec,
    _Identity,
    _PartialGrad,
    _redistribute,
)
from dlpy.distributed.tensor.placement_types import Partial, Placement, Replicate, Shard
from dlpy.tensor import Tensor


def _unsupported(name: str, *operands: Any) -> NotImplementedError:
    layouts = ", ".join(f"{list(o.placements)} {o.shape}" if isinstance(o, DTensor)
                        else type(o).__name__ for o in operands)
    return NotImplementedError(
        f"DTensor: operator {name!r} has no sharding rule in dlpy (operands: {layouts}); "
        "call .full_tensor() or .to_local() first, or redistribute")


# experimental.implicit_replication() sets this while its block runs
_implicit_replication = [False]


def _replicated(value: Any, like: DTensor) -> Any:
    """Inside implicit_replication: a plain Tensor ``value`` as a Replicate DTensor on
    ``like``'s mesh (differentiable: its gradient comes back whole); anything else as it is."""
    if (not _implicit_replication[0] or not isinstance(value, Tensor)
            or isinstance(value, DTensor)):
        return value
    return DTensor.from_local(value, like.device_mesh,
                              [Replicate()] * like.device_mesh.ndim)


def _dtensors(name: str, *operands: Any) -> None:
    """Every operand a DTensor on one mesh (torch refuses mixed Tensor and DTensor)."""
    meshes = []
    for operand in operands:
        if isinstance(operand, Tensor) and not isinstance(operand, DTensor):
            raise RuntimeError(f"{name}: got mixed Tensor and DTensor, need to convert all "
                               "Tensors to DTensor before calling distributed operators "
                               "(DTensor.from_local or distribute_tensor)")
        if isinstance(operand, DTensor):
            meshes.append(operand.device_mesh)
    if any(mesh != meshes[0] for mesh in meshes):
        raise ValueError(f"{name}: the DTensors live on different meshes: {meshes}")


def local(dt: DTensor, partial_grad_dims: list[int] | tuple[int, ...] = ()) -> Tensor:
    """``dt``'s piece as a plain recorded Tensor; its gradient is summed over
    ``partial_grad_dims`` in the backward (see _PartialGrad)."""
    piece = _Identity()(dt)
    if partial_grad_dims and piece.requires_grad:
        piece = _PartialGrad(dt.device_mesh, partial_grad_dims)(piece)
    return piece


def wrap(piece: Tensor, like: DTensor, placements: list[Placement],
         shape: tuple[int, ...]) -> DTensor:
    spec = DTensorSpec(like.device_mesh, tuple(placements), tuple(shape), piece.data.dtype)
    if spec.local_shape() != piece.data.shape:  # a rule is wrong: say so, never go on
        raise RuntimeError(f"DTensor: local result {piece.data.shape} does not match "
                           f"{list(placements)} of {shape}")
    return DTensor._adopt(_Identity()(piece), spec)


# ----------------------------------------------------------------- matmul and linear
def matmul(a: DTensor, b: DTensor) -> DTensor:
    """a (..., m, k) @ b (k, n), or any shapes when every placement is Replicate."""
    like = a if isinstance(a, DTensor) else b
    a, b = _replicated(a, like), _replicated(b, like)
    _dtensors("matmul", a, b)
    if a.ndim < 1 or b.ndim < 1:
        raise ValueError(f"matmul: both operands need at least one dimension, got {a.shape} "
                         f"@ {b.shape}")
    all_replicate = all(p.is_replicate() for p in a.placements + b.placements)
    if b.ndim != 2 and not all_replicate:
        raise _unsupported("matmul (b with other than 2 dimensions)", a, b)
    contract = a.ndim - 1
    out_shape = tuple(_matmul_shape(a.shape, b.shape))
    last = len(out_shape) - 1
    placements: list[Placement] = []
    grad_a: list[int] = []
    grad_b: list[int] = []
    for mesh_dim, (pa, pb) in enumerate(zip(a.placements, b.placements)):
        if pa.is_replicate() and pb.is_replicate():
            placements.append(Replicate())
        elif pa.is_shard() and pa.dim != contract and pb.is_replicate():
            placements.append(Shard(pa.dim))
            grad_b.append(mesh_dim)
        elif pa.is_replicate() and pb.is_shard(1):
            placements.append(Shard(last))
            grad_a.append(mesh_dim)
        elif pa.is_shard(contract) and pb.is_shard(0):
            placements.append(Partial())
        elif pa.is_partial() and pb.is_replicate():
            placements.append(Partial())
            grad_b.append(mesh_dim)
        elif pa.is_replicate() and pb.is_partial():
            placements.append(Partial())
            grad_a.append(mesh_dim)
        else:
            raise ValueError(f"matmul: no sharding rule for {pa} @ {pb} on mesh dimension "
                             f"{mesh_dim} (shapes {a.shape} @ {b.shape}); redistribute an "
                             "operand first")
    piece = F.matmul(local(a, grad_a), local(b, grad_b))
    return wrap(piece, a, placements, out_shape)


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    if a[-1] != b[-2 if len(b) > 1 else 0]:
        raise ValueError(f"matmul: expected a.shape[-1] == b.shape[-2], got {a} @ {b}")
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return (*b[:-2], b[-1])
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return (*batch, a[-2], b[-1])


def transpose_2d(w: DTensor) -> DTensor:
    """w.T of a 2-D DTensor: Shard(0) <-> Shard(1)."""
    if w.ndim != 2:
        raise ValueError(f"linear: expected a 2-D weight, got {w.shape}")
    placements = [Shard(1 - p.dim) if p.is_shard() else p for p in w.placements]
    return wrap(local(w).t(), w, placements, (w.shape[1], w.shape[0]))


def linear(x: DTensor, weight: DTensor, bias: DTensor | None = None) -> DTensor:
    """x @ weight.T + bias: colwise (weight Shard(0)) gives Shard(-1), rowwise (weight
    Shard(1), x Shard(-1)) gives Partial."""
    like = next((t for t in (x, weight, bias) if isinstance(t, DTensor)), None)
    if like is not None:
        x, weight, bias = (_replicated(t, like) for t in (x, weight, bias))
    _dtensors("linear", x, weight, *([bias] if bias is not None else []))
    out = matmul(x, transpose_2d(weight))
    return out if bias is None else binary("add", out, bias)


# ----------------------------------------------------------------- elementwise
_LINEAR = ("add", "sub")


def _as_dtensor(value: Any, like: DTensor, cast: bool = True) -> DTensor:
    """A number or array next to a DTensor: a Replicate constant on its mesh (of its dtype
    with ``cast``; a comparison keeps the number's own)."""
    value = _replicated(value, like)
    if isinstance(value, DTensor):
        return value
    if isinstance(value, Tensor):
        _dtensors("elementwise", value)
    if not isinstance(value, (numbers.Number, np.ndarray, np.generic)):
        raise TypeError(f"DTensor: cannot combine a DTensor with {type(value).__name__}")
    array = np.asarray(value, dtype=like.data.dtype if cast else None)
    spec = DTensorSpec(like.device_mesh, tuple(Replicate() for _ in like.placements),
                       array.shape, array.dtype)
    return DTensor._adopt(Tensor(array), spec)


_COMPUTE = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y,
            "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
            # comparisons: boolean, no gradient; laid out as the arithmetic ops
            "eq": lambda x, y: x == y, "ne": lambda x, y: x != y, "lt": lambda x, y: x < y,
            "le": lambda x, y: x <= y, "gt": lambda x, y: x > y, "ge": lambda x, y: x >= y}
_COMPARISONS = ("eq", "ne", "lt", "le", "gt", "ge")


def binary(name: str, a: Any, b: Any) -> DTensor:
    """a (op) b with numpy broadcasting, per mesh dimension: equal placements stay (P op P
    only for + and -); S(d) with R: R is cut to the piece (or, when it broadcasts along d,
    used whole with a summed gradient); P with R: + and - make R Partial, * and / (P / R
    only) keep P and sum R's gradient."""
    like = a if isinstance(a, DTensor) else b
    compare = name in _COMPARISONS
    a, b = _as_dtensor(a, like, not compare), _as_dtensor(b, like, not compare)
    _dtensors(name, a, b)
    if compare and any(p.is_partial() for p in (*a.placements, *b.placements)):
        raise ValueError(f"{name}: a Partial DTensor holds summands, not values, and cannot "
                         "be compared; redistribute it to Replicate (or Shard) first")
    shape = tuple(np.broadcast_shapes(a.shape, b.shape))
    ndim = len(shape)

    def out_dim(operand: DTensor, dim: int) -> int:
        return dim + ndim - operand.ndim

    def spans(operand: DTensor, dim: int) -> bool:  # operand has the whole out dim ``dim``
        own = dim - (ndim - operand.ndim)
        return own >= 0 and operand.shape[own] == shape[dim]

    targets = {id(a): list(a.placements), id(b): list(b.placements)}
    grads: dict[int, list[int]] = {id(a): [], id(b): []}
    placements: list[Placement] = []
    for mesh_dim, (pa, pb) in enumerate(zip(a.placements, b.placements)):
        sa = Shard(out_dim(a, pa.dim)) if pa.is_shard() else pa
        sb = Shard(out_dim(b, pb.dim)) if pb.is_shard() else pb
        if sa == sb:
            if sa.is_partial() and name not in _LINEAR:
                raise ValueError(f"{name}: Partial {name} Partial is not the {name} of the "
                                 f"sums (mesh dimension {mesh_dim}); redistribute to "
                                 "Replicate first")
            if sa.is_shard() and not (spans(a, sa.dim) and spans(b, sa.dim)):
                raise ValueError(f"{name}: both operands are sharded along dimension "
                                 f"{sa.dim} but one broadcasts along it ({a.shape}, {b.shape})")
            placements.append(sa)
            continue
        if sa.is_replicate() or sb.is_replicate():
            rep, other, placement = (a, b, sb) if sa.is_replicate() else (b, a, sa)
            if placement.is_shard():
                if spans(rep, placement.dim):
                    targets[id(rep)][mesh_dim] = Shard(placement.dim - (ndim - rep.ndim))
                else:
                    grads[id(rep)].append(mesh_dim)
                placements.append(placement)
                continue
            # placement is Partial
            if name in _LINEAR:
                targets[id(rep)][mesh_dim] = Partial()
            elif name == "mul" or (name == "div" and rep is b):
                grads[id(rep)].append(mesh_dim)
            else:
                raise ValueError(f"div: Replicate / Partial is not defined on mesh dimension "
                                 f"{mesh_dim}; redistribute the divisor to Replicate")
            placements.append(placement)
            continue
        raise ValueError(f"{name}: mismatched placements {pa} and {pb} on mesh dimension "
                         f"{mesh_dim} (shapes {a.shape}, {b.shape}); redistribute one operand")
    a_ready = _redistribute(a, tuple(targets[id(a)]))
    b_ready = _redistribute(b, tuple(targets[id(b)]))
    piece = _COMPUTE[name](local(a_ready, grads[id(a)]), local(b_ready, grads[id(b)]))
    return wrap(piece, a, placements, shape)


def unary(name: str, function: Any, x: DTensor, *args, linear_op: bool = False) -> DTensor:
    """An elementwise function of one DTensor: Shard and Replicate stay; Partial only for a
    linear function (negation)."""
    if any(p.is_partial() for p in x.placements) and not linear_op:
        raise ValueError(f"{name}: a Partial DTensor holds summands, and {name} of a sum is "
                         f"not the sum of {name}s ({list(x.placements)}); redistribute to "
                         "Replicate or Shard first")
    return wrap(function(local(x), *args), x, list(x.placements), x.shape)


def layer_norm(x: DTensor, weight: Any = None, bias: Any = None, eps: float = 1e-5
               ) -> DTensor:
    """Over the last dimension, which must not be sharded; weight and bias Replicate (their
    gradients are summed over the mesh dimensions that shard x)."""
    _dtensors("layer_norm", x, *[p for p in (weight, bias) if p is not None])
    last = x.ndim - 1
    for p in x.placements:
        if p.is_partial() or p.is_shard(last):
            raise ValueError(f"layer_norm: the input is {list(x.placements)}; the normalised "
                             "last dimension must be whole (Replicate or Shard of another)")
    sharded = [i for i, p in enumerate(x.placements) if p.is_shard()]
    params = []
    for p in (weight, bias):
        if p is not None and not all(q.is_replicate() for q in p.placements):
            raise ValueError(f"layer_norm: weight and bias must be Replicate, got "
                             f"{list(p.placements)}")
        params.append(None if p is None else local(p, sharded))
    piece = F.layer_norm(local(x), params[0], params[1], eps)
    return wrap(piece, x, list(x.placements), x.shape)


# ----------------------------------------------------------------- shapes and lookups
def reshape(x: DTensor, shape: tuple) -> DTensor:
    """x in another shape: a sharded dimension must stay whole, with everything after it (the
    dimensions before are merged or split: (batch, seq, vocab) Shard(2) -> (batch * seq,
    vocab) Shard(1)) or everything before it."""
    shape = tuple(int(size) for size in shape)
    if shape.count(-1) == 1:
        known = int(np.prod([size for size in shape if size != -1]))
        shape = tuple(x.numel() // known if size == -1 and known else size for size in shape)
    if int(np.prod(shape)) != x.numel():
        raise ValueError(f"reshape: shape {shape} is invalid for a DTensor of shape {x.shape}")
    placements: list[Placement] = []
    for placement in x.placements:
        if not placement.is_shard():
            placements.append(placement)
            continue
        dim, tail = placement.dim, x.shape[placement.dim:]
        if len(shape) >= len(tail) and shape[len(shape) - len(tail):] == tail:
            placements.append(Shard(len(shape) - len(tail)))
        elif shape[:dim + 1] == x.shape[:dim + 1]:
            placements.append(Shard(dim))
        else:
            raise _unsupported("reshape", x)  # the sharded dimension would not stay whole
    spec = DTensorSpec(x.device_mesh, tuple(placements), shape, x.data.dtype)
    return wrap(local(x).reshape(spec.local_shape()), x, placements, shape)


def embedding(ids: Any, weight: DTensor, padding_idx: int | None = None) -> DTensor:
    """The rows of weight (num_embeddings, dim) at integer ``ids`` (an array, a Tensor or a
    Replicate DTensor) -> (..., dim): weight Shard(0) (rowwise: each rank looks up the ids in
    its range of rows, zeros for the others) gives Partial, Shard(1) (colwise) gives
    Shard(-1), Replicate gives Replicate."""
    if isinstance(ids, DTensor):
        if not all(p.is_replicate() for p in ids.placements):
            raise _unsupported("embedding (ids not Replicate)", ids, weight)
    ids = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got {ids.dtype}")
    rows, dim = weight.shape
    if ids.size and (ids.min() < 0 or ids.max() >= rows):
        raise ValueError(f"embedding: ids must lie in [0, {rows}), got values from "
                         f"{ids.min()} to {ids.max()}")
    placements: list[Placement] = []
    for placement in weight.placements:
        if placement.is_partial():
            raise _unsupported("embedding (a Partial weight)", weight)
        placements.append(Partial() if placement.is_shard(0) else
                          Shard(ids.ndim) if placement.is_shard(1) else Replicate())
    start, end = weight._spec.local_range(0)
    inside = (ids >= start) & (ids < end)
    if padding_idx is not None:
        padding_idx = padding_idx % rows - start if start <= padding_idx % rows < end else None
    if start == end:  # no rows here (more ranks than rows): zeros, no gradient to give
        piece = Tensor(np.zeros((*ids.shape, weight.data.shape[1]), dtype=weight.data.dtype))
    else:
        piece = F.embedding(np.where(inside, ids - start, 0), local(weight),
                            padding_idx=padding_idx)
        if not inside.all():  # the other ranks' rows: zero here, and no gradient
            piece = piece * Tensor(inside[..., None].astype(piece.data.dtype))
    return wrap(piece, weight, placements, (*ids.shape, dim))


# ----------------------------------------------------------------- dispatch
def dispatch(name: str, input: Any, *args, **kwargs):  # noqa: A002
    """What ``dlpy.functional``'s ``name`` does given a DTensor first argument."""
    if _implicit_replication[0] and isinstance(input, DTensor):
        args = tuple(_replicated(a, input) for a in args)
        kwargs = {k: _replicated(v, input) for k, v in kwargs.items()}
    if name == "linear":
        return linear(input, *args, **kwargs)
    if name == "matmul":
        return matmul(input, *args, **kwargs)
    if name in ("relu", "silu"):
        if args and args[0]:
            raise NotImplementedError(f"DTensor: {name}(inplace=True) is not supported")
        return unary(name, getattr(F, name), input)
    if name == "gelu":
        return unary(name, lambda values: F.gelu(values, *args, **kwargs), input)
    if name == "layer_norm":
        return layer_norm(input, *args, **kwargs)
    if name == "cross_entropy":
        from dlpy.distributed.tensor.parallel import loss

        return loss.cross_entropy(input, *args, **kwargs)
    if name == "dropout":
        p = args[0] if args else kwargs.get("p", 0.5)
        training = args[1] if len(args) > 1 else kwargs.get("training", True)
        if p == 0 or not training:
            return input
    raise _unsupported(name, input, *args)
