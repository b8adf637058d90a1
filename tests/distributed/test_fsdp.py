"""FullyShardedDataParallel: under ``mpirun -n 2`` and ``-n 3`` (one launch of fsdp_worker.py
each, one test per check it reports; skipped where MPI is not installed), and in one process,
where every strategy is plain training on a flat parameter."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dlpy import distributed as dist
from dlpy import nn
from dlpy.distributed import fsdp
from dlpy.distributed.device_mesh import init_device_mesh
from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP
from dlpy.distributed.fsdp import ShardingStrategy, StateDictType

from .fsdp_worker import (
    CHECKS,
    Net,
    buffered_net,
    emulate_mixed_precision,
    largest_difference,
    mixed_precision_cases,
    reference,
    small_data,
    small_net,
    train,
    train_mixed_precision,
    wrap,
)
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("fsdp_worker.py", CHECKS)


# ----------------------------------------------------------------- one process
@pytest.mark.parametrize("strategy", list(ShardingStrategy))
@pytest.mark.parametrize("policy", ["layers", "size", "none"])
def test_one_process_trains_as_the_plain_model(strategy, policy):
    ref, _ = reference(2, "adam")
    if strategy.name.startswith("_HYBRID") or strategy is ShardingStrategy.HYBRID_SHARD:
        if policy == "none":  # torch: manual wrapping needs the (intra, inter) groups
            with pytest.raises(ValueError, match="HYBRID_SHARD needs process_group="):
                wrap(strategy, policy)
            return
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
    with pytest.raises(TypeError, match="mixed_precision must be a MixedPrecision, got 3"):
        FSDP(Net(), mixed_precision=3)
    with pytest.raises(TypeError, match=r"MixedPrecision.param_dtype must be a floating dtype "
                                        r".*got <class 'numpy.int32'>"):
        FSDP(Net(), mixed_precision=fsdp.MixedPrecision(param_dtype=np.int32))
    with pytest.raises(ValueError, match=r"HYBRID_SHARD takes process_group=\(intra_node_group"):
        FSDP(Net(), sharding_strategy=ShardingStrategy.HYBRID_SHARD, process_group=3)
    with pytest.raises(TypeError, match="auto_wrap_policy must be callable"):
        FSDP(Net(), auto_wrap_policy=3)
    mesh = init_device_mesh("cpu", (1,))
    with pytest.raises(ValueError, match="^Cannot pass both process_group and device_mesh"):
        FSDP(Net(), device_mesh=mesh, process_group=dist.new_group([0]))
    with pytest.raises(ValueError, match="^Expected device_mesh to have ndim=2 but got 1$"):
        FSDP(Net(), device_mesh=mesh, sharding_strategy=ShardingStrategy.HYBRID_SHARD)
    with pytest.raises(ValueError, match="FULL_SHARD takes a 1-D device_mesh, got a 2-D one"):
        FSDP(Net(), device_mesh=init_device_mesh("cpu", (1, 1)))
    assert FSDP(Net(), device_mesh=mesh).process_group.size() == 1
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


# ----------------------------------------------------------------- mixed precision
@pytest.mark.parametrize("strategy", [ShardingStrategy.FULL_SHARD, ShardingStrategy.NO_SHARD])
def test_mixed_precision_bfloat16_equals_the_emulation(strategy):
    """One process (the ranks' runs are float16: fsdp_worker.py): bfloat16 parameters,
    gradients reduced in bfloat16 and in float32, bit for bit the emulation."""
    import dlpy

    for precision, label in mixed_precision_cases(dlpy.bfloat16)[:1] + [
            (fsdp.MixedPrecision(param_dtype=dlpy.bfloat16, reduce_dtype=np.float32,
                                 keep_low_precision_grads=True), "bf16, fp32 reduce, low")]:
        want = emulate_mixed_precision(2, precision, 1)
        got, grads = train_mixed_precision(2, precision, strategy)
        assert all(np.array_equal(got[k], want[k]) for k in want), label
        assert grads == ({"bfloat16"} if precision.keep_low_precision_grads else {"float32"})
        plain = emulate_mixed_precision(2, fsdp.MixedPrecision(param_dtype=np.float32), 1)
        assert not all(np.array_equal(got[k], plain[k]) for k in want)  # it did round


def test_mixed_precision_trains_to_the_float32_loss():
    """A small MLP, 20 SGD steps on one batch: float16 and bfloat16 (float32 master shards)
    follow float32's losses within 2% at every step (1.12 -> 0.167: float16 0.168, bfloat16
    0.169)."""
    import dlpy
    from dlpy import Tensor, optim
    from dlpy import functional as F

    x, y = small_data(0)
    curves = {}
    for dtype in (None, np.float16, dlpy.bfloat16):
        precision = None if dtype is None else fsdp.MixedPrecision(param_dtype=dtype)
        model = FSDP(small_net(), mixed_precision=precision,
                     auto_wrap_policy=fsdp.ModuleWrapPolicy({nn.Linear}))
        opt = optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
        curve = []
        for _ in range(20):
            opt.zero_grad()
            loss = F.cross_entropy(model(Tensor(x)), y)
            loss.backward()
            opt.step()
            curve.append(float(loss.item()))
        curve.append(float(F.cross_entropy(model(Tensor(x)), y).item()))
        curves[str(dtype)] = np.array(curve)
    base = curves.pop("None")
    assert base[-1] < 0.25 * base[0], base  # it learnt
    for name, curve in curves.items():
        assert np.all(np.abs(curve - base) < 0.02 * base), (name, curve, base)


def test_mixed_precision_buffers_units_and_full_precision_views():
    """buffer_dtype casts floating buffers at the first forward and state dicts give them
    back in their own dtype; BatchNorm becomes its own full-precision unit under an auto-wrap
    policy (torch's _module_classes_to_ignore); the gathered buffer is float16 (half the
    bytes), summon_full_params and the FULL state dict show the float32 master values."""
    from dlpy import Tensor

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4, rng=np.random.default_rng(0))
            self.register_buffer("scale", np.full(4, 1.1, np.float32))
            self.register_buffer("count", np.zeros((), np.int64))

        def forward(self, x):
            return self.lin(x) * Tensor(self.scale)

    precision = fsdp.MixedPrecision(param_dtype=np.float16, buffer_dtype=np.float16)
    net = nn.Sequential(Scaled(), nn.BatchNorm1d(4))
    model = FSDP(net, mixed_precision=precision,
                 auto_wrap_policy=fsdp.ModuleWrapPolicy({Scaled}))
    units = [m for m in model.modules() if isinstance(m, FSDP)]
    assert [u.mixed_precision is None for u in units] == [False, False, True]
    scaled = model.module[0].module
    held = scaled.scale
    assert scaled.scale.dtype == np.float32  # until the first forward
    out = model(np.ones((3, 4), np.float32))
    assert out.dtype == np.float16  # float16 in, float32 BatchNorm: float16 out (torch's)
    assert units[2]._handle.buffer.dtype == np.float32  # BatchNorm's unit: full precision
    assert scaled.scale.dtype == np.float16 and scaled.count.dtype == np.int64
    assert isinstance(held, Tensor) and held is scaled.scale  # cast in place (torch's .data)
    state = model.state_dict()
    assert all(type(v) is Tensor for v in state.values())
    assert state["0.scale"].dtype == np.float32 and state["0.scale"][0] == np.float16(1.1)
    with FSDP.state_dict_type(model, StateDictType.LOCAL_STATE_DICT):
        assert model.state_dict()["0.scale"].dtype == np.float16  # LOCAL: as held (torch's)
    model.load_state_dict({**state, "0.scale": np.full(4, 2.0, np.float32)})
    assert held is scaled.scale and held.dtype == np.float16 and np.all(held.data == 2.0)
    assert state["0.lin.weight"].dtype == np.float32
    assert units[1]._handle.buffer.dtype == np.float16
    want = Scaled().lin.weight.data
    assert np.array_equal(state["0.lin.weight"], want)  # the master, not a rounded copy
    with FSDP.summon_full_params(model):
        assert scaled.lin.weight.dtype == np.float32
        assert np.array_equal(scaled.lin.weight.data, want)
        scaled.lin.weight.data[...] = 0.25
    assert np.all(model.state_dict()["0.lin.weight"] == 0.25)


def test_inputs_cast_at_the_root_and_optionally_every_unit():
    from dlpy import Tensor

    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2, rng=np.random.default_rng(0))

        def forward(self, x, extra):
            seen.append((x.dtype, extra["y"].dtype, extra["n"].dtype))
            return self.lin(x.astype(self.lin.weight.dtype))

    for kwargs, want in (({}, (np.float16, np.float16)),
                         ({"cast_root_forward_inputs": False}, (np.float32, np.float64))):
        model = FSDP(Probe(), mixed_precision=fsdp.MixedPrecision(param_dtype=np.float16,
                                                                  **kwargs))
        model(Tensor(np.ones((1, 2), np.float32)),
              extra={"y": np.ones(2, np.float64), "n": np.arange(2)})
        assert seen[-1] == (*want, np.dtype(np.int64))
    inner = nn.Sequential(Probe())
    inner.forward = lambda x, extra: inner[0](x.astype(np.float32), extra)
    model = FSDP(inner, auto_wrap_policy=fsdp.ModuleWrapPolicy({Probe}),
                 mixed_precision=fsdp.MixedPrecision(param_dtype=np.float16,
                                                     cast_forward_inputs=True))
    model(Tensor(np.ones((1, 2), np.float32)), extra={"y": np.ones(2), "n": np.arange(2)})
    assert seen[-1][0] == np.float16  # the unit cast again what its parent passed on
