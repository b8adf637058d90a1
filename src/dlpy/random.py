"""One default random generator: what layers, dropout and DataLoader shuffling draw from when they
are not given their own ``rng``. ``manual_seed(s)`` reseeds it in place (objects that already hold
it see the new stream), so a seeded run is reproducible bit for bit."""

from __future__ import annotations

import contextlib
import copy as _copy

import numpy as np

_default: np.random.Generator | None = None  # made on first use: numpy.random costs import time
_seed: int | None = None  # the seed of the default generator (initial_seed)


def default_generator() -> np.random.Generator:
    """The generator used where no ``rng`` is given (seeded from the OS until manual_seed)."""
    global _default
    if _default is None:
        _default = np.random.default_rng(initial_seed())
    return _default


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (as ``torch.manual_seed``); returns it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    global _seed
    generator = default_generator()
    generator.bit_generator.state = np.random.PCG64(int(seed)).state
    _seed = int(seed)
    return generator


def initial_seed() -> int:
    """The seed of the default generator (torch.initial_seed): manual_seed's, or the one drawn
    from the OS when it was made."""
    global _seed
    if _seed is None:
        _seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    return _seed


def seed() -> int:
    """Reseed the default generator from the OS (torch.seed); returns the new seed."""
    new = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    manual_seed(new)
    return new


def get_rng_state() -> dict:
    """A copy of the default generator's state (numpy's bit-generator state dict, where
    torch.get_rng_state returns a ByteTensor); give it to set_rng_state to replay."""
    return _copy.deepcopy(default_generator().bit_generator.state)


def set_rng_state(new_state: dict) -> None:
    """Restore the default generator to a state from get_rng_state (torch.set_rng_state)."""
    generator = default_generator()
    if not isinstance(new_state, dict):
        raise TypeError(f"set_rng_state: expected a state from get_rng_state(), got "
                        f"{type(new_state).__name__}")
    expected = generator.bit_generator.state["bit_generator"]
    if new_state.get("bit_generator") != expected:
        raise ValueError(f"set_rng_state: expected a {expected} state from get_rng_state(), "
                         f"got one of {new_state.get('bit_generator')!r}")
    generator.bit_generator.state = _copy.deepcopy(new_state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True):
    """A block whose random draws from the default generator do not disturb it: its state is
    restored on exit (torch.random.fork_rng; ``devices`` is accepted and ignored: CPU only)."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def get_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself, or the default generator when it is None."""
    return default_generator() if rng is None else rng


def give_copies_own_rngs(original, copies) -> None:
    """Give each deep copy of the module ``original`` generators of its own.

    A deep copy duplicates a Generator with its state, so copies would draw identical dropout
    masks. Each generator held by ``original`` (an ``rng`` attribute) is replaced, in every copy,
    by a child spawned from it; one generator shared by several sub-modules stays shared within a
    copy. The default generator (``rng`` None) needs nothing: it is one stream for everyone."""
    for copy in copies:
        children: dict[int, np.random.Generator] = {}
        for source, target in zip(original.modules(), copy.modules()):
            rng = source.__dict__.get("rng")
            if isinstance(rng, np.random.Generator):
                if id(rng) not in children:
                    children[id(rng)] = _child(rng)
                target.__dict__["rng"] = children[id(rng)]


def _child(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator derived from ``rng`` (Generator.spawn needs numpy >= 1.25)."""
    if hasattr(rng, "spawn"):
        return rng.spawn(1)[0]
    return np.random.default_rng(int(rng.integers(2**63)))
