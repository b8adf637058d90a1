"""nn.SyncBatchNorm under ``mpirun -n 2`` (skipped where MPI is not installed): 2 ranks with
batches of b give the outputs, gradients, parameters and running statistics of BatchNorm in one
process with batches of 2 b (sync_bn_worker.py checks them)."""

from __future__ import annotations

import pytest

from .conftest import launch, skip_reason

DTYPES, MOMENTUMS = ["float64", "float32"], ["0.1", "none"]


@pytest.fixture(scope="module")
def shared():
    """One ``mpirun -n 2`` running every case one after the other (an mpirun start and the
    imports cost more than a case): its result. A failed check aborts the launch, so every test
    of it fails with the rank's message."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    cases = [[dtype, momentum] for dtype in DTYPES for momentum in MOMENTUMS]
    words = [w for case in cases for w in ["+", *case]][1:]
    return launch("sync_bn_worker.py", *words, timeout=120)


@pytest.mark.parametrize("momentum", MOMENTUMS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_two_ranks_equal_one_process_with_twice_the_batch(shared, dtype, momentum):
    result = shared
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert f"ok sync_batch_norm {dtype} momentum={momentum}" in result.stdout, \
        result.stdout + result.stderr
