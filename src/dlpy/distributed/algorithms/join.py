"""torch.distributed.algorithms.join: the generic join context manager for uneven inputs.

``Join(joinables)`` wraps a training loop whose ranks may see different numbers of batches: each
``Joinable`` calls ``Join.notify_join_context(self)`` before its per-iteration collectives (the
first one all-reduces a 1, "not joined yet"); when a rank leaves the loop, ``__exit__`` shadows
those all-reduces (with 0s) and runs the joinables' ``JoinHook.main_hook`` until every rank has
joined, then each ``post_hook(is_last_joiner)``. With ``throw_on_early_termination`` the first
rank to run out raises RuntimeError on every rank instead. On one process the loop ends at once.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

__all__ = ["Join", "JoinHook", "Joinable"]


class JoinHook:
    """A joinable's two entry points in the join context manager: ``main_hook`` (run while some
    rank has not joined, shadowing one iteration's collectives) and ``post_hook`` (run once
    all have joined; ``is_last_joiner`` says whether this rank was among the last)."""

    def main_hook(self) -> None:
        """Shadow one training iteration's collective communications (nothing by default)."""

    def post_hook(self, is_last_joiner: bool) -> None:
        """Run after every rank has joined (nothing by default)."""


class _JoinConfig(NamedTuple):
    """What the join context manager sets on each of its joinables."""

    enable: bool
    throw_on_early_termination: bool
    is_first_joinable: bool

    @staticmethod
    def construct_disabled_join_config() -> _JoinConfig:
        """The config of a joinable outside any join context manager."""
        return _JoinConfig(enable=False, throw_on_early_termination=False,
                           is_first_joinable=False)


class Joinable(ABC):
    """A class that takes part in ``Join``: it defines ``join_hook(**kwargs)`` (its JoinHook),
    ``join_device`` and ``join_process_group`` (where the join's all-reduces run), and its
    constructor must call ``Joinable.__init__`` (which sets the disabled join config)."""

    @abstractmethod
    def __init__(self) -> None:
        super().__init__()
        self._join_config = _JoinConfig.construct_disabled_join_config()

    @abstractmethod
    def join_hook(self, **kwargs: Any) -> JoinHook:
        """The JoinHook of this joinable (``kwargs`` are the Join's extra arguments)."""

    @property
    @abstractmethod
    def join_device(self) -> Any:
        """The device of the join's collective communications."""

    @property
    @abstractmethod
    def join_process_group(self) -> Any:
        """The process group of the join's collective communications."""


class Join:
    """The join context manager: ``with Join([model, optimizer]): for batch in my_batches: ...``
    lets ranks with fewer batches leave early (see the module's docstring). ``enable=False``
    turns it off; ``throw_on_early_termination`` raises RuntimeError on every rank as soon as
    one runs out. ValueError for no joinables or joinables of different process groups."""

    def __init__(self, joinables: list[Joinable], enable: bool = True,
                 throw_on_early_termination: bool = False, **kwargs: Any) -> None:
        if len(joinables) == 0:
            raise ValueError("The join context manager requires at least one joinable")
        self._joinables = joinables
        self._join_hooks = [joinable.join_hook(**kwargs) for joinable in self._joinables]
        self._enable = enable
        self._throw_on_early_termination = throw_on_early_termination
        self._set_joinable_configs()
        self._extract_dist_info()

    def _set_joinable_configs(self) -> None:
        """Give each joinable its _JoinConfig (the first one does the notifications)."""
        for i, joinable in enumerate(self._joinables):
            joinable._join_config = _JoinConfig(
                enable=self._enable, throw_on_early_termination=self._throw_on_early_termination,
                is_first_joinable=i == 0)

    def _extract_dist_info(self) -> None:
        """The process group (one for all joinables), this rank in it and the first device."""
        from dlpy import distributed as dist

        process_group, device = None, None
        for joinable in self._joinables:
            if process_group is None:
                process_group = joinable.join_process_group
            elif process_group != joinable.join_process_group:
                raise ValueError("Using join context manager with multiple process groups")
            if device is None:
                device = joinable.join_device
        self._process_group = process_group
        self._rank = dist.get_rank(self._process_group)
        self._device = device

    def __enter__(self) -> None:
        return None

    def __exit__(self, type: Any, value: Any, traceback: Any) -> None:
        """Run the main hooks until every rank has joined, then the post hooks (an exception
        raised in the block propagates at once)."""
        if not self._enable or type:
            return
        all_procs_joined, is_last_joiner, i = False, True, 0
        while not all_procs_joined:
            if i > 1000:
                warnings.warn(f"Detected uneven input skew of greater than 1000. This means "
                              f"that rank {self._rank} has at least 1000 fewer inputs than "
                              "other currently-active ranks. This level of skew could lead to "
                              "performance degradation during training.", stacklevel=2)
            if self._get_num_nonjoined_procs() == 0:
                all_procs_joined = True
            else:
                if self._throw_on_early_termination:
                    self._notify_procs_to_terminate()
                for join_hook in self._join_hooks:
                    join_hook.main_hook()
                is_last_joiner = False
                i += 1
        for join_hook in self._join_hooks:
            join_hook.post_hook(is_last_joiner)

    def _get_num_nonjoined_procs(self) -> float:
        """How many ranks have not joined (their notifications meet this all-reduce of 0)."""
        import dlpy
        from dlpy import distributed as dist

        count = dlpy.zeros(1)
        dist.all_reduce(count, group=self._process_group)
        return count.item()

    def _notify_procs_to_terminate(self) -> None:
        """Tell the other ranks to stop (an all-reduce of 1) and raise RuntimeError."""
        import dlpy
        from dlpy import distributed as dist

        dist.all_reduce(dlpy.ones(1), group=self._process_group)
        raise RuntimeError(f"Rank {self._rank} exhausted all inputs.")

    @staticmethod
    def notify_join_context(joinable: Joinable) -> Any:
        """Called by ``joinable`` before its per-iteration collectives: the first joinable of
        an enabled Join all-reduces a 1 ("not joined") and returns the async work handle, with
        ``throw_on_early_termination`` raising RuntimeError once a rank has run out; None for
        the others. AssertionError when ``joinable`` never called Joinable.__init__."""
        import dlpy
        from dlpy import distributed as dist

        if not hasattr(joinable, "_join_config"):
            raise AssertionError(f"Check that the {type(joinable)} constructor calls the "
                                 "``Joinable`` constructor")
        join_config = joinable._join_config
        if not join_config.is_first_joinable or not join_config.enable:
            return None
        process_group = joinable.join_process_group
        work = dist.all_reduce(dlpy.ones(1), group=process_group, async_op=True)
        if join_config.throw_on_early_termination:
            zeros = dlpy.zeros(1)
            dist.all_reduce(zeros, group=process_group)
            if zeros.item():
                raise RuntimeError("Detected at least one rank that exhausted inputs. "
                                   "Throwing across all ranks.")
        return work
