"""ZeroRedundancyOptimizer (torch.distributed.optim's): the optimiser state sharded over ranks.

Each parameter is owned by one rank (torch's greedy partition: in each group, largest first, to
the rank with the fewest elements so far). A rank keeps the optimiser state (Adam's two moments)
of its own parameters only, so N ranks hold about 1/N of it each; at ``step()`` each rank updates
its parameters from their (already averaged, e.g. by DistributedDataParallel) gradients, then
every rank broadcasts its updated parameters to the others, in buckets of a few MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.optim.optimizer import Optimizer, _nested_state
from dlpy.tensor import Tensor, increment_version


class ZeroRedundancyOptimizer(Optimizer):
    """``ZeroRedundancyOptimizer(params, optim.Adam, lr=1e-3)``: ``optimizer_class(**defaults)``
    over this rank's share of ``params`` (tensors or parameter groups), the same settings and
    ``param_groups`` as ``optimizer_class(params, **defaults)`` (schedulers set ``lr`` there).
    ``consolidate_state_dict(to=0)`` on every rank, then ``state_dict()`` on rank ``to``: the
    state of ``optimizer_class`` over all the parameters (it loads into one, and back).
    ``bucket_mb``: the size of the buffers the parameters are broadcast in. An ``Optimizer``
    (isinstance, schedulers, step hooks), as torch's; ``add_param_group`` partitions the new
    group over the ranks, as torch's."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], optimizer_class: type,
                 process_group: Any = None, parameters_as_bucket_view: bool = False,
                 overlap_with_ddp: bool = False, *, bucket_mb: float = 4.0, **defaults: Any):
        name = "ZeroRedundancyOptimizer"
        if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, Optimizer)):
            raise TypeError(f"{name}: optimizer_class must be a dlpy optimiser class "
                            f"(optim.Adam...), got {optimizer_class!r}")
        if overlap_with_ddp:
            raise ValueError(f"{name}: overlap_with_ddp=True needs DDP communication hooks, "
                             "which dlpy's DistributedDataParallel does not have")
        if bucket_mb <= 0:
            raise ValueError(f"{name}: bucket_mb must be > 0, got {bucket_mb}")
        group = torch_api._group_of(name, process_group)
        if group is None:
            raise ValueError(f"{name}: this rank is not a member of process_group")
        self.process_group, self.rank, self.world_size = group, group.rank(), group.size()
        # what Optimizer's own methods (step and state-dict hooks) read; the groups, the
        # parameters and the state are the whole optimiser's below
        self._init_hooks()
        self.optimizer_class = optimizer_class
        # the whole optimiser: its checks, its settings, its state_dict's layout; its state
        # stays empty (made lazily at a first step, which it never takes)
        self._full = optimizer_class(params, **defaults)
        self.param_groups = self._full.param_groups
        self.defaults = self._full._defaults  # (its settings, without torch's switches)
        self.params = self._full.params
        self.owner = self._partition()
        local_groups, self._local_of = [], []  # the groups with parameters of this rank
        self._owned: list[int] = []  # global indices of this rank's parameters, in local order
        index = 0
        for g, group_settings in enumerate(self.param_groups):
            count = len(group_settings["params"])
            mine = [i for i in range(index, index + count) if self.owner[i] == self.rank]
            index += count
            if mine:
                local_groups.append({**{k: group_settings[k] for k in self.defaults},
                                     "params": [self.params[i] for i in mine]})
                self._local_of.append(g)
                self._owned.extend(mine)
        self.optim = optimizer_class(local_groups, **defaults) if local_groups else None
        self._chunk_bytes = int(bucket_mb * 2**20)
        self._chunks = self._make_chunks(self._chunk_bytes)
        self._consolidated: dict[str, np.ndarray] | None = None
        self._steps = 0  # this rank's step count (a rank without parameters has no optim)

    def _partition(self) -> list[int]:
        """The owner rank of every parameter, torch's way: the sizes carry over the groups."""
        sizes = [0] * self.world_size
        owner = [0] * len(self.params)
        index = 0
        for group in self.param_groups:
            count = len(group["params"])
            order = sorted(range(index, index + count), key=lambda i: -self.params[i].data.size)
            for i in order:
                rank = sizes.index(min(sizes))
                owner[i] = rank
                sizes[rank] += self.params[i].data.size
            index += count
        return owner

    def _make_chunks(self, chunk_bytes: int) -> list[tuple[int, list[Tensor]]]:
        """(owner, parameters of one dtype) to broadcast together, about ``chunk_bytes`` each."""
        chunks: list[tuple[int, list[Tensor]]] = []
        for rank in range(self.world_size):
            pending: dict[np.dtype, list[Tensor]] = {}
            for i, p in enumerate(self.params):
                if self.owner[i] != rank:
                    continue
                run = pending.setdefault(p.data.dtype, [])
                if run and sum(q.data.nbytes for q in run) + p.data.nbytes > chunk_bytes:
                    chunks.append((rank, run))
                    run = pending[p.data.dtype] = []
                run.append(p)
            chunks.extend((rank, run) for run in pending.values() if run)
        return chunks

    # ----------------------------------------------------------------- the step
    @property
    def lr(self) -> float:
        return self._full.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._full.lr = value

    @property
    def state(self) -> list[dict[str, np.ndarray]]:
        """Per parameter: its optimiser state on its owner, {} on the other ranks."""
        out: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        if self.optim is not None:
            for local, i in enumerate(self._owned):
                out[i] = self.optim.state[local]
        return out

    @property
    def step_count(self) -> int:
        return self._steps

    def add_param_group(self, group: dict[str, Any]) -> None:
        """torch's: the group joins the whole optimiser's (its checks and settings), its
        parameters are partitioned over the ranks as the constructor's (the earlier groups
        keep their owners: the greedy partition goes group by group), and this rank's share
        becomes a new group of its local optimiser. Call it on every rank with the same group."""
        try:
            self._full.add_param_group(group)  # appends to self.param_groups and self.params
        except (TypeError, ValueError) as error:
            raise type(error)(f"ZeroRedundancyOptimizer.add_param_group: {error}") from None
        self.owner = self._partition()
        start = len(self.params) - len(self.param_groups[-1]["params"])
        mine = [i for i in range(start, len(self.params)) if self.owner[i] == self.rank]
        if mine:
            local = {**{k: self.param_groups[-1][k] for k in self.defaults},
                     "params": [self.params[i] for i in mine]}
            if self.optim is None:  # this rank's first parameters
                self.optim = self.optimizer_class([local], **self.defaults)
                self.optim.step_count = self._steps
            else:
                self.optim.add_param_group(local)
            self._local_of.append(len(self.param_groups) - 1)
            self._owned.extend(mine)
        self._chunks = self._make_chunks(self._chunk_bytes)

    def state_bytes(self) -> int:
        """The bytes of optimiser state this rank holds."""
        return sum(value.nbytes for slots in self.state for value in slots.values())

    def zero_grad(self, set_to_none: bool = True) -> None:
        self._full.zero_grad(set_to_none)

    def _sync_settings(self) -> None:
        """The local groups take the settings of their groups (a scheduler sets those)."""
        if self.optim is not None:
            for local, g in zip(self.optim.param_groups, self._local_of):
                local.update({k: self.param_groups[g][k] for k in self.defaults})

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update this rank's parameters, then broadcast every rank's to the others."""
        self._sync_settings()
        loss = None
        if self.optim is not None:
            loss = self.optim.step(closure) if closure is not None else self.optim.step()
        elif closure is not None:
            loss = closure()
        self._steps += 1
        self._broadcast_parameters()
        return loss

    def _broadcast_parameters(self) -> None:
        comm = self.process_group.comm
        if comm is None:
            return
        scratch: dict[np.dtype, np.ndarray] = {}
        for rank, params in self._chunks:
            only = params[0].data
            if len(params) == 1 and only.flags.c_contiguous and only.flags.writeable:
                comm.Bcast(only, root=rank)  # a large parameter: straight into its array
                if rank != self.rank:
                    increment_version(params[0])
                continue
            dtype = only.dtype
            numel = sum(p.data.size for p in params)
            if scratch.get(dtype, np.empty(0)).size < numel:
                scratch[dtype] = np.empty(numel, dtype=dtype)
            buffer = scratch[dtype][:numel]
            offsets = np.cumsum([0] + [p.data.size for p in params]).tolist()
            if rank == self.rank:
                for p, start, end in zip(params, offsets, offsets[1:]):
                    buffer[start:end] = p.data.reshape(-1)
            comm.Bcast(buffer, root=rank)
            if rank != self.rank:
                for p, start, end in zip(params, offsets, offsets[1:]):
                    p.data[...] = buffer[start:end].reshape(p.data.shape)
                    increment_version(p)

    # ----------------------------------------------------------------- state
    def _local_state(self) -> dict[int, dict[str, np.ndarray]]:
        return {i: self.optim.state[local] for local, i in enumerate(self._owned)} \
            if self.optim is not None else {}

    def consolidate_state_dict(self, to: int = 0) -> None:
        """Gather every rank's state on global rank ``to`` (call it on every rank)."""
        name = "ZeroRedundancyOptimizer.consolidate_state_dict"
        pg = self.process_group
        root = pg.group_rank(name, "to", to)
        mine = (self._local_state(), self._steps)
        gathered = [mine] if pg.comm is None else pg.comm.gather(mine, root=root)
        if gathered is None:
            self._consolidated = None
            return
        full = self._full
        for states, _ in gathered:
            for i, slots in states.items():
                full.state[i] = slots
        full.step_count = max(steps for _, steps in gathered)
        try:
            self._consolidated = full.state_dict()
        finally:  # the whole state lives in the saved copy only
            full.state = [{} for _ in self.params]
            full.step_count = 0

    def state_dict(self, torch_layout: bool = False) -> dict[str, Any]:
        """The state ``consolidate_state_dict`` last gathered on this rank: that of
        ``optimizer_class`` over all the parameters (flat, or torch's layout)."""
        if self._consolidated is None:
            raise RuntimeError("ZeroRedundancyOptimizer.state_dict: Optimizer state has not "
                               "been consolidated on this rank. Please call "
                               f"`consolidate_state_dict(to={self.process_group.ranks[self.rank]})`"
                               " on all ranks beforehand if you meant to save the global state.")
        if torch_layout:
            return _nested_state(dict(self._consolidated), len(self.param_groups))
        return dict(self._consolidated)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the state of ``optimizer_class`` over all the parameters (a consolidated
        ``state_dict``, or a plain optimiser's): each rank keeps its own parameters' share."""
        full = self._full
        full.load_state_dict(state_dict)  # checks names, groups and shapes; sets the settings
        try:
            if self.optim is not None:
                self.optim.state = [full.state[i] for i in self._owned]
                self.optim.step_count = full.step_count
                self._sync_settings()
            self._steps = full.step_count
        finally:
            full.state = [{} for _ in self.params]
            full.step_count = 0

    def __repr__(self) -> str:
        return (f"ZeroRedundancyOptimizer({self.optimizer_class.__name__}, rank {self.rank} of "
                f"{self.world_size}: {len(self._owned)} of {len(self.params)} parameters)")
