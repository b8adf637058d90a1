"""torch.distributed.checkpoint's planners: what a save writes and a load reads, as plans.

A save runs ``set_up_planner`` -> ``create_local_plan`` on every rank, ``create_global_plan``
on the coordinator (rank 0: each replicated item kept on one rank, the Metadata), then
``finish_plan`` and ``resolve_data`` for every item a rank writes. A load runs
``set_up_planner`` -> ``create_local_plan`` (which saved chunks fill which destination boxes)
-> ``create_global_plan`` -> ``finish_plan``, then ``load_bytes`` / ``resolve_tensor`` /
``commit_tensor`` per item. Subclass ``DefaultSavePlanner`` / ``DefaultLoadPlanner`` and
override a step (rename keys in ``set_up_planner``, drop items in ``create_global_plan``...)
as with torch's.
"""

from __future__ import annotations

import abc
import dataclasses
import enum
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dlpy.distributed.checkpoint.metadata import (
    BytesStorageMetadata,
    ChunkStorageMetadata,
    Metadata,
    MetadataIndex,
    TensorProperties,
    TensorStorageMetadata,
    torch_dtype_name,
)

__all__ = ["DefaultLoadPlanner", "DefaultSavePlanner", "LoadItemType", "LoadPlan",
           "LoadPlanner", "ReadItem", "SavePlan", "SavePlanner", "TensorWriteData",
           "WriteItem", "WriteItemType"]


class WriteItemType(enum.Enum):
    TENSOR = enum.auto()
    SHARD = enum.auto()
    BYTE_IO = enum.auto()


class LoadItemType(enum.Enum):
    TENSOR = 0
    BYTE_IO = 1


@dataclass(frozen=True)
class TensorWriteData:
    chunk: ChunkStorageMetadata
    properties: TensorProperties
    size: tuple[int, ...]


@dataclass(frozen=True)
class WriteItem:
    """One item a rank writes: a tensor's box (``index.offset``: its offsets) or a value."""

    index: MetadataIndex
    type: WriteItemType
    tensor_data: TensorWriteData | None = None

    def tensor_storage_size(self) -> int | None:
        """Bytes of the box (None for a plain value)."""
        if self.tensor_data is None:
            return None
        numel = int(np.prod(self.tensor_data.chunk.sizes, dtype=np.int64))
        return numel * np.dtype(self.tensor_data.properties.numpy_dtype).itemsize


@dataclass(frozen=True)
class SavePlan:
    items: list[WriteItem]
    storage_data: Any = None
    planner_data: Any = None
    usable: bool = True


@dataclass(frozen=True)
class ReadItem:
    """Elements ``storage_offsets`` + ``lengths`` of the saved chunk ``storage_index`` go to
    ``dest_offsets`` of the destination box ``dest_index``."""

    type: LoadItemType
    dest_index: MetadataIndex
    dest_offsets: tuple[int, ...]
    storage_index: MetadataIndex
    storage_offsets: tuple[int, ...]
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class LoadPlan:
    items: list[ReadItem]
    storage_data: Any = None
    planner_data: Any = None


class SavePlanner(abc.ABC):
    @abc.abstractmethod
    def set_up_planner(self, state_dict: dict[str, Any], storage_meta: Any = None,
                       is_coordinator: bool = False) -> None: ...

    @abc.abstractmethod
    def create_local_plan(self) -> SavePlan: ...

    @abc.abstractmethod
    def create_global_plan(self, all_plans: list[SavePlan]
                           ) -> tuple[list[SavePlan], Metadata]: ...

    @abc.abstractmethod
    def finish_plan(self, new_plan: SavePlan) -> SavePlan: ...

    @abc.abstractmethod
    def resolve_data(self, write_item: WriteItem) -> Any: ...


class LoadPlanner(abc.ABC):
    @abc.abstractmethod
    def set_up_planner(self, state_dict: dict[str, Any], metadata: Metadata | None = None,
                       is_coordinator: bool = False) -> None: ...

    @abc.abstractmethod
    def create_local_plan(self) -> LoadPlan: ...

    @abc.abstractmethod
    def create_global_plan(self, global_plan: list[LoadPlan]) -> list[LoadPlan]: ...

    @abc.abstractmethod
    def finish_plan(self, central_plan: LoadPlan) -> LoadPlan: ...

    @abc.abstractmethod
    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None: ...

    @abc.abstractmethod
    def resolve_tensor(self, read_item: ReadItem) -> np.ndarray: ...

    @abc.abstractmethod
    def commit_tensor(self, read_item: ReadItem, tensor: np.ndarray) -> None: ...


def _flat(state_dict: dict[str, Any], flatten: bool) -> tuple[dict[str, Any], dict[str, tuple]]:
    from dlpy.distributed.checkpoint.api import flatten_state_dict

    if flatten:
        pairs = flatten_state_dict(state_dict)
        return {k: v for k, (_, v) in pairs.items()}, {k: p for k, (p, _) in pairs.items()}
    return dict(state_dict), {str(k): (str(k),) for k in state_dict}


# ----------------------------------------------------------------- save
@dataclass
class DefaultSavePlanner(SavePlanner):
    """torch's: ``flatten_state_dict`` (nested dicts and lists become "a.b.0" entries; False:
    each top-level value is one entry, a container of arrays saved whole as bytes);
    ``dedup_save_to_lowest_rank`` (an item several ranks hold, replicated, is written by the
    lowest of them; False: by the one with the fewest bytes so far, torch's balancing).
    ``flatten_sharded_tensors``, ``dedup_replicated_tensors`` (always done) and
    ``enable_plan_caching`` are accepted."""

    flatten_state_dict: bool = True
    flatten_sharded_tensors: bool = True
    dedup_replicated_tensors: bool | None = None
    dedup_save_to_lowest_rank: bool = False
    enable_plan_caching: bool = False
    state_dict: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    mappings: dict[str, tuple] = field(default_factory=dict, init=False, repr=False)
    is_coordinator: bool = field(default=False, init=False, repr=False)

    def set_up_planner(self, state_dict: dict[str, Any], storage_meta: Any = None,
                       is_coordinator: bool = False) -> None:
        self.state_dict, self.mappings = _flat(state_dict, self.flatten_state_dict)
        self.storage_meta, self.is_coordinator = storage_meta, is_coordinator
        self._boxes: dict[MetadataIndex, np.ndarray] = {}

    def create_local_plan(self) -> SavePlan:
        from dlpy.distributed.checkpoint.api import _is_tensor, _pieces
        from dlpy.distributed.fsdp import ShardedTensor
        from dlpy.distributed.tensor._api import DTensor

        items = []
        for fqn, value in self.state_dict.items():
            if not _is_tensor(value):
                items.append(WriteItem(MetadataIndex(fqn), WriteItemType.BYTE_IO))
                continue
            dtype, shape, pieces = _pieces(value)
            properties = TensorProperties(torch_dtype_name(dtype))
            kind = WriteItemType.SHARD if isinstance(value, (ShardedTensor, DTensor)) \
                else WriteItemType.TENSOR
            for (offsets, sizes), array in pieces:
                index = MetadataIndex(fqn, tuple(offsets))
                self._boxes[index] = array
                items.append(WriteItem(index, kind, TensorWriteData(
                    ChunkStorageMetadata(tuple(offsets), tuple(sizes)), properties,
                    tuple(shape))))
        self.plan = SavePlan(items, planner_data=self.mappings)
        return self.plan

    def create_global_plan(self, all_plans: list[SavePlan]
                           ) -> tuple[list[SavePlan], Metadata]:
        all_plans = dedup_save_plans(all_plans, self.dedup_save_to_lowest_rank)
        entries: dict[str, Any] = {}
        paths: dict[str, tuple] = {}
        for rank, plan in enumerate(all_plans):
            for item in plan.items:
                fqn, entry = item.index.fqn, entries.get(item.index.fqn)
                if item.type is WriteItemType.BYTE_IO:
                    if entry is None:
                        entries[fqn] = BytesStorageMetadata()
                    elif not isinstance(entry, BytesStorageMetadata):
                        raise ValueError(f"save: {fqn} is a tensor on one rank and a plain "
                                         f"value on rank {rank}")
                    continue
                data = item.tensor_data
                if entry is None:
                    entry = entries[fqn] = TensorStorageMetadata(data.properties,
                                                                 tuple(data.size), [])
                elif not isinstance(entry, TensorStorageMetadata):
                    raise ValueError(f"save: {fqn} is a plain value on one rank and a tensor "
                                     f"on rank {rank}")
                elif (entry.properties.dtype, tuple(entry.size)) != (
                        data.properties.dtype, tuple(data.size)):
                    raise ValueError(f"save: {fqn} is {entry.properties.dtype} {entry.size} on "
                                     f"one rank, {data.properties.dtype} {tuple(data.size)} "
                                     f"on rank {rank}")
                entry.chunks.append(data.chunk)
            for fqn, path in (plan.planner_data or {}).items():
                paths.setdefault(fqn, path)
        # every fqn of any plan (a plan may hold none of a tensor's boxes after dedup)
        self.metadata = Metadata(entries, paths)
        return all_plans, self.metadata

    def finish_plan(self, new_plan: SavePlan) -> SavePlan:
        self.plan = new_plan
        return new_plan

    def resolve_data(self, write_item: WriteItem) -> Any:
        if write_item.type is WriteItemType.BYTE_IO:
            return self.state_dict[write_item.index.fqn]
        return self._boxes[write_item.index]


def dedup_save_plans(all_plans: list[SavePlan], save_to_lowest_rank: bool = False
                     ) -> list[SavePlan]:
    """torch's: an item (same fqn and offsets) in several plans stays in one: the lowest
    rank's, or (default) the plan with the fewest bytes so far (plain values count 1)."""
    holders: dict[MetadataIndex, list[int]] = {}
    first: dict[MetadataIndex, WriteItem] = {}
    for rank, plan in enumerate(all_plans):
        for item in plan.items:
            holders.setdefault(item.index, []).append(rank)
            first.setdefault(item.index, item)
    sizes = [0] * len(all_plans)
    keep: list[set[MetadataIndex]] = [set() for _ in all_plans]
    for index, ranks in holders.items():
        chosen = min(ranks) if save_to_lowest_rank else min(ranks, key=lambda r: sizes[r])
        sizes[chosen] += first[index].tensor_storage_size() or 1
        keep[chosen].add(index)
    return [dataclasses.replace(plan, items=[i for i in plan.items if i.index in kept])
            for plan, kept in zip(all_plans, keep)]


# ----------------------------------------------------------------- load
@dataclass
class DefaultLoadPlanner(LoadPlanner):
    """torch's: fills the state dict in place (``flatten_state_dict`` as the save's);
    ``allow_partial_load``: entries the checkpoint lacks are left as they are (else an
    error). ``flatten_sharded_tensors`` is accepted."""

    flatten_state_dict: bool = True
    flatten_sharded_tensors: bool = True
    allow_partial_load: bool = False
    state_dict: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    mappings: dict[str, tuple] = field(default_factory=dict, init=False, repr=False)
    is_coordinator: bool = field(default=False, init=False, repr=False)

    def set_up_planner(self, state_dict: dict[str, Any], metadata: Metadata | None = None,
                       is_coordinator: bool = False) -> None:
        self.original_state_dict = state_dict
        self.state_dict, self.mappings = _flat(state_dict, self.flatten_state_dict)
        self.metadata, self.is_coordinator = metadata, is_coordinator
        self._boxes: dict[MetadataIndex, np.ndarray] = {}
        self.path = getattr(metadata, "_path", "the checkpoint")

    def create_local_plan(self) -> LoadPlan:
        from dlpy.distributed.checkpoint.api import _is_tensor, _pieces

        path, items = self.path, []
        entries = self.metadata.state_dict_metadata
        for fqn, value in self.state_dict.items():
            entry = entries.get(fqn)
            if entry is None:
                if self.allow_partial_load:
                    continue
                raise ValueError(f"load: {fqn} is not in the checkpoint {path} (it holds "
                                 f"{len(entries)} entries)")
            if not _is_tensor(value):
                if not isinstance(entry, BytesStorageMetadata):
                    raise ValueError(f"load: {fqn} is a tensor of shape {entry.size} in "
                                     f"{path}, the state dict holds a {type(value).__name__}")
                index = MetadataIndex(fqn)
                items.append(ReadItem(LoadItemType.BYTE_IO, index, (0,), index, (0,), (0,)))
                continue
            if not isinstance(entry, TensorStorageMetadata):
                raise ValueError(f"load: {fqn} is a plain value in {path}, the state dict "
                                 "holds a tensor")
            _, shape, pieces = _pieces(value)
            if tuple(entry.size) != shape:
                raise ValueError(f"load: {fqn} has shape {tuple(entry.size)} in {path}, the "
                                 f"state dict's is {shape}")
            for (offsets, sizes), target in pieces:
                if not target.flags.writeable:
                    raise ValueError(f"load: {fqn}'s array is read-only")
                dest = MetadataIndex(fqn, tuple(offsets))
                self._boxes[dest] = target
                covered = 0
                for chunk in entry.chunks:
                    lo = [max(a, b) for a, b in zip(offsets, chunk.offsets)]
                    hi = [min(a + n, b + m) for a, n, b, m in
                          zip(offsets, sizes, chunk.offsets, chunk.sizes)]
                    if any(a >= b for a, b in zip(lo, hi)):
                        continue
                    items.append(ReadItem(
                        LoadItemType.TENSOR, dest,
                        tuple(a - o for a, o in zip(lo, offsets)),
                        MetadataIndex(fqn, tuple(chunk.offsets)),
                        tuple(a - o for a, o in zip(lo, chunk.offsets)),
                        tuple(b - a for a, b in zip(lo, hi))))
                    covered += int(np.prod([b - a for a, b in zip(lo, hi)], dtype=np.int64))
                if covered != int(np.prod(sizes, dtype=np.int64)):
                    raise ValueError(f"load: {path} does not hold all of {fqn}: the saved "
                                     f"chunks cover {covered} of the {int(np.prod(sizes))} "
                                     f"elements at {offsets}")
        return LoadPlan(items)

    def create_global_plan(self, global_plan: list[LoadPlan]) -> list[LoadPlan]:
        return global_plan

    def finish_plan(self, central_plan: LoadPlan) -> LoadPlan:
        return central_plan

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        from dlpy import serialization
        from dlpy.distributed.checkpoint.api import _set_path

        obj = serialization.load(value)
        fqn = read_item.dest_index.fqn
        if self.flatten_state_dict:
            _set_path(self.original_state_dict, self.mappings[fqn], obj)
        else:
            self.original_state_dict[_key(self.original_state_dict, fqn)] = obj
        self.state_dict[fqn] = obj

    def resolve_tensor(self, read_item: ReadItem) -> np.ndarray:
        """The destination view ``read_item`` fills (written in place)."""
        box = self._boxes[read_item.dest_index]
        return box[(*(slice(o, o + n) for o, n in zip(read_item.dest_offsets,
                                                      read_item.lengths)), Ellipsis)]

    def commit_tensor(self, read_item: ReadItem, tensor: np.ndarray) -> None:
        """Nothing: ``resolve_tensor``'s view was written in place."""


def _key(node: dict, name: str) -> Any:
    return name if name in node else next((k for k in node if str(k) == name), name)
