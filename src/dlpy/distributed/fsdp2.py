"""FSDP2: ``fully_shard`` (torch.distributed.fsdp.fully_shard), parameters as DTensors.

    from dlpy.distributed.fsdp import fully_shard, MixedPrecisionPolicy
    for layer in model.layers:
        fully_shard(layer)                      # each block a unit (torch's examples)
    fully_shard(model)                          # the root: what the blocks left
    opt = optim.Adam(model.parameters(), lr=1e-3)   # steps this rank's rows
    loss = F.cross_entropy(model(x), y); loss.backward(); opt.step()

Every parameter of a unit becomes a ``DParameter`` sharded on dim 0 (``Shard(0)``: rank r
holds rows [r c, (r + 1) c) of torch.chunk's chunk size c = ceil(rows / N), the last ranks
fewer or none; on a 2-D mesh ``(Replicate(), Shard(0))``, HSDP), and the module's class becomes
``FSDP<Class>``, a subclass of ``FSDPModule``. Calling a unit all-gathers its parameters in one
collective (each rank's rows padded to c, as torch's) into a memory map and runs the module with
the whole parameters as views of it; the gather is one recorded op whose backward
reduce-scatters the gradients (the mean over the ranks; HSDP: then all-reduced over the
replicas), so each DParameter's ``.grad`` is its rows' gradient and any dlpy optimiser steps
them. ``reshard_after_forward`` frees the gathered copy after the forward
(``madvise(MADV_DONTNEED)``; the root keeps it, as torch's) and the backward gathers it again.
"""

from __future__ import annotations

import mmap
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy.distributed import fsdp as _fsdp
from dlpy.distributed import torch_api
from dlpy.distributed.device_mesh import DeviceMesh, init_device_mesh
from dlpy.distributed.tensor._api import (
    DParameter,
    DTensor,
    distribute_parameter,
)
from dlpy.distributed.tensor.placement_types import Replicate, Shard
from dlpy.nn.module import Module, Parameter
from dlpy.tensor import Op, Tensor, is_grad_enabled, no_grad

__all__ = ["CPUOffloadPolicy", "FSDPModule", "MixedPrecisionPolicy", "OffloadPolicy",
           "UnshardHandle", "fully_shard"]

NAME = "fully_shard"


@dataclass(frozen=True)
class MixedPrecisionPolicy:
    """torch's FSDP2 mixed precision: a unit's parameters are gathered and run in
    ``param_dtype`` (each rank's rows cast, then gathered), gradients reduce-scattered in
    ``reduce_dtype`` (default: the gradients' dtype, ``param_dtype``) and kept in the
    parameter's own dtype, which the optimiser steps; the outputs are cast to ``output_dtype``;
    ``cast_forward_inputs`` casts floating inputs to ``param_dtype``."""

    param_dtype: Any = None
    reduce_dtype: Any = None
    output_dtype: Any = None
    cast_forward_inputs: bool = True


@dataclass
class OffloadPolicy:
    """No offloading (torch's default)."""


@dataclass
class CPUOffloadPolicy(OffloadPolicy):
    """Accepted: dlpy's shards, gradients and optimiser state live in host memory already."""

    pin_memory: bool = True


class UnshardHandle:
    """``unshard(async_op=True)``'s handle: the gather has happened when it returns (MPI's
    blocking Allgather), so ``wait()`` has nothing left to do."""

    def wait(self) -> None:
        return None


# ----------------------------------------------------------------- one unit's parameters
class _Gather(Op):
    """y = the unit's whole parameters, one vector (each rank's rows gathered);  backward:
    the gradients reduce-scattered, one local gradient per parameter."""

    saves = ()
    reads_local_piece = True  # (it is given the DParameters: their pieces are what it gathers)

    def __init__(self, group: _ParamGroup):
        self.group = group

    def forward(self, *local_shards):
        self.group.unshard(force=True)
        return self.group.full

    def backward(self, grad_output):
        return self.group.post_backward(grad_output)


class _ParamGroup:
    """The parameters one ``fully_shard`` call manages (torch's FSDPParamGroup): where they
    sit, the gather buffer (in the compute dtype) and the layouts of the two collectives.
    Rank r's part of a collective is, per parameter in order, its rows [r c, (r + 1) c)
    padded to c rows (c = ceil(rows / N)), so every rank sends and receives the same count."""

    def __init__(self, sites: list[tuple[str, list[tuple[Module, str]], DParameter]],
                 mesh: DeviceMesh, policy: MixedPrecisionPolicy):
        self.sites, self.mesh = sites, mesh
        self.params = [p for _, _, p in sites]
        self.shard_group = mesh.get_group(mesh.ndim - 1)
        self.replicate_group = mesh.get_group(0) if mesh.ndim == 2 else None
        self.world = self.shard_group.size()
        self.rank = self.shard_group.rank()
        param_dtype = _fsdp._float_dtype("param_dtype", policy.param_dtype, "MixedPrecisionPolicy")
        reduce_dtype = _fsdp._float_dtype("reduce_dtype", policy.reduce_dtype,
                                          "MixedPrecisionPolicy")
        dtypes = {p.data.dtype for p in self.params}
        if param_dtype is None and len(dtypes) > 1:
            raise ValueError(f"{NAME}: the parameters of one unit must share a dtype (or give "
                             f"MixedPrecisionPolicy(param_dtype=...)), got "
                             f"{sorted(map(str, dtypes))}")
        self.compute_dtype = param_dtype or (dtypes.pop() if dtypes else np.dtype(np.float32))
        self.reduce_dtype = reduce_dtype or self.compute_dtype
        replicas = 1 if self.replicate_group is None else self.replicate_group.size()
        self.predivide, self.postdivide = _fsdp._divide_factors(self.world * replicas)
        # per parameter: rows, elements per row, chunk rows c, offset in one rank's block,
        # offset in the whole vector
        self.layout = []
        block = whole = 0
        for p in self.params:
            rows = p.shape[0]
            inner = int(np.prod(p.shape[1:], dtype=np.int64))
            chunk = -(-rows // self.world) if rows else 0
            self.layout.append((rows, inner, chunk, block, whole))
            block += chunk * inner
            whole += rows * inner
        self.block, self.numel = block, whole
        self._mmap: Any = None
        if whole:  # (one rank too: the whole copy is freed after use all the same)
            self._mmap = mmap.mmap(-1, whole * self.compute_dtype.itemsize)
            self.full = np.frombuffer(self._mmap, dtype=self.compute_dtype)
        else:
            self.full = np.zeros(0, dtype=self.compute_dtype)
        self.gathered = False
        self.pending = 0  # recorded gathers whose backward has not run
        self.sync = True  # set_requires_gradient_sync
        self.reshard_after_backward = True
        self.unsharded_grad: np.ndarray | None = None
        self._account = [sum(p.data.nbytes for p in self.params), 0]  # sharded, gathered
        _fsdp._memory.sharded += self._account[0]
        weakref.finalize(self, _fsdp._release, self._account)

    # ------------------------------------------------------------- gather and free
    def unshard(self, force: bool = False) -> None:
        """Gather every parameter's rows into ``full`` (again with ``force``: the shards may
        have changed; a collective, so every rank of the shard group calls it together)."""
        if self.gathered and not force:
            return
        if self.world == 1:
            for p, (rows, inner, _, _, start) in zip(self.params, self.layout):
                self.full[start:start + rows * inner] = p.data.reshape(-1)
        elif self.numel:
            send = np.zeros(self.block, dtype=self.compute_dtype)
            for p, (_, _, _, offset, _) in zip(self.params, self.layout):
                send[offset:offset + p.data.size] = p.data.reshape(-1)
            received = np.empty((self.world, self.block), dtype=self.compute_dtype)
            self.shard_group.comm.Allgather(send.view(np.uint8), received.view(np.uint8))
            for rows, inner, chunk, offset, start in self.layout:
                pieces = received[:, offset:offset + chunk * inner].reshape(-1)
                self.full[start:start + rows * inner] = pieces[:rows * inner]
        if not self.gathered:
            self.gathered = True
            self._account[1] = self.full.nbytes
            _fsdp._memory.gathered += self.full.nbytes
            _fsdp._memory.peak_gathered = max(_fsdp._memory.peak_gathered,
                                              _fsdp._memory.gathered)

    def reshard(self) -> None:
        if not self.gathered:
            return
        if self._mmap is not None:
            self._mmap.madvise(mmap.MADV_DONTNEED)  # the pages go back; the views stay valid
        self.gathered = False
        self._account[1] = 0
        _fsdp._memory.gathered -= self.full.nbytes

    def views(self, full: Tensor) -> list[Tensor]:
        """Each parameter's whole value as a view of the gathered vector (recorded ops when
        ``full`` is)."""
        return [full[start:start + rows * inner].reshape(p.shape)
                for p, (rows, inner, _, _, start) in zip(self.params, self.layout)]

    # ------------------------------------------------------------- gradients
    def post_backward(self, grad: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """The whole gradient -> each parameter's local gradient: reduce-scattered in
        ``reduce_dtype``, divided by torch's pre- and post-divide factors (the mean over the
        data-parallel ranks), in the parameter's dtype. Without gradient sync it accumulates
        unsharded until a synced backward."""
        self.pending = max(self.pending - 1, 0)
        result: tuple[np.ndarray | None, ...] = (None,) * len(self.params)
        if not self.sync:
            if self.unsharded_grad is None:
                self.unsharded_grad = np.array(grad, dtype=self.compute_dtype)
            else:
                self.unsharded_grad += grad
        else:
            if self.unsharded_grad is not None:
                grad = grad + self.unsharded_grad
                self.unsharded_grad = None
            result = self._reduce(grad)
        if self.pending == 0 and self.reshard_after_backward:
            self.reshard()
        return result

    def _reduce(self, grad: np.ndarray) -> tuple[np.ndarray, ...]:
        dtype = self.reduce_dtype
        send = np.zeros((self.world, self.block), dtype=dtype)
        for rows, inner, chunk, offset, start in self.layout:
            padded = np.zeros(self.world * chunk * inner, dtype=dtype)  # rows padded to N c
            padded[:rows * inner] = grad[start:start + rows * inner]
            send[:, offset:offset + chunk * inner] = padded.reshape(self.world, chunk * inner)
        send = send.reshape(-1)
        if self.predivide != 1:
            send /= dtype.type(self.predivide)
        out = _fsdp._sum(self.shard_group.comm, send, scatter=True)
        if self.replicate_group is not None:
            out = _fsdp._sum(self.replicate_group.comm, out)
        if self.postdivide != 1:
            out /= dtype.type(self.postdivide)
        grads = []
        for p, (_, _, _, offset, _) in zip(self.params, self.layout):
            local = out[offset:offset + p.data.size].reshape(p.data.shape)
            grads.append(local.astype(p.data.dtype, copy=True))
        return tuple(grads)

    # ------------------------------------------------------------- the module's attributes
    def install(self, values: list[Tensor]) -> None:
        for (_, owners, _), value in zip(self.sites, values):
            for owner, name in owners:
                owner.__dict__[name] = value

    def restore(self) -> None:
        self.install(self.params)


# ----------------------------------------------------------------- the module side
class _State:
    """What fully_shard attaches to a module: its unit and settings."""

    def __init__(self, group: _ParamGroup, reshard_after_forward: bool,
                 policy: MixedPrecisionPolicy):
        self.group = group
        self.reshard_after_forward = reshard_after_forward
        self.policy = policy


_running = [0]  # fully_shard forwards running now (0: the next call is a root's)


class FSDPModule:
    """The class ``fully_shard`` mixes into a module's class (``FSDPLinear`` for a Linear):
    its forward gathers the unit's parameters, runs the module's own forward, and frees them
    again. ``unshard``/``reshard`` do the same by hand."""

    def _fsdp_state(self) -> _State:
        return self.__dict__["_fsdp"]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        state = self._fsdp_state()
        group, policy = state.group, state.policy
        root = _running[0] == 0
        if policy.cast_forward_inputs and policy.param_dtype is not None:
            args, kwargs = _fsdp._cast_inputs(policy.param_dtype, args, kwargs)
        record = is_grad_enabled() and any(p.requires_grad for p in group.params)
        if record:
            full = _Gather(group)(*group.params)
            group.pending += 1
        else:
            group.unshard(force=True)
            full = Tensor(group.full)
        group.install(group.views(full))
        _running[0] += 1
        try:
            out = super().forward(*args, **kwargs)
        finally:
            _running[0] -= 1
            group.restore()
        if not record or (state.reshard_after_forward and not root):
            group.reshard()
        if record and state.reshard_after_forward and not root:
            # (FSDP1's op: its backward calls group.unshard() before the unit's own ops')
            out = _fsdp._map_tensors(out, lambda t: _fsdp._PreBackward(group)(t)
                                     if t.requires_grad else t)
        if policy.output_dtype is not None:
            out = _fsdp._cast_inputs(policy.output_dtype, (out,), {})[0][0]
        return out

    # ------------------------------------------------------------- torch's FSDPModule API
    def unshard(self, async_op: bool = False) -> UnshardHandle | None:
        """Gather this unit's parameters: until ``reshard()`` the module's attributes are the
        whole parameters (plain Tensors, no gradient)."""
        group = self._fsdp_state().group
        group.unshard(force=True)
        group.install(group.views(Tensor(group.full)))
        return UnshardHandle() if async_op else None

    def reshard(self) -> None:
        """Free the gathered parameters; the attributes are the DParameters again."""
        group = self._fsdp_state().group
        group.restore()
        group.reshard()

    def _units(self, recurse: bool) -> list[FSDPModule]:
        if not recurse:
            return [self]
        return [m for m in self.modules() if isinstance(m, FSDPModule)]

    def set_requires_gradient_sync(self, requires_gradient_sync: bool, *,
                                   recurse: bool = True) -> None:
        """False: backward accumulates each unit's whole gradient without reducing it (and
        leaves ``.grad`` alone); the next backward with True reduces the sum (torch's
        gradient accumulation without communication)."""
        for module in self._units(recurse):
            module._fsdp_state().group.sync = bool(requires_gradient_sync)

    def set_reshard_after_forward(self, reshard_after_forward: bool, *,
                                  recurse: bool = True) -> None:
        for module in self._units(recurse):
            module._fsdp_state().reshard_after_forward = bool(reshard_after_forward)

    def set_reshard_after_backward(self, reshard_after_backward: bool, *,
                                   recurse: bool = True) -> None:
        for module in self._units(recurse):
            module._fsdp_state().group.reshard_after_backward = bool(reshard_after_backward)

    def set_is_last_backward(self, is_last_backward: bool) -> None:
        """Accepted; nothing to do (dlpy waits for every collective in backward itself)."""

    def set_modules_to_forward_prefetch(self, modules: list[FSDPModule]) -> None:
        """Accepted; nothing to do (no prefetching: each gather is blocking)."""
        _check_units("set_modules_to_forward_prefetch", modules)

    def set_modules_to_backward_prefetch(self, modules: list[FSDPModule]) -> None:
        """Accepted; nothing to do (no prefetching: each gather is blocking)."""
        _check_units("set_modules_to_backward_prefetch", modules)


def _check_units(name: str, modules: Any) -> None:
    for module in modules:
        if not isinstance(module, FSDPModule):
            raise TypeError(f"{name}: expected modules that fully_shard was applied to, got "
                            f"{type(module).__name__}")


_classes: dict[type, type] = {}


def _fsdp_class(cls: type) -> type:
    """FSDP<Class>: FSDPModule first, so its forward wraps the class's own."""
    if issubclass(cls, FSDPModule):
        return cls
    if cls not in _classes:
        _classes[cls] = type(f"FSDP{cls.__name__}", (FSDPModule, cls), {})
    return _classes[cls]


# ----------------------------------------------------------------- fully_shard
_meshes: dict[int, tuple[Any, DeviceMesh]] = {}


def _world_mesh() -> DeviceMesh:
    """The 1-D mesh of every rank, one per world group (not a new communicator each call)."""
    world = torch_api._world()
    cached = _meshes.get(id(world))
    if cached is None or cached[0] is not world:
        _meshes.clear()
        cached = _meshes[id(world)] = (world, init_device_mesh("cpu", (world.size(),)))
    return cached[1]


def _managed(module: Module, ignored: set[int]
             ) -> list[tuple[str, list[tuple[Module, str]], Parameter]]:
    """(name, [(owner, attribute)...], parameter) of the parameters ``module`` and its
    descendants hold outside units of their own, in order (a shared parameter once)."""
    found: dict[int, tuple[str, list[tuple[Module, str]], Parameter]] = {}

    def visit(m: Module, prefix: str) -> None:
        for name, p in m._parameters.items():
            if p is None or id(p) in ignored:
                continue
            if id(p) not in found:
                found[id(p)] = (prefix + name, [], p)
            found[id(p)][1].append((m, name))
        for name, child in m._modules.items():
            if child is not None and not isinstance(child, FSDPModule):
                visit(child, f"{prefix}{name}.")

    visit(module, "")
    return list(found.values())


def fully_shard(module: Module | list[Module], *, mesh: DeviceMesh | None = None,
                reshard_after_forward: bool | int | None = True, shard_placement_fn: Any = None,
                mp_policy: MixedPrecisionPolicy | None = None,
                offload_policy: OffloadPolicy | None = None,
                ignored_params: Iterable[Parameter] | None = None) -> Module:
    """Shard ``module``'s parameters (those not in a unit already, nor in ``ignored_params``)
    on dim 0 over ``mesh`` (1-D: FSDP; 2-D (replicate, shard): HSDP; default: every rank), and
    make its class ``FSDP<Class>`` (an FSDPModule). Apply it to the blocks first, then the
    root. Returns the module (torch's)."""
    if isinstance(module, (list, tuple)):
        raise NotImplementedError(f"{NAME}: a list of modules as one unit is not supported; "
                                  "call it on one module")
    if not isinstance(module, Module):
        raise TypeError(f"{NAME}: expected a dlpy.nn.Module, got {type(module).__name__}")
    if isinstance(module, FSDPModule):
        raise ValueError(f"{NAME}: fully_shard was already applied to this "
                         f"{type(module).__name__}")
    if shard_placement_fn is not None:
        raise NotImplementedError(f"{NAME}: shard_placement_fn is not supported (dlpy shards "
                                  "dim 0)")
    if reshard_after_forward is None:
        reshard_after_forward = True
    if isinstance(reshard_after_forward, int) and not isinstance(reshard_after_forward, bool):
        raise NotImplementedError(f"{NAME}: reshard_after_forward must be True or False (an "
                                  f"int, resharding to a smaller world, is not supported), got "
                                  f"{reshard_after_forward!r}")
    policy = MixedPrecisionPolicy() if mp_policy is None else mp_policy
    if not isinstance(policy, MixedPrecisionPolicy):
        raise TypeError(f"{NAME}: mp_policy must be a MixedPrecisionPolicy, got "
                        f"{type(policy).__name__}")
    if offload_policy is not None and not isinstance(offload_policy, OffloadPolicy):
        raise TypeError(f"{NAME}: offload_policy must be an OffloadPolicy, got "
                        f"{type(offload_policy).__name__}")
    if mesh is None:
        mesh = _world_mesh()
    if not isinstance(mesh, DeviceMesh) or mesh.ndim not in (1, 2):
        raise ValueError(f"{NAME}: mesh must be a 1-D DeviceMesh (FSDP) or a 2-D one "
                         f"(replicate, shard: HSDP), got {mesh!r}")
    placements = (Shard(0),) if mesh.ndim == 1 else (Replicate(), Shard(0))
    ignored = {id(p) for p in (ignored_params or ())}
    sites = []
    for name, owners, p in _managed(module, ignored):
        if isinstance(p, DTensor):
            raise NotImplementedError(f"{NAME}: parameter {name} is a DTensor already "
                                      f"({p.placements}); FSDP over tensor parallelism is not "
                                      "supported")
        if p.data.ndim == 0:
            raise ValueError(f"{NAME}: parameter {name} is 0-d; dlpy shards dim 0, so give it "
                             "shape (1,) or pass it in ignored_params")
        with no_grad():
            sharded = distribute_parameter(p, mesh, placements, src_data_rank=None)
        for owner, attribute in owners:
            setattr(owner, attribute, sharded)
        sites.append((name, owners, sharded))
    group = _ParamGroup(sites, mesh, policy)
    module.__class__ = _fsdp_class(type(module))
    object.__setattr__(module, "_fsdp", _State(group, bool(reshard_after_forward), policy))
    return module
