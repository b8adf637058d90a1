"""Without a launcher, dlpy.distributed is one process (rank 0 of 1) and changes nothing."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dlpy import distributed, nn
from dlpy.data.mnist_train import train
from dlpy.distributed import DistributedDataParallel

from .conftest import launcher_free_env


def test_a_plain_run_is_rank_0_of_1_and_never_starts_mpi():
    code = ("import sys; from dlpy import distributed as d; print(d.init(), d.rank(), "
            "d.is_main(), 'mpi4py.MPI' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=launcher_free_env(), timeout=60)
    assert result.stdout.split() == ["1", "0", "True", "False"], result.stderr


def test_helpers_are_identities_in_one_process():
    assert distributed.init() == 1 and distributed.world_size() == 1
    distributed.barrier()
    assert distributed.all_sum([1.5, 2]).tolist() == [1.5, 2.0]
    assert distributed.broadcast_object({"a": 1}) == {"a": 1}
    assert distributed.gather_object(3) == [3]
    assert distributed.map_gather(lambda x: x + 1, [1, 2, 3]) == [2, 3, 4]
    seed = distributed.rank_seed(5)
    assert seed.entropy == 5 and seed.spawn_key == ()  # what a single process always drew


def test_launcher_world_size_and_the_refusal_read_the_environment(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.launcher_world_size() == 1
    distributed.refuse_undistributed()  # one process: fine
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.launcher_world_size() == 4
    with pytest.raises(ValueError, match="as 4 processes but without --distributed"):
        distributed.refuse_undistributed()


def test_abort_on_error_lets_the_error_through_in_one_process():
    with pytest.raises(ValueError, match="boom"):
        with distributed.abort_on_error():
            raise ValueError("boom")


def test_ddp_in_one_process_is_a_pass_through():
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(4, 3, rng=rng), nn.ReLU(), nn.Linear(3, 2, rng=rng))
    model = DistributedDataParallel(net)
    assert list(model.parameters()) == list(net.parameters()) and model.buckets == []
    grads = []
    for p in net.parameters():
        p.grad = np.ones_like(p.data)
        grads.append(p.grad)
    model.average_gradients()
    assert all(p.grad is g for p, g in zip(net.parameters(), grads))
    x = np.ones((2, 4), dtype=np.float32)
    assert np.array_equal(model(x).data, net(x).data)


def test_ddp_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="expected a dlpy.nn.Module, got list"):
        DistributedDataParallel([])
    with pytest.raises(ValueError, match="bucket_mb must be > 0, got 0"):
        DistributedDataParallel(nn.Linear(2, 2), bucket_mb=0)
    with pytest.raises(ValueError, match="weight must be a finite number >= 0, got -1"):
        DistributedDataParallel(nn.Linear(2, 2)).average_gradients(weight=-1)


def test_mnist_train_distributed_in_one_process_is_the_ordinary_run(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 120).astype(np.uint8),
              "test_images": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 30).astype(np.uint8)}
    runs = {}
    for flag in (False, True):
        out = tmp_path / str(flag)
        metrics = train(arrays, out, epochs=2, batch_size=10, progress=False,
                        log=lambda message: None, distributed=flag)
        for record in metrics.pop("epochs"):
            record.pop("seconds")
            metrics.setdefault("records", []).append(record)
        metrics.pop("train_seconds")
        runs[flag] = metrics, np.load(out / "checkpoint.npz")
        assert json.loads((out / "metrics.json").read_text())["world_size"] == 1
    (plain, plain_arrays), (single, single_arrays) = runs[False], runs[True]
    assert plain == single and plain["world_size"] == 1
    for key in plain_arrays.files:
        assert np.array_equal(plain_arrays[key], single_arrays[key]), key
