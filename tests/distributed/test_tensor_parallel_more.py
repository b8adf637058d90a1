"""Tensor parallelism completed: Embedding styles, loss_parallel, state dicts saved and
reloaded, a TP Llama (under ``mpirun -n 2``: tp_more_worker.py, in the launch the other 2-rank
workers share), ops without a sharding rule refused, and the worker launcher's robustness (a
check failing on one rank ends the launch at once; a script listed twice runs once); the
rules also in one process (a mesh of one rank)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn
from dlpy import functional as F
from dlpy.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor, init_device_mesh
from dlpy.distributed.tensor.parallel import (
    ColwiseParallel,
    PrepareModuleInput,
    RowwiseParallel,
    loss_parallel,
    parallelize_module,
)

from . import worker_launch
from .conftest import launch, skip_reason
from .tp_more_worker import CHECKS
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("tp_more_worker.py", CHECKS, ranks=(2,))


@pytest.fixture(scope="module")
def mesh():
    return init_device_mesh("cpu", (1,), mesh_dim_names=("tp",))


# ----------------------------------------------------------------- launcher robustness
def test_a_check_failing_on_one_rank_ends_the_launch_with_its_message(tmp_path):
    """Rank 1 raises while rank 0 waits in an all-reduce: before, the launch hung until the
    timeout (still running when killed at 40 s); now rank 1 aborts every rank after the
    worker's GRACE (0.2 s)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    result = launch("run_workers.py", str(tmp_path), "partial_failure_worker.py", n=2,
                    timeout=30)  # a hang fails the test
    assert result.returncode != 0
    assert "rank 1: partial_failure_worker: check 'fails_on_the_last_rank_only' failed here" \
        in result.stderr and "ValueError: the last rank stops early" in result.stderr


def test_a_script_two_test_modules_register_is_launched_once(monkeypatch):
    monkeypatch.setattr(worker_launch, "_WORKERS", {"/a.py": ("w.py", (2,)),
                                                    "/b.py": ("w.py", (2,)),
                                                    "/c.py": ("v.py", (2, 3))})
    session = SimpleNamespace(items=[SimpleNamespace(path=p, nodeid=f"{p}::t[2_ranks-x]")
                                     for p in ("/a.py", "/b.py", "/c.py")])
    assert worker_launch._scripts_needed(session, 2) == ["w.py", "v.py"]


# ----------------------------------------------------------------- ops without a rule
def test_functions_that_do_not_dispatch_refuse_a_dtensor(mesh):
    dt = distribute_tensor(Tensor(np.ones((2, 3))), mesh, [Shard(0)])
    with pytest.raises(NotImplementedError, match="operator 'Tanh' has no sharding rule"):
        F.tanh(dt)
    with pytest.raises(NotImplementedError, match="operator 'exp' has no sharding rule"):
        dlpy.exp(dt)
    weight = parallelize_module(nn.Embedding(5, 3), mesh, ColwiseParallel()).weight
    with pytest.raises(NotImplementedError, match="operator 'Embedding'"):
        F.embedding(np.array([1, 2]), weight)
    with pytest.raises(NotImplementedError, match="'item \\(of a DTensor not Replicate\\)'"):
        dt.item()
    assert distribute_tensor(Tensor(np.array(2.5)), mesh).item() == 2.5


def test_reshape_keeps_sharded_dimensions_whole(mesh):
    x = np.arange(24.0).reshape(2, 3, 4)
    dt = distribute_tensor(Tensor(x, requires_grad=True), mesh, [Shard(2)])
    flat = dt.reshape(-1, 4)
    assert flat.placements == (Shard(1),) and flat.shape == (6, 4)
    assert dt.flatten(0, 1).placements == (Shard(1),) and dt.view(6, 4).shape == (6, 4)
    rows = distribute_tensor(Tensor(x), mesh, [Shard(0)])
    assert rows.reshape(2, 12).placements == (Shard(0),)
    (flat.to_local() * Tensor(np.arange(24.0).reshape(6, 4))).sum().backward()
    assert np.array_equal(dt.grad.data, np.arange(24.0).reshape(2, 3, 4))
    with pytest.raises(NotImplementedError, match="'reshape'.*Shard\\(dim=2\\)"):
        dt.reshape(2, 12)


# ----------------------------------------------------------------- styles on Embedding
def test_embedding_styles_in_one_process(mesh):
    ids = np.array([[1, 4, 0], [2, 2, 3]])
    for style, placement in ((RowwiseParallel(input_layouts=Replicate()), Shard(0)),
                             (ColwiseParallel(), Shard(1))):
        plain = nn.Embedding(5, 4, padding_idx=0, rng=np.random.default_rng(0),
                             dtype=np.float64)
        want = plain(ids).data
        emb = parallelize_module(plain, mesh, style)
        assert emb.weight.placements == (placement,)
        out = emb(ids)
        assert type(out) is Tensor and np.array_equal(out.data, want)
    with pytest.raises(NotImplementedError, match="a sparse Embedding is not supported"):
        parallelize_module(nn.Embedding(5, 4, sparse=True), mesh, RowwiseParallel())
    with pytest.raises(NotImplementedError, match="nn.Linear and nn.Embedding.*LayerNorm"):
        parallelize_module(nn.LayerNorm(4), mesh, ColwiseParallel())


def test_prepare_module_input_converts_keyword_inputs_through_a_hook(mesh):
    class Scaled(nn.Module):
        def forward(self, x, *, bias=None):
            return (x, bias)

    module = parallelize_module(Scaled(), mesh, PrepareModuleInput(
        input_kwarg_layouts={"bias": Shard(0)}, desired_input_kwarg_layouts={"bias":
                                                                           Replicate()},
        use_local_output=False))
    assert "forward" not in module.__dict__  # a with_kwargs pre-hook, not a patched forward
    x, bias = module(Tensor(np.ones(2)), bias=Tensor(np.arange(3.0)))
    assert type(x) is Tensor and isinstance(bias, DTensor)
    assert bias.placements == (Replicate(),) and np.array_equal(bias.full_tensor().data,
                                                                 np.arange(3.0))
    assert module(Tensor(np.ones(2)))[1] is None  # an absent keyword stays absent


# ----------------------------------------------------------------- loss_parallel
def test_loss_parallel_in_one_process(mesh):
    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(5, 7)), np.array([1, 6, -100, 0, 3])
    x = distribute_tensor(Tensor(logits, requires_grad=True), mesh, [Shard(1)])
    plain = Tensor(logits, requires_grad=True)
    with loss_parallel():
        loss = F.cross_entropy(x, labels, label_smoothing=0.1)
        loss.backward()
    want = F.cross_entropy(plain, labels, label_smoothing=0.1)
    want.backward()
    assert isinstance(loss, DTensor) and abs(loss.item() - want.item()) < 1e-15
    assert np.abs(x.grad.data - plain.grad.data).max() < 1e-15
    with pytest.raises(NotImplementedError, match="inside `with loss_parallel\\(\\):`"):
        F.cross_entropy(x, labels)
    with loss_parallel(), pytest.raises(NotImplementedError, match="weight with label_smooth"):
        F.cross_entropy(x, labels, label_smoothing=0.1, weight=np.ones(7))
    with loss_parallel(), pytest.raises(NotImplementedError, match="class probabilities"):
        F.cross_entropy(x, np.ones((5, 7)) / 7)
    grid = init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    rows = distribute_tensor(Tensor(logits), grid, [Shard(0), Shard(1)])
    with loss_parallel(), pytest.raises(ValueError, match="requires a DTensor .* for the "
                                                          "labels"):
        F.cross_entropy(rows, labels, reduction="sum")
    with loss_parallel(), pytest.raises(NotImplementedError, match="reduction='mean'"):
        F.cross_entropy(rows, labels)
    sharded_labels = distribute_tensor(Tensor(labels), grid, [Shard(0), Replicate()])
    with loss_parallel():
        total = F.cross_entropy(rows, sharded_labels, reduction="sum")
    assert abs(total.full_tensor().item() -
               F.cross_entropy(Tensor(logits), labels, reduction="sum").item()) < 1e-14


def test_loss_parallel_takes_the_classes_on_dimension_1_as_torch(mesh):
    # torch's table: (batch, class, seq) in (Shard(2), Shard(1)) -> labels (batch, seq) in
    # (Shard(1), Replicate()); 1-d logits (C,) take a 0-d label
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(2, 7, 3)), rng.integers(0, 7, size=(2, 3))
    grid = init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    x = distribute_tensor(Tensor(logits, requires_grad=True), grid, [Shard(2), Shard(1)])
    target = distribute_tensor(Tensor(labels), grid, [Shard(1), Replicate()])
    plain = Tensor(logits, requires_grad=True)
    with loss_parallel():
        loss = F.cross_entropy(x, target, reduction="none")
        loss.to_local().sum().backward()
    want = F.cross_entropy(plain, labels, reduction="none")
    want.sum().backward()
    assert loss.shape == (2, 3) and loss.placements == (Shard(1), Replicate())
    assert np.abs(loss.to_local().data - want.data).max() < 1e-15
    assert np.abs(x.grad.data - plain.grad.data).max() < 1e-15
    with loss_parallel(), pytest.raises(RuntimeError, match=r"laid out as \(Shard\(dim=1\)"):
        F.cross_entropy(x, distribute_tensor(Tensor(labels), grid, [Shard(0), Replicate()]),
                        reduction="sum")
    x = distribute_tensor(Tensor(logits), mesh, [Shard(1)])
    with loss_parallel(), pytest.raises(ValueError, match=r"classes on dimension 1 .* must "
                                                          r"have shape \(2, 3\), got \(3, 2\)"):
        F.cross_entropy(x, labels.T)
    vector = distribute_tensor(Tensor(logits[0, :, 0]), mesh, [Shard(0)])
    with loss_parallel():
        one = F.cross_entropy(vector, np.array(4))
    assert abs(one.item() - F.cross_entropy(Tensor(logits[0, :, 0]), np.array(4)).item()) < 1e-15


# ----------------------------------------------------------------- state dicts
def test_state_dict_round_trip_in_one_process(mesh, tmp_path):
    rng = np.random.default_rng(0)
    model = parallelize_module(nn.Linear(4, 6, rng=rng, dtype=np.float64), mesh,
                               ColwiseParallel())
    state = model.state_dict()
    assert all(isinstance(v, DTensor) and not v.requires_grad for v in state.values())
    assert state["weight"].placements == (Shard(0),) and state["weight"].shape == (6, 4)
    dlpy.save(state, tmp_path / "rank0.pt")
    for source in (state, dlpy.load(tmp_path / "rank0.pt")):
        fresh = parallelize_module(nn.Linear(4, 6, rng=np.random.default_rng(1),
                                             dtype=np.float64), mesh, ColwiseParallel())
        fresh.load_state_dict(source)
        assert np.array_equal(fresh.weight.data, model.weight.data)
    with pytest.raises(ValueError, match="load_state_dict: weight: expected a DTensor or an "
                                         "array of the global shape \\(6, 4\\)"):
        fresh.load_state_dict({**state, "weight": np.zeros((2, 2))})
