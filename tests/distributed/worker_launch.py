"""Launching a worker script that runs its checks under ``mpirun -n N`` and writes
{check: {rank: outcome}} as JSON (fsdp_worker.py, pipelining_worker.py, torch_api_worker.py;
worker_checks.py is their side)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import HERE, find_mpirun, launcher_free_env, skip_reason


def launch(script: str, n: int, tmp_path_factory, timeout: float = 180) -> dict:
    """The worker's results on ``n`` ranks (skips where MPI is not installed)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp(f"{script.split('.')[0]}{n}") / "results.json"
    command = [find_mpirun(), "-n", str(n), sys.executable, script, str(out)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env=launcher_free_env(), cwd=HERE)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s (a hang?): "
                    f"{err.stdout!r} {err.stderr!r}")
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(out.read_text())


def all_ok(outcomes: dict) -> bool:
    return all(o.startswith("ok") for o in outcomes.values())


def mpirun_checks(script: str, checks: dict, ranks: tuple[int, ...] = (2, 3)):
    """A module-scoped fixture launching ``script`` once per number of ranks and a test per
    check and number of ranks; a test module binds both: ``results, test_under_mpirun = ...``."""
    @pytest.fixture(scope="module", params=ranks, ids=[f"{n}_ranks" for n in ranks])
    def results(request, tmp_path_factory):
        return launch(script, request.param, tmp_path_factory)

    @pytest.mark.parametrize("name", list(checks))
    def test_under_mpirun(results, name):
        assert all_ok(results[name]), results[name]

    return results, test_under_mpirun
