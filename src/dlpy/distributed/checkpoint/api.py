"""``save`` and ``load``: a nested state dict to and from a checkpoint directory, every rank
writing and reading its own part (torch.distributed.checkpoint's names and format).

A tensor is saved as boxes (``chunks``: offsets and sizes per dimension) of its global shape. A
whole array (a Tensor or numpy array: replicated, as DDP's) is one box that rank 0 writes; an
``fsdp.ShardedTensor`` (a rank's elements ``offset`` to ``offset + n`` of the flattened tensor)
is the few boxes that range covers, and a DTensor its rank's box, which its rank writes
without gathering anything (replicated boxes once). Loading
fills each destination, whole or a rank's range of any world size, from the saved boxes that
overlap it: so a checkpoint saved on N ranks loads on M, or in one process.
"""

from __future__ import annotations

import concurrent.futures
import copy
import io
import os
import shutil
import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.distributed.checkpoint.filesystem import FileSystemReader, FileSystemWriter, item_bytes
from dlpy.distributed.checkpoint.metadata import (
    Metadata,
    MetadataIndex,
    StorageInfo,
    StorageMeta,
)
from dlpy.distributed.checkpoint.planner import (
    DefaultLoadPlanner,
    DefaultSavePlanner,
    LoadItemType,
    LoadPlanner,
    SavePlanner,
)
from dlpy.distributed.fsdp import ShardedTensor
from dlpy.distributed.tensor._api import DTensor, dtensor_copy
from dlpy.tensor import Tensor

__all__ = ["async_save", "flat_range_boxes", "flatten_state_dict", "load", "save"]

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
    if isinstance(value, DTensor):  # this rank's box of the global tensor
        spec, local = value._spec, value.data
        if any(p.is_partial() for p in spec.placements):
            raise ValueError(f"a DTensor with placements {spec.placements} holds summands, "
                             "not values: redistribute it to Shard/Replicate first")
        offsets = tuple(spec.local_range(d)[0] for d in range(local.ndim))
        boxes = [((offsets, tuple(local.shape)), local)] if local.size else []
        return local.dtype, tuple(spec.shape), boxes
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


def _planner_of(name: str, planner: Any, default: type, base: type) -> Any:
    if planner is None:
        return default()
    if not isinstance(planner, base):
        raise TypeError(f"{name}: planner must be a {base.__name__} (a {default.__name__} or "
                        f"a subclass), got {type(planner).__name__}")
    return planner


# ----------------------------------------------------------------- save
def save(state_dict: dict[str, Any], *, checkpoint_id: str | os.PathLike | None = None,
         storage_writer: FileSystemWriter | None = None, planner: Any = None,
         process_group: Any = None, no_dist: bool = False) -> Metadata:
    """Write ``state_dict`` (nested dicts and lists of arrays, Tensors, ShardedTensors, plain
    values; an object with ``state_dict()`` is saved as that) to the directory
    ``checkpoint_id``; call it on every rank of ``process_group``. Each rank writes its own
    tensor pieces, an item several ranks hold once (``planner``: a DefaultSavePlanner, or a
    subclass), rank 0 the metadata; atomic (see FileSystemWriter). ``no_dist=True``: this
    process alone. Returns the Metadata."""
    name = "save"
    planner = _planner_of(name, planner, DefaultSavePlanner, SavePlanner)
    writer = _writer_of(name, checkpoint_id, storage_writer, FileSystemWriter)
    return _save(state_dict, writer, planner, _Ranks(name, process_group, no_dist))


def _save(state_dict: dict[str, Any], writer: FileSystemWriter, planner: SavePlanner,
          ranks: _Ranks) -> Metadata:
    error: BaseException | None = None
    local = None
    try:
        state = {k: (v.state_dict() if _stateful(v) else v) for k, v in state_dict.items()}
        planner.set_up_planner(state, StorageMeta(writer.path), ranks.rank == 0)
        local = planner.create_local_plan()
        if ranks.rank == 0:
            writer.check_target()
    except Exception as err:  # every rank raises it together below
        error = err
    ranks.raise_any(error)
    plans = ranks.gather(local)
    assignment, error, metadata = None, None, None
    if ranks.rank == 0:
        try:
            save_id = str(uuid.uuid4())
            plans, metadata = planner.create_global_plan(plans)
            staging = writer.staging_path(save_id)
            os.makedirs(staging)
            assignment = [(save_id, staging, plan) for plan in plans]
        except Exception as err:
            error, assignment = err, [None] * ranks.size
    ranks.raise_any(error)
    save_id, staging, plan = ranks.scatter(assignment)
    written: list[tuple] = []

    def resolve(item: Any) -> bytes:  # serialised one at a time, as they are written
        try:
            return item_bytes(planner.resolve_data(item))
        except TypeError as err:
            raise TypeError(f"save: {item.index.fqn}: {err}") from None

    try:
        plan = planner.finish_plan(plan)
        written = writer.write_items(staging, ranks.rank, plan.items, resolve)
    except Exception as err:
        error = err
    results = ranks.gather((written, None if error is None else f"{type(error).__name__}: "
                            f"{error}"))
    outcome = None
    if ranks.rank == 0:
        failed = [(r, e) for r, (_, e) in enumerate(results) if e is not None]
        try:
            if failed:
                raise RuntimeError(f"save: rank {failed[0][0]} could not write its part of "
                                   f"{writer.path}: {failed[0][1]}")
            metadata.storage_data = {
                MetadataIndex(key.fqn, key.offset): StorageInfo(file, offset, length)
                for part, _ in results for key, file, offset, length in part}
            metadata.storage_meta = StorageMeta(writer.path, save_id)
            metadata.version = "1.0.0"
            writer.commit(staging, metadata, save_id)
        except Exception as err:
            shutil.rmtree(staging, ignore_errors=True)
            outcome = err
    # one process: its own error as it came; several: every rank raises rank 0's account
    ranks.raise_any(error if ranks.size == 1 and error is not None else outcome)
    return ranks.bcast(metadata) if ranks.comm is not None else metadata


# ----------------------------------------------------------------- async_save
_executor: concurrent.futures.ThreadPoolExecutor | None = None


def async_save(state_dict: dict[str, Any], *, checkpoint_id: str | os.PathLike | None = None,
               storage_writer: FileSystemWriter | None = None, planner: Any = None,
               process_group: Any = None, async_checkpointer_type: Any = None,
               async_stager: Any = None, no_dist: bool = False, use_collectives: bool = True
               ) -> concurrent.futures.Future:
    """``save`` in the background: the arrays are copied now (the caller may change them as
    soon as it returns), then one thread (saves run one after another, in call order) plans
    and writes over a duplicate of the group's communicator, so training's collectives do
    not mix with it. Call it on every rank; returns a Future whose ``result()`` is the
    Metadata, or raises the save's error."""
    name = "async_save"
    kind = getattr(async_checkpointer_type, "name", async_checkpointer_type)
    if kind not in (None, "THREAD", "thread"):
        raise ValueError(f"{name}: async_checkpointer_type={async_checkpointer_type!r} is not "
                         "supported (dlpy: a thread)")
    if async_stager is not None or not use_collectives:
        raise ValueError(f"{name}: async_stager and use_collectives=False are not supported")
    planner = _planner_of(name, planner, DefaultSavePlanner, SavePlanner)
    writer = _writer_of(name, checkpoint_id, storage_writer, FileSystemWriter)
    ranks = _Ranks(name, process_group, no_dist)
    staged = {k: _stage(v.state_dict() if _stateful(v) else v) for k, v in state_dict.items()}
    if ranks.comm is not None:
        ranks.comm = ranks.comm.Dup()  # collective: every rank calls async_save here

    def run() -> Metadata:
        try:
            return _save(staged, writer, planner, ranks)
        finally:
            if ranks.comm is not None:
                ranks.comm.Free()

    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="async_save")
    return _executor.submit(run)


def _stage(value: Any) -> Any:
    """A copy of a state dict's arrays (and containers; plain values deep-copied where they
    can be) that later changes to the originals do not reach."""
    if isinstance(value, Mapping):
        return {k: _stage(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_stage(v) for v in value) if type(value) in (list, tuple) \
            else copy.deepcopy(value)
    if isinstance(value, ShardedTensor):
        return ShardedTensor(np.array(value.local, copy=True), value.offset, value.shape)
    if isinstance(value, DTensor):
        return dtensor_copy(value)
    if isinstance(value, Tensor):
        return np.array(value.data, copy=True)
    if isinstance(value, np.ndarray):
        return value.copy()
    try:
        return copy.deepcopy(value)
    except Exception:  # (one that cannot be copied is written as it is then)
        return value


# ----------------------------------------------------------------- load
def load(state_dict: dict[str, Any], *, checkpoint_id: str | os.PathLike | None = None,
         storage_reader: FileSystemReader | None = None, planner: Any = None,
         process_group: Any = None, no_dist: bool = False) -> None:
    """Fill ``state_dict`` in place from the checkpoint: each array, Tensor or ShardedTensor
    (a rank's range, of any world size) gets its values from the saved boxes that overlap it;
    plain values are replaced; an object with ``load_state_dict`` gets its state. The
    entries are those of ``state_dict`` (a key the checkpoint lacks is an error, unless the
    DefaultLoadPlanner allows a partial load; extra saved keys are ignored). Call it on every
    rank of ``process_group`` (or ``no_dist=True``)."""
    name = "load"
    planner = _planner_of(name, planner, DefaultLoadPlanner, LoadPlanner)
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
    metadata._path = reader.path  # (for the planner's messages)
    stateful = {k: v for k, v in state_dict.items() if _stateful(v)}
    state = {k: (v.state_dict() if k in stateful else v) for k, v in state_dict.items()}
    local = None
    try:
        planner.set_up_planner(state, metadata, ranks.rank == 0)
        local = planner.create_local_plan()
    except Exception as err:
        error = err
    ranks.raise_any(error)
    plans = ranks.gather(local)
    if ranks.rank == 0:
        try:
            plans = planner.create_global_plan(plans)
        except Exception as err:
            error, plans = err, [None] * ranks.size
    ranks.raise_any(error)
    plan = ranks.scatter(plans)
    try:
        _read(planner.finish_plan(plan), planner, metadata, reader)
        for key, obj in stateful.items():
            obj.load_state_dict(state[key])
        for key in state_dict:
            if key not in stateful:
                state_dict[key] = state[key]
    except Exception as err:
        error = err
    ranks.raise_any(error)


def _read(plan: Any, planner: LoadPlanner, metadata: Metadata, reader: FileSystemReader
          ) -> None:
    """Every item of this rank's load plan, through the planner."""
    storage = metadata.storage_data
    chunk_cache: dict[MetadataIndex, np.ndarray] = {}

    def info_of(index: MetadataIndex) -> Any:
        info = storage.get(MetadataIndex(index.fqn, index.offset))
        if info is None:
            raise ValueError(f"load: {reader.path}'s metadata has no storage for {index.fqn} "
                             f"(chunk {index.offset})")
        return info

    for item in plan.items:
        fqn = item.storage_index.fqn
        info = info_of(item.storage_index)
        if item.type is LoadItemType.BYTE_IO:
            data = reader.read_bytes(info.relative_path, info.offset, info.length, fqn)
            try:
                planner.load_bytes(item, io.BytesIO(data))
            except ValueError as err:
                raise ValueError(f"load: {os.path.join(reader.path, info.relative_path)}, item "
                                 f"{fqn} (bytes {info.offset} to {info.offset + info.length})"
                                 f": {err}") from None
            continue
        key = MetadataIndex(fqn, tuple(item.storage_index.offset))
        if key not in chunk_cache:
            saved = reader.read_item(info.relative_path, info.offset, info.length, fqn)
            saved = saved.data if isinstance(saved, Tensor) else np.asarray(saved)
            entry = metadata.state_dict_metadata[fqn]
            sizes = next((tuple(c.sizes) for c in entry.chunks
                          if tuple(c.offsets) == key.offset), saved.shape)
            if saved.shape != sizes:
                raise ValueError(f"load: {reader.path}: {fqn}'s chunk at {key.offset} holds "
                                 f"shape {saved.shape}, the metadata says {sizes}")
            chunk_cache[key] = saved
        piece = chunk_cache[key][tuple(slice(o, o + n) for o, n in
                                       zip(item.storage_offsets, item.lengths))]
        target = planner.resolve_tensor(item)
        target[...] = piece
        planner.commit_tensor(item, target)
