"""FullyShardedDataParallel (torch.distributed.fsdp's names): parameters sharded over ranks.

    from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP, ModuleWrapPolicy
    model = FSDP(net, auto_wrap_policy=ModuleWrapPolicy({nn.TransformerEncoderLayer}))
    opt = optim.Adam(model.parameters(), lr=1e-3)      # steps this rank's shards
    loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

Each wrapped unit's parameters are flattened into one vector, padded to a multiple of the world
size, and each rank keeps one slice of it (``_flat_param``, a Parameter of 1/N of the elements).
Calling a unit all-gathers its vector into a buffer of its own and runs the module with its
parameters as views of that buffer. FULL_SHARD frees the buffer after the unit's forward and
gathers it again when backward reaches the unit (an identity op on the unit's outputs);
SHARD_GRAD_OP keeps it until backward; NO_SHARD keeps every parameter whole (DDP). The gather
is one recorded op whose backward reduce-scatters the gradient of the whole vector, so each
rank's ``_flat_param.grad`` is the mean over the ranks of its slice, and any optimiser steps
the shards. A buffer is an anonymous memory map: freeing it returns its pages to the system
(``madvise(MADV_DONTNEED)``) while the views the recorded ops hold stay valid, as torch frees a
FlatParameter's storage. The ops' activations are kept as in torch (nothing is recomputed).

Mixed precision (``MixedPrecision(param_dtype=np.float16)``): each rank's float32 shard is
cast to ``param_dtype`` and gathered into a buffer of that dtype, the unit runs forward and
backward in it, and the gradient is reduced in ``reduce_dtype`` (torch's pre- and post-division
by the data-parallel size; float16/bfloat16 sums in float32, rounded) onto the float32 shard,
which the optimiser steps. HYBRID_SHARD shards within the first group of a ``(intra, inter)``
pair and all-reduces each shard's gradient over the second (its replicas).
"""

from __future__ import annotations

import contextlib
import enum
import mmap
import sys
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.nn.module import Module, Parameter
from dlpy.tensor import Op, Tensor, no_grad

__all__ = [
    "CPUOffload", "FullOptimStateDictConfig", "FullStateDictConfig",
    "FullyShardedDataParallel", "LocalStateDictConfig", "MixedPrecision", "ModuleWrapPolicy",
    "ShardedStateDictConfig", "ShardedTensor", "ShardingStrategy", "StateDictType",
    "parameter_memory", "reset_peak_parameter_memory", "size_based_auto_wrap_policy",
    "transformer_auto_wrap_policy",
]

NAME = "FullyShardedDataParallel"


class ShardingStrategy(enum.Enum):
    """HYBRID_SHARD: FULL_SHARD within a group of ranks (a node), replicated across groups;
    _HYBRID_SHARD_ZERO2: the same with SHARD_GRAD_OP within."""

    FULL_SHARD = 1
    SHARD_GRAD_OP = 2
    NO_SHARD = 3
    HYBRID_SHARD = 4
    _HYBRID_SHARD_ZERO2 = 5


_HYBRID = (ShardingStrategy.HYBRID_SHARD, ShardingStrategy._HYBRID_SHARD_ZERO2)
_FREE_AFTER_FORWARD = (ShardingStrategy.FULL_SHARD, ShardingStrategy.HYBRID_SHARD)


class StateDictType(enum.Enum):
    FULL_STATE_DICT = 1
    LOCAL_STATE_DICT = 2
    SHARDED_STATE_DICT = 3


@dataclass
class CPUOffload:
    """Accepted, no effect: dlpy's parameters live in host memory already."""

    offload_params: bool = False


@dataclass
class MixedPrecision:
    """torch's FSDP mixed precision: ``param_dtype`` (float16 or dlpy.bfloat16) is the dtype
    a unit's parameters are gathered in and run forward and backward in (each rank's float32
    shard cast, then gathered); gradients are reduced in ``reduce_dtype`` (default:
    ``param_dtype``) and arrive on the shard in its own dtype (``param_dtype`` with
    ``keep_low_precision_grads``), so the optimiser steps the float32 master shard. Floating
    buffers are cast to ``buffer_dtype`` at the root's first forward (state dicts keep their
    own dtype). The root casts its floating inputs to ``param_dtype``
    (``cast_root_forward_inputs``), every unit with ``cast_forward_inputs``. With an
    auto-wrap policy, the modules of ``_module_classes_to_ignore`` (BatchNorm) become units of
    their own without mixed precision, as torch's."""

    param_dtype: Any = None
    reduce_dtype: Any = None
    buffer_dtype: Any = None
    keep_low_precision_grads: bool = False
    cast_forward_inputs: bool = False
    cast_root_forward_inputs: bool = True
    _module_classes_to_ignore: tuple | None = None  # None: (BatchNorm,), torch's default

    def __post_init__(self):
        if self._module_classes_to_ignore is None:
            from dlpy.nn.norm import _BatchNorm

            self._module_classes_to_ignore = (_BatchNorm,)


def _float_dtype(what: str, dtype: Any, owner: str = f"{NAME}: MixedPrecision"
                 ) -> np.dtype | None:
    if dtype is None:
        return None
    try:
        out = np.dtype(dtype.dtype if isinstance(dtype, Tensor) else dtype)
    except TypeError:
        out = None
    if out is None or not (out.kind == "f" or out.name == "bfloat16"):
        raise TypeError(f"{owner}.{what} must be a floating dtype "
                        f"(numpy.float16, dlpy.bfloat16, numpy.float32...), got {dtype!r}")
    return out


@dataclass
class FullStateDictConfig:
    """``offload_to_cpu`` has no effect (host memory); ``rank0_only``: other ranks get {}."""

    offload_to_cpu: bool = False
    rank0_only: bool = False


@dataclass
class ShardedStateDictConfig:
    offload_to_cpu: bool = False


@dataclass
class LocalStateDictConfig:
    offload_to_cpu: bool = False


@dataclass
class FullOptimStateDictConfig:
    offload_to_cpu: bool = True
    rank0_only: bool = False


@dataclass
class ShardedTensor:
    """A SHARDED_STATE_DICT entry: this rank's ``local`` piece (1-D) of a parameter of
    ``shape``, elements ``offset`` to ``offset + local.size`` of it flattened."""

    local: np.ndarray
    offset: int
    shape: tuple[int, ...]


# ----------------------------------------------------------------- auto-wrap policies
def size_based_auto_wrap_policy(module: Module, recurse: bool, nonwrapped_numel: int,
                                min_num_params: int = int(1e8),
                                force_leaf_modules: set[type] | None = None,
                                exclude_wrap_modules: set[type] | None = None) -> bool:
    """torch's: wrap a module whose not-yet-wrapped parameters number ``min_num_params`` or
    more (use ``functools.partial(size_based_auto_wrap_policy, min_num_params=...)``)."""
    force_leaf = tuple(force_leaf_modules or ())
    exclude = tuple(exclude_wrap_modules or ())
    if recurse:
        return not isinstance(module, force_leaf)
    return nonwrapped_numel >= min_num_params and not isinstance(module, exclude)


class ModuleWrapPolicy:
    """Wrap every module that is an instance of one of ``module_classes``."""

    def __init__(self, module_classes: Iterable[type]):
        classes = tuple(module_classes)
        for c in classes:
            if not (isinstance(c, type) and issubclass(c, Module)):
                raise TypeError(f"ModuleWrapPolicy: expected nn.Module classes, got {c!r}")
        self.module_classes = classes

    def __call__(self, module: Module, recurse: bool, nonwrapped_numel: int) -> bool:
        return True if recurse else isinstance(module, self.module_classes)


def transformer_auto_wrap_policy(module: Module, recurse: bool, nonwrapped_numel: int,
                                 transformer_layer_cls: set[type]) -> bool:
    """torch's: wrap the instances of ``transformer_layer_cls`` (functools.partial it)."""
    return ModuleWrapPolicy(transformer_layer_cls)(module, recurse, nonwrapped_numel)


def lambda_auto_wrap_policy(module: Module, recurse: bool, nonwrapped_numel: int,
                            lambda_fn: Callable[[Module], bool]) -> bool:
    """torch's: wrap the modules for which ``lambda_fn(module)`` is true (functools.partial
    it)."""
    return True if recurse else bool(lambda_fn(module))


def always_wrap_policy(module: Module, recurse: bool, nonwrapped_numel: int) -> bool:
    """torch's: wrap every module."""
    return True


# ----------------------------------------------------------------- memory accounting
class _Memory:
    def __init__(self) -> None:
        self.sharded = 0  # bytes of the shards every rank keeps
        self.gathered = 0  # bytes of gathered (whole) units now
        self.peak_gathered = 0


_memory = _Memory()


def parameter_memory() -> dict[str, int]:
    """This rank's parameter bytes: ``sharded`` (kept shards), ``gathered`` (whole units now),
    ``peak_gathered`` (most at once since the last reset), ``peak`` (sharded + peak_gathered)."""
    return {"sharded": _memory.sharded, "gathered": _memory.gathered,
            "peak_gathered": _memory.peak_gathered,
            "peak": _memory.sharded + _memory.peak_gathered}


def reset_peak_parameter_memory() -> None:
    _memory.peak_gathered = _memory.gathered


def _release(account: list[int]) -> None:
    """A unit's bytes leave the accounting when its handle is collected."""
    _memory.sharded -= account[0]
    _memory.gathered -= account[1]


# the original parameters some unit flattened (by id): one tied into two units is an error
_claimed: weakref.WeakValueDictionary[int, Parameter] = weakref.WeakValueDictionary()


# ----------------------------------------------------------------- the flat parameter
class _ParamInfo:
    """One original parameter of a unit: where it lives and where it sits in the flat vector."""

    def __init__(self, fqn: str, sites: list[tuple[Module, str]], param: Parameter,
                 offset: int):
        self.fqn, self.sites, self.param = fqn, sites, param
        self.offset, self.numel, self.shape = offset, param.data.size, param.data.shape


class _Gather(Op):
    """y = the unit's whole flat vector, gathered from every rank's shard;  backward: the
    gradient reduce-scattered (the mean over ranks of each shard's slice)."""

    saves = ()  # reads neither its input nor its output

    def __init__(self, handle: _FlatHandle):
        self.handle = handle

    def forward(self, shard):
        self.handle.unshard(force=True)
        return self.handle.full

    def backward(self, grad_output):
        return (self.handle.post_backward(grad_output),)


class _PreBackward(Op):
    """Identity on a unit's output; its backward gathers the unit again (FULL_SHARD freed it
    after forward) before the unit's own ops' backward reads the parameters."""

    saves = ()

    def __init__(self, handle: _FlatHandle):
        self.handle = handle

    def forward(self, x):
        return x

    def backward(self, grad_output):
        self.handle.unshard()
        return (grad_output,)


_nesting = [0]  # FSDP forwards running now (0: the next call is a root's)


class _FlatHandle:
    """The flat vector of one unit: the shard this rank keeps, the buffer it is gathered into
    (in the compute dtype: ``param_dtype`` under mixed precision)."""

    def __init__(self, infos: list[_ParamInfo], dtype: np.dtype, pg: Any,
                 strategy: ShardingStrategy, use_orig_params: bool, inter: Any = None,
                 precision: MixedPrecision | None = None):
        self.infos, self.pg, self.strategy = infos, pg, strategy
        self.inter = inter  # HYBRID: the group of the replicas of this rank's shard
        self.use_orig_params = use_orig_params
        self.world = 1 if strategy is ShardingStrategy.NO_SHARD else pg.size()
        self.rank = pg.rank()
        self.numel = sum(info.numel for info in infos)
        self.shard_size = -(-self.numel // self.world) if self.numel else 0
        self.dtype = np.dtype(dtype)
        precision = precision or MixedPrecision()
        param_dtype = _float_dtype("param_dtype", precision.param_dtype)
        reduce_dtype = _float_dtype("reduce_dtype", precision.reduce_dtype)
        self.compute_dtype = param_dtype or self.dtype
        # torch: reduce_dtype defaults to param_dtype when only that is given
        self.reduce_dtype = reduce_dtype or (param_dtype if param_dtype is not None
                                             else self.dtype)
        self.keep_low_precision_grads = bool(precision.keep_low_precision_grads) \
            and param_dtype is not None
        self.mixed = self.compute_dtype != self.dtype
        replicas = 1 if inter is None else inter.size()
        # torch's gradient pre- and post-division by the data-parallel size
        self.predivide, self.postdivide = _divide_factors(pg.size() * replicas)
        padded = self.shard_size * self.world
        whole = np.zeros(padded, dtype=self.dtype)
        for info in infos:
            whole[info.offset:info.offset + info.numel] = info.param.data.reshape(-1)
        for group in (pg, inter):  # every rank starts from rank 0's values
            if group is not None and group.comm is not None and padded:
                group.comm.Bcast(whole, root=0)
        start = self.rank * self.shard_size if self.world > 1 else 0
        self.flat = Parameter(whole[start:start + self.shard_size].copy())
        self._mmap: Any = None
        if self.world > 1 and padded:
            self._mmap = mmap.mmap(-1, padded * self.compute_dtype.itemsize)
            self.buffer = np.frombuffer(self._mmap, dtype=self.compute_dtype)
        elif self.mixed:  # one rank or NO_SHARD: the cast copy of the whole vector
            self.buffer = self.flat.data.astype(self.compute_dtype)
        else:  # NO_SHARD or one rank: the shard is the whole vector
            self.buffer = self.flat.data
        self.full = self.buffer[:self.numel]
        self.gathered = self.world == 1
        self.pending = 0  # recorded gathers whose backward has not run
        self.sync = True  # False inside no_sync(): gradients accumulate unsharded
        self.unsharded_grad: np.ndarray | None = None
        self.orig_params: list[Parameter] = []
        self._account = [self.flat.data.nbytes, 0]  # sharded, gathered bytes
        _memory.sharded += self.flat.data.nbytes
        weakref.finalize(self, _release, self._account)

    # ------------------------------------------------------------- gather and free
    def unshard(self, force: bool = False) -> None:
        """Gather the whole vector into the buffer (again with ``force``: the shards may have
        changed since; a collective, so every rank calls it at the same point). Mixed
        precision: each rank's shard cast to ``param_dtype``, then gathered."""
        if self.world == 1:
            if self.mixed and force:
                self.buffer[...] = self.flat.data
            return
        if self.gathered and not force:
            return
        shard = self.flat.data.astype(self.compute_dtype) if self.mixed else self.flat.data
        self.pg.comm.Allgather(shard.view(np.uint8), self.buffer.view(np.uint8))
        if not self.gathered:
            self.gathered = True
            self._account[1] = self.buffer.nbytes
            _memory.gathered += self.buffer.nbytes
            _memory.peak_gathered = max(_memory.peak_gathered, _memory.gathered)

    def reshard(self) -> None:
        if not self.gathered or self.world == 1:
            return
        self._mmap.madvise(mmap.MADV_DONTNEED)  # the pages go back; the views stay valid
        self.gathered = False
        self._account[1] = 0
        _memory.gathered -= self.buffer.nbytes

    def full_precision(self) -> np.ndarray:
        """The whole padded vector in the shard's dtype (summon_full_params, state dicts):
        the gathered buffer, or under mixed precision a gather of the float32 shards (the
        shard itself on one rank)."""
        if not self.mixed:
            self.unshard()
            return self.buffer
        if self.world == 1:
            return self.flat.data
        whole = np.empty(self.shard_size * self.world, dtype=self.dtype)
        self.pg.comm.Allgather(self.flat.data, whole)
        return whole

    # ------------------------------------------------------------- gradients
    def post_backward(self, grad: np.ndarray) -> np.ndarray | None:
        self.pending = max(self.pending - 1, 0)
        if not self.sync:
            if self.unsharded_grad is None:
                self.unsharded_grad = np.array(grad, dtype=self.compute_dtype)
            else:
                self.unsharded_grad += grad
            result = None
        else:
            if self.unsharded_grad is not None:
                grad = grad + self.unsharded_grad
                self.unsharded_grad = None
            result = self._reduce(grad)
        if self.pending == 0 and self.strategy is not ShardingStrategy.NO_SHARD:
            self.reshard()
        if result is None:
            return None
        if self.use_orig_params:
            for p, (a, b) in zip(self.orig_params, self.local_ranges()):
                _add_grad(p, result[a:b], self.keep_low_precision_grads and self.compute_dtype)
            return None
        if self.keep_low_precision_grads:  # set here: the engine keeps a leaf's own dtype
            _add_grad(self.flat, result, self.compute_dtype)
            return None
        return result

    def _reduce(self, grad: np.ndarray) -> np.ndarray:
        """torch's: the gradient in ``reduce_dtype`` divided by the pre-divide factor, summed
        over the ranks (reduce-scattered: this rank's slice, all of it for NO_SHARD; HYBRID:
        then summed over the replicas), divided by the post-divide factor, in the shard's
        dtype. A float16/bfloat16 sum runs in float32, rounded after each collective."""
        dtype = self.reduce_dtype
        padded = np.zeros(self.shard_size * self.world, dtype=dtype)
        padded[:self.numel] = grad
        if self.predivide != 1:
            padded /= dtype.type(self.predivide)
        out = padded
        if self.world > 1:
            out = _sum(self.pg.comm, padded, scatter=True)
        if self.inter is not None:
            out = _sum(self.inter.comm, out)
        elif self.world == 1:  # NO_SHARD: an allreduce, as DDP
            out = _sum(self.pg.comm, out)
        if self.postdivide != 1:
            out /= dtype.type(self.postdivide)
        return out if out.dtype == self.dtype else out.astype(self.dtype)

    # ------------------------------------------------------------- views
    def local_ranges(self) -> list[tuple[int, int]]:
        """Per original parameter, the part of this rank's shard it covers (shard indices)."""
        lo = self.rank * self.shard_size if self.world > 1 else 0
        hi = lo + self.shard_size
        out = []
        for info in self.infos:
            a, b = max(info.offset, lo), min(info.offset + info.numel, hi)
            out.append((a - lo, b - lo) if a < b else (0, 0))
        return out

    def install(self, full: Tensor) -> None:
        """Each original parameter's module attribute <- its view of the whole vector."""
        for info in self.infos:
            view = full[info.offset:info.offset + info.numel].reshape(info.shape)
            for owner, name in info.sites:
                owner.__dict__[name] = view

    def full_array(self) -> np.ndarray:
        return self.full_precision()[:self.numel]

    def optim_params(self, optim: Any) -> list[Parameter]:
        """The parameters of this unit that ``optim`` steps, in its order."""
        mine = {id(p) for p in (self.orig_params if self.use_orig_params else [self.flat])}
        return [p for p in optim.params if id(p) in mine]


def _divide_factors(size: int) -> tuple[float, float]:
    """torch's gradient pre-divide factor (a power of 2 near sqrt(size)) and post-divide
    factor: dividing before and after the sum keeps float16 from overflowing."""
    factor = 1
    while size % factor == 0 and size / factor > factor:
        factor *= 2
    return float(factor), size / factor


def _sum(comm: Any, array: np.ndarray, scatter: bool = False) -> np.ndarray:
    """The sum over ``comm``'s ranks (``scatter``: this rank's block of it); float16 and
    bfloat16 in float32, rounded once (MPI sums neither)."""
    if comm is None or comm.Get_size() == 1:
        return array  # (one rank: its block is all of it)
    low = array.dtype.itemsize == 2
    send = array.astype(np.float32) if low else array  # (``array`` is the caller's own)
    if scatter:
        out = np.empty(len(send) // comm.Get_size(), dtype=send.dtype)
        comm.Reduce_scatter_block(send, out, op=torch_api._mpi("SUM"))
    else:
        out = send
        comm.Allreduce(torch_api._mpi("IN_PLACE"), out, op=torch_api._mpi("SUM"))
    return out.astype(array.dtype) if low else out


def _add_grad(p: Parameter, grad: np.ndarray, low: Any) -> None:
    """p.grad += grad (a new array); ``low``: the sum rounded to that dtype (torch's
    keep_low_precision_grads; dlpy's .grad setter insists on the parameter's dtype)."""
    from dlpy.tensor import _grad_tensor

    total = grad.copy() if p.grad is None else p.grad.data + grad
    if low:
        p._grad = _grad_tensor(total.astype(low))
    else:
        p.grad = total


# ----------------------------------------------------------------- the wrapper
def _check_strategy(strategy: Any) -> ShardingStrategy:
    if strategy is None:
        return ShardingStrategy.FULL_SHARD
    if not isinstance(strategy, ShardingStrategy):
        raise TypeError(f"{NAME}: sharding_strategy must be a ShardingStrategy (FULL_SHARD, "
                        f"SHARD_GRAD_OP, NO_SHARD, HYBRID_SHARD, _HYBRID_SHARD_ZERO2), got "
                        f"{strategy!r}")
    return strategy


def _mesh_groups(mesh: Any, process_group: Any, strategy: ShardingStrategy) -> Any:
    """torch's ``device_mesh=``: a 1-D mesh's group (the ranks that shard), or for the hybrid
    strategies a 2-D mesh's (shard group along dim 1, replicate group along dim 0)."""
    from dlpy.distributed.device_mesh import DeviceMesh

    if process_group is not None:
        raise ValueError("Cannot pass both process_group and device_mesh at the same time. "
                         "Please just pass only one of them.")
    if not isinstance(mesh, DeviceMesh):
        raise TypeError(f"{NAME}: device_mesh must be a DeviceMesh, got {type(mesh).__name__}")
    if strategy in _HYBRID:
        if mesh.ndim != 2:
            raise ValueError(f"Expected device_mesh to have ndim=2 but got {mesh.ndim}")
        return mesh.get_group(1), mesh.get_group(0)
    if mesh.ndim != 1:
        raise ValueError(f"{NAME}: {strategy.name} takes a 1-D device_mesh, got a {mesh.ndim}-D "
                         "one (a 2-D mesh is HYBRID_SHARD's (replicate, shard))")
    return mesh.get_group(0)


def _hybrid_groups(process_group: Any, policy: Any) -> tuple[Any, Any]:
    """HYBRID_SHARD's (intra, inter) groups: torch's ``process_group=(intra, inter)`` tuple,
    or with None (and an auto-wrap policy, as torch) the ranks of each machine (MPI's
    shared-memory split) and, across machines, the ranks of the same local index."""
    if process_group is None:
        if policy is None:
            raise ValueError(f"{NAME}: manual wrapping with HYBRID_SHARD needs "
                             "process_group=(intra_node_group, inter_node_group)")
        world = torch_api._world()
        if world.comm is None:
            return world, None
        from mpi4py import MPI

        local = world.comm.Split_type(MPI.COMM_TYPE_SHARED, world.rank())
        nodes = world.comm.allgather(local.bcast(world.rank(), root=0))  # each one's head
        local.Free()
        heads = sorted(set(nodes))
        intra_groups = [[r for r, n in enumerate(nodes) if n == h] for h in heads]
        per_node = {len(g) for g in intra_groups}
        if len(per_node) != 1:
            raise ValueError(f"{NAME}: HYBRID_SHARD needs as many ranks on every machine, got "
                             f"{[len(g) for g in intra_groups]}; give process_group=(intra, "
                             "inter)")
        intra = inter = None
        for ranks in intra_groups:
            pg = torch_api.new_group(ranks)
            if world.rank() in ranks:
                intra = pg
        for i in range(per_node.pop()):
            ranks = [g[i] for g in intra_groups]
            pg = torch_api.new_group(ranks)
            if world.rank() in ranks:
                inter = pg
        return intra, inter
    if not (isinstance(process_group, tuple) and len(process_group) == 2):
        raise ValueError(f"{NAME}: HYBRID_SHARD takes process_group=(intra_node_group, "
                         f"inter_node_group) or None, got {process_group!r}")
    intra = torch_api._group_of(NAME, process_group[0])
    inter = torch_api._group_of(NAME, process_group[1])
    if intra is None or inter is None:
        raise ValueError(f"{NAME}: this rank is not a member of both groups of "
                         "process_group=(intra, inter)")
    world = torch_api._world().size()
    if intra.size() * inter.size() != world or len(set(intra.ranks) & set(inter.ranks)) != 1:
        raise ValueError(f"{NAME}: HYBRID_SHARD's groups must split the {world} ranks: intra "
                         f"ranks {intra.ranks} x inter ranks {inter.ranks}")
    return intra, inter


def _recursive_wrap(module: Module, policy: Callable, make: Callable[[Module], Module],
                    only_children: bool) -> tuple[Module, int]:
    """torch's _recursive_wrap: wrap children the policy picks (depth first), then ``module``
    itself if the policy takes it with the parameters its children left."""
    if isinstance(module, FullyShardedDataParallel):
        return module, 0
    numel = sum(p.data.size for p in _unwrapped_parameters(module))
    if not policy(module=module, recurse=True, nonwrapped_numel=numel):
        return module, 0
    wrapped = 0
    for name, child in list(module.named_children()):
        new, count = _recursive_wrap(child, policy, make, False)
        if new is not child:
            setattr(module, name, new)
        wrapped += count
    if not only_children and policy(module=module, recurse=False,
                                    nonwrapped_numel=numel - wrapped):
        return make(module), numel
    return module, wrapped


def _unwrapped_parameters(module: Module) -> list[Parameter]:
    """The parameters of ``module`` outside any FSDP unit inside it, each once, in order."""
    seen, out = set(), []
    stack = [module]
    while stack:
        m = stack.pop(0)
        for p in m._parameters.values():
            if p is not None and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
        stack[:0] = [c for c in m._modules.values()
                     if c is not None and not isinstance(c, FullyShardedDataParallel)]
    return out


def _unwrapped_sites(module: Module, prefix: str = "") -> Iterator[tuple[str, Module, str]]:
    """(fully qualified name, owner, attribute) of each parameter outside nested units."""
    for name, p in module._parameters.items():
        if p is not None:
            yield prefix + name, module, name
    for name, child in module._modules.items():
        if child is not None and not isinstance(child, FullyShardedDataParallel):
            yield from _unwrapped_sites(child, f"{prefix}{name}.")


def _clean(name: str) -> str:
    return name.replace("_fsdp_wrapped_module.", "")


class FullyShardedDataParallel(Module):
    """``FSDP(module, sharding_strategy=, auto_wrap_policy=, mixed_precision=,
    use_orig_params=)``: ``module``'s parameters (outside the units the policy wraps) as one
    flat vector sharded over the ranks of ``process_group`` (HYBRID: of the intra group of an
    ``(intra, inter)`` pair, replicated over inter); rank 0's values at construction. See the
    module docstring."""

    def __init__(self, module: Module, process_group: Any = None,
                 sharding_strategy: ShardingStrategy | None = None,
                 cpu_offload: CPUOffload | None = None, auto_wrap_policy: Callable | None = None,
                 backward_prefetch: Any = None, mixed_precision: Any = None,
                 ignored_modules: Any = None, param_init_fn: Any = None, device_id: Any = None,
                 sync_module_states: bool = False, forward_prefetch: bool = False,
                 limit_all_gathers: bool = True, use_orig_params: bool = False,
                 ignored_states: Any = None, device_mesh: Any = None):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"{NAME}: expected a dlpy.nn.Module, got {type(module).__name__}")
        if cpu_offload is not None and not isinstance(cpu_offload, CPUOffload):
            raise TypeError(f"{NAME}: cpu_offload must be a CPUOffload, got {cpu_offload!r}")
        if mixed_precision is not None and not isinstance(mixed_precision, MixedPrecision):
            raise TypeError(f"{NAME}: mixed_precision must be a MixedPrecision, got "
                            f"{mixed_precision!r}")
        for what, value in (("ignored_modules", ignored_modules),
                            ("ignored_states", ignored_states), ("param_init_fn", param_init_fn)):
            if value is not None:
                raise ValueError(f"{NAME}: {what}={value!r} is not supported (dlpy: None)")
        if auto_wrap_policy is not None and not callable(auto_wrap_policy):
            raise TypeError(f"{NAME}: auto_wrap_policy must be callable, got "
                            f"{auto_wrap_policy!r}")
        strategy = _check_strategy(sharding_strategy)
        if device_mesh is not None:
            process_group = _mesh_groups(device_mesh, process_group, strategy)
        inter = None
        if strategy in _HYBRID:
            pg, inter = _hybrid_groups(process_group, auto_wrap_policy)
            process_group = (pg, inter)  # the units inside take the same pair
        else:
            pg = torch_api._group_of(NAME, process_group)
        if pg is None:
            raise ValueError(f"{NAME}: this rank is not a member of process_group")
        self.sharding_strategy, self.process_group = strategy, pg
        self._inter_node_pg = inter
        self.mixed_precision = mixed_precision
        for what in ("param_dtype", "reduce_dtype", "buffer_dtype"):
            _float_dtype(what, getattr(mixed_precision, what, None))
        self.use_orig_params = bool(use_orig_params)
        self.cpu_offload = cpu_offload
        self._state_dict_type = StateDictType.FULL_STATE_DICT
        self._state_dict_config: Any = FullStateDictConfig()
        self._buffer_dtypes: dict[str, np.dtype] | None = None  # the root's, once cast
        if auto_wrap_policy is not None:
            ignore = tuple(mixed_precision._module_classes_to_ignore) \
                if mixed_precision is not None else ()

            def make(child: Module) -> Module:
                precision = None if isinstance(child, ignore) else mixed_precision
                return FullyShardedDataParallel(
                    child, process_group, strategy, cpu_offload, mixed_precision=precision,
                    use_orig_params=use_orig_params)

            policy = auto_wrap_policy
            if ignore:  # torch: those modules are units of their own, in full precision
                def policy(module, recurse, nonwrapped_numel):
                    return auto_wrap_policy(module=module, recurse=recurse,
                                            nonwrapped_numel=nonwrapped_numel) or (
                        not recurse and isinstance(module, ignore))

            _recursive_wrap(module, policy, make, only_children=True)
        self._fsdp_wrapped_module = module
        self._handle = self._make_handle(module)

    @property
    def module(self) -> Module:
        return self._fsdp_wrapped_module

    def _make_handle(self, module: Module) -> _FlatHandle | None:
        by_id: dict[int, _ParamInfo] = {}
        infos: list[_ParamInfo] = []
        offset = 0
        for fqn, owner, name in _unwrapped_sites(module):
            p = owner._parameters[name]
            if id(p) in by_id:  # a tied parameter: one entry, several sites
                by_id[id(p)].sites.append((owner, name))
                continue
            if _claimed.get(id(p)) is p:
                raise ValueError(f"{NAME}: parameter {fqn} (shape {p.data.shape}) is shared with "
                                 "a module of another unit; wrap the modules that share a "
                                 "parameter in one unit")
            info = _ParamInfo(fqn, [(owner, name)], p, offset)
            by_id[id(p)] = info
            infos.append(info)
            offset += info.numel
        if not infos:
            return None
        dtypes = {str(info.param.data.dtype) for info in infos}
        if len(dtypes) > 1 or infos[0].param.data.dtype.kind != "f":
            raise TypeError(f"{NAME}: the parameters of one unit must share one float dtype, "
                            f"got {sorted(dtypes)}")
        for info in infos:
            _claimed[id(info.param)] = info.param
        handle = _FlatHandle(infos, infos[0].param.data.dtype, self.process_group,
                             self.sharding_strategy, self.use_orig_params,
                             self._inter_node_pg, self.mixed_precision)
        for info in infos:
            for owner, name in info.sites:
                del owner._parameters[name]
                owner.__dict__.pop(name, None)
        if self.use_orig_params:
            for info, (a, b) in zip(infos, handle.local_ranges()):
                view = Parameter.__new__(Parameter)
                Tensor.__init__(view, handle.flat.data[a:b], requires_grad=True)
                handle.orig_params.append(view)
                owner, name = info.sites[0]
                owner._parameters[name] = view  # named by its original name, sharded
        else:
            module._parameters["_flat_param"] = handle.flat
        with no_grad():
            handle.install(Tensor(handle.buffer[:handle.numel]))
        return handle

    def _units(self) -> list[FullyShardedDataParallel]:
        """This unit and every unit inside it, in module order."""
        return [m for m in self.modules() if isinstance(m, FullyShardedDataParallel)]

    # ------------------------------------------------------------- forward
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        precision = self.mixed_precision
        if _nesting[0] == 0:  # the root's call: graphs never differentiated are forgotten
            for unit in self._units():
                if unit._handle is not None:
                    unit._handle.pending = 0
            if self._buffer_dtypes is None:
                self._cast_buffers()
            if precision is not None and precision.cast_root_forward_inputs:
                args, kwargs = _cast_inputs(precision.param_dtype, args, kwargs)
        elif precision is not None and precision.cast_forward_inputs:
            args, kwargs = _cast_inputs(precision.param_dtype, args, kwargs)
        _nesting[0] += 1
        try:
            return self._forward(args, kwargs)
        finally:
            _nesting[0] -= 1

    def _forward(self, args: tuple, kwargs: dict) -> Any:
        handle = self._handle
        if handle is None:
            return self._fsdp_wrapped_module(*args, **kwargs)
        full = _Gather(handle)(handle.flat)  # recorded unless under no_grad
        if full.requires_grad:
            handle.pending += 1
        handle.install(full)
        try:
            out = self._fsdp_wrapped_module(*args, **kwargs)
        finally:
            with no_grad():  # between calls: views without a graph
                handle.install(Tensor(handle.full))
        strategy = self.sharding_strategy
        if strategy is ShardingStrategy.NO_SHARD or not full.requires_grad:
            if strategy is not ShardingStrategy.NO_SHARD:
                handle.reshard()  # nothing will read it again: no backward
            return out
        if strategy in _FREE_AFTER_FORWARD:
            handle.reshard()
        # (SHARD_GRAD_OP too: another graph's backward may have freed it in between)
        return _map_tensors(out, lambda t: _PreBackward(handle)(t) if t.requires_grad else t)

    def _cast_buffers(self) -> None:
        """The root's first forward: each unit's floating buffers (outside nested units) to
        its ``buffer_dtype``, their own dtypes remembered for the state dicts (torch's)."""
        self._buffer_dtypes = {}
        for prefix, unit in self.named_modules():
            if not isinstance(unit, FullyShardedDataParallel):
                continue
            dtype = _float_dtype("buffer_dtype", getattr(unit.mixed_precision, "buffer_dtype",
                                                          None))
            if dtype is None:
                continue
            head = f"{prefix}._fsdp_wrapped_module" if prefix else "_fsdp_wrapped_module"
            stack = [(head, unit._fsdp_wrapped_module)]
            while stack:
                name, m = stack.pop()
                for key, buffer in m._buffers.items():
                    if buffer is not None and buffer.dtype.kind == "f" and buffer.dtype != dtype:
                        self._buffer_dtypes[_clean(f"{name}.{key}")] = buffer.dtype
                        buffer.data = buffer.data.astype(dtype)  # the same Tensor (torch's)
                stack += [(f"{name}.{n}", c) for n, c in m._modules.items()
                          if c is not None and not isinstance(c, FullyShardedDataParallel)]

    # ------------------------------------------------------------- context managers
    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward inside keeps whole (unsharded) gradients on each rank without
        communicating; the first backward outside adds them in and reduce-scatters."""
        handles = [u._handle for u in self._units() if u._handle is not None]
        for h in handles:
            h.sync = False
        try:
            yield
        finally:
            for h in handles:
                h.sync = True

    @staticmethod
    @contextlib.contextmanager
    def summon_full_params(module: Module, recurse: bool = True, writeback: bool = True,
                           rank0_only: bool = False, offload_to_cpu: bool = False,
                           with_grads: bool = False) -> Iterator[None]:
        """Inside, every unit's original parameters are whole Parameters again (under their
        own names); with ``writeback``, changes to them go back to the shards on exit."""
        if with_grads:
            raise ValueError(f"{NAME}.summon_full_params: with_grads=True is not supported")
        units = _all_units(module, recurse)
        handles = [u._handle for u in units if u._handle is not None]
        wholes = []
        for h in handles:
            whole = h.full_precision()  # (under mixed precision too: the float32 values)
            wholes.append(whole)
            for info in h.infos:
                info.param.data = whole[info.offset:info.offset + info.numel].reshape(
                    info.shape)
                for owner, name in info.sites:
                    owner._parameters[name] = info.param
                    owner.__dict__[name] = info.param
        saved = [(u._fsdp_wrapped_module, u._fsdp_wrapped_module._parameters.pop(
            "_flat_param", None)) for u in units if u._handle is not None]
        try:
            yield
        finally:
            for m, flat in saved:
                if flat is not None:
                    m._parameters["_flat_param"] = flat
            for h, whole in zip(handles, wholes):
                if writeback and whole is not h.flat.data:
                    lo = h.rank * h.shard_size if h.world > 1 else 0
                    h.flat.data[...] = whole[lo:lo + h.shard_size]
                for info in h.infos:
                    for owner, name in info.sites:
                        owner._parameters.pop(name, None)
                if h.use_orig_params:
                    for info, p in zip(h.infos, h.orig_params):
                        owner, name = info.sites[0]
                        owner._parameters[name] = p
                with no_grad():
                    h.install(Tensor(h.full))
                if h.strategy is not ShardingStrategy.NO_SHARD:
                    h.reshard()

    # ------------------------------------------------------------- state dicts
    @staticmethod
    @contextlib.contextmanager
    def state_dict_type(module: Module, state_dict_type: StateDictType,
                        state_dict_config: Any = None, optim_state_dict_config: Any = None
                        ) -> Iterator[None]:
        """``model.state_dict()`` inside gives ``state_dict_type``'s layout."""
        units = _all_units(module, True)
        before = [(u._state_dict_type, u._state_dict_config) for u in units]
        FullyShardedDataParallel.set_state_dict_type(module, state_dict_type, state_dict_config,
                                                     optim_state_dict_config)
        try:
            yield
        finally:
            for u, (kind, config) in zip(units, before):
                u._state_dict_type, u._state_dict_config = kind, config

    @staticmethod
    def set_state_dict_type(module: Module, state_dict_type: StateDictType,
                            state_dict_config: Any = None, optim_state_dict_config: Any = None
                            ) -> None:
        name = f"{NAME}.state_dict_type"
        if not isinstance(state_dict_type, StateDictType):
            raise TypeError(f"{name}: expected a StateDictType, got {state_dict_type!r}")
        expected = {StateDictType.FULL_STATE_DICT: FullStateDictConfig,
                    StateDictType.SHARDED_STATE_DICT: ShardedStateDictConfig,
                    StateDictType.LOCAL_STATE_DICT: LocalStateDictConfig}[state_dict_type]
        config = expected() if state_dict_config is None else state_dict_config
        if not isinstance(config, expected):
            raise TypeError(f"{name}: {state_dict_type} takes a {expected.__name__}, got "
                            f"{type(config).__name__}")
        units = _all_units(module, True)
        if not units:
            raise ValueError(f"{name}: the module holds no FullyShardedDataParallel unit")
        for u in units:
            u._state_dict_type, u._state_dict_config = state_dict_type, config

    def state_dict(self) -> dict[str, Any]:
        """FULL_STATE_DICT (default): the original names and whole Tensors (copies; on rank 0
        only with ``rank0_only``); SHARDED_STATE_DICT: a ShardedTensor per original parameter;
        LOCAL_STATE_DICT: each unit's shard under ``..._flat_param``. In
        ``Module.state_dict()``'s order, as torch's: module by module, its own parameters, its
        own persistent buffers, then its children."""
        kind = self._state_dict_type
        # FULL and SHARDED give the buffers back in their own dtypes, LOCAL as held (torch's)
        own = (self._buffer_dtypes or {}) if kind is not StateDictType.LOCAL_STATE_DICT else {}
        buffers = {_clean(n): Tensor(b.data.astype(own.get(_clean(n), b.dtype)))  # (a copy)
                   for n, b in self.named_buffers(persistent_only=True)}
        if kind is StateDictType.LOCAL_STATE_DICT:
            return self._in_module_order(
                {**{n: Tensor(p.data.copy()) for n, p in self._flat_named()}, **buffers})
        if kind is StateDictType.SHARDED_STATE_DICT:
            out: dict[str, Any] = {}
            for prefix, h in self._prefixed_handles():
                lo = h.rank * h.shard_size if h.world > 1 else 0
                for info, (a, b) in zip(h.infos, h.local_ranges()):
                    out[prefix + info.fqn] = ShardedTensor(
                        h.flat.data[a:b].copy(), max(lo + a - info.offset, 0)
                        if b > a else 0, info.shape)
            return self._in_module_order({**out, **buffers})
        config = self._state_dict_config
        state: dict[str, Any] = {}
        with self.summon_full_params(self, writeback=False):
            if not (config.rank0_only and self.process_group.rank() != 0):
                state = {_clean(n): Tensor(p.data.copy()) for n, p in self.named_parameters()}
                state.update(buffers)
        return self._in_module_order(state)

    def _in_module_order(self, state: dict[str, Any]) -> dict[str, Any]:
        """``state`` (its keys and values unchanged) in ``Module.state_dict()``'s order of the
        unwrapped model: each module's original parameters (or its unit's ``_flat_param``),
        its persistent buffers, then its children, depth first."""
        owned: dict[int, list[str]] = {}  # a module -> the names of the parameters it had
        for prefix, h in self._prefixed_handles():
            for info in h.infos:  # a tied parameter under its first name, as state_dict
                owned.setdefault(id(info.sites[0][0]), []).append(prefix + info.fqn)
        wrapped = {id(u._fsdp_wrapped_module) for u in self._units() if u._handle is not None}
        order: list[str] = []
        for module_name, module in self.named_modules():
            head = f"{module_name}." if module_name else ""
            if id(module) in wrapped:
                order.append(head + "_flat_param")
            order += owned.get(id(module), [])
            order += [_clean(head + name)
                      for name, array in module.__dict__.get("_buffers", {}).items()
                      if array is not None and name not in module._non_persistent]
        rank = {}
        for key in order:
            rank.setdefault(key, len(rank))
        return dict(sorted(state.items(), key=lambda item: rank.get(item[0], len(rank))))

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> Any:
        """The inverse of ``state_dict`` in the same state-dict type (call on every rank;
        FULL_STATE_DICT: each rank takes its slice of the whole arrays)."""
        name = f"{NAME}.load_state_dict"
        kind = self._state_dict_type
        params: dict[str, Any] = {}
        buffers = {_clean(n): n for n, _ in self.named_buffers(persistent_only=True)}
        for key, value in state.items():
            if key in buffers:
                continue
            params[key] = value
        if kind is StateDictType.LOCAL_STATE_DICT:
            own = dict(self._flat_named())
            _check_keys(name, own, params, strict)
            for key, p in own.items():
                if key in params:
                    value = np.asarray(params[key])
                    if value.shape != p.data.shape:
                        raise ValueError(f"{name}: {key} has shape {value.shape}, this rank's "
                                         f"shard {p.data.shape} (another world size?)")
                    p.data[...] = value
        else:
            own_names = {prefix + info.fqn: (h, i) for prefix, h in self._prefixed_handles()
                         for i, info in enumerate(h.infos)}
            _check_keys(name, own_names, params, strict)
            for key, (h, i) in own_names.items():
                if key not in params:
                    continue
                info, value = h.infos[i], params[key]
                a, b = h.local_ranges()[i]
                if kind is StateDictType.SHARDED_STATE_DICT:
                    if not isinstance(value, ShardedTensor) or value.local.size != b - a:
                        raise ValueError(f"{name}: {key} is not this rank's piece of a "
                                         "SHARDED_STATE_DICT of the same world size")
                    h.flat.data[a:b] = value.local
                    continue
                value = np.asarray(value)
                if value.shape != info.shape:
                    raise ValueError(f"{name}: {key} has shape {value.shape}, the model's "
                                     f"{info.shape}")
                if h.world == 1:
                    h.flat.data[info.offset:info.offset + info.numel] = value.reshape(-1)
                elif b > a:
                    lo = h.rank * h.shard_size
                    h.flat.data[a:b] = value.reshape(-1)[lo + a - info.offset:lo + b - info.offset]
        for key, full_name in buffers.items():
            if key in state:
                owner, attr = self._buffer_owner(full_name)
                owner._buffers[attr].data[...] = np.asarray(state[key])
        return None

    def _prefixed_handles(self) -> list[tuple[str, _FlatHandle]]:
        out = []
        for prefix, m in self.named_modules():
            if isinstance(m, FullyShardedDataParallel) and m._handle is not None:
                out.append((_clean(prefix + "." if prefix else ""), m._handle))
        return out

    def _flat_named(self) -> list[tuple[str, Parameter]]:
        out = []
        for prefix, m in self.named_modules():
            if isinstance(m, FullyShardedDataParallel) and m._handle is not None:
                head = f"{prefix}." if prefix else ""
                out.append((f"{head}_fsdp_wrapped_module._flat_param", m._handle.flat))
        return out

    # ------------------------------------------------------------- optimiser state
    @staticmethod
    def optim_state_dict(model: Module, optim: Any, optim_state_dict: Any = None,
                         group: Any = None) -> dict[str, Any]:
        """The optimiser's state by original parameter name, whole (every rank gathers):
        {"state": {name: {slot: array}}, "param_groups": [{settings, "params": [names]}]}.
        The optimiser steps the flat shards, or with ``use_orig_params`` the original
        parameters' pieces."""
        name = f"{NAME}.optim_state_dict"
        owners = _flat_owners(name, model, optim)
        index = {id(p): i for i, p in enumerate(optim.params)}
        wholes: dict[int, dict[str, np.ndarray]] = {}  # a unit's slots, gathered
        for _, h in model._prefixed_handles():  # in the same order on every rank
            views = [(index[id(p)], owners[id(p)]) for p in h.optim_params(optim)]
            if not views:
                continue
            slots = sorted({slot for i, v in views for slot, value in optim.state[i].items()
                            if v.per_element(value)})
            shards = {}
            for slot in slots:
                vector = None
                for i, v in views:
                    value = np.asarray(optim.state[i].get(slot, np.zeros(0)))
                    if vector is None:
                        vector = np.zeros(h.shard_size, dtype=value.dtype)
                    vector[v.start:v.start + value.size] = value.reshape(-1)
                shards[slot] = _gather_vector(h, vector)
            wholes[id(h)] = shards
        state: dict[str, dict[str, Any]] = {}
        for i, p in enumerate(optim.params):
            v = owners[id(p)]
            whole = wholes[id(v.handle)]
            slots = optim.state[i]
            for info, _, _ in v.entries:
                state[info.fqn_global] = {
                    slot: (whole[slot][info.offset:info.offset + info.numel].reshape(
                        info.shape) if slot in whole else np.array(value, copy=True))
                    for slot, value in slots.items()}
        groups = []
        for g in optim.param_groups:
            names = [info.fqn_global for p in g["params"] for info, _, _ in owners[id(p)].entries]
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": names})
        return {"state": state, "param_groups": groups, "step_count": optim.step_count}

    @staticmethod
    def optim_state_dict_to_load(model: Module, optim: Any, optim_state_dict: dict[str, Any]
                                 ) -> None:
        """Load ``optim_state_dict`` (by original names, whole) into ``optim`` over this
        rank's shards (dlpy: loads it, where torch returns a dict for load_state_dict)."""
        name = f"{NAME}.optim_state_dict_to_load"
        owners = _flat_owners(name, model, optim)
        state = optim_state_dict["state"]
        for i, p in enumerate(optim.params):
            v = owners[id(p)]
            first = state.get(v.entries[0][0].fqn_global)
            if first is None:
                optim.state[i] = {}
                continue
            slots: dict[str, Any] = {}
            for slot, value in first.items():
                value = np.asarray(value)
                if value.shape == v.entries[0][0].shape and value.ndim >= 1:
                    local = np.zeros(p.data.size, dtype=value.dtype)
                    for info, a, b in v.entries:
                        saved = np.asarray(state[info.fqn_global][slot]).reshape(-1)
                        local[a:b] = saved[v.base + a - info.offset:v.base + b - info.offset]
                    slots[slot] = local.reshape(p.data.shape)
                else:
                    slots[slot] = value.copy()
            optim.state[i] = slots
        for g, saved in zip(optim.param_groups, optim_state_dict["param_groups"]):
            g.update({k: v for k, v in saved.items() if k != "params"})
        optim.step_count = int(optim_state_dict.get("step_count", optim.step_count))

    # ------------------------------------------------------------- gradients
    def clip_grad_norm_(self, max_norm: float, norm_type: float = 2.0) -> Tensor:
        """Scale every shard's gradient so the norm of the whole model's gradient (over all
        ranks) is at most ``max_norm``; returns that norm before clipping."""
        from dlpy.nn.utils import clip_grads_with_norm_

        norm_type = float(norm_type)
        if not norm_type > 0:
            raise ValueError(f"{NAME}.clip_grad_norm_: norm_type must be > 0, got {norm_type}")
        params = [p for p in self.parameters() if p.grad is not None]
        if norm_type == np.inf:
            local = max((float(np.abs(p.grad.data).max()) for p in params
                         if p.grad.data.size), default=0.0)
            total = self._across(local, "MAX")
        else:
            local = sum(float(np.sum(np.abs(p.grad.data) ** norm_type)) for p in params)
            total = self._across(local, "SUM") ** (1.0 / norm_type)
        clip_grads_with_norm_(params, max_norm, total)
        dtype = params[0].grad.dtype if params else np.float32
        return Tensor(np.asarray(total, dtype=dtype))

    def _across(self, value: float, op: str) -> float:
        pg = self.process_group
        if pg.comm is None or self.sharding_strategy is ShardingStrategy.NO_SHARD:
            return value
        buffer = np.array([value], dtype=np.float64)
        pg.comm.Allreduce(torch_api._mpi("IN_PLACE"), buffer, op=torch_api._mpi(op))
        return float(buffer[0])

    def extra_repr(self) -> str:
        h = self._handle
        kept = 0 if h is None else h.flat.data.size
        whole = 0 if h is None else h.numel
        return (f"{self.sharding_strategy.name}, rank {self.process_group.rank()} of "
                f"{self.process_group.size()}: {kept} of {whole} elements")


FSDP = FullyShardedDataParallel


def _all_units(module: Module, recurse: bool) -> list[FullyShardedDataParallel]:
    units = [m for m in module.modules() if isinstance(m, FullyShardedDataParallel)]
    return units if recurse else units[:1]


def _cast_inputs(dtype: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """torch's _cast_forward_inputs: the floating Tensors and arrays among the inputs (in
    tuples, lists, dicts too) cast to ``dtype``; a Tensor's cast is recorded."""
    if dtype is None:
        return args, kwargs
    dtype = np.dtype(dtype)

    def cast(x: Any) -> Any:
        if isinstance(x, (Tensor, np.ndarray)):
            kind = x.dtype
            if (kind.kind == "f" or kind.name == "bfloat16") and kind != dtype:
                return x.astype(dtype)
            return x
        if isinstance(x, (tuple, list)):
            return type(x)(cast(v) for v in x)
        if isinstance(x, dict):
            return {k: cast(v) for k, v in x.items()}
        return x

    return cast(args), cast(kwargs)


def _map_tensors(out: Any, fn: Callable[[Tensor], Tensor]) -> Any:
    if isinstance(out, Tensor):
        return fn(out)
    if isinstance(out, (tuple, list)):
        return type(out)(_map_tensors(o, fn) for o in out)
    if isinstance(out, dict):
        return {k: _map_tensors(v, fn) for k, v in out.items()}
    return out


def _check_keys(name: str, own: dict, given: dict, strict: bool) -> None:
    if not strict:
        return
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    if missing or unexpected:
        raise ValueError(f"{name}: missing keys {missing}, unexpected keys {unexpected}")


class _OptimView:
    """What one parameter an optimiser steps holds of a unit: ``entries`` (original
    parameter info, start, stop in the parameter's own elements), ``base`` (the unit's whole
    vector index of its element 0) and ``start`` (of it in this rank's shard). A flat shard
    covers every original parameter's local range; a ``use_orig_params`` piece its own."""

    def __init__(self, handle: _FlatHandle, j: int | None):
        self.handle = handle
        lo = handle.rank * handle.shard_size if handle.world > 1 else 0
        ranges = handle.local_ranges()
        if j is None:
            self.entries = [(info, a, b) for info, (a, b) in zip(handle.infos, ranges)]
            self.start = 0
        else:
            a, b = ranges[j]
            self.entries = [(handle.infos[j], 0, b - a)]
            self.start = a
        self.base = lo + self.start
        self.size = handle.shard_size if j is None else ranges[j][1] - ranges[j][0]

    @property
    def infos(self) -> list[_ParamInfo]:
        return [info for info, _, _ in self.entries]

    def per_element(self, value: Any) -> bool:
        """A slot with one value per element (Adam's moments), not a scalar (its step)."""
        return np.ndim(value) >= 1 and np.size(value) == self.size


def _flat_owners(name: str, model: Module, optim: Any) -> dict[int, _OptimView]:
    """What each parameter the optimiser steps holds (with ``fqn_global`` set on each
    original parameter: its name in the unwrapped model)."""
    if not isinstance(model, FullyShardedDataParallel):
        raise TypeError(f"{name}: model must be the root FullyShardedDataParallel, got "
                        f"{type(model).__name__}")
    owners: dict[int, _OptimView] = {}
    for prefix, h in model._prefixed_handles():
        for info in h.infos:
            info.fqn_global = prefix + info.fqn
        if h.use_orig_params:
            for j, p in enumerate(h.orig_params):
                owners[id(p)] = _OptimView(h, j)
        else:
            owners[id(h.flat)] = _OptimView(h, None)
    for i, p in enumerate(optim.params):
        if id(p) not in owners:
            raise ValueError(f"{name}: the optimiser's parameter {i} (shape {p.data.shape}) is "
                             "not a parameter of the model's units")
    return owners


def _gather_vector(h: _FlatHandle, shard: np.ndarray) -> np.ndarray:
    """A shard-shaped vector of every rank, concatenated (the whole padded vector)."""
    if h.world == 1 or h.pg.comm is None:
        return shard.copy()
    out = np.empty(h.shard_size * h.world, dtype=shard.dtype)
    h.pg.comm.Allgather(np.ascontiguousarray(shard), out)
    return out


# FSDP2 (torch.distributed.fsdp.fully_shard) lives in fsdp2.py, which uses this module's
# helpers: its names are found here on first use (either module may be imported first)
_FSDP2 = ("CPUOffloadPolicy", "FSDPModule", "MixedPrecisionPolicy", "OffloadPolicy",
          "UnshardHandle", "fully_shard")
__all__ += list(_FSDP2)


def __getattr__(name: str) -> Any:
    if name in _FSDP2:
        from dlpy.distributed import fsdp2

        return getattr(fsdp2, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# torch.distributed.fsdp.fully_sharded_data_parallel, where torch defines these classes
# (``from torch.distributed.fsdp.fully_sharded_data_parallel import FullyShardedDataParallel``):
# this module itself, registered under that name while the file stays a module
sys.modules[f"{__name__}.fully_sharded_data_parallel"] = sys.modules[__name__]
# torch.distributed.fsdp.wrap, where torch keeps the auto-wrap policies
# (``from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy``): likewise
sys.modules[f"{__name__}.wrap"] = sys.modules[__name__]
