"""nn.SyncBatchNorm under ``mpirun -n 2`` (skipped where MPI is not installed): 2 ranks with
batches of b give the outputs, gradients, parameters and running statistics of BatchNorm in one
process with batches of 2 b (sync_bn_worker.py checks them)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("momentum", ["0.1", "none"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_two_ranks_equal_one_process_with_twice_the_batch(mpirun, dtype, momentum):
    result = mpirun("sync_bn_worker.py", dtype, momentum)
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert f"ok sync_batch_norm {dtype} momentum={momentum}" in result.stdout, \
        result.stdout + result.stderr
