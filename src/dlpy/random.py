"""One default random generator: what layers, dropout and DataLoader shuffling draw from when they
are not given their own ``rng``. ``manual_seed(s)`` reseeds it in place (objects that already hold
it see the new stream), so a seeded run is reproducible bit for bit. It is torch's CPU generator
(a dlpy.Generator: torch's Mersenne Twister, its transforms in dlpy.random_streams), so after
``manual_seed(s)`` draws, initial weights and shuffles are torch's numbers."""

from __future__ import annotations

import contextlib

import numpy as np

_default = None  # a dlpy.Generator, made on first use: numpy.random costs import time
_meta_draws: list = [None]  # dlpy.meta.shape_draws (the same list), set while building on meta


def _default_generator():
    """The dlpy.Generator used where no ``rng`` is given (seeded from the OS until
    manual_seed); ``dlpy.default_generator`` and ``dlpy.random.default_generator`` are this
    object (torch.default_generator, torch.random.default_generator: libraries call its
    ``initial_seed()``), made on first access."""
    global _default
    if _default is None:
        from dlpy.generator import Generator, os_seed

        _default = Generator().manual_seed(os_seed())
    return _default


def __getattr__(name: str):
    if name == "default_generator":  # the object, as torch.random's (calling it returns itself)
        return _default_generator()
    raise AttributeError(f"module 'dlpy.random' has no attribute {name!r}")


def manual_seed(seed: int):
    """Reseed the default generator (as ``torch.manual_seed``, which takes ``int(seed)``: a
    float is truncated, a negative int mapped to 2^64 + seed); returns it."""
    return _default_generator().manual_seed(int(seed))


def initial_seed() -> int:
    """The seed of the default generator (torch.initial_seed): manual_seed's, or the one drawn
    from the OS when it was made."""
    return _default_generator().initial_seed()


def seed() -> int:
    """Reseed the default generator from the OS (torch.seed); returns the new seed."""
    return _default_generator().seed()


def get_rng_state():
    """A copy of the default generator's state: torch's uint8 tensor of 5056 bytes (a state
    saved by torch restores here, and the other way); give it to set_rng_state to replay. The
    same as ``dlpy.default_generator.get_state()``."""
    return _default_generator().get_state()


def set_rng_state(new_state) -> None:
    """Restore the default generator to a state from get_rng_state (torch.set_rng_state)."""
    _default_generator().set_state(new_state, "set_rng_state")


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, _caller: str = "fork_rng",
             _devices_kw: str = "devices", device_type: str = "cuda"):
    """A block whose random draws from the default generator do not disturb it: its state is
    restored on exit (torch.random.fork_rng; ``devices`` and ``device_type`` are accepted and
    ignored: CPU only)."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def thread_safe_generator():
    """The generator a data transform should draw from (torch.random.thread_safe_generator):
    None, meaning the default generator. torch gives each DataLoader worker thread its own
    generator here; dlpy's workers are processes (or the main thread), which already have
    their own default generator."""
    return None


def get_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """``rng`` itself, or the default generator when it is None (while a layer is built on
    the meta device, dlpy.meta's generator of meta arrays)."""
    if rng is None:
        return _default_generator() if _meta_draws[0] is None else _meta_draws[0]
    return rng


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
