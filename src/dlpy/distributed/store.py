"""torch.distributed's key-value stores, in pure Python: ``Store`` (the base class),
``HashStore`` (one process: a dict and a Condition), ``FileStore`` (processes sharing a file,
locked with fcntl.flock; torch's file format), ``TCPStore`` (a server thread in the master
process, clients over sockets) and ``PrefixStore`` (``prefix/key`` in another store).

    store = dist.TCPStore("127.0.0.1", port, world_size, is_master=rank == 0)
    store.set("key", "v"); store.get("key") == b"v"       # get waits for the key (timeout)
    store.add("n", 1)                                      # a counter: b"1", b"2"...
    store.wait(["key"], datetime.timedelta(seconds=10))

As torch's: values are bytes (a str is stored UTF-8), ``add`` keeps the integer as its decimal
bytes (an int64 that wraps), ``get``/``wait``/``multi_get``/a blocking ``queue_pop`` wait for
the store's timeout (300 s unless given; ``timedelta(0)``: forever) and then raise
DistStoreError; ``num_keys`` counts a TCPStore's "init/" key (a world_size given) and a
FileStore's "refcount/" key as torch's do; a FileStore has no queues (NotImplementedError) and
its ``delete_key`` is always True. Every thread is a daemon; a TCPStore's server stops (its
sockets closed, its threads joined) when the last master store of it is closed (``close()``,
dlpy's) or collected. Not torch's: a negative timeout times out at once (torch's TCPStore
hangs), a FileStore in a folder that does not exist is refused at once (torch retries for its
timeout), ``add`` on a TCPStore key that holds no integer is the ValueError the other stores
raise (torch's server drops the connection).
"""

from __future__ import annotations

import collections
import datetime
import errno
import fcntl
import math
import os
import re
import socket
import struct
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlpy.distributed.torch_api import DistNetworkError, DistStoreError, QueueEmptyError

DEFAULT_TIMEOUT = datetime.timedelta(seconds=300)
_INT64 = 1 << 63


class _StollError(ValueError):
    """A stored value that holds no integer (torch: std::stoll's invalid_argument)."""


class _StollRangeError(IndexError):
    """A stored integer outside int64 (torch: std::stoll's out_of_range)."""


# ----------------------------------------------------------------- arguments
def _bad(name: str, what: str, value: Any, wants: str) -> TypeError:
    return TypeError(f"{name}(): incompatible function arguments: {what} must be {wants}, got "
                     f"{type(value).__name__}")


def _key(name: str, key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("utf-8", "surrogateescape")
    raise _bad(name, "the key", key, "a str")


def _value(name: str, value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise _bad(name, "the value", value, "a str or bytes")


def _keys(name: str, keys: Any) -> list[str]:
    if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
        raise _bad(name, "keys", keys, "a list of str")
    return [_key(name, key) for key in keys]


def _amount(name: str, amount: Any) -> int:
    if not isinstance(amount, (int, np.integer)) and not (
            hasattr(amount, "__index__") and not isinstance(amount, (float, str))):
        raise _bad(name, "the amount", amount, "an int")
    value = int(amount.__index__()) if not isinstance(amount, int) else int(amount)
    if not -_INT64 <= value < _INT64:
        raise _bad(name, "the amount", amount, "an int64")
    return value


def _timeout(name: str, timeout: Any) -> datetime.timedelta:
    """A timedelta (a float: seconds, as torch's binding takes; an int it refuses)."""
    if isinstance(timeout, datetime.timedelta):
        return timeout
    if isinstance(timeout, float):
        return datetime.timedelta(seconds=timeout)
    raise _bad(name, "the timeout", timeout, "a datetime.timedelta")


def _seconds(timeout: datetime.timedelta) -> float | None:
    """None for timedelta(0) (torch's kNoTimeout: wait forever), else seconds (<= 0: now)."""
    if timeout == datetime.timedelta(0):
        return None
    return max(timeout.total_seconds(), 0.0)


def _ms(timeout: datetime.timedelta) -> int:
    return int(timeout / datetime.timedelta(milliseconds=1))


_STOLL = re.compile(rb"[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _stoll(raw: bytes) -> int:
    """std::stoll: leading blanks, a sign, digits, anything after (an empty value is 0, as
    torch's stores read it)."""
    if raw == b"":
        return 0
    found = _STOLL.match(raw)
    if found is None:
        raise _StollError("stoll")
    value = int(found.group(1))
    if not -_INT64 <= value < _INT64:
        raise _StollRangeError("stoll")
    return value


def _wrap(value: int) -> int:
    return (value + _INT64) % (2 * _INT64) - _INT64


# ----------------------------------------------------------------- the table (in memory)
class _Table:
    """Keys (str) -> values (bytes), and queues, behind one Condition: a HashStore's data and
    a TCPStore server's. Waits return False on timeout; None seconds waits forever."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.queues: dict[str, collections.deque[bytes]] = {}
        self.cond = threading.Condition()
        self.closed = False

    def _until(self, ready: Any, seconds: float | None) -> bool:
        deadline = None if seconds is None else time.monotonic() + seconds
        while not ready():
            if self.closed:
                raise DistNetworkError("the store's server was shut down")
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self.cond.wait(left if left is None else min(left, 1.0))
        return True

    def _has(self, key: str) -> bool:
        return key in self.data or bool(self.queues.get(key))

    def set(self, key: str, value: bytes) -> None:
        with self.cond:
            self.data[key] = value
            self.cond.notify_all()

    def multi_set(self, keys: list[str], values: list[bytes]) -> None:
        with self.cond:
            self.data.update(zip(keys, values))
            self.cond.notify_all()

    def multi_get(self, keys: list[str], seconds: float | None) -> list[bytes] | None:
        with self.cond:
            if not self._until(lambda: all(k in self.data for k in keys), seconds):
                return None
            return [self.data[k] for k in keys]

    def add(self, key: str, amount: int) -> int:
        with self.cond:
            value = _wrap(_stoll(self.data.get(key, b"0")) + amount)
            self.data[key] = str(value).encode()
            self.cond.notify_all()
            return value

    def compare_set(self, key: str, expected: bytes, desired: bytes) -> bytes:
        with self.cond:
            current = self.data.get(key)
            if (current is None and expected == b"") or (current is not None
                                                         and current == expected):
                self.data[key] = desired
                self.cond.notify_all()
                return desired
            return expected if current is None else current

    def append(self, key: str, value: bytes) -> None:
        with self.cond:
            self.data[key] = self.data.get(key, b"") + value
            self.cond.notify_all()

    def delete(self, key: str) -> bool:
        with self.cond:
            return self.data.pop(key, None) is not None

    def check(self, keys: list[str]) -> bool:
        with self.cond:
            return all(self._has(k) for k in keys)

    def wait(self, keys: list[str], seconds: float | None) -> bool:
        with self.cond:
            return self._until(lambda: all(self._has(k) for k in keys), seconds)

    def at_least(self, key: str, count: int, seconds: float | None) -> bool:
        with self.cond:
            return self._until(lambda: _stoll(self.data.get(key, b"0")) >= count, seconds)

    def num_keys(self) -> int:
        with self.cond:
            return len(self.data)

    def keys(self) -> list[str]:
        with self.cond:
            return list(self.data)

    def queue_push(self, key: str, value: bytes) -> None:
        with self.cond:
            self.queues.setdefault(key, collections.deque()).append(value)
            self.cond.notify_all()

    def queue_pop(self, key: str, block: bool, seconds: float | None) -> bytes | None:
        with self.cond:
            if not block and not self.queues.get(key):
                raise QueueEmptyError("queue is empty")
            if not self._until(lambda: bool(self.queues.get(key)), seconds):
                return None
            return self.queues[key].popleft()

    def queue_len(self, key: str) -> int:
        with self.cond:
            return len(self.queues.get(key, ()))

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


# ----------------------------------------------------------------- the base class
class Store:
    """torch.distributed.Store: the base class of the stores (a subclass overrides the
    operations; the base's raise). ``timeout`` is the default of get/wait (300 s)."""

    _timeout = DEFAULT_TIMEOUT

    def __init__(self) -> None:
        self._timeout = DEFAULT_TIMEOUT

    @property
    def timeout(self) -> datetime.timedelta:
        return self._timeout

    def set_timeout(self, timeout: datetime.timedelta) -> None:
        self._timeout = _timeout("set_timeout", timeout)

    def _missing(self, name: str) -> RuntimeError:
        return RuntimeError(f"{type(self).__name__}.{name}: Not implemented (a Store subclass "
                            "overrides it).")

    def set(self, key: str, value: str | bytes) -> None:
        raise self._missing("set")

    def get(self, key: str) -> bytes:
        raise self._missing("get")

    def add(self, key: str, amount: int) -> int:
        raise self._missing("add")

    def compare_set(self, key: str, expected_value: str | bytes,
                    desired_value: str | bytes) -> bytes:
        raise self._missing("compare_set")

    def append(self, key: str, value: str | bytes) -> None:
        raise self._missing("append")

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        raise self._missing("multi_get")

    def multi_set(self, keys: Sequence[str], values: Sequence[str | bytes]) -> None:
        raise self._missing("multi_set")

    def check(self, keys: Sequence[str]) -> bool:
        raise self._missing("check")

    def wait(self, keys: Sequence[str], timeout: datetime.timedelta | None = None, /) -> None:
        raise self._missing("wait")

    def delete_key(self, key: str) -> bool:
        raise self._missing("delete_key")

    def num_keys(self) -> int:
        raise self._missing("num_keys")

    def clone(self) -> Store:
        raise self._missing("clone")

    def has_extended_api(self) -> bool:
        return False

    def list_keys(self) -> list[str]:
        raise NotImplementedError("listKeys support is not implemented.")

    def queue_push(self, key: str, value: str | bytes) -> None:
        raise NotImplementedError("queue support is not implemented.")

    def queue_pop(self, key: str, block: bool = True) -> bytes:
        raise NotImplementedError("queue support is not implemented.")

    def queue_len(self, key: str) -> int:
        raise NotImplementedError("queue support is not implemented.")

    def barrier(self, key: str, world_size: int,
                timeout: datetime.timedelta | None = None) -> None:
        """Block until ``world_size`` callers reached ``key`` (torch's: a counter
        ``key/num_members``, the last one sets ``key/last_member``)."""
        count = self.add(f"{key}/num_members", 1)
        if count == world_size:
            self.set(f"{key}/last_member", "<val_ignored>")
        if timeout is None:
            self.wait([f"{key}/last_member"])
        else:
            self.wait([f"{key}/last_member"], timeout)


class _EngineStore(Store):
    """A store whose operations go to an engine (_Table, _FileTable or _Client) under
    ``_prefix``; subclasses say how a timeout reads (``_timed_out``)."""

    _prefix = ""
    _queues = True

    def _k(self, key: Any, name: str) -> str:
        return self._prefix + _key(name, key)

    def _timed_out(self, op: str, keys: list[str], timeout: datetime.timedelta) -> Exception:
        return DistStoreError("Wait timeout")

    def set(self, key: str, value: str | bytes) -> None:
        self._engine.set(self._k(key, "set"), _value("set", value))

    def get(self, key: str) -> bytes:
        k = self._k(key, "get")
        got = self._engine.multi_get([k], _seconds(self._timeout))
        if got is None:
            raise self._timed_out("get", [k], self._timeout)
        return got[0]

    def add(self, key: str, amount: int) -> int:
        return self._engine.add(self._k(key, "add"), _amount("add", amount))

    def compare_set(self, key: str, expected_value: str | bytes,
                    desired_value: str | bytes) -> bytes:
        return self._engine.compare_set(self._k(key, "compare_set"),
                                        _value("compare_set", expected_value),
                                        _value("compare_set", desired_value))

    def append(self, key: str, value: str | bytes) -> None:
        self._engine.append(self._k(key, "append"), _value("append", value))

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        ks = [self._prefix + k for k in _keys("multi_get", keys)]
        got = self._engine.multi_get(ks, _seconds(self._timeout))
        if got is None:
            raise self._timed_out("get", ks, self._timeout)
        return got

    def multi_set(self, keys: Sequence[str], values: Sequence[str | bytes]) -> None:
        ks = [self._prefix + k for k in _keys("multi_set", keys)]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise _bad("multi_set", "values", values, "a list of str")
        vs = [_value("multi_set", v) for v in values]
        if len(ks) != len(vs):
            raise DistStoreError(f"multi_set: {len(ks)} keys but {len(vs)} values")
        self._engine.multi_set(ks, vs)

    def check(self, keys: Sequence[str]) -> bool:
        return self._engine.check([self._prefix + k for k in _keys("check", keys)])

    def wait(self, keys: Sequence[str], timeout: datetime.timedelta | None = None, /) -> None:
        ks = [self._prefix + k for k in _keys("wait", keys)]
        timeout = self._timeout if timeout is None else _timeout("wait", timeout)
        if not self._engine.wait(ks, _seconds(timeout)):
            raise self._timed_out("wait", ks, timeout)

    def delete_key(self, key: str) -> bool:
        return self._engine.delete(self._k(key, "delete_key"))

    def num_keys(self) -> int:
        return self._engine.num_keys()

    def list_keys(self) -> list[str]:
        return [k[len(self._prefix):] for k in self._engine.keys()
                if k.startswith(self._prefix)]

    def has_extended_api(self) -> bool:
        return self._queues

    def queue_push(self, key: str, value: str | bytes) -> None:
        if not self._queues:
            return super().queue_push(key, value)
        self._engine.queue_push(self._k(key, "queue_push"), _value("queue_push", value))

    def queue_pop(self, key: str, block: bool = True) -> bytes:
        if not self._queues:
            return super().queue_pop(key, block)
        k = self._k(key, "queue_pop")
        got = self._engine.queue_pop(k, bool(block), _seconds(self._timeout))
        if got is None:
            raise self._timed_out("wait", [k], self._timeout)
        return got

    def queue_len(self, key: str) -> int:
        if not self._queues:
            return super().queue_len(key)
        return self._engine.queue_len(self._k(key, "queue_len"))


class HashStore(_EngineStore):
    """torch.distributed.HashStore: a store in this process (threads share it; ``clone()``
    shares its data)."""

    def __init__(self) -> None:
        super().__init__()
        self._engine = _Table()

    def clone(self) -> HashStore:
        other = HashStore()
        other._engine, other._timeout = self._engine, self._timeout
        return other


# ----------------------------------------------------------------- FileStore
class _FileTable:
    """torch's FileStore file: records (u32 length, key, u32 length, value) appended under an
    exclusive flock, read under a shared one; "-key" with an empty value deletes key. The
    reader keeps what it read (``cache``) and the offset it read to."""

    REFCOUNT, CLEANUP = "refcount/", "cleanup/"

    def __init__(self, path: str) -> None:
        self.path = path
        self.cache: dict[str, bytes] = {}
        self.offset = 0
        self.lock = threading.Lock()

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise DistStoreError(f"FileStore: cannot open {self.path!r}: {error.strerror}") \
                from error

    def _refresh(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size < self.offset:  # the file was removed and made again
            self.cache, self.offset = {}, 0
        if size == self.offset:
            return
        data = os.pread(fd, size - self.offset, self.offset)
        at = 0
        while at + 4 <= len(data):
            (n,) = struct.unpack_from("<I", data, at)
            key = data[at + 4:at + 4 + n].decode("utf-8", "surrogateescape")
            at += 4 + n
            (m,) = struct.unpack_from("<I", data, at)
            value = data[at + 4:at + 4 + m]
            at += 4 + m
            if key.startswith("-"):
                self.cache.pop(key[1:], None)
            else:
                self.cache[key] = value
        self.offset += at

    def _run(self, write: bool, action: Any) -> Any:
        with self.lock:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
                try:
                    self._refresh(fd)
                    return action(fd)
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _put(self, fd: int, key: str, value: bytes) -> None:
        raw = key.encode("utf-8", "surrogateescape")
        record = struct.pack("<I", len(raw)) + raw + struct.pack("<I", len(value)) + value
        os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, record)
        self._refresh(fd)

    def set(self, key: str, value: bytes) -> None:
        self._run(True, lambda fd: self._put(fd, key, value))

    def multi_set(self, keys: list[str], values: list[bytes]) -> None:
        def action(fd: int) -> None:
            for key, value in zip(keys, values):
                self._put(fd, key, value)
        self._run(True, action)

    def _add(self, fd: int, key: str, amount: int) -> int:
        value = _wrap(_stoll(self.cache.get(key, b"0")) + amount)
        self._put(fd, key, str(value).encode())
        return value

    def add(self, key: str, amount: int) -> int:
        return self._run(True, lambda fd: self._add(fd, key, amount))

    def compare_set(self, key: str, expected: bytes, desired: bytes) -> bytes:
        def action(fd: int) -> bytes:
            current = self.cache.get(key)
            if (current is None and expected == b"") or (current is not None
                                                         and current == expected):
                self._put(fd, key, desired)
                return desired
            return expected if current is None else current
        return self._run(True, action)

    def append(self, key: str, value: bytes) -> None:
        self._run(True, lambda fd: self._put(fd, key, self.cache.get(key, b"") + value))

    def delete(self, key: str) -> bool:
        self._run(True, lambda fd: self._put(fd, "-" + key, b""))
        return True

    def check(self, keys: list[str]) -> bool:
        return self._run(False, lambda fd: all(k in self.cache for k in keys))

    def _poll(self, ready: Any, seconds: float | None) -> bool:
        deadline = None if seconds is None else time.monotonic() + seconds
        pause = 0.001
        while not self._run(False, lambda fd: ready()):
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            time.sleep(pause if left is None else min(pause, left))
            pause = min(pause * 2, 0.01)
        return True

    def wait(self, keys: list[str], seconds: float | None) -> bool:
        return self._poll(lambda: all(k in self.cache for k in keys), seconds)

    def multi_get(self, keys: list[str], seconds: float | None) -> list[bytes] | None:
        if not self.wait(keys, seconds):
            return None
        return self._run(False, lambda fd: [self.cache[k] for k in keys])

    def num_keys(self) -> int:
        return self._run(False, lambda fd: len(self.cache))

    def keys(self) -> list[str]:
        return self._run(False, lambda fd: list(self.cache))

    def join(self) -> None:
        self.add(self.REFCOUNT, 1)

    def leave(self, world_size: int) -> None:
        """torch's FileStore destructor: one more finished user, one fewer user; the last one
        (every expected one finished) removes the file."""
        def action(fd: int) -> None:
            finished = self._add(fd, self.CLEANUP, 1)
            users = self._add(fd, self.REFCOUNT, -1)
            if users == 0 and finished >= world_size:
                os.unlink(self.path)
        try:
            self._run(True, action)
        except (OSError, DistStoreError, ValueError):
            pass  # (gone already: nothing to clean)


class FileStore(_EngineStore):
    """torch.distributed.FileStore: processes that share a file (on a shared file system for
    several machines); the last store of it to go removes the file. ``world_size`` (-1: any
    number) is how many users must have finished before that."""

    _prefix = "/"
    _queues = False

    def __init__(self, file_name: str, world_size: int = -1) -> None:
        super().__init__()
        if not isinstance(file_name, str):
            raise _bad("FileStore", "file_name", file_name, "a str")
        if isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer)):
            raise _bad("FileStore", "world_size", world_size, "an int")
        folder = os.path.dirname(os.path.abspath(file_name))
        if not os.path.isdir(folder):
            raise DistStoreError(f"FileStore: the folder of {file_name!r} does not exist "
                                 "(torch retries opening it for its timeout)")
        if os.path.isdir(file_name):
            raise DistStoreError(f"FileStore: {file_name!r} is a folder")
        self.path, self._world_size = file_name, int(world_size)
        self._engine = _FileTable(file_name)
        self._engine.join()
        self._finalizer = weakref.finalize(self, self._engine.leave, self._world_size)

    def _timed_out(self, op: str, keys: list[str], timeout: datetime.timedelta) -> Exception:
        if op == "get":
            missing = [k for k in keys if not self._engine.check([k])] or keys
            return DistStoreError(f"Timeout waiting for key: {missing[0][1:]} after "
                                  f"{_ms(timeout)} ms")
        return DistStoreError("Wait timeout")

    def list_keys(self) -> list[str]:
        return [k[1:] for k in self._engine.keys()]  # torch's: "refcount/" as "efcount/"

    def clone(self) -> FileStore:
        other = FileStore(self.path, self._world_size)
        other._timeout = self._timeout
        return other

    def close(self) -> None:
        """Leave the file now (dlpy's; torch leaves it when the store is destroyed)."""
        self._finalizer()


# ----------------------------------------------------------------- TCPStore: the wire
_MAX_FIELD = 1 << 31


def _send(sock: socket.socket, fields: list[bytes]) -> None:
    parts = [struct.pack("<I", len(fields))]
    for field in fields:
        parts += [struct.pack("<I", len(field)), field]
    sock.sendall(b"".join(parts))


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            raise ConnectionError("Failed to recv, got 0 bytes. Connection was likely closed. "
                                  "Did the remote server shutdown or crash?")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> list[bytes]:
    (count,) = struct.unpack("<I", _recv_exact(sock, 4))
    fields = []
    for _ in range(count):
        (n,) = struct.unpack("<I", _recv_exact(sock, 4))
        if n >= _MAX_FIELD:
            raise ConnectionError("a TCPStore message field is too long")
        fields.append(_recv_exact(sock, n))
    return fields


def _s(value: float | None) -> bytes:
    return b"" if value is None else repr(value).encode()


def _f(raw: bytes) -> float | None:
    return None if raw == b"" else float(raw)


def _k(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _kb(key: str) -> bytes:
    return key.encode("utf-8", "surrogateescape")


def _serve(table: _Table, fields: list[bytes]) -> list[bytes]:
    """One request on the server's table; the reply's fields."""
    op, args = fields[0].decode(), fields[1:]
    if op == "set":
        table.set(_k(args[0]), args[1])
        return [b"ok"]
    if op == "multi_set":
        n = len(args) // 2
        table.multi_set([_k(a) for a in args[:n]], args[n:])
        return [b"ok"]
    if op == "multi_get":
        got = table.multi_get([_k(a) for a in args[1:]], _f(args[0]))
        return [b"timeout"] if got is None else [b"ok", *got]
    if op == "add":
        return [b"ok", str(table.add(_k(args[0]), int(args[1]))).encode()]
    if op == "compare_set":
        return [b"ok", table.compare_set(_k(args[0]), args[1], args[2])]
    if op == "append":
        table.append(_k(args[0]), args[1])
        return [b"ok"]
    if op == "delete":
        return [b"ok", b"1" if table.delete(_k(args[0])) else b"0"]
    if op == "check":
        return [b"ok", b"1" if table.check([_k(a) for a in args]) else b"0"]
    if op == "wait":
        return [b"ok" if table.wait([_k(a) for a in args[1:]], _f(args[0])) else b"timeout"]
    if op == "at_least":
        done = table.at_least(_k(args[0]), int(args[1]), _f(args[2]))
        return [b"ok" if done else b"timeout"]
    if op == "num_keys":
        return [b"ok", str(table.num_keys()).encode()]
    if op == "keys":
        return [b"ok", *[_kb(k) for k in table.keys()]]
    if op == "queue_push":
        table.queue_push(_k(args[0]), args[1])
        return [b"ok"]
    if op == "queue_pop":
        got = table.queue_pop(_k(args[0]), args[1] == b"1", _f(args[2]))
        return [b"timeout"] if got is None else [b"ok", got]
    if op == "queue_len":
        return [b"ok", str(table.queue_len(_k(args[0]))).encode()]
    if op == "ping":
        return [b"ok"]
    return [b"err", b"value", f"unknown TCPStore request {op!r}".encode()]


_ERRORS = {b"value": _StollError, b"index": _StollRangeError, b"queue": QueueEmptyError,
           b"store": DistStoreError}


class _Server:
    """The master's listening socket, an accept thread and a thread per connection (daemons,
    joined by close()), serving one _Table."""

    def __init__(self, port: int, listen_fd: int | None) -> None:
        self.table = _Table()
        self.lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.threads: list[threading.Thread] = []
        self.users = 0
        self.closed = False
        if listen_fd is not None:
            self.sock = socket.socket(fileno=os.dup(listen_fd))
        else:
            self.sock = self._listen(port)
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.5)
        self.acceptor = threading.Thread(target=self._accept, daemon=True,
                                         name=f"TCPStore-server-{self.port}")
        self.acceptor.start()

    @staticmethod
    def _listen(port: int) -> socket.socket:
        failures = []
        for family, address in ((socket.AF_INET6, "::"), (socket.AF_INET, "")):
            sock = None
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
                sock.bind((address, port))
                sock.listen(128)
                return sock
            except OSError as error:
                if sock is not None:
                    sock.close()
                failures.append(error)
                if error.errno == errno.EADDRINUSE:
                    break
        error = failures[-1]
        name = errno.errorcode.get(error.errno or 0, "?")
        raise DistNetworkError(
            "The server socket has failed to listen on any local network address. port: "
            f"{port}, code: {-(error.errno or 0)}, name: {name}, message: "
            f"{(error.strerror or str(error)).lower()}") from error

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True,
                                      name=f"TCPStore-connection-{self.port}")
            with self.lock:
                if self.closed:
                    conn.close()
                    return
                self.connections.add(conn)
                self.threads = [t for t in self.threads if t.is_alive()] + [thread]
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            while not self.closed:
                try:
                    fields = _recv(conn)
                except (OSError, ConnectionError, struct.error):
                    return
                try:
                    reply = _serve(self.table, fields)
                except QueueEmptyError as error:
                    reply = [b"err", b"queue", str(error).encode()]
                except _StollRangeError as error:
                    reply = [b"err", b"index", str(error).encode()]
                except (_StollError, ValueError, IndexError) as error:
                    reply = [b"err", b"value", str(error).encode()]
                except DistNetworkError:  # the server is closing
                    return
                try:
                    _send(conn, reply)
                except OSError:
                    return
        finally:
            with self.lock:
                self.connections.discard(conn)
            conn.close()

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            connections, threads = list(self.connections), list(self.threads)
        self.table.close()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for conn in connections:  # (a reply being sent still goes: only reads stop)
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        current = threading.current_thread()
        for thread in [self.acceptor, *threads]:
            if thread is not current:
                thread.join(timeout=5)


# multi_tenant masters of one port share its server: port -> server
_TENANTS: dict[int, _Server] = {}
# reentrant: a garbage collection inside _serve (a server's thread starting) may run another
# store's finalizer, _release, on the same thread, which takes it again
_TENANTS_LOCK = threading.RLock()


def _release(server: _Server, multi_tenant: bool) -> None:
    with _TENANTS_LOCK:
        server.users -= 1
        if server.users > 0:
            return
        if multi_tenant and _TENANTS.get(server.port) is server:
            del _TENANTS[server.port]
    server.close()


class _Client:
    """A connection to a TCPStore server: one request at a time (a lock), each answered."""

    def __init__(self, host: str, port: int, timeout: datetime.timedelta) -> None:
        seconds = _seconds(timeout)
        deadline = None if seconds is None else time.monotonic() + seconds
        pause = 0.005
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            try:
                self.sock = socket.create_connection((host, port),
                                                     timeout=None if left is None
                                                     else max(left, 0.001))
                break
            except OSError:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise DistNetworkError(
                        f"The client socket has timed out after {_ms(timeout)}ms while trying "
                        f"to connect to ({host}, {port}).") from None
                time.sleep(pause if left is None else min(pause, left))
                pause = min(pause * 2, 0.1)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()

    def request(self, fields: list[bytes], seconds: float | None = 0.0) -> list[bytes]:
        """The reply's fields after its status (None for a timeout); ``seconds`` is how long
        the server may wait on it (None: forever)."""
        with self.lock:
            try:
                self.sock.settimeout(None if seconds is None else seconds + 60)
                _send(self.sock, fields)
                reply = _recv(self.sock)
            except (OSError, ConnectionError, struct.error) as error:
                message = str(error) or type(error).__name__
                if isinstance(error, BrokenPipeError):
                    message = "Broken pipe"
                raise DistNetworkError(message) from error
        status = reply[0]
        if status == b"ok":
            return reply[1:]
        if status == b"timeout":
            return None  # type: ignore[return-value]
        raise _ERRORS.get(reply[1], DistStoreError)(reply[2].decode())

    # the engine's interface
    def set(self, key: str, value: bytes) -> None:
        self.request([b"set", _kb(key), value])

    def multi_set(self, keys: list[str], values: list[bytes]) -> None:
        self.request([b"multi_set", *[_kb(k) for k in keys], *values])

    def multi_get(self, keys: list[str], seconds: float | None) -> list[bytes] | None:
        return self.request([b"multi_get", _s(seconds), *[_kb(k) for k in keys]], seconds)

    def add(self, key: str, amount: int) -> int:
        return int(self.request([b"add", _kb(key), str(amount).encode()])[0])

    def compare_set(self, key: str, expected: bytes, desired: bytes) -> bytes:
        return self.request([b"compare_set", _kb(key), expected, desired])[0]

    def append(self, key: str, value: bytes) -> None:
        self.request([b"append", _kb(key), value])

    def delete(self, key: str) -> bool:
        return self.request([b"delete", _kb(key)])[0] == b"1"

    def check(self, keys: list[str]) -> bool:
        return self.request([b"check", *[_kb(k) for k in keys]])[0] == b"1"

    def wait(self, keys: list[str], seconds: float | None) -> bool:
        return self.request([b"wait", _s(seconds), *[_kb(k) for k in keys]], seconds) \
            is not None

    def at_least(self, key: str, count: int, seconds: float | None) -> bool:
        return self.request([b"at_least", _kb(key), str(count).encode(), _s(seconds)],
                            seconds) is not None

    def num_keys(self) -> int:
        return int(self.request([b"num_keys"])[0])

    def keys(self) -> list[str]:
        return [_k(k) for k in self.request([b"keys"])]

    def queue_push(self, key: str, value: bytes) -> None:
        self.request([b"queue_push", _kb(key), value])

    def queue_pop(self, key: str, block: bool, seconds: float | None) -> bytes | None:
        got = self.request([b"queue_pop", _kb(key), b"1" if block else b"0", _s(seconds)],
                           seconds)
        return None if got is None else got[0]

    def queue_len(self, key: str) -> int:
        return int(self.request([b"queue_len", _kb(key)])[0])


def _close_client(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


class TCPStore(_EngineStore):
    """torch.distributed.TCPStore: the master (``is_master=True``) serves the store from a
    thread of its process on ``port`` (0: a free one, then ``store.port``); the others
    connect to ``host_name:port`` (retrying for ``timeout``). With a ``world_size`` each store
    adds 1 to the key "init/" (counted by num_keys, as torch's) and the master waits for
    ``world_size`` of them (``wait_for_workers``). ``multi_tenant`` masters of one port in a
    process share its server; ``master_listen_fd`` is a socket already listening;
    ``use_libuv`` is accepted (``libuvBackend`` says it back). ``close()`` (dlpy's) closes the
    connection, and the server with the last master of it."""

    _prefix = "/"
    _INIT = "init/"

    def __init__(self, host_name: str, port: int, world_size: int | None = None,
                 is_master: bool = False, timeout: datetime.timedelta = DEFAULT_TIMEOUT,
                 wait_for_workers: bool = True, multi_tenant: bool = False,
                 master_listen_fd: int | None = None, use_libuv: bool = True) -> None:
        super().__init__()
        if not isinstance(host_name, str):
            raise _bad("TCPStore", "host_name", host_name, "a str")
        if isinstance(port, bool) or not isinstance(port, (int, np.integer)) \
                or not 0 <= port <= 65535:
            raise _bad("TCPStore", "port", port, "an int in [0, 65535]")
        if world_size is not None and (isinstance(world_size, float)
                                       or not isinstance(world_size, (int, np.integer))):
            raise _bad("TCPStore", "world_size", world_size, "an int or None")
        if world_size is not None and world_size == 0:
            raise ValueError("TCPStore world size cannot be 0")
        self._timeout = _timeout("TCPStore", timeout)
        self.host = host_name
        self.libuvBackend = bool(use_libuv)
        self._world_size = None if world_size is None or world_size < 0 else int(world_size)
        self._is_master = bool(is_master)
        self._server: _Server | None = None
        if self._is_master:
            self._server = self._serve(int(port), bool(multi_tenant), master_listen_fd)
            self.port = self._server.port
            self._engine: Any = self._server.table
            self._finalizer = weakref.finalize(self, _release, self._server,
                                               bool(multi_tenant))
        else:
            self.port = int(port)
            self._engine = _Client(host_name, self.port, self._timeout)
            self._finalizer = weakref.finalize(self, _close_client, self._engine.sock)
        if wait_for_workers and self._world_size is not None:
            self._wait_for_workers()

    @staticmethod
    def _serve(port: int, multi_tenant: bool, listen_fd: int | None) -> _Server:
        with _TENANTS_LOCK:
            server = _TENANTS.get(port) if multi_tenant and port else None
            if server is None or server.closed:
                server = _Server(port, listen_fd)
                if multi_tenant:
                    _TENANTS[server.port] = server
            server.users += 1
            return server

    def _wait_for_workers(self) -> None:
        self._engine.add(self._INIT, 1)
        if not self._is_master:
            return
        assert self._world_size is not None
        if not self._engine.at_least(self._INIT, self._world_size, _seconds(self._timeout)):
            joined = _stoll(self._engine.multi_get([self._INIT], 0.0)[0])
            self.close()
            raise DistStoreError(
                f"Timed out after {math.ceil(self._timeout.total_seconds())} seconds waiting "
                f"for clients. {joined}/{self._world_size} clients joined.")

    def _timed_out(self, op: str, keys: list[str], timeout: datetime.timedelta) -> Exception:
        return DistStoreError(f"wait timeout after {_ms(timeout)}ms, keys: {', '.join(keys)}")

    def barrier(self, key: str, world_size: int,
                timeout: datetime.timedelta | None = None) -> None:
        """torch's TCPStore barrier: a counter at ``key``, waited on until ``world_size``."""
        k = self._k(key, "barrier")
        timeout = self._timeout if timeout is None else _timeout("barrier", timeout)
        self._engine.add(k, 1)
        if not self._engine.at_least(k, int(world_size), _seconds(timeout)):
            raise DistStoreError(f"barrier timeout after {_ms(timeout)}ms, key: {key}")

    def clone(self) -> TCPStore:
        return TCPStore(self.host, self.port, None, False, self._timeout)

    def close(self) -> None:
        """Close this store's connection (the master's: the server, when no other master of
        it is open): dlpy's; torch does it when the store is destroyed."""
        self._finalizer()

    def __repr__(self) -> str:
        side = "server" if self._is_master else "client"
        return f"TCPStore({side}, host={self.host!r}, port={self.port})"


# ----------------------------------------------------------------- PrefixStore
class PrefixStore(Store):
    """torch.distributed.PrefixStore: ``store``'s keys under ``prefix/`` (its timeout is the
    underlying store's; its barrier is Store's, over prefixed keys, whatever the store)."""

    def __init__(self, prefix: str, store: Store) -> None:
        if isinstance(prefix, bytes):
            prefix = prefix.decode("utf-8", "surrogateescape")
        if not isinstance(prefix, str):
            raise _bad("PrefixStore", "prefix", prefix, "a str")
        if not isinstance(store, Store):
            raise _bad("PrefixStore", "store", store, "a Store")
        self.prefix = prefix
        self.underlying_store = store

    @property
    def _underlying_non_prefix_store(self) -> Store:
        store = self.underlying_store
        while isinstance(store, PrefixStore):
            store = store.underlying_store
        return store

    def _k(self, key: Any, name: str) -> str:
        return f"{self.prefix}/{_key(name, key)}"

    def _ks(self, keys: Any, name: str) -> list[str]:
        return [f"{self.prefix}/{k}" for k in _keys(name, keys)]

    @property
    def timeout(self) -> datetime.timedelta:
        return self.underlying_store.timeout

    def set_timeout(self, timeout: datetime.timedelta) -> None:
        self.underlying_store.set_timeout(timeout)

    def set(self, key: str, value: str | bytes) -> None:
        self.underlying_store.set(self._k(key, "set"), value)

    def get(self, key: str) -> bytes:
        return self.underlying_store.get(self._k(key, "get"))

    def add(self, key: str, amount: int) -> int:
        return self.underlying_store.add(self._k(key, "add"), amount)

    def compare_set(self, key: str, expected_value: str | bytes,
                    desired_value: str | bytes) -> bytes:
        return self.underlying_store.compare_set(self._k(key, "compare_set"), expected_value,
                                                 desired_value)

    def append(self, key: str, value: str | bytes) -> None:
        self.underlying_store.append(self._k(key, "append"), value)

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        return self.underlying_store.multi_get(self._ks(keys, "multi_get"))

    def multi_set(self, keys: Sequence[str], values: Sequence[str | bytes]) -> None:
        self.underlying_store.multi_set(self._ks(keys, "multi_set"), values)

    def check(self, keys: Sequence[str]) -> bool:
        return self.underlying_store.check(self._ks(keys, "check"))

    def wait(self, keys: Sequence[str], timeout: datetime.timedelta | None = None, /) -> None:
        if timeout is None:
            self.underlying_store.wait(self._ks(keys, "wait"))
        else:
            self.underlying_store.wait(self._ks(keys, "wait"), timeout)

    def delete_key(self, key: str) -> bool:
        return self.underlying_store.delete_key(self._k(key, "delete_key"))

    def num_keys(self) -> int:
        return self.underlying_store.num_keys()

    def list_keys(self) -> list[str]:
        start = f"{self.prefix}/"
        return [k[len(start):] for k in self.underlying_store.list_keys()
                if k.startswith(start)]

    def has_extended_api(self) -> bool:
        return self.underlying_store.has_extended_api()

    def queue_push(self, key: str, value: str | bytes) -> None:
        self.underlying_store.queue_push(self._k(key, "queue_push"), value)

    def queue_pop(self, key: str, block: bool = True) -> bytes:
        return self.underlying_store.queue_pop(self._k(key, "queue_pop"), block)

    def queue_len(self, key: str) -> int:
        return self.underlying_store.queue_len(self._k(key, "queue_len"))

    def clone(self) -> PrefixStore:
        return PrefixStore(self.prefix, self.underlying_store)
