"""FullyShardedDataParallel: under ``mpirun -n 2`` and ``-n 3`` (one launch of fsdp_worker.py
each, one test per check it reports; skipped where MPI is not installed), and in one process,
where every strategy is plain training on a flat parameter."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dlpy import nn
from dlpy.distributed import fsdp
from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP
from dlpy.distributed.fsdp import ShardingStrategy, StateDictType

from .fsdp_worker import CHECKS, Net, buffered_net, largest_difference, reference, train, wrap
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("fsdp_worker.py", CHECKS)


# ----------------------------------------------------------------- one process
@pytest.mark.parametrize("strategy", list(ShardingStrategy))
@pytest.mark.parametrize("policy", ["layers", "size", "none"])
def test_one_process_trains_as_the_plain_model(strategy, policy):
    ref, _ = reference(2, "adam")
    model = wrap(strategy, policy)
    train(model, 2, "adam")
    assert largest_difference(model, ref) < 1e-13


def test_policies_pick_the_units():
    layers = [m for m in wrap(ShardingStrategy.FULL_SHARD).modules() if isinstance(m, FSDP)]
    assert len(layers) == 3  # the root and the two encoder layers
    small = functools.partial(fsdp.size_based_auto_wrap_policy, min_num_params=100)
    units = [m for m in FSDP(Net(), auto_wrap_policy=small).modules() if isinstance(m, FSDP)]
    # every module of 100 parameters or more that its wrapped children leave
    assert len(units) > 3
    big = functools.partial(fsdp.size_based_auto_wrap_policy, min_num_params=10**6)
    assert len([m for m in FSDP(Net(), auto_wrap_policy=big).modules()
                if isinstance(m, FSDP)]) == 1
    policy = functools.partial(fsdp.transformer_auto_wrap_policy,
                               transformer_layer_cls={nn.TransformerEncoderLayer})
    assert len([m for m in FSDP(Net(), auto_wrap_policy=policy).modules()
                if isinstance(m, FSDP)]) == 3


def test_flat_parameter_replaces_the_originals():
    model = FSDP(Net(), cpu_offload=fsdp.CPUOffload(offload_params=True))
    (name, flat), = model.named_parameters()
    assert name == "_fsdp_wrapped_module._flat_param"
    assert flat.shape == (sum(p.data.size for p in Net().parameters()),)
    assert model.module.head.weight.shape == (3, 8)  # a view between calls
    state = model.state_dict()
    assert sorted(state) == sorted(Net().state_dict())


def test_memory_accounting_in_one_process():
    before = fsdp.parameter_memory()["sharded"]
    model = wrap(ShardingStrategy.FULL_SHARD)
    assert fsdp.parameter_memory()["sharded"] - before == \
        sum(p.data.nbytes for p in model.parameters())
    assert fsdp.parameter_memory()["gathered"] == 0  # one rank: nothing to gather


def test_state_dict_types_in_one_process():
    model = wrap(ShardingStrategy.FULL_SHARD)
    with FSDP.state_dict_type(model, StateDictType.LOCAL_STATE_DICT):
        local = model.state_dict()
    assert sorted(local) == [name for name, _ in model.named_parameters()]
    with FSDP.state_dict_type(model, StateDictType.SHARDED_STATE_DICT):
        sharded = model.state_dict()
    assert sharded["head.weight"].offset == 0 and sharded["head.weight"].local.size == 24
    assert model._state_dict_type is StateDictType.FULL_STATE_DICT  # restored


@pytest.mark.parametrize("use_orig_params", [False, True])
def test_state_dicts_follow_module_state_dicts_order(use_orig_params):
    """torch's order (module by module: parameters, buffers, children), not all parameters
    first; LOCAL: each unit's _flat_param where its module's parameters were."""
    want = list(buffered_net().state_dict())
    model = FSDP(buffered_net(), auto_wrap_policy=fsdp.ModuleWrapPolicy({nn.ModuleDict}),
                 use_orig_params=use_orig_params)
    assert list(model.state_dict()) == want
    with FSDP.state_dict_type(model, StateDictType.SHARDED_STATE_DICT):
        assert list(model.state_dict()) == want
    with FSDP.state_dict_type(model, StateDictType.LOCAL_STATE_DICT):
        local = list(model.state_dict())
    stats = ["running_mean", "running_var", "num_batches_tracked"]
    assert local == ["_fsdp_wrapped_module._flat_param", *[f"1.{b}" for b in stats],
                     "_fsdp_wrapped_module.2._fsdp_wrapped_module._flat_param",
                     *[f"2.block.1.{b}" for b in stats]]


def test_errors():
    with pytest.raises(TypeError, match="FullyShardedDataParallel: expected a dlpy.nn.Module"):
        FSDP(np.zeros(3))
    with pytest.raises(TypeError, match="sharding_strategy must be a ShardingStrategy"):
        FSDP(Net(), sharding_strategy="FULL_SHARD")
    with pytest.raises(ValueError, match="mixed_precision=.* is not supported"):
        FSDP(Net(), mixed_precision=object())
    with pytest.raises(TypeError, match="auto_wrap_policy must be callable"):
        FSDP(Net(), auto_wrap_policy=3)
    with pytest.raises(TypeError, match="ModuleWrapPolicy: expected nn.Module classes"):
        fsdp.ModuleWrapPolicy({int})
    model = FSDP(Net())
    with pytest.raises(TypeError, match="state_dict_type: expected a StateDictType"):
        FSDP.set_state_dict_type(model, "full")
    with pytest.raises(TypeError, match="takes a LocalStateDictConfig, got FullStateDictConfig"):
        FSDP.set_state_dict_type(model, StateDictType.LOCAL_STATE_DICT,
                                 fsdp.FullStateDictConfig())
    with pytest.raises(ValueError, match="norm_type must be > 0, got -1.0"):
        model.clip_grad_norm_(1.0, norm_type=-1)
    mixed = Net()
    mixed.head = nn.Linear(8, 3, dtype=np.float32)
    with pytest.raises(TypeError, match="must share one float dtype"):
        FSDP(mixed)
    with pytest.raises(ValueError, match="missing keys"):
        model.load_state_dict({})


def test_a_parameter_tied_across_units_is_refused():
    shared = nn.Sequential(nn.Linear(8, 8, dtype=np.float64), nn.Linear(8, 8, dtype=np.float64))
    shared[1].weight = shared[0].weight
    FSDP(shared)  # within one unit: one entry
    tied = nn.Sequential(nn.Linear(8, 8, dtype=np.float64), nn.Tanh(),
                         nn.Linear(8, 8, dtype=np.float64))
    tied[2].weight = tied[0].weight
    with pytest.raises(ValueError, match=r"parameter weight \(shape \(8, 8\)\) is shared "
                                         "with a module of another unit"):
        FSDP(tied, auto_wrap_policy=fsdp.ModuleWrapPolicy({nn.Linear}))


def test_memory_accounting_forgets_a_collected_model():
    import gc

    gc.collect()  # what earlier tests left
    before = fsdp.parameter_memory()["sharded"]
    model = wrap(ShardingStrategy.FULL_SHARD)
    assert fsdp.parameter_memory()["sharded"] > before
    del model
    gc.collect()
    assert fsdp.parameter_memory()["sharded"] == before
