"""FSDP2's ``fully_shard`` and checkpoint.state_dict over DTensor parameters: in one process
(the class swap, training, state dicts, DCP, errors) and under ``mpirun -n 2`` and ``-n 3``
(fsdp2_worker.py, one test per check: training equals one process, mixed precision, HSDP,
state dicts, checkpoints saved on N - 1 ranks resumed on N)."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from dlpy import Tensor, nn
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from dlpy.distributed.fsdp import (
    FSDPModule,
    MixedPrecisionPolicy,
    fully_shard,
    parameter_memory,
)
from dlpy.distributed.tensor import DTensor, Shard

from .fsdp2_worker import CHECKS, Net, difference, make_adam, reference, sharded, train
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("fsdp2_worker.py", CHECKS)


def test_one_process_trains_as_the_plain_model():
    gc.collect()  # earlier tests' units leave the accounting when collected, not in between
    before = parameter_memory()["sharded"]
    model = sharded()
    assert parameter_memory()["sharded"] - before == 8 * sum(p.numel()
                                                            for p in model.parameters())
    assert [type(m).__name__ for m in (model, model.blocks[0], model.head)] == \
        ["FSDPNet", "FSDPSequential", "Linear"]
    assert isinstance(model, Net) and isinstance(model.blocks[1], FSDPModule)
    assert all(isinstance(p, DTensor) and p.placements == (Shard(0),)
               for p in model.parameters())
    train(model, make_adam(model.parameters()), range(3))
    state = model.state_dict()
    assert all(isinstance(v, DTensor) for v in state.values())
    assert difference({k: v.full_tensor().data for k, v in state.items()}, reference(3)) == 0.0


def test_state_dicts_load_back_sharded_and_whole():
    model, other = sharded(), Net()
    train(other, make_adam(other.parameters()), range(1))
    model.load_state_dict(other.state_dict())  # whole arrays: each rank's rows cut
    assert difference(get_model_state_dict(model, options=StateDictOptions(
        full_state_dict=True)), other.state_dict()) == 0.0
    fresh = sharded()
    assert fresh.load_state_dict(model.state_dict()) == ([], [])
    assert difference({k: v.data for k, v in fresh.state_dict().items()},
                      other.state_dict()) == 0.0
    with pytest.raises(ValueError, match="missing keys: \\['head.bias'\\]"):
        fresh.load_state_dict({k: v for k, v in model.state_dict().items() if k != "head.bias"})


def test_async_dcp_checkpoint_of_dtensors_loads_into_a_plain_model(tmp_path):
    model = sharded()
    opt = make_adam(model.parameters())
    train(model, opt, range(2))
    model_sd, optim_sd = get_state_dict(model, opt)
    assert isinstance(optim_sd["state"]["proj.weight"]["exp_avg"], DTensor)
    saving = dcp.async_save({"model": model_sd, "optim": optim_sd}, checkpoint_id=tmp_path / "c",
                            no_dist=True)  # (the DTensors are copied before it returns)
    model_sd["head.bias"].data[...] = 99.0
    saving.result()
    plain = Net()
    plain_opt = make_adam(plain.parameters())
    state = dict(zip(("model", "optim"), get_state_dict(plain, plain_opt)))
    dcp.load(state, checkpoint_id=tmp_path / "c", no_dist=True)
    set_state_dict(plain, plain_opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    train(plain, plain_opt, range(2, 4))
    assert difference(plain.state_dict(), reference(4)) == 0.0


def test_mixed_precision_runs_in_param_dtype_and_keeps_float64_shards():
    model = sharded(mp_policy=MixedPrecisionPolicy(param_dtype=np.float32))
    out = model(Tensor(np.ones((2, 4))))
    assert out.dtype == np.float32
    out.sum().backward()
    assert model.embed.weight.dtype == np.float64
    assert model.embed.weight.grad.dtype == np.float64


def test_errors_name_what_was_expected():
    model = sharded()
    with pytest.raises(ValueError, match="already applied"):
        fully_shard(model)
    with pytest.raises(TypeError, match="MixedPrecisionPolicy"):
        fully_shard(Net(), mp_policy={"param_dtype": np.float32})
    with pytest.raises(TypeError, match="MixedPrecisionPolicy.param_dtype must be a floating"):
        fully_shard(Net(), mp_policy=MixedPrecisionPolicy(param_dtype=np.int32))
    with pytest.raises(NotImplementedError, match="reshard_after_forward must be True or False"):
        fully_shard(Net(), reshard_after_forward=2)
    scalar = nn.Module()
    scalar.scale = nn.Parameter(np.array(1.0))
    with pytest.raises(ValueError, match="parameter scale is 0-d"):
        fully_shard(scalar)
    with pytest.raises(TypeError, match="expected modules that fully_shard was applied to"):
        model.set_modules_to_forward_prefetch([nn.Linear(2, 2)])
