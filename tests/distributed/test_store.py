"""torch.distributed's key-value stores (dlpy.distributed.store) without MPI: HashStore in one
process (threads), FileStore and TCPStore shared by real processes (a blocking get released by
another process's set, counters added from several processes, timeouts), PrefixStore, the
clean-up of sockets and threads, and init_process_group(store=...). Every wait has a timeout."""

from __future__ import annotations

import datetime
import gc
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from dlpy import distributed as dist
from dlpy.distributed import DistNetworkError, DistStoreError, QueueEmptyError

from .conftest import launcher_free_env

td = datetime.timedelta


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("TCPStore")]


def child(code: str) -> subprocess.Popen:
    """A Python process running ``code`` after ``import ...; from dlpy import distributed as
    dist`` (stdout/stderr piped)."""
    head = ("import datetime, sys\ntd = datetime.timedelta\n"
            "from dlpy import distributed as dist\n")
    return subprocess.Popen([sys.executable, "-c", head + code], env=launcher_free_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> str:
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"the child process hung: {err[-2000:]}")
    assert process.returncode == 0, err[-3000:]
    return out


# ----------------------------------------------------------------- HashStore
def test_hash_store_values_counters_and_keys():
    s = dist.HashStore()
    assert isinstance(s, dist.Store) and s.timeout == td(seconds=300)
    s.set("a", "x")
    s.set("b", b"\x00\xff")
    assert s.get("a") == b"x" and s.get("b") == b"\x00\xff"
    assert [s.add("n", 3), s.add("n", -5), s.get("n")] == [3, -2, b"-2"]
    assert [s.add("w", 2**63 - 1), s.add("w", 1)] == [2**63 - 1, -(2**63)]
    assert s.compare_set("a", "x", "y") == b"y" and s.compare_set("a", "q", "z") == b"y"
    assert s.compare_set("new", "", "v") == b"v" and s.compare_set("none", "e", "v") == b"e"
    assert not s.check(["none"]) and s.check(["a", "n"]) and s.check([])
    s.append("ap", "po")
    s.append("ap", "tato")
    s.multi_set(["p", "q"], ["1", b"2"])
    assert s.multi_get(["ap", "p", "q"]) == [b"potato", b"1", b"2"]
    assert s.delete_key("a") and not s.delete_key("a")
    assert sorted(s.list_keys()) == ["ap", "b", "n", "new", "p", "q", "w"]
    assert s.num_keys() == 7 and s.has_extended_api()
    with pytest.raises(ValueError, match="stoll"):
        s.add("ap", 1)
    with pytest.raises(TypeError):
        s.set("c", 5)
    with pytest.raises(TypeError):
        s.add("n", 1.5)
    with pytest.raises(TypeError):
        s.wait(["a"], 1)  # a timedelta, as torch's


def test_hash_store_timeouts_and_queues():
    s = dist.HashStore()
    s.set_timeout(td(milliseconds=30))
    start = time.monotonic()
    with pytest.raises(DistStoreError, match="Wait timeout"):
        s.get("missing")
    with pytest.raises(DistStoreError):
        s.wait(["missing"], td(milliseconds=10))
    with pytest.raises(DistStoreError):
        s.multi_get(["missing"])
    assert time.monotonic() - start < 5
    s.queue_push("q", "a")
    s.queue_push("q", "b")
    assert s.queue_len("q") == 2 and s.check(["q"]) and s.num_keys() == 0
    assert [s.queue_pop("q"), s.queue_pop("q", False)] == [b"a", b"b"]
    with pytest.raises(QueueEmptyError, match="queue is empty"):
        s.queue_pop("q", False)
    with pytest.raises(DistStoreError):
        s.queue_pop("q")
    s.barrier("bar", 1)
    with pytest.raises(DistStoreError):
        s.barrier("two", 2, td(milliseconds=10))


def test_hash_store_blocking_get_released_by_another_thread():
    s = dist.HashStore()
    s.set_timeout(td(seconds=20))
    clone = s.clone()
    timer = threading.Timer(0.05, lambda: clone.set("late", "here"))
    timer.start()
    try:
        assert s.get("late") == b"here"
        s.wait(["late"], td(seconds=1))
    finally:
        timer.join()


def test_base_store_and_a_subclass():
    with pytest.raises(RuntimeError):
        dist.Store().get("a")
    with pytest.raises(NotImplementedError):
        dist.Store().queue_len("a")

    class Mine(dist.Store):
        def __init__(self):
            super().__init__()
            self.data = {}

        def set(self, key, value):
            self.data[key] = value

        def get(self, key):
            return self.data[key]

    mine = Mine()
    mine.set("k", "v")
    assert mine.get("k") == "v" and not mine.has_extended_api()
    with pytest.raises(RuntimeError):
        mine.num_keys()


# ----------------------------------------------------------------- PrefixStore
def test_prefix_store_keys_timeout_and_barrier():
    h = dist.HashStore()
    h.set("other", "1")
    p = dist.PrefixStore("pre", h)
    p.set("a", "x")
    q = dist.PrefixStore("q", p)
    q.add("n", 2)
    assert sorted(h.list_keys()) == ["other", "pre/a", "pre/q/n"]
    assert sorted(p.list_keys()) == ["a", "q/n"] and q.list_keys() == ["n"]
    assert h.get("pre/q/n") == b"2" and p.num_keys() == h.num_keys() == 3
    assert q.underlying_store is p and q._underlying_non_prefix_store is h
    p.set_timeout(td(milliseconds=20))
    assert h.timeout == td(milliseconds=20) == q.timeout
    with pytest.raises(DistStoreError):
        q.get("missing")
    p.barrier("b", 1)
    assert "pre/b/last_member" in h.list_keys()
    with pytest.raises(TypeError):
        dist.PrefixStore("x", 3)


# ----------------------------------------------------------------- FileStore
def test_file_store_in_one_process(tmp_path):
    path = str(tmp_path / "store")
    s = dist.FileStore(path, 1)
    assert s.path == path and s.num_keys() == 1 and s.list_keys() == ["efcount/"]
    s.set("a", "x")
    assert s.add("n", 4) == 4 and s.get("a") == b"x"
    assert s.delete_key("a") and s.delete_key("a") and not s.check(["a"])
    assert not s.has_extended_api()
    with pytest.raises(NotImplementedError):
        s.queue_push("q", "v")
    s.set_timeout(td(milliseconds=20))
    with pytest.raises(DistStoreError, match="Timeout waiting for key: zz after 20 ms"):
        s.get("zz")
    other = dist.FileStore(path, 1)
    assert other.get("n") == b"4"
    del other
    gc.collect()
    assert os.path.exists(path)
    s.close()
    assert not os.path.exists(path)  # the last store removes the file
    with pytest.raises(DistStoreError, match="does not exist"):
        dist.FileStore(str(tmp_path / "no" / "store"))


def test_file_store_across_processes(tmp_path):
    path = str(tmp_path / "shared")
    s = dist.FileStore(path, -1)
    s.set_timeout(td(seconds=30))
    waiter = child(f"s = dist.FileStore({path!r})\ns.set_timeout(td(seconds=30))\n"
                   "v = s.get('go')\ns.set('reply', v + b'!')\n")
    adders = [child(f"s = dist.FileStore({path!r})\n"
                    "for _ in range(25):\n    s.add('total', 2)\n") for _ in range(3)]
    s.set("go", "ready")  # releases the child's blocking get, whenever it started it
    for process in [waiter, *adders]:
        finish(process)
    assert s.get("reply") == b"ready!"
    assert s.get("total") == b"150"
    s.close()


# ----------------------------------------------------------------- TCPStore
def test_tcp_store_master_in_one_process_and_its_clean_up():
    s = dist.TCPStore("127.0.0.1", 0, 1, True, td(seconds=10))
    try:
        assert s.port > 0 and s.host == "127.0.0.1" and s.libuvBackend
        assert s.num_keys() == 1 and s.list_keys() == [] and not s.check(["init/"])
        s.set("k", "v")
        c = dist.TCPStore("127.0.0.1", s.port, None, False, td(seconds=5))
        assert c.get("k") == b"v" and c.add("n", 5) == 5 and s.get("n") == b"5"
        assert sorted(c.list_keys()) == ["k", "n"] and c.num_keys() == 3
        c.queue_push("q", "a")
        assert s.queue_pop("q") == b"a"
        with pytest.raises(QueueEmptyError):
            c.queue_pop("q", False)
        c.set_timeout(td(milliseconds=20))
        with pytest.raises(DistStoreError, match="wait timeout after 20ms, keys: /zz"):
            c.get("zz")
        with pytest.raises(DistStoreError, match="barrier timeout"):
            c.barrier("b", 2, td(milliseconds=20))
        timer = threading.Timer(0.05, lambda: s.set("late", "here"))
        timer.start()
        try:
            assert c.wait(["late"], td(seconds=10)) is None and c.get("late") == b"here"
        finally:
            timer.join()
        with pytest.raises(DistNetworkError, match="failed to listen"):
            dist.TCPStore("127.0.0.1", s.port, 1, True, td(seconds=1))
        c.close()
    finally:
        port = s.port
        s.close()
    assert store_threads() == []
    with pytest.raises(DistNetworkError, match="timed out after 50ms"):
        dist.TCPStore("127.0.0.1", port, None, False, td(milliseconds=50))


def test_tcp_store_collected_stops_its_server():
    s = dist.TCPStore("127.0.0.1", 0, None, True, td(seconds=5))
    c = dist.TCPStore("127.0.0.1", s.port, None, False, td(seconds=5))
    c.set("a", "b")
    assert store_threads()
    del s
    gc.collect()
    assert store_threads() == []
    with pytest.raises(DistNetworkError):
        c.get("a")
    c.close()


def test_tcp_store_multi_tenant_and_master_waiting_for_workers():
    a = dist.TCPStore("127.0.0.1", 0, None, True, td(seconds=5), multi_tenant=True)
    b = dist.TCPStore("127.0.0.1", a.port, None, True, td(seconds=5), multi_tenant=True)
    a.set("k", "v")
    assert b.get("k") == b"v"
    a.close()
    assert b.get("k") == b"v"  # the server lives while a master of it is open
    b.close()
    with pytest.raises(DistStoreError, match="1/2 clients joined"):
        dist.TCPStore("127.0.0.1", 0, 2, True, td(milliseconds=50))
    with pytest.raises(ValueError, match="world size cannot be 0"):
        dist.TCPStore("127.0.0.1", 0, 0, True)
    assert store_threads() == []


def test_tcp_store_across_processes():
    master = dist.TCPStore("127.0.0.1", 0, None, True, td(seconds=30))
    try:
        connect = f"dist.TCPStore('127.0.0.1', {master.port}, None, False, td(seconds=30))"
        waiter = child(f"s = {connect}\nv = s.get('go')\ns.set('reply', v + b'!')\n"
                       "print(s.num_keys())\n")
        adders = [child(f"s = {connect}\nfor _ in range(25):\n    s.add('total', 2)\n"
                        f"dist.PrefixStore('job{i}', s).set('a', 'b')\n"
                        "s.barrier('done', 3)\n") for i in range(3)]
        time.sleep(0.05)
        master.set("go", "ready")  # releases the waiter's blocking get
        assert int(finish(waiter)) >= 2 and master.get("reply") == b"ready!"
        for process in adders:
            finish(process)
        assert master.get("total") == b"150" and master.get("done") == b"3"
        assert master.multi_get(["job0/a", "job1/a", "job2/a"]) == [b"b"] * 3
    finally:
        master.close()
    assert store_threads() == []


def test_tcp_store_master_in_another_process_waits_for_its_workers():
    port = free_port()
    server = child(f"s = dist.TCPStore('127.0.0.1', {port}, 2, True, td(seconds=30))\n"
                   "s.wait(['bye'], td(seconds=30))\n"
                   "print(s.get('from_worker').decode(), s.num_keys())\n")
    worker = dist.TCPStore("127.0.0.1", port, 2, False, td(seconds=30))
    worker.set("from_worker", "hi")
    worker.set("bye", "")
    assert finish(server).split() == ["hi", "3"]  # init/, from_worker, bye
    worker.close()


# ----------------------------------------------------------------- init_process_group
def test_init_process_group_takes_a_store():
    store = dist.HashStore()
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    try:
        assert dist.is_initialized() and dist.get_world_size() == 1 and dist.get_rank() == 0
    finally:
        dist.destroy_process_group()
    with pytest.raises(AssertionError, match="both init_method and store"):
        dist.init_process_group("gloo", init_method="env://", store=store, rank=0,
                                world_size=1)
    with pytest.raises(AssertionError, match="world_size must be positive"):
        dist.init_process_group("gloo", store=store, rank=0)
    with pytest.raises(TypeError, match="must be a torch.distributed Store"):
        dist.init_process_group("gloo", store={}, rank=0, world_size=1)
    with pytest.raises(ValueError, match="transport is MPI"):
        dist.init_process_group("gloo", store=store, rank=0, world_size=2)
    assert not dist.is_initialized()
