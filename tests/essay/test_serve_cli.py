"""`dlpy essay serve` as a user starts it: a process on loopback that answers, then stops."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

SRC = Path(__file__).parents[2] / "src"


def test_serve_starts_on_loopback_and_answers():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(SRC))
    model = os.environ.get("DLPY_SERVE_TEST_MODEL")
    process = subprocess.Popen(
        [sys.executable, "-m", "dlpy", "essay", "serve", "--port", str(port),
         *(["--model", model] if model else [])],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, process.stderr.read().decode()
            try:
                health = httpx.get(url + "/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "no answer within 90 s"
                time.sleep(0.05)
        assert health.json()["status"] == "ok"
        assert "<html" in httpx.get(url + "/", timeout=5).text
        answer = httpx.post(url + "/api/score", json={"text": "나는 학생이다. 학교에 간다."},
                            timeout=30)
        assert answer.status_code == 200 and 0 <= answer.json()["score"] <= 30
    finally:
        process.terminate()
        process.wait(20)
