"""``get_state_dict`` / ``set_state_dict`` (torch.distributed.checkpoint.state_dict's names):
one layout for a plain module, DistributedDataParallel, FullyShardedDataParallel and their
optimisers (plain or ZeroRedundancyOptimizer), for ``save``/``load``.

The model's state dict has the unwrapped model's names (no ``module.`` or
``_fsdp_wrapped_module.``); the optimiser's is torch's ``{"state": {fqn: {slot: array}},
"param_groups": [{setting: value, "params": [fqn, ...]}]}``. With
``StateDictOptions(full_state_dict=False)`` (the default) sharded state stays sharded: an FSDP
parameter and its optimiser slots are ``fsdp.ShardedTensor`` pieces of this rank, a ZeRO
optimiser's slots a ShardedTensor that is whole on the parameter's owner and empty elsewhere, a
DTensor parameter (fully_shard, tensor parallelism) and its per-element slots DTensors, so
``save`` writes them without gathering. ``full_state_dict=True`` gathers whole arrays (on rank 0
only with ``cpu_offload=True``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlpy.distributed.ddp import DistributedDataParallel
from dlpy.distributed.fsdp import (
    FullStateDictConfig,
    FullyShardedDataParallel,
    ShardedTensor,
    StateDictType,
    _flat_owners,
)
from dlpy.distributed.tensor._api import DTensor, dtensor_copy, local_piece
from dlpy.distributed.zero import ZeroRedundancyOptimizer
from dlpy.nn.module import IncompatibleKeys, Module
from dlpy.optim.optimizer import Optimizer, _as_real, _complex_state
from dlpy.tensor import Tensor

__all__ = ["StateDictOptions", "get_model_state_dict", "get_optimizer_state_dict",
           "get_state_dict", "set_model_state_dict", "set_optimizer_state_dict",
           "set_state_dict"]


@dataclass
class StateDictOptions:
    """``full_state_dict``: whole arrays (gathered) instead of this rank's shards;
    ``cpu_offload``: with full_state_dict, only rank 0 gets them (the others {}), dlpy's
    arrays being in host memory already; ``strict``: set_* checks the keys;
    ``ignore_frozen_params``: leave out parameters without requires_grad;
    ``broadcast_from_rank0`` (with full_state_dict): set_* takes rank 0's state dict (the
    others may pass {}) and each rank keeps its shards. The other fields are torch's; only
    their defaults are supported."""

    full_state_dict: bool = False
    cpu_offload: bool = False
    ignore_frozen_params: bool = False
    keep_submodule_prefixes: bool = True
    strict: bool = True
    broadcast_from_rank0: bool = False
    flatten_optimizer_state_dict: bool = False
    dsd_fqn_modifiers: str = "_fqn_modifiers"


def _options(name: str, options: StateDictOptions | None, submodules: Any = None
             ) -> StateDictOptions:
    options = StateDictOptions() if options is None else options
    if not isinstance(options, StateDictOptions):
        raise TypeError(f"{name}: options must be a StateDictOptions, got "
                        f"{type(options).__name__}")
    if options.flatten_optimizer_state_dict:
        raise ValueError(f"{name}: StateDictOptions(flatten_optimizer_state_dict=True) is not "
                         "supported")
    if options.broadcast_from_rank0 and not options.full_state_dict:
        raise ValueError(f"{name}: StateDictOptions(broadcast_from_rank0=True) needs "
                         "full_state_dict=True")
    if submodules is not None:
        raise ValueError(f"{name}: submodules= is not supported (dlpy: None, the whole model)")
    return options


def _inner(model: Module) -> Module:
    if isinstance(model, DistributedDataParallel):
        return model.module
    if not isinstance(model, Module):
        raise TypeError(f"expected a dlpy.nn.Module, got {type(model).__name__}")
    return model


def _rank(model: Module) -> int:
    if isinstance(model, FullyShardedDataParallel):
        return model.process_group.rank()
    from dlpy.distributed import torch_api

    return torch_api.get_rank()


def _optimizers(name: str, optimizers: Any) -> list[Optimizer]:
    out = [optimizers] if isinstance(optimizers, Optimizer) else list(optimizers)
    for o in out:
        if not isinstance(o, Optimizer):
            raise TypeError(f"{name}: expected dlpy optimisers, got {type(o).__name__}")
    return out


def _frozen(model: Module) -> set[str]:
    return {n for n, p in _inner(model).named_parameters() if not p.requires_grad}


def _from_rank0(state: dict[str, Any], options: StateDictOptions) -> dict[str, Any]:
    """With ``broadcast_from_rank0``: rank 0's full state dict on every rank (the others may
    pass {}); each rank then keeps its shards of it."""
    if not options.broadcast_from_rank0:
        return state
    from dlpy.distributed import group

    return group.broadcast_object(state if group.rank() == 0 else None)


# ----------------------------------------------------------------- the model
def get_model_state_dict(model: Module, *, submodules: Any = None,
                         options: StateDictOptions | None = None) -> dict[str, Any]:
    """The model's state dict by the unwrapped model's names (see the module docstring)."""
    options = _options("get_model_state_dict", options, submodules)
    if isinstance(model, FullyShardedDataParallel):
        if options.full_state_dict:
            config = FullStateDictConfig(rank0_only=options.cpu_offload)
            with FullyShardedDataParallel.state_dict_type(
                    model, StateDictType.FULL_STATE_DICT, config):
                state = model.state_dict()
        else:
            with FullyShardedDataParallel.state_dict_type(model,
                                                          StateDictType.SHARDED_STATE_DICT):
                state = model.state_dict()
        return state
    inner = _inner(model)
    state = inner.state_dict()  # DTensor parameters give DTensor copies
    if options.ignore_frozen_params:
        frozen = _frozen(model)
        state = {k: v for k, v in state.items() if k not in frozen}
    if options.full_state_dict:  # DTensors gathered on every rank (a collective each)
        state = {k: _whole(v) for k, v in state.items()}
        if options.cpu_offload and _rank(model) != 0:
            return {}
    return state


def _whole(value: Any) -> Any:
    """A DTensor's global value as a plain Tensor (as the other entries, torch's)."""
    return Tensor(value.full_tensor().data) if isinstance(value, DTensor) else value


def set_model_state_dict(model: Module, model_state_dict: dict[str, Any], *,
                         options: StateDictOptions | None = None) -> IncompatibleKeys:
    """Load a state dict from get_model_state_dict (full or sharded, of any world size once
    ``load`` has filled it); returns (missing_keys, unexpected_keys)."""
    options = _options("set_model_state_dict", options)
    model_state_dict = _from_rank0(model_state_dict, options)
    if isinstance(model, FullyShardedDataParallel):
        sharded = any(isinstance(v, ShardedTensor) for v in model_state_dict.values())
        kind = StateDictType.SHARDED_STATE_DICT if sharded else StateDictType.FULL_STATE_DICT
        with FullyShardedDataParallel.state_dict_type(model, kind):
            own = set(model.state_dict()) if not options.strict else set()
            model.load_state_dict(model_state_dict, strict=options.strict)
        if options.strict:
            return IncompatibleKeys([], [])
        return IncompatibleKeys(sorted(own - set(model_state_dict)),
                                sorted(set(model_state_dict) - own))
    strict = options.strict and not options.ignore_frozen_params
    inner, assign = _inner(model), False
    if options.full_state_dict:
        model_state_dict, assign = _full_onto(inner, model_state_dict)
    return inner.load_state_dict(model_state_dict, strict=strict, assign=assign)


def _full_onto(model: Module, state: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """torch's full-state-dict load (``_load_model_state_dict``): the model's own entries fill
    the keys ``state`` lacks (so none is missing), and a model with meta tensors is loaded
    with ``assign=True`` (its meta parameters take the loaded tensors). The loaded tensors go
    to the model's (one) non-meta device; a model whose tensors are all on meta has none, and
    torch takes the default process group's, which needs ``init_process_group`` first."""
    local = model.state_dict()
    devices = {v.device.type for v in local.values() if isinstance(v, Tensor) and v.dim() > 0}
    assign = "meta" in devices
    devices.discard("meta")
    if not devices:
        from dlpy.distributed import torch_api

        if not torch_api.is_initialized():
            raise ValueError("Default process group has not been initialized, please make "
                             "sure to call init_process_group.")
    out = dict(state)
    for key, value in local.items():
        if key not in state:
            out[key] = value
        elif isinstance(state[key], Tensor) and not isinstance(state[key], DTensor) \
                and state[key].dim() > 0 and not isinstance(value, DTensor):
            out[key] = state[key].detach().to("cpu")
    return out, assign


# ----------------------------------------------------------------- the optimiser
def _init_state(optim: Optimizer) -> None:
    """Give every parameter its zero state now (torch's _init_optim_state): a fresh optimiser
    has none until its first step, and ``load`` needs somewhere to put the saved values. An
    Adam with zero moments and step 0 steps exactly as a fresh one."""
    target = optim.optim if isinstance(optim, ZeroRedundancyOptimizer) else optim
    if target is None:
        return
    for i, p, group in target._indexed():
        if target.state[i] or not target._param_slots(p.data.ndim, group):
            continue
        if p.data.dtype.kind == "c":
            target.state[i] = _complex_state(target._init_state(_as_real(p.data), group),
                                             p.data.shape)
        else:
            target.state[i] = target._init_state(p.data, group)


def _groups(optim: Optimizer, fqn_of: Any) -> list[dict[str, Any]]:
    """The groups' settings (Python values) with the parameters' names."""
    out = []
    for g in optim.param_groups:
        settings = {k: (tuple(v) if isinstance(v, list) else v) for k, v in g.items()
                    if k != "params"}
        out.append({**settings, "params": [n for p in g["params"] for n in fqn_of(p)]})
    return out


def _names(model: Module) -> dict[int, str]:
    return {id(p): n for n, p in _inner(model).named_parameters()}


def _slot_template(optim: Optimizer, p: Any, group: dict[str, Any]) -> dict[str, tuple]:
    """slot -> (shape, dtype) of a parameter's state after _init_state."""
    out = {}
    for slot in optim._param_slots(p.data.ndim, group):
        if slot in optim.scalar_slots:
            out[slot] = ((), np.dtype(optim.scalar_slots[slot]))
        else:
            out[slot] = (optim._slot_shape(slot, p.data.shape), p.data.dtype)
    out["step"] = ((), np.dtype(np.int64))
    return out


def _get_one(model: Module, optim: Optimizer, options: StateDictOptions) -> dict[str, Any]:
    name = "get_optimizer_state_dict"
    _init_state(optim)
    if isinstance(model, FullyShardedDataParallel):
        if options.full_state_dict:
            state = FullyShardedDataParallel.optim_state_dict(model, optim)  # all gather
            state.pop("step_count", None)
            return {} if options.cpu_offload and _rank(model) != 0 else state
        owners = _flat_owners(name, model, optim)
        out: dict[str, dict[str, Any]] = {}
        for i, p in enumerate(optim.params):
            view = owners[id(p)]  # a flat shard, or a use_orig_params piece
            for info, a, b in view.entries:
                out[info.fqn_global] = {
                    slot: (ShardedTensor(np.asarray(v).reshape(-1)[a:b].copy(),
                                         view.base + a - info.offset if b > a else 0,
                                         info.shape)
                           if view.per_element(v) else np.array(v, copy=True))
                    for slot, v in optim.state[i].items()}
        groups = _groups(optim, lambda p: [info.fqn_global for info in owners[id(p)].infos])
        return {"state": out, "param_groups": groups}
    names = _names(model)

    def fqn_of(p):
        if id(p) not in names:
            raise ValueError(f"{name}: the optimiser steps a parameter of shape "
                             f"{p.data.shape} that is not one of the model's")
        return [names[id(p)]]

    if isinstance(optim, ZeroRedundancyOptimizer):
        state = optim.state  # whole on the owner, {} elsewhere
        if options.full_state_dict:
            comm = optim.process_group.comm
            if comm is None:
                parts = [dict(enumerate(state))]
            else:
                mine = {i: s for i, s in enumerate(state) if optim.owner[i] == optim.rank}
                parts = comm.allgather(mine)
            whole: dict[str, Any] = {}
            for part in parts:
                for i, slots in part.items():
                    whole[fqn_of(optim.params[i])[0]] = {k: np.array(v, copy=True)
                                                         for k, v in slots.items()}
            if options.cpu_offload and optim.rank != 0:
                return {}
            out = {n: whole[n] for p in optim.params for n in fqn_of(p) if n in whole}
        else:
            out = {}
            groups_of = [g for g in optim.param_groups for _ in g["params"]]
            for i, p in enumerate(optim.params):
                slots = {}
                for slot, (shape, dtype) in _slot_template(optim._full, p,
                                                            groups_of[i]).items():
                    if optim.owner[i] == optim.rank:
                        local = np.array(state[i][slot], dtype=dtype).reshape(-1)
                    else:
                        local = np.zeros(0, dtype=dtype)
                    slots[slot] = ShardedTensor(local, 0, shape)
                out[fqn_of(p)[0]] = slots
        return {"state": out, "param_groups": _groups(optim, fqn_of)}
    out = {fqn_of(p)[0]: {k: _slot_value(p, v, options.full_state_dict)
                          for k, v in optim.state[i].items()}
           for i, p in enumerate(optim.params) if optim.state[i]}
    if options.full_state_dict and options.cpu_offload and _rank(model) != 0:
        return {}
    return {"state": out, "param_groups": _groups(optim, fqn_of)}


def _per_element(p: Any, value: Any) -> bool:
    """Whether an optimiser slot of a DTensor parameter is laid out like it."""
    return isinstance(p, DTensor) and np.ndim(value) > 0 and np.shape(value) == p.data.shape


def _slot_value(p: Any, value: Any, full: bool) -> Any:
    """A copy of a slot: a DTensor parameter's per-element slot as a DTensor (gathered whole
    with ``full``)."""
    if not _per_element(p, value):
        return np.array(value, copy=True)
    copy = dtensor_copy(p, value)
    return copy.full_tensor().data if full else copy


def get_optimizer_state_dict(model: Module, optimizers: Optimizer | Iterable[Optimizer], *,
                             submodules: Any = None, options: StateDictOptions | None = None
                             ) -> dict[str, Any]:
    """The optimisers' state by parameter name (one dict for several optimisers)."""
    options = _options("get_optimizer_state_dict", options, submodules)
    merged: dict[str, Any] = {"state": {}, "param_groups": []}
    for optim in _optimizers("get_optimizer_state_dict", optimizers):
        one = _get_one(model, optim, options)
        if not one:
            return {}
        merged["state"].update(one["state"])
        merged["param_groups"] += one["param_groups"]
    return merged


def _set_one(model: Module, optim: Optimizer, state: dict[str, Any],
             options: StateDictOptions) -> None:
    name = "set_optimizer_state_dict"
    saved, groups = state["state"], state["param_groups"]
    if isinstance(model, FullyShardedDataParallel):
        owners = _flat_owners(name, model, optim)
        mine = [[info.fqn_global for info in owners[id(p)].infos] for p in optim.params]
    else:
        names = _names(model)
        mine = [[names[id(p)]] if id(p) in names else [] for p in optim.params]
    own = {n for names_ in mine for n in names_}
    chosen = [g for g in groups if set(g["params"]) & own]
    if len(chosen) != len(optim.param_groups):
        raise ValueError(f"{name}: the state has {len(chosen)} parameter groups for this "
                         f"optimiser's parameters, the optimiser {len(optim.param_groups)}")
    sharded = any(isinstance(v, ShardedTensor) for fqn in own
                  for v in saved.get(fqn, {}).values())
    if isinstance(model, FullyShardedDataParallel) and not sharded:
        FullyShardedDataParallel.optim_state_dict_to_load(
            model, optim, {"state": saved, "param_groups": chosen})
        return
    if isinstance(model, FullyShardedDataParallel):
        new_state = []
        for p in optim.params:
            view = owners[id(p)]
            first = saved.get(view.infos[0].fqn_global)
            if first is None:
                new_state.append({})
                continue
            slots: dict[str, np.ndarray] = {}
            for slot, value in first.items():
                if isinstance(value, ShardedTensor):
                    vector = np.zeros(p.data.size, dtype=p.data.dtype)
                    for info, a, b in view.entries:
                        vector[a:b] = saved[info.fqn_global][slot].local
                    slots[slot] = vector.reshape(p.data.shape)
                else:
                    slots[slot] = np.array(value, copy=True)
            new_state.append(slots)
        _apply_groups(optim, chosen)
        optim.state = new_state
        optim.step_count = max([int(s["step"]) for s in new_state if "step" in s] + [0])
        return
    index = {n: i for i, names_ in enumerate(mine) for n in names_}
    nested_state = {}
    for fqn, slots in saved.items():
        if fqn not in index:
            continue
        whole = {}
        for slot, value in slots.items():
            if isinstance(value, ShardedTensor):  # a ZeRO slot: whole on its owner only
                if np.asarray(value.local).size == 0 and int(np.prod(value.shape)) > 0:
                    whole = None
                    break
                value = np.asarray(value.local).reshape(value.shape)
            p = optim.params[index[fqn]]
            if isinstance(p, DTensor) and (isinstance(value, DTensor) or (
                    np.ndim(value) > 0 and np.shape(value) == p.shape)):
                value = local_piece(value, p, f"{name}: {fqn}.{slot}")
            whole[slot] = value
        if whole:
            nested_state[index[fqn]] = whole
    nested_groups = [{**{k: v for k, v in g.items() if k != "params"},
                      "params": [index[n] for n in g["params"]]} for g in chosen]
    optim.load_state_dict({"state": nested_state, "param_groups": nested_groups})


def _apply_groups(optim: Optimizer, groups: list[dict[str, Any]]) -> None:
    for group, saved in zip(optim.param_groups, groups):
        group.update({k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in saved.items() if k != "params"})


def set_optimizer_state_dict(model: Module, optimizers: Optimizer | Iterable[Optimizer],
                             optim_state_dict: dict[str, Any], *,
                             options: StateDictOptions | None = None) -> None:
    """Load get_optimizer_state_dict's layout (full or sharded) into the optimisers."""
    options = _options("set_optimizer_state_dict", options)
    optim_state_dict = _from_rank0(optim_state_dict, options)
    for optim in _optimizers("set_optimizer_state_dict", optimizers):
        _set_one(model, optim, optim_state_dict, options)


# ----------------------------------------------------------------- both
def get_state_dict(model: Module, optimizers: Optimizer | Iterable[Optimizer], *,
                   submodules: Any = None, options: StateDictOptions | None = None
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(get_model_state_dict, get_optimizer_state_dict)."""
    return (get_model_state_dict(model, submodules=submodules, options=options),
            get_optimizer_state_dict(model, optimizers, submodules=submodules,
                                     options=options))


def set_state_dict(model: Module, optimizers: Optimizer | Iterable[Optimizer], *,
                   model_state_dict: dict[str, Any], optim_state_dict: dict[str, Any],
                   options: StateDictOptions | None = None) -> IncompatibleKeys:
    """set_model_state_dict and set_optimizer_state_dict; returns the model's
    (missing_keys, unexpected_keys)."""
    keys = set_model_state_dict(model, model_state_dict, options=options)
    set_optimizer_state_dict(model, optimizers, optim_state_dict, options=options)
    return keys
