"""One default random generator: what layers, dropout and DataLoader shuffling draw from when they
are not given their own ``rng``. ``manual_seed(s)`` reseeds it in place (objects that already hold
it see the new stream), so a seeded run is reproducible bit for bit."""

from __future__ import annotations

import numpy as np

_default: np.random.Generator | None = None  # made on first use: numpy.random costs import time


def default_generator() -> np.random.Generator:
    """The generator used where no ``rng`` is given (seeded from the OS until manual_seed)."""
    global _default
    if _default is None:
        _default = np.random.default_rng()
    return _default


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator (as ``torch.manual_seed``); returns it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    generator = default_generator()
    generator.bit_generator.state = np.random.PCG64(int(seed)).state
    return generator


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
