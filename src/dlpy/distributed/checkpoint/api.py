"""``save`` and ``load``: a nested state dict to and from a checkpoint directory, every rank
writing and reading its own part (torch.distributed.checkpoint's names and format).

A tensor is saved as boxes (``chunks``: offsets and sizes per dimension) of its global shape. A
whole array (a Tensor or numpy array: replicated, as DDP's) is one box that rank 0 writes; an
``fsdp.ShardedTensor`` (a rank's elements ``offset`` to ``offset + n`` of the flattened tensor)
is the few boxes that range covers, which its rank writes without gathering anything. Loading
fills each destination, whole or a rank's range of any world size, from the saved boxes that
overlap it: so a checkpoint saved on N ranks loads on M, or in one process.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter, item_bytes
from dlpy.distributed.checkpoint.metadata import (
    BytesStorageMetadata,
    ChunkStorageMetadata,
    Metadata,
    MetadataIndex,
    StorageInfo,
    StorageMeta,
    TensorProperties,
    TensorStorageMetadata,
    torch_dtype_name,
)
from dlpy.distributed.fsdp import ShardedTensor
from dlpy.tensor import Tensor

__all__ = ["flat_range_boxes", "flatten_state_dict", "load", "save"]

Box = tuple[tuple[int, ...], tuple[int, ...]]  # offsets, sizes


# ----------------------------------------------------------------- boxes
def flat_range_boxes(shape: tuple[int, ...], start: int, stop: int) -> list[Box]:
    """The boxes (offsets, sizes) that elements ``start`` to ``stop`` of a C-ordered tensor of
    ``shape`` make up, in order; each box's elements are consecutive in that range (at most
    2 ndim - 1 boxes)."""
    if start >= stop:
        return []
    if not shape:
        return [((), ())]
    inner = int(np.prod(shape[1:], dtype=np.int64))
    rest = (0,) * (len(shape) - 1)
    out: list[Box] = []
    if start % inner:  # a partial first row
        row = start // inner
        end = min(stop, (row + 1) * inner)
        out += [((row, *o), (1, *s))
                for o, s in flat_range_boxes(shape[1:], start - row * inner, end - row * inner)]
        start = end
    whole = stop // inner * inner
    if whole > start:  # whole rows
        out.append(((start // inner, *rest), ((whole - start) // inner, *shape[1:])))
        start = whole
    if start < stop:  # a partial last row
        row = start // inner
        out += [((row, *o), (1, *s)) for o, s in flat_range_boxes(shape[1:], 0, stop - start)]
    return out


def _pieces(value: Any) -> tuple[np.dtype, tuple[int, ...], list[tuple[Box, np.ndarray]]]:
    """(dtype, global shape, [(box, the box's array, a view where possible)]) of a tensor
    value: a whole array, or a ShardedTensor's range."""
    if isinstance(value, ShardedTensor):
        local = np.asarray(value.local).reshape(-1)
        shape = tuple(int(n) for n in value.shape)
        out, cursor = [], 0
        for offsets, sizes in flat_range_boxes(shape, int(value.offset),
                                               int(value.offset) + local.size):
            count = int(np.prod(sizes, dtype=np.int64))
            out.append(((offsets, sizes), local[cursor:cursor + count].reshape(sizes)))
            cursor += count
        return local.dtype, shape, out
    array = value.data if isinstance(value, Tensor) else value
    box = ((0,) * array.ndim, tuple(array.shape))
    return array.dtype, tuple(array.shape), [(box, array)]


def _is_tensor(value: Any) -> bool:
    return isinstance(value, (Tensor, np.ndarray, ShardedTensor))


# ----------------------------------------------------------------- nested state dicts
def flatten_state_dict(state_dict: Mapping[str, Any]) -> dict[str, tuple[tuple, Any]]:
    """fqn -> (path, value) as torch flattens: dicts always, lists only when they hold a
    tensor or a dict (``"optim.param_groups.0.lr"``); other values are leaves."""
    out: dict[str, tuple[tuple, Any]] = {}

    def terminal(value: Any) -> bool:
        if isinstance(value, Mapping):
            return False
        if not isinstance(value, list):
            return True
        return not any(_is_tensor(v) or (isinstance(v, (Mapping, list)) and not terminal(v))
                       for v in value)

    def visit(path: tuple, value: Any) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit((*path, str(k)), v)
        elif terminal(value):
            out[".".join(map(str, path))] = (path, value)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                visit((*path, i), v)

    for key, value in state_dict.items():
        visit((str(key),), value)
    return out


def _set_path(state_dict: Any, path: tuple, value: Any) -> None:
    node = state_dict
    for step in path[:-1]:
        node = node[step if isinstance(node, list) else _key_of(node, step)]
    last = path[-1]
    node[last if isinstance(node, list) else _key_of(node, last)] = value


def _key_of(node: Mapping, step: str) -> Any:
    """The dict's own key that ``str()`` made ``step`` (an int key of an optimiser state)."""
    if step in node:
        return step
    return next((k for k in node if str(k) == step), step)


def _stateful(value: Any) -> bool:
    return not isinstance(value, Mapping) and hasattr(value, "state_dict") \
        and hasattr(value, "load_state_dict")


# ----------------------------------------------------------------- collectives
class _Ranks:
    """The ranks a save or load runs on: a ProcessGroup's communicator, or one process."""

    def __init__(self, name: str, process_group: Any, no_dist: bool):
        if no_dist:
            self.comm, self.rank, self.size = None, 0, 1
            return
        pg = torch_api._group_of(name, process_group)
        if pg is None:
            raise ValueError(f"{name}: this rank is not a member of process_group")
        self.comm = pg.comm if pg.size() > 1 else None
        self.rank, self.size = pg.rank(), pg.size()

    def gather(self, value: Any) -> list[Any] | None:
        return [value] if self.comm is None else self.comm.gather(value, root=0)

    def scatter(self, values: list[Any] | None) -> Any:
        return values[0] if self.comm is None else self.comm.scatter(values, root=0)

    def bcast(self, value: Any) -> Any:
        return value if self.comm is None else self.comm.bcast(value, root=0)

    def raise_any(self, error: BaseException | None) -> None:
        """Every rank raises the first rank's error, if one rank had one."""
        errors = [error] if self.comm is None else self.comm.allgather(
            None if error is None else (type(error).__name__, str(error)))
        for rank, found in enumerate(errors):
            if found is None:
                continue
            if isinstance(found, BaseException):
                raise found
            kind, message = found
            cls = {"ValueError": ValueError, "TypeError": TypeError,
                   "FileNotFoundError": FileNotFoundError, "KeyError": KeyError
                   }.get(kind, RuntimeError)
            prefix = "" if self.size == 1 or error is not None and rank == self.rank \
                else f"rank {rank}: "
            raise cls(f"{prefix}{message}") from (error if rank == self.rank else None)


def _writer_of(name: str, checkpoint_id: Any, storage: Any, cls: type) -> Any:
    if storage is not None:
        if not isinstance(storage, cls):
            raise TypeError(f"{name}: expected a {cls.__name__}, got {type(storage).__name__}")
        return storage
    if checkpoint_id is None:
        raise ValueError(f"{name}: give checkpoint_id (a directory) or a {cls.__name__}")
    return cls(checkpoint_id)


def _no_planner(name: str, planner: Any) -> None:
    if planner is not None:
        raise ValueError(f"{name}: custom planners are not supported (dlpy: planner=None)")


# ----------------------------------------------------------------- save
def save(state_dict: dict[str, Any], *, checkpoint_id: str | os.PathLike | None = None,
         storage_writer: FileSystemWriter | None = None, planner: Any = None,
         process_group: Any = None, no_dist: bool = False) -> Metadata:
    """Write ``state_dict`` (nested dicts and lists of arrays, Tensors, ShardedTensors, plain
    values; an object with ``state_dict()`` is saved as that) to the directory
    ``checkpoint_id``; call it on every rank of ``process_group``. Each rank writes its own
    tensor pieces, rank 0 the replicated values once and the metadata; atomic (see
    FileSystemWriter). ``no_dist=True``: this process alone. Returns the Metadata."""
    name = "save"
    _no_planner(name, planner)
    writer = _writer_of(name, checkpoint_id, storage_writer, FileSystemWriter)
    ranks = _Ranks(name, process_group, no_dist)
    error: BaseException | None = None
    plan: list[tuple] = []
    values: list[Any] = []
    try:
        state = {k: (v.state_dict() if _stateful(v) else v) for k, v in state_dict.items()}
        for fqn, (path, value) in flatten_state_dict(state).items():
            if _is_tensor(value):
                dtype, shape, pieces = _pieces(value)
                torch_name = torch_dtype_name(dtype)
                for box, array in pieces:
                    plan.append(("tensor", fqn, path, torch_name, shape, box))
                    values.append(array)
            else:
                plan.append(("bytes", fqn, path, None, None, None))
                values.append(value)
        if ranks.rank == 0:
            writer.check_target()
    except Exception as err:  # every rank raises it together below
        error = err
    ranks.raise_any(error)
    plans = ranks.gather(plan)
    assignment, error = None, None
    if ranks.rank == 0:
        try:
            save_id = str(uuid.uuid4())
            skeleton, assignment = _global_plan(plans)
            staging = writer.staging_path(save_id)
            os.makedirs(staging)
            assignment = [(save_id, staging, mine) for mine in assignment]
        except Exception as err:
            error, assignment = err, [None] * ranks.size
    ranks.raise_any(error)
    save_id, staging, mine = ranks.scatter(assignment)
    written: list[tuple] = []

    def items():  # serialised one at a time, as they are written
        for i in mine:
            kind, fqn, _, _, _, box = plan[i]
            key = MetadataIndex(fqn, box[0] if kind == "tensor" else None)
            try:
                yield key, item_bytes(values[i])
            except TypeError as err:
                raise TypeError(f"save: {fqn}: {err}") from None

    try:
        written = writer.write_items(staging, ranks.rank, items())
    except Exception as err:
        error = err
    results = ranks.gather((written, None if error is None else f"{type(error).__name__}: "
                            f"{error}"))
    outcome = None
    metadata = None
    if ranks.rank == 0:
        failed = [(r, e) for r, (_, e) in enumerate(results) if e is not None]
        try:
            if failed:
                raise RuntimeError(f"save: rank {failed[0][0]} could not write its part of "
                                   f"{writer.path}: {failed[0][1]}")
            storage = {key: StorageInfo(file, offset, length)
                       for part, _ in results for key, file, offset, length in part}
            metadata = Metadata(skeleton["entries"], skeleton["paths"], storage,
                                StorageMeta(writer.path, save_id), "1.0.0")
            writer.commit(staging, metadata, save_id)
        except Exception as err:
            shutil.rmtree(staging, ignore_errors=True)
            outcome = err
    # one process: its own error as it came; several: every rank raises rank 0's account
    ranks.raise_any(error if ranks.size == 1 and error is not None else outcome)
    return ranks.bcast(metadata) if ranks.comm is not None else metadata


def _global_plan(plans: list[list[tuple]]) -> tuple[dict, list[list[int]]]:
    """Rank 0: the metadata entries from every rank's plan, and which items each rank writes
    (a box or a plain value several ranks hold, replicated, is written once: by the lowest)."""
    entries: dict[str, Any] = {}
    paths: dict[str, tuple] = {}
    taken: set[tuple] = set()
    assignment: list[list[int]] = []
    for rank, plan in enumerate(plans):
        mine = []
        for i, (kind, fqn, path, dtype, shape, box) in enumerate(plan):
            entry = entries.get(fqn)
            if kind == "bytes":
                if entry is None:
                    entries[fqn] = BytesStorageMetadata()
                elif not isinstance(entry, BytesStorageMetadata):
                    raise ValueError(f"save: {fqn} is a tensor on one rank and a plain value "
                                     f"on rank {rank}")
                key: tuple = (fqn,)
            else:
                if entry is None:
                    entry = entries[fqn] = TensorStorageMetadata(
                        TensorProperties(dtype), tuple(shape), [])
                elif not isinstance(entry, TensorStorageMetadata):
                    raise ValueError(f"save: {fqn} is a plain value on one rank and a tensor "
                                     f"on rank {rank}")
                elif (entry.properties.dtype, entry.size) != (dtype, tuple(shape)):
                    raise ValueError(f"save: {fqn} is {entry.properties.dtype} {entry.size} on "
                                     f"one rank, {dtype} {tuple(shape)} on rank {rank}")
                key = (fqn, box)
                if key not in taken:
                    entry.chunks.append(ChunkStorageMetadata(*box))
            paths.setdefault(fqn, path)
            if key not in taken:
                taken.add(key)
                mine.append(i)
        assignment.append(mine)
    return {"entries": entries, "paths": paths}, assignment


# ----------------------------------------------------------------- load
def load(state_dict: dict[str, Any], *, checkpoint_id: str | os.PathLike | None = None,
         storage_reader: FileSystemReader | None = None, planner: Any = None,
         process_group: Any = None, no_dist: bool = False) -> None:
    """Fill ``state_dict`` in place from the checkpoint: each array, Tensor or ShardedTensor
    (a rank's range, of any world size) gets its values from the saved boxes that overlap it;
    plain values are replaced; an object with ``load_state_dict`` gets its state. The
    entries are those of ``state_dict`` (a key the checkpoint lacks is an error; extra saved
    keys are ignored). Call it on every rank of ``process_group`` (or ``no_dist=True``)."""
    name = "load"
    _no_planner(name, planner)
    reader = _writer_of(name, checkpoint_id, storage_reader, FileSystemReader)
    ranks = _Ranks(name, process_group, no_dist)
    metadata, error = None, None
    if ranks.rank == 0:
        try:
            metadata = reader.read_metadata()
        except Exception as err:
            error = err
    ranks.raise_any(error)
    metadata = ranks.bcast(metadata)
    try:
        _load_local(state_dict, metadata, reader)
    except Exception as err:
        error = err
    ranks.raise_any(error)


def _load_local(state_dict: dict[str, Any], metadata: Metadata, reader: FileSystemReader
                ) -> None:
    stateful = {k: v for k, v in state_dict.items() if _stateful(v)}
    state = {k: (v.state_dict() if k in stateful else v) for k, v in state_dict.items()}
    storage = metadata.storage_data
    chunk_cache: dict[tuple, np.ndarray] = {}

    def read(fqn: str, offsets: tuple | None) -> Any:
        info = storage.get(MetadataIndex(fqn, offsets))
        if info is None:
            raise ValueError(f"load: {reader.path}'s metadata has no storage for {fqn} "
                             f"(chunk {offsets})")
        return reader.read_item(info.relative_path, info.offset, info.length, fqn)

    for fqn, (path, value) in flatten_state_dict(state).items():
        entry = metadata.state_dict_metadata.get(fqn)
        if entry is None:
            raise ValueError(f"load: {fqn} is not in the checkpoint {reader.path} (it holds "
                             f"{len(metadata.state_dict_metadata)} entries)")
        if not _is_tensor(value):
            if not isinstance(entry, BytesStorageMetadata):
                raise ValueError(f"load: {fqn} is a tensor of shape {entry.size} in "
                                 f"{reader.path}, the state dict holds a "
                                 f"{type(value).__name__}")
            loaded = read(fqn, None)
            _set_path(state, path, loaded)
            continue
        if not isinstance(entry, TensorStorageMetadata):
            raise ValueError(f"load: {fqn} is a plain value in {reader.path}, the state dict "
                             "holds a tensor")
        _, shape, pieces = _pieces(value)
        if tuple(entry.size) != shape:
            raise ValueError(f"load: {fqn} has shape {tuple(entry.size)} in {reader.path}, "
                             f"the state dict's is {shape}")
        for (offsets, sizes), target in pieces:
            if not target.flags.writeable:
                raise ValueError(f"load: {fqn}'s array is read-only")
            covered = 0
            for chunk in entry.chunks:
                lo = [max(a, b) for a, b in zip(offsets, chunk.offsets)]
                hi = [min(a + n, b + m) for a, n, b, m in
                      zip(offsets, sizes, chunk.offsets, chunk.sizes)]
                if any(a >= b for a, b in zip(lo, hi)):
                    continue
                key = (fqn, tuple(chunk.offsets))
                if key not in chunk_cache:
                    saved = read(fqn, tuple(chunk.offsets))
                    saved = saved.data if isinstance(saved, Tensor) else np.asarray(saved)
                    if saved.shape != tuple(chunk.sizes):
                        raise ValueError(f"load: {reader.path}: {fqn}'s chunk at "
                                         f"{tuple(chunk.offsets)} holds shape {saved.shape}, "
                                         f"the metadata says {tuple(chunk.sizes)}")
                    chunk_cache[key] = saved
                saved = chunk_cache[key]
                to = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, offsets))
                frm = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, chunk.offsets))
                target[to] = saved[frm]
                covered += int(np.prod([b - a for a, b in zip(lo, hi)], dtype=np.int64))
            if covered != int(np.prod(sizes, dtype=np.int64)):
                raise ValueError(f"load: {reader.path} does not hold all of {fqn}: the saved "
                                 f"chunks cover {covered} of the {int(np.prod(sizes))} "
                                 f"elements at {offsets}")
    for key, obj in stateful.items():
        obj.load_state_dict(state[key])
    for key in state_dict:
        if key not in stateful:
            state_dict[key] = state[key]
