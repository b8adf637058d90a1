"""DeviceMesh and DTensor: under ``mpirun -n 2`` (one launch of dtensor_worker.py, shared with
test_tensor_parallel.py; one test per check; skipped where MPI is not installed), and in one
process (a mesh of one rank: layouts, autograd, errors)."""

from __future__ import annotations

import numpy as np
import pytest

from dlpy import Tensor, nn
from dlpy import functional as F
from dlpy.distributed.tensor import (
    DTensor,
    Partial,
    Replicate,
    Shard,
    distribute_module,
    distribute_tensor,
    init_device_mesh,
)
from dlpy.distributed.tensor._api import DParameter, chunk_range

from .dtensor_worker import CHECKS, TP_CHECKS
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks(
    "dtensor_worker.py", {k: v for k, v in CHECKS.items() if k not in TP_CHECKS}, ranks=(2,))


@pytest.fixture(scope="module")
def mesh():
    return init_device_mesh("cpu", (1,), mesh_dim_names=("tp",))


def test_chunk_range_is_torch_chunk():
    # torch.chunk(torch.arange(5), 4) -> sizes [2, 2, 1]; the 4th rank holds nothing
    assert [chunk_range(5, 4, i) for i in range(4)] == [(0, 2), (2, 4), (4, 5), (5, 5)]
    assert [chunk_range(6, 4, i) for i in range(4)] == [(0, 2), (2, 4), (4, 6), (6, 6)]
    assert [chunk_range(7, 2, i) for i in range(2)] == [(0, 4), (4, 7)]


def test_mesh_in_one_process(mesh):
    assert mesh.mesh.data.tolist() == [0] and mesh.shape == (1,) and mesh.ndim == 1
    assert mesh.get_coordinate() == [0] and mesh.get_local_rank("tp") == 0
    assert mesh.size() == 1 and mesh["tp"] is mesh
    assert repr(mesh) == "DeviceMesh('cpu', [0], mesh_dim_names=('tp',))"
    grid = init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    assert grid["tp"].mesh_dim_names == ("tp",) and grid["tp"].get_group() is \
        grid.get_group("tp")
    assert grid.get_coordinate() == [0, 0]


def test_mesh_errors(mesh):
    with pytest.raises(RuntimeError, match="must equal the world size"):
        init_device_mesh("cpu", (2,))
    with pytest.raises(RuntimeError, match="mesh_shape and mesh_dim_names should have same"):
        init_device_mesh("cpu", (1,), mesh_dim_names=("dp", "tp"))
    with pytest.raises(RuntimeError, match="unique"):
        init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "dp"))
    with pytest.raises(ValueError, match="device_type must be one of"):
        init_device_mesh("tpu", (1,))
    with pytest.raises(ValueError, match="mesh_shape must be a tuple of positive ints"):
        init_device_mesh("cpu", (0,))
    grid = init_device_mesh("cpu", (1, 1), mesh_dim_names=("dp", "tp"))
    with pytest.raises(RuntimeError, match="has 2 dimensions; give mesh_dim"):
        grid.get_group()
    with pytest.raises(KeyError, match="Invalid mesh_dim_names"):
        grid["pp"]
    with pytest.raises(KeyError, match="must follow the mesh's order"):
        grid["tp", "dp"]
    with pytest.raises(IndexError, match="out of range"):
        mesh.size(3)


def test_placements():
    assert Shard(1) == Shard(1) and Shard(1) != Shard(0) and Replicate() == Replicate()
    assert len({Shard(0), Shard(0), Replicate(), Partial()}) == 3
    assert Shard(0).is_shard() and Shard(0).is_shard(0) and not Shard(0).is_shard(1)
    assert Replicate().is_replicate() and Partial().is_partial("sum")
    assert repr(Shard(2)) == "Shard(dim=2)" and repr(Partial()) == "Partial(sum)"
    with pytest.raises(ValueError, match="reduce_op='sum' only"):
        Partial("max")
    with pytest.raises(TypeError, match="dim must be an int"):
        Shard(0.5)


def test_dtensor_layout_and_autograd(mesh):
    value = np.arange(12.0).reshape(3, 4)
    x = Tensor(value, requires_grad=True)
    dt = distribute_tensor(x, mesh, [Shard(-1)])
    assert dt.placements == (Shard(1),) and dt.shape == (3, 4) and dt.ndim == 2
    assert dt.size() == (3, 4) and dt.size(1) == 4 and dt.numel() == 12 and len(dt) == 3
    assert dt.stride() == (4, 1) and dt.requires_grad and dt.is_leaf
    local = dt.to_local()
    assert type(local) is Tensor and np.array_equal(local.data, value)
    (dt.redistribute(placements=[Replicate()]).full_tensor() * 2.0).sum().backward()
    assert np.array_equal(dt.grad.data, np.full((3, 4), 2.0))
    partial = distribute_tensor(Tensor(value), mesh, [Partial()])  # value / n on each rank
    assert partial.placements == (Partial(),) and np.array_equal(partial.full_tensor().data,
                                                                 value)
    with pytest.raises(RuntimeError, match="Can not redistribute from Replicate\\(\\) to "
                                           "Partial\\(sum\\)"):
        dt.redistribute(placements=[Replicate()]).redistribute(placements=[Partial()])
    with pytest.raises(RuntimeError, match="placements is needed for redistribute"):
        dt.redistribute()


def test_from_local_gradient_reaches_the_local_tensor(mesh):
    local = Tensor(np.ones((2, 3)), requires_grad=True)
    dt = DTensor.from_local(local, mesh, [Replicate()], run_check=True)
    out = (dt * 3.0 + 1.0).to_local()
    out.sum().backward()
    assert np.array_equal(local.grad.data, np.full((2, 3), 3.0))


def test_ops_in_one_process(mesh):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4)), rng.normal(size=(3, 4)), rng.normal(size=3)
    dx = distribute_tensor(Tensor(x), mesh, [Replicate()])
    dw = distribute_tensor(Tensor(w), mesh, [Shard(0)])
    db = distribute_tensor(Tensor(b), mesh, [Shard(0)])
    out = F.linear(dx, dw, db)
    assert out.placements == (Shard(1),)
    assert np.allclose(out.full_tensor().data, x @ w.T + b)
    assert np.allclose(F.relu(out).to_local().data, np.maximum(x @ w.T + b, 0))
    assert np.allclose((-out).to_local().data, -(x @ w.T + b))


def test_unsupported_ops_name_themselves(mesh):
    dt = distribute_tensor(Tensor(np.ones((2, 2))), mesh, [Shard(0)])
    with pytest.raises(NotImplementedError, match="operator 'sum' has no sharding rule"):
        dt.sum()
    with pytest.raises(NotImplementedError, match="'reshape'.*Shard\\(dim=0\\)"):
        dt.reshape(4)
    with pytest.raises(NotImplementedError, match="'softmax'"):
        F.softmax(dt, -1)
    with pytest.raises(RuntimeError, match="mixed Tensor and DTensor"):
        dt @ Tensor(np.ones((2, 2)))


def test_dtensor_errors(mesh):
    with pytest.raises(IndexError, match=r"Shard\(dim=2\): Dimension out of range \(expected "
                                         r"to be in range of \[-2, 1\], but got 2\)"):
        distribute_tensor(Tensor(np.ones((2, 2))), mesh, [Shard(2)])
    with pytest.raises(ValueError, match="same length as `device_mesh.ndim`"):
        distribute_tensor(Tensor(np.ones(2)), mesh, [Shard(0), Replicate()])
    with pytest.raises(TypeError, match="expected Shard, Replicate or Partial"):
        distribute_tensor(Tensor(np.ones(2)), mesh, ["shard"])
    with pytest.raises(ValueError, match=r"global shape \(5,\) with \[Shard\(dim=0\)\] gives "
                                         r"this rank \(5,\)"):
        DTensor.from_local(Tensor(np.ones(3)), mesh, [Shard(0)], shape=(5,))
    dt = distribute_tensor(Tensor(np.ones(2)), mesh)
    with pytest.raises(RuntimeError, match="only accepts a plain Tensor but got a DTensor"):
        DTensor.from_local(dt, mesh)
    with pytest.raises(ValueError, match="already a DTensor"):
        distribute_tensor(dt, mesh)


def test_distribute_module_replicates_and_hooks(mesh):
    model = nn.Linear(3, 2, rng=np.random.default_rng(0), dtype=np.float64)
    seen = []
    distribute_module(model, mesh, input_fn=lambda m, args, mesh: seen.append("in"),
                      output_fn=lambda m, out, mesh: seen.append("out"))
    assert all(isinstance(p, DParameter) and isinstance(p, nn.Parameter)
               and p.placements == (Replicate(),) for p in model.parameters())
    assert [n for n, _ in model.named_parameters()] == ["weight", "bias"]
    x = distribute_tensor(Tensor(np.ones((4, 3))), mesh)
    out = model(x)
    assert seen == ["in", "out"] and isinstance(out, DTensor)
    out.to_local().sum().backward()
    assert model.weight.grad.shape == (2, 3)


def test_implicit_replication_takes_plain_tensors_as_replicate(mesh):
    # torch.distributed.tensor.experimental.implicit_replication (and the old
    # torch.distributed._tensor path): a plain Tensor next to a DTensor is a Replicate one
    from dlpy.distributed._tensor.experimental import implicit_replication as old_path

    from dlpy.distributed.tensor.experimental import implicit_replication

    assert old_path is implicit_replication
    dt = distribute_tensor(Tensor(np.arange(4.0).reshape(2, 2)), mesh, [Shard(0)])
    w = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    with pytest.raises(RuntimeError, match="mixed Tensor and DTensor"):
        dt @ w
    with implicit_replication():
        out = dt @ w
        total = dt + Tensor(np.ones(2))
        lin = F.linear(dt, w)
    assert out.placements == (Shard(0),) and total.placements == (Shard(0),)
    assert np.array_equal(out.full_tensor().data, np.arange(4.0).reshape(2, 2) @ w.data)
    assert np.array_equal(total.full_tensor().data, np.arange(4.0).reshape(2, 2) + 1)
    lin.to_local().sum().backward()
    assert np.array_equal(w.grad.data, np.array([[2.0, 4.0], [2.0, 4.0]]))
    with pytest.raises(RuntimeError, match="mixed Tensor and DTensor"):
        dt + Tensor(np.ones(2))
