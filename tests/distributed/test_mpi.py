"""dlpy.distributed under ``mpirun -n 2`` on loopback (skipped where MPI is not installed)."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest

from dlpy.data import mnist as mnist_module

from .conftest import launch, skip_reason


def check(result, expected: str) -> str:
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert expected in result.stdout, result.stdout + result.stderr
    return result.stdout


OPTIMIZERS, DTYPES = ["sgd", "adam"], ["float64", "float32"]
SAMPLERS = [(100, "pad"), (101, "pad"), (101, "drop")]


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One ``mpirun -n 2`` running every scenario that ends in an ``ok`` line one after the
    other (an mpirun start costs more than most scenarios): its stdout. A failed scenario
    aborts the launch, so every test of it fails with the rank's message."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    scenarios = [["equivalence", d, o] for o in OPTIMIZERS for d in DTYPES]
    scenarios += [["weighted"], ["overlap"], ["broadcast"], ["map_gather"], ["mismatch"]]
    scenarios += [["sampler", str(total), policy] for total, policy in SAMPLERS]
    scenarios += [["refused", command, str(tmp_path_factory.mktemp(f"refused_{command}"))]
                  for command in ("mnist", "essay")]
    words = [w for scenario in scenarios for w in ["+", *scenario]][1:]
    return check(launch("mpi_worker.py", *words, timeout=120), "ok")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_two_ranks_equal_one_process_with_twice_the_batch(shared, dtype, optimizer):
    # tolerances inside the worker: float64 1e-10, float32 1e-5, over 14 steps with a short
    # last batch, several buckets and a parameter without a gradient
    assert f"ok equivalence {dtype} {optimizer}: 14 steps, world 2" in shared, shared


def test_weighted_average_is_the_mean_over_unequal_shares(shared):
    assert "ok weighted" in shared, shared


def test_averaging_overlapped_with_backward_equals_one_process(shared):
    # buckets sent as they fill during backward, or all after it; gradients set to None or
    # zeroed in place (views of the buckets); a backward that misses a parameter, then a
    # weighted average: the buckets it sent are dropped (to 1e-12 in float64)
    assert "ok overlap: 4 settings equal one process" in shared, shared


def test_rank_0_parameters_reach_every_rank(shared):
    assert "ok broadcast to 2 ranks" in shared, shared


def test_different_models_on_the_ranks_are_an_error_on_every_rank(shared):
    for rank in (0, 1):
        line = next((line for line in shared.splitlines()
                     if line.startswith(f"ok mismatch on rank {rank}: ")), shared)
        assert "(16, 12)" in line and "(17, 12)" in line, line


@pytest.mark.parametrize("total, policy", SAMPLERS)
def test_sampler_shards_cover_the_data_every_epoch(shared, total, policy):
    assert f"ok sampler n={total} {policy}" in shared, shared


def test_map_gather_broadcast_and_per_rank_seeds(shared):
    assert "ok map_gather" in shared, shared


@pytest.mark.parametrize("how", ["context", "uncaught"])
def test_an_exception_on_one_rank_ends_every_rank_with_its_message(mpirun, how):
    result = mpirun("mpi_worker.py", "abort", how, timeout=30)  # a hang fails the test
    assert result.returncode != 0
    assert "rank 1: ValueError: boom on rank 1" in result.stderr
    assert "not reached" not in result.stdout


def write_mnist_like(folder, n_train=240, n_test=60):
    """Digit k is a bright square at a place that depends on k, on noise: learnable in 2 epochs."""
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 + 6 * (k // 4):6 + 6 * (k // 4), 2 + 6 * (k % 4):6 + 6 * (k % 4)] = 250
        arrays[f"{prefix}_images"], arrays[f"{prefix}_labels"] = images, labels
    for key, (stem, _) in mnist_module.FILES.items():
        array = arrays[key]
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim)
        header += b"".join(struct.pack(">I", size) for size in array.shape)
        (folder / f"{stem}.gz").write_bytes(gzip.compress(header + array.tobytes()))


def test_mnist_train_distributed_only_rank_0_logs_and_writes(mpirun, tmp_path):
    write_mnist_like(tmp_path)
    out = tmp_path / "run"
    result = mpirun("-m", "dlpy", "mnist", "train", "--distributed", "--data-dir",
                    str(tmp_path), "--no-download", "--epochs", "2", "--batch-size", "5",
                    "--out", str(out), "--no-plot", "--seed", "1")
    printed = check(result, "distributed: 2 ranks x batch 5 = global batch 10")
    assert printed.count("epoch 2/2: train loss") == 1 and printed.count("wrote ") == 1
    assert result.stderr.count("epoch 1/2:   0%") <= 1  # one progress bar (if tqdm is there)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "metrics.json"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_batch_size"] == 10
    assert metrics["test_accuracy"] >= 0.9


@pytest.mark.parametrize("command", ["mnist", "essay"])
def test_mnist_train_and_essay_cv_under_mpirun_without_distributed_are_refused(shared, command):
    # each rank: exit status 1 (a run-time error; usage errors are 2), nothing written
    assert f"ok refused {command} on rank 0" in shared and f"ok refused {command} on rank 1" \
        in shared, shared


def write_korean_corpus(path, documents=400):
    """A .txt.gz of short Korean documents (three sentences each, an empty line between)."""
    words = [["나는", "친구는", "동생은", "선생님은", "우리는", "엄마는"],
             ["학교에서", "집에서", "공원에서", "도서관에서", "서울에서"],
             ["밥을", "사과를", "책을", "영화를", "음악을", "축구를", "그림을"],
             ["먹었다", "좋아한다", "읽었다", "보았다", "들었다", "했다", "썼다"]]
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(documents):
        for _ in range(3):
            lines.append(" ".join(w[rng.integers(len(w))] for w in words) + ".")
        lines.append("")
    path.write_bytes(gzip.compress("\n".join(lines).encode("utf-8")))
    return path


@pytest.fixture(scope="module")
def lm_launch(tmp_path_factory):
    """One ``mpirun -n 2`` of two LM runs: the plain one (rank 0 trains the tokenizer), then the
    one where rank 1 gets a SIGTERM after step 3, on the first run's tokenizer: the result and
    the two output folders."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("lm_launch")
    corpus = str(write_korean_corpus(folder / "corpus.txt.gz"))
    plain, signalled = folder / "run", folder / "signalled"
    result = launch("mpi_worker.py", "lm", corpus, str(plain), "+",
                    "lm", corpus, str(signalled), "3", str(plain / "tokenizer.model"),
                    timeout=90)
    return result, plain, signalled


def test_lm_train_distributed_ranks_end_equal(lm_launch):
    result = lm_launch[0]
    check(result, "ok lm: 4 steps")
    # rank 0 alone, once: the signalled run copies the first run's tokenizer
    assert result.stderr.count("training a 400-piece tokenizer") == 1
    assert result.stderr.count("step 4: held-out loss") == 1


def test_lm_a_signal_on_one_rank_stops_every_rank_at_the_same_step(lm_launch):
    result, _, signalled = lm_launch
    check(result, "ok lm signal: both ranks stopped after step 3")
    assert (signalled / "checkpoint.npz").exists()


def test_dlpy_lm_train_distributed_command(mpirun, tmp_path):
    pytest.importorskip("sentencepiece")
    corpus = write_korean_corpus(tmp_path / "corpus.txt.gz")
    out = tmp_path / "run"
    result = mpirun("-m", "dlpy", "lm", "train", "--distributed", "--data", str(corpus),
                    "--out", str(out), "--steps", "2", "--batch-size", "4", "--warmup-steps", "1",
                    "--eval-every", "2", "--eval-batches", "1", "--heldout-every", "10",
                    "--vocab-size", "400", "--d-model", "32", "--num-layers", "1",
                    "--num-heads", "2", "--dim-feedforward", "64", "--max-len", "16",
                    "--split", "none", "--no-progress")  # Kiwi's load: seconds per rank 0
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("step 2, ") == 1  # the final line, from rank 0 only
    assert {"checkpoint.npz", "tokenizer.model"} <= {p.name for p in out.iterdir()}
