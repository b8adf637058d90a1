"""torch.utils.data.datapipes.iter.combinatorics: ``ShufflerIterDataPipe``."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sized
from typing import Any

from dlpy.data.datapipes.datapipe import IterDataPipe

__all__ = ["ShufflerIterDataPipe"]


class ShufflerIterDataPipe(IterDataPipe):
    """Shuffle ``datapipe``'s items through a buffer of ``buffer_size`` (a random buffered item
    is handed out as each new one comes in, the rest in random order at the end), as torch's;
    ``set_shuffle(False)`` passes the items through in order, ``set_seed(seed)`` fixes the next
    iteration's order (else a seed is drawn from dlpy's default generator at each iteration).
    ``len()`` is the source's (TypeError when it has none)."""

    def __init__(self, datapipe: Any, *, buffer_size: int = 10000, unbatch_level: int = 0):
        super().__init__()
        if buffer_size <= 0:
            raise AssertionError("buffer_size should be larger than 0")
        if unbatch_level != 0:
            raise NotImplementedError("ShufflerIterDataPipe: dlpy has no unbatch DataPipe "
                                      "(unbatch_level must be 0)")
        self.datapipe, self.buffer_size = datapipe, buffer_size
        self._buffer: list = []
        self._enabled, self._seed, self._rng = True, None, random.Random()

    def set_shuffle(self, shuffle: bool = True) -> ShufflerIterDataPipe:
        """Turn shuffling on or off; returns self."""
        self._enabled = shuffle
        return self

    def set_seed(self, seed: int) -> ShufflerIterDataPipe:
        """The seed of the next iteration's shuffle; returns self."""
        self._seed = seed
        return self

    def reset(self) -> None:
        """Empty the buffer and seed this iteration's generator (set_seed's, else a draw)."""
        self._buffer = []
        if self._enabled:
            if self._seed is None:
                from dlpy.random import default_generator

                self._seed = int(default_generator().integers(0, 2**63 - 1))
            self._rng.seed(self._seed)
            self._seed = None

    def __iter__(self) -> Iterator:
        if not self._enabled:
            yield from self.datapipe
            return
        self.reset()
        for item in self.datapipe:
            if len(self._buffer) == self.buffer_size:
                index = self._rng.randint(0, len(self._buffer) - 1)
                value, self._buffer[index] = self._buffer[index], item
                yield value
            else:
                self._buffer.append(item)
        while self._buffer:
            yield self._buffer.pop(self._rng.randint(0, len(self._buffer) - 1))

    def __len__(self) -> int:
        if isinstance(self.datapipe, Sized):
            return len(self.datapipe)
        raise TypeError(f"{type(self).__name__} instance doesn't have valid length")

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_rng": self._rng.getstate()}

    def __setstate__(self, state: dict) -> None:
        rng_state = state.pop("_rng")
        self.__dict__.update(state)
        self._rng = random.Random()
        self._rng.setstate(rng_state)
