"""FileSystemWriter and FileSystemReader: a checkpoint directory, torch's layout.

    CHECKPOINT/.metadata           the Metadata pickle (rank 0)
    CHECKPOINT/__{rank}_{i}.distcp each rank's items, one ``torch.save`` zip after another
                                   (i < thread_count; with single_file_per_rank=False one
                                   file per item)

A save writes into ``CHECKPOINT.partial-<id>`` next to it; when every rank has written its file
and rank 0 the metadata, rank 0 renames the directory to CHECKPOINT (an older checkpoint there
is moved aside first and removed after). So a run killed while saving leaves the previous
checkpoint, or none, and a ``.partial-`` directory: never a checkpoint that loads half.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy import serialization
from dlpy.distributed.checkpoint.metadata import Metadata, read_metadata, write_metadata

METADATA = ".metadata"


def data_file(rank: int) -> str:
    return f"__{rank}_0.distcp"


def _fsync_directory(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not every system opens directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileSystemWriter:
    """Where ``save`` writes: ``path`` (a directory). ``sync_files``: fsync every file before
    the directory is renamed into place. ``overwrite=False``: an existing ``path`` is an error.
    ``thread_count``: each rank's items split into that many files (torch's split: plain
    values in turn, tensors largest first to the lightest file), written by as many threads;
    ``single_file_per_rank=False``: one file per item."""

    def __init__(self, path: str | os.PathLike, single_file_per_rank: bool = True,
                 sync_files: bool = True, thread_count: int = 1,
                 per_thread_copy_ahead: int = 10_000_000, cache_staged_state_dict: bool = False,
                 overwrite: bool = True):
        if isinstance(thread_count, bool) or not isinstance(thread_count, int) \
                or thread_count < 1:
            raise ValueError(f"FileSystemWriter: thread_count must be an int >= 1, got "
                             f"{thread_count!r}")
        self.path = os.fspath(path)
        self.single_file_per_rank, self.thread_count = bool(single_file_per_rank), thread_count
        self.sync_files, self.overwrite = bool(sync_files), bool(overwrite)

    def staging_path(self, save_id: str) -> str:
        return f"{self.path.rstrip(os.sep)}.partial-{save_id[:8]}"

    def check_target(self) -> None:
        """Raise if ``path`` cannot receive a checkpoint (rank 0, before anything is written):
        an existing directory is replaced whole, so it must hold a checkpoint and nothing
        else (or nothing)."""
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise ValueError(f"save: {self.path} exists and is not a directory")
        if not self.overwrite:
            raise ValueError(f"save: {self.path} exists and overwrite=False")
        others = sorted(f for f in os.listdir(self.path)
                        if f != METADATA and not re.fullmatch(r"__\d+_\d+\.distcp", f))
        if others:
            raise ValueError(f"save: {self.path} exists and holds more than a checkpoint "
                             f"({others[:3]}...); a save replaces the whole directory: give "
                             "a new one (or a checkpoint's)")

    def write_items(self, staging: str, rank: int, items: list[Any],
                    resolve: Callable[[Any], bytes]) -> list[tuple[Any, str, int, int]]:
        """Write one rank's items (WriteItems; ``resolve`` makes each one's bytes as it is
        written) into its files; returns (item index, file, byte offset, byte length) each."""
        if self.single_file_per_rank:
            buckets = _split_by_size_and_type(self.thread_count, items)
        else:
            buckets = [[item] for item in items]
        names = [f"__{rank}_{i}.distcp" for i in range(len(buckets))]

        def write(name: str, bucket: list[Any]) -> list[tuple[Any, str, int, int]]:
            out, offset = [], 0
            # torch's order in a file: the plain values, then the tensors
            ordered = [i for i in bucket if i.tensor_data is None] + \
                [i for i in bucket if i.tensor_data is not None]
            with open(os.path.join(staging, name), "wb") as handle:
                for item in ordered:
                    data = resolve(item)
                    handle.write(data)
                    out.append((item.index, name, offset, len(data)))
                    offset += len(data)
                handle.flush()
                if self.sync_files:
                    os.fsync(handle.fileno())
            return out

        if self.thread_count > 1 and len(buckets) > 1:
            with concurrent.futures.ThreadPoolExecutor(self.thread_count) as pool:
                parts = list(pool.map(write, names, buckets))
        else:
            parts = [write(n, b) for n, b in zip(names, buckets)]
        return [record for part in parts for record in part]

    def commit(self, staging: str, metadata: Metadata, save_id: str) -> None:
        """Rank 0, once every rank has written: the metadata, then the directory into place."""
        with open(os.path.join(staging, METADATA), "wb") as handle:
            handle.write(write_metadata(metadata))
            handle.flush()
            if self.sync_files:
                os.fsync(handle.fileno())
        if self.sync_files:
            _fsync_directory(staging)
        old = None
        if os.path.exists(self.path):
            old = f"{self.path.rstrip(os.sep)}.old-{save_id[:8]}"
            os.rename(self.path, old)
        os.rename(staging, self.path)
        if self.sync_files:
            _fsync_directory(os.path.dirname(os.path.abspath(self.path)))
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


class FileSystemReader:
    """Where ``load`` reads: ``path``, a directory ``save`` (or torch's dcp.save) wrote."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)
        self._sizes: dict[str, int] = {}

    def read_metadata(self) -> Metadata:
        name = os.path.join(self.path, METADATA)
        if not os.path.isdir(self.path):
            partial = [f for f in os.listdir(os.path.dirname(os.path.abspath(self.path)) or ".")
                       if f.startswith(os.path.basename(self.path.rstrip(os.sep)) + ".partial-")]
            hint = f" (an unfinished save left {partial[0]})" if partial else ""
            raise FileNotFoundError(f"load: no checkpoint directory {self.path}{hint}")
        if not os.path.exists(name):
            raise FileNotFoundError(f"load: {name} is missing: {self.path} is not a complete "
                                    "checkpoint")
        with open(name, "rb") as handle:
            return read_metadata(handle.read(), name)

    def read_bytes(self, relative_path: str, offset: int, length: int, fqn: str) -> bytes:
        """One item's bytes (errors name the file, the item and the bytes)."""
        name = os.path.join(self.path, relative_path)
        if relative_path not in self._sizes:
            if not os.path.exists(name):
                raise FileNotFoundError(f"load: {name} is missing (it holds {fqn})")
            self._sizes[relative_path] = os.path.getsize(name)
        size = self._sizes[relative_path]
        if offset + length > size:
            raise ValueError(f"load: {name} is cut: {fqn} needs bytes {offset} to "
                             f"{offset + length}, the file holds {size}")
        with open(name, "rb") as handle:
            handle.seek(offset)
            return handle.read(length)

    def read_item(self, relative_path: str, offset: int, length: int, fqn: str) -> Any:
        """The object one item's bytes hold (a dlpy Tensor for a tensor chunk)."""
        name = os.path.join(self.path, relative_path)
        data = self.read_bytes(relative_path, offset, length, fqn)
        try:
            return serialization.load(io.BytesIO(data))
        except ValueError as err:
            raise ValueError(f"load: {name}, item {fqn} (bytes {offset} to {offset + length}): "
                             f"{err}") from None


def _split_by_size_and_type(bins: int, items: list[Any]) -> list[list[Any]]:
    """torch's: the plain values dealt to the bins in turn, then the tensors, largest (whole
    tensor's bytes) first, each to the bin with the fewest bytes so far."""
    if bins == 1:
        return [list(items)]
    buckets: list[list[Any]] = [[] for _ in range(bins)]
    sizes = [0] * bins
    values = [i for i in items if i.tensor_data is None]
    tensors = sorted((i for i in items if i.tensor_data is not None), key=_item_size,
                     reverse=True)
    for k, item in enumerate(values):
        buckets[k % bins].append(item)
    for item in tensors:
        k = min(range(bins), key=sizes.__getitem__)
        buckets[k].append(item)
        sizes[k] += _item_size(item)
    return buckets


def _item_size(item: Any) -> int:
    data = item.tensor_data
    return int(np.prod(data.size, dtype=np.int64)) * data.properties.numpy_dtype.itemsize


def item_bytes(value: Any) -> memoryview:
    """``torch.save`` bytes of one item (a contiguous array of its own, or a plain value): a
    view of the one buffer they were written into (the array is copied only when it is a
    view of a larger storage or not contiguous)."""
    buffer = io.BytesIO()
    if isinstance(value, np.ndarray) and not (value.base is None and value.flags.c_contiguous):
        value = np.array(value, copy=True, order="C")  # its own storage: only its bytes
    serialization.save_tree(value, buffer)
    return buffer.getbuffer()
