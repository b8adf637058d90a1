"""Kkma in a process of its own, started as collection ends: Kkma loads its Java dictionaries
on first use (5-15 s of one core), which then overlaps the other tests instead of adding to the
run. The Kkma test reads that process's analysis (``kkma_analysis``)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlpy.text import SENTENCE_MARKER

SRC = Path(__file__).resolve().parents[2] / "src"
KKMA_TEST = "test_kkma_reproduces_the_report_format"
KKMA_TEXT = f"나는 학교에 갔다.{SENTENCE_MARKER} 친구를 만났다.{SENTENCE_MARKER}"
SCRIPT = ("import json, sys\n"
          "from dlpy.text import get_analyzer\n"
          "print(json.dumps(get_analyzer('kkma').analyze(sys.argv[1]), ensure_ascii=False))\n")
_running: dict[str, subprocess.Popen] = {}


def kkma_skip_reason() -> str | None:
    if importlib.util.find_spec("konlpy") is None:
        return "Kkma needs konlpy (pip install 'dlpy[kkma]')"
    if shutil.which("java") is None:
        return "Kkma needs Java"
    return None


def _start() -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, "-c", SCRIPT, KKMA_TEXT], env=env, text=True,
                            encoding="utf-8", stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def pytest_collection_finish(session):
    if session.config.option.collectonly or kkma_skip_reason() is not None:
        return
    if any(item.name == KKMA_TEST for item in session.items):  # selected, not deselected
        _running.setdefault("kkma", _start())


def pytest_sessionfinish(session, exitstatus):
    process = _running.pop("kkma", None)
    if process is not None and process.poll() is None:  # a run that stopped before the test
        process.kill()
        process.communicate()


@pytest.fixture
def kkma_analysis():
    """(KKMA_TEXT, get_analyzer("kkma").analyze(KKMA_TEXT) as the background process returned
    it: sentences of (form, tag) tuples); skips the test without konlpy or Java."""
    reason = kkma_skip_reason()
    if reason:
        pytest.skip(reason)
    process = _running.pop("kkma", None) or _start()
    try:
        out, err = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"Kkma's analysis did not end within 300 s: {process.communicate()}")
    assert process.returncode == 0, f"Kkma's analysis failed (rc {process.returncode}):\n{err}"
    return KKMA_TEXT, [[tuple(pair) for pair in sentence] for sentence in json.loads(out)]
