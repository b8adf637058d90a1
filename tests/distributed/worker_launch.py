"""Launching worker scripts that run their checks under ``mpirun -n N`` and write
{check: {rank: outcome}} as JSON (fsdp_worker.py, pipelining_worker.py, torch_api_worker.py,
zero_worker.py; worker_checks.py is their side). Every worker that the selected tests need on N
ranks runs in one launch per N (run_workers.py): an mpirun start and the imports on each rank
cost about a second, more than most workers' checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import HERE, find_mpirun, launcher_free_env, skip_reason


def launch(scripts: list[str], n: int, tmp_path_factory, timeout: float = 300) -> dict:
    """{script: the worker's results} of ``scripts`` run one after the other in one launch on
    ``n`` ranks (skips where MPI is not installed)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    scripts = list(dict.fromkeys(scripts))  # a script listed twice runs once
    out = tmp_path_factory.mktemp(f"workers{n}")
    command = [find_mpirun(), "-n", str(n), sys.executable, "run_workers.py", str(out), *scripts]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env=launcher_free_env(), cwd=HERE)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s (a hang?): "
                    f"{err.stdout!r} {err.stderr!r}")
    assert result.returncode == 0, f"rc {result.returncode}\n{result.stdout}\n{result.stderr}"
    return {script: json.loads((out / f"{Path(script).stem}.json").read_text())
            for script in scripts}


def all_ok(outcomes: dict) -> bool:
    return all(o.startswith("ok") for o in outcomes.values())


# test module file -> (its worker script, its numbers of ranks), as mpirun_checks registers them
_WORKERS: dict[str, tuple[str, tuple[int, ...]]] = {}
# (script, number of ranks) -> the worker's results, once launched
_RESULTS: dict[tuple[str, int], dict] = {}


def _scripts_needed(session, n: int) -> list[str]:
    """The workers whose tests on n ranks are selected in this session, in registration order
    (torch_api_worker.py last: its last check tears the process group down and starts it
    again)."""
    selected = {str(Path(item.path).resolve()) for item in session.items
                if f"[{n}_ranks-" in item.nodeid}
    scripts = dict.fromkeys(script for path, (script, ranks) in _WORKERS.items()
                            if n in ranks and path in selected)  # each once
    return sorted(scripts, key=lambda script: script == "torch_api_worker.py")


def mpirun_checks(script: str, checks: dict, ranks: tuple[int, ...] = (2, 3)):
    """A module-scoped fixture giving ``script``'s results on each number of ranks (launched
    together with the other workers that need that number), and a test per check and number of
    ranks; a test module binds both: ``results, test_under_mpirun = ...``."""
    _WORKERS[str(Path(sys._getframe(1).f_globals["__file__"]).resolve())] = (script, ranks)

    @pytest.fixture(scope="module", params=ranks, ids=[f"{n}_ranks" for n in ranks])
    def results(request, tmp_path_factory):
        n = request.param
        if (script, n) not in _RESULTS:
            scripts = _scripts_needed(request.session, n)
            if script not in scripts:  # not selected by node id (run some other way): alone
                scripts = [script]
            for name, outcome in launch(scripts, n, tmp_path_factory).items():
                _RESULTS[(name, n)] = outcome
        return _RESULTS[(script, n)]

    @pytest.mark.parametrize("name", list(checks))
    def test_under_mpirun(results, name):
        assert all_ok(results[name]), results[name]

    return results, test_under_mpirun
