"""Tensor parallelism (parallelize_module and the styles): under ``mpirun -n 2`` (the launch of
dtensor_worker.py that test_dtensor.py shares: a Megatron MLP and attention block trained with
SGD and Adam, sequence parallelism, a dp x tp mesh as (1, 2) and (2, 1)), under ``mpirun -n 4``
(a 2 x 2 dp x tp mesh), and in one process."""

from __future__ import annotations

import numpy as np
import pytest

from dlpy import Tensor, nn, optim
from dlpy.distributed.tensor import DTensor, Replicate, Shard, init_device_mesh
from dlpy.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    PrepareModuleOutput,
    RowwiseParallel,
    parallelize_module,
)

from . import worker_launch
from .dtensor_worker import CHECKS, FOUR_RANK_CHECKS, MLP, TP_CHECKS
from .worker_launch import all_ok, launch, mpirun_checks

# the 2 x 2 mesh: joins the launch on 4 ranks that other workers need
results, test_under_mpirun = mpirun_checks(
    "dtensor_worker.py", {name: CHECKS[name] for name in FOUR_RANK_CHECKS}, ranks=(4,))


@pytest.fixture(scope="module")
def results_2_ranks(request, tmp_path_factory):
    """dtensor_worker.py's results on 2 ranks: the launch test_dtensor.py registered (shared
    with the other workers on 2 ranks), or one of its own when only this file runs."""
    key = ("dtensor_worker.py", 2)
    if key not in worker_launch._RESULTS:
        scripts = worker_launch._scripts_needed(request.session, 2)
        if key[0] not in scripts:
            scripts = [key[0]]
        for name, outcome in launch(scripts, 2, tmp_path_factory).items():
            worker_launch._RESULTS[(name, 2)] = outcome
    return worker_launch._RESULTS[key]


@pytest.mark.parametrize("name", list(TP_CHECKS), ids=[f"2_ranks-{n}" for n in TP_CHECKS])
def test_tensor_parallel_under_mpirun(results_2_ranks, name):
    assert all_ok(results_2_ranks[name]), results_2_ranks[name]


# ----------------------------------------------------------------- one process
def test_one_rank_tensor_parallel_trains_as_the_plain_model():
    mesh = init_device_mesh("cpu", (1,), mesh_dim_names=("tp",))
    plain = MLP(np.random.default_rng(0))
    model = parallelize_module(MLP(np.random.default_rng(0)), mesh,
                               {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()})
    assert model.fc1.weight.placements == (Shard(0),)
    assert model.fc2.weight.placements == (Shard(1),) and model.fc2.bias.placements == \
        (Replicate(),)
    for net in (plain, model):
        opt = optim.Adam(net.parameters(), lr=0.01)
        for step in range(2):
            x = Tensor(np.random.default_rng(step).normal(size=(3, 8)))
            loss = (net(x) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for p, q in zip(model.parameters(), plain.parameters()):
        assert np.abs(p.full_tensor().data - q.data).max() < 1e-12


def test_output_layouts_and_local_output():
    mesh = init_device_mesh("cpu", (1,))
    model = parallelize_module(nn.Linear(4, 6, rng=np.random.default_rng(0)), mesh,
                               ColwiseParallel(use_local_output=False))
    out = model(Tensor(np.ones((2, 4), dtype=np.float32)))
    assert isinstance(out, DTensor) and out.placements == (Shard(1),)
    model = parallelize_module(nn.Linear(4, 6, rng=np.random.default_rng(0)), mesh,
                               ColwiseParallel(output_layouts=Replicate()))
    out = model(Tensor(np.ones((2, 4), dtype=np.float32)))
    assert type(out) is Tensor and out.shape == (2, 6)


def test_plan_errors():
    mesh = init_device_mesh("cpu", (1,))
    grid = init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    mlp = MLP(np.random.default_rng(0))
    with pytest.raises(ValueError, match="only accepts a 1D DeviceMesh.*device_mesh\\[\"tp\"\\]"):
        parallelize_module(mlp, grid, {"fc1": ColwiseParallel()})
    with pytest.raises(TypeError, match="expect Union\\[ParallelStyle, Dict\\]"):
        parallelize_module(mlp, mesh, ["fc1"])
    with pytest.raises(TypeError, match="value for 'fc1' must be a ParallelStyle"):
        parallelize_module(mlp, mesh, {"fc1": "colwise"})
    with pytest.raises(NotImplementedError, match="only support nn.Linear.*LayerNorm"):
        parallelize_module(nn.LayerNorm(4), mesh, RowwiseParallel())
    with pytest.warns(UserWarning, match="'fc3' could not be resolved"):
        parallelize_module(mlp, mesh, {"fc3": ColwiseParallel()})
    with pytest.raises(TypeError, match="input_layouts must be a Placement"):
        ColwiseParallel(input_layouts="replicate")
    with pytest.raises(AssertionError, match="should have same length"):
        PrepareModuleInput(input_layouts=(Shard(0), None), desired_input_layouts=(Replicate(),))
    with pytest.raises(AssertionError, match="should have same length"):
        PrepareModuleOutput(output_layouts=(Shard(0),), desired_output_layouts=())


def test_relu_between_layers_runs_on_local_pieces():
    """use_local_output (the default) hands plain Tensors to what follows fc1."""
    mesh = init_device_mesh("cpu", (1,))
    seq = nn.Sequential(nn.Linear(3, 5, rng=np.random.default_rng(0)), nn.ReLU(),
                        nn.Linear(5, 2, rng=np.random.default_rng(1)))
    want = seq(Tensor(np.ones((1, 3), dtype=np.float32))).data
    parallelize_module(seq, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    got = seq(Tensor(np.ones((1, 3), dtype=np.float32)))
    assert type(got) is Tensor and np.allclose(got.data, want)
