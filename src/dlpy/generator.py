"""dlpy.Generator: torch.Generator's interface on a numpy Generator.

It *is* a ``numpy.random.Generator`` (a subclass over PCG64), so every dlpy function that takes
``rng=`` / ``generator=`` accepts it unchanged; the streams are numpy's, not torch's
Mersenne-Twister ones. Kept apart from dlpy.random because numpy.random costs import time: this
module is imported on first use (``dlpy.Generator``, the default generator)."""

from __future__ import annotations

import copy as _copy

import numpy as np

from dlpy.device import CPU, as_device

# torch's default seed (c10::default_rng_seed_val): a fresh Generator() starts from it
DEFAULT_SEED = 67280421310721


def _check_seed(seed, caller: str) -> int:
    """An int in [-2^63, 2^64), a negative one mapped to 2^64 + seed (as torch's)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        from dlpy.ops import ArgDtypeError  # torch's RuntimeError ("expected a long")

        raise ArgDtypeError(f"{caller}: expected an int seed, got {type(seed).__name__}")
    if not -2 ** 63 <= seed < 2 ** 64:
        raise ValueError(f"{caller}: seed must be in [-2^63, 2^64), got {seed}")
    return int(seed) % 2 ** 64


def os_seed() -> int:
    """A 64-bit seed from the OS's entropy (what torch.seed draws)."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


class Generator(np.random.Generator):
    """torch.Generator(device='cpu'): manual_seed, seed, initial_seed, get_state/set_state,
    clone_state; a numpy Generator (PCG64) for everything that draws.

    A fresh Generator is seeded with torch's default seed (67280421310721), so two fresh ones
    give the same stream, as in torch."""

    def __init__(self, device="cpu"):
        if isinstance(device, np.random.BitGenerator):  # numpy's spawn() builds children so
            super().__init__(device)
            self._initial_seed = None
            return
        as_device(device, "Generator")  # the CPU ("cpu", "cpu:0", a device); else RuntimeError
        super().__init__(np.random.PCG64(DEFAULT_SEED))
        self._initial_seed = DEFAULT_SEED

    @property
    def device(self):
        """``dlpy.device("cpu")``, as torch's (a CPU generator's device has no index)."""
        return CPU

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place (objects holding this generator see the new stream); returns self."""
        seed = _check_seed(seed, "Generator.manual_seed")
        self.bit_generator.state = type(self.bit_generator)(seed).state
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Reseed from the OS's entropy; returns the new seed."""
        new = os_seed()
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        """The seed given to the last manual_seed/seed (torch's default seed before any); a
        generator made by spawn() was seeded with no integer, and reports one derived from its
        SeedSequence (its stream is left as it is)."""
        if self._initial_seed is None:
            self._initial_seed = int(self.bit_generator.seed_seq.generate_state(1, np.uint64)[0])
        return self._initial_seed

    def get_state(self) -> dict:
        """A copy of the state (numpy's bit-generator state dict, and the initial seed, which
        torch's state carries too; torch gives a ByteTensor)."""
        return {**_copy.deepcopy(self.bit_generator.state), "initial_seed": self.initial_seed()}

    def set_state(self, new_state: dict, caller: str = "Generator.set_state") -> Generator:
        """Restore a state from get_state (or dlpy.get_rng_state); returns self."""
        from dlpy.ops import ArgDtypeError, ArgError

        if not isinstance(new_state, dict):
            # a uint8 tensor (torch's state, of the wrong size here): torch's RuntimeError
            error = ArgDtypeError if getattr(new_state, "dtype", None) == np.uint8 else TypeError
            raise error(f"{caller}: expected a state from get_rng_state() or get_state(), "
                        f"got {type(new_state).__name__}")
        expected = self.bit_generator.state["bit_generator"]
        if new_state.get("bit_generator") != expected:
            raise ArgError(f"{caller}: expected a {expected} state from get_rng_state(), got "
                           f"one of {new_state.get('bit_generator')!r}")
        state = _copy.deepcopy(new_state)
        seed = state.pop("initial_seed", None)
        self.bit_generator.state = state
        if seed is not None:
            self._initial_seed = seed
        return self

    def clone_state(self) -> Generator:
        """A new Generator at the same state (and initial seed): both then draw the same."""
        clone = Generator(type(self.bit_generator)())
        clone.bit_generator.state = self.get_state()
        clone._initial_seed = self._initial_seed
        return clone

    def __call__(self) -> Generator:
        # dlpy.default_generator was a function before it was torch's object: calling it still
        # returns the generator
        return self

    def __reduce__(self):
        # numpy's own reduce would rebuild a plain numpy Generator (deepcopy, pickle, workers)
        return _rebuild, (self.bit_generator, self._initial_seed)

    def __repr__(self) -> str:
        return f"<dlpy.Generator ({type(self.bit_generator).__name__}) " \
               f"initial_seed={self._initial_seed}>"

    __str__ = __repr__


def _rebuild(bit_generator, initial_seed) -> Generator:
    generator = Generator(bit_generator)
    generator._initial_seed = initial_seed
    return generator
