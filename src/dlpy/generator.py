"""dlpy.Generator: torch.Generator on the CPU, stream for stream.

Its engine is torch's CPUGeneratorImpl: a 32-bit Mersenne Twister seeded by init_genrand with
the seed's low 32 bits (numpy's MT19937, whose ``random_raw`` gives the same outputs), plus
torch's cached second Box-Muller normals (one double, one float). dlpy.random_streams turns
its outputs into values as torch's ATen CPU kernels do, so ``manual_seed(s)`` then ``randn``,
``rand``, a layer's initial weights or a DataLoader's order give torch's numbers. It *is* a
``numpy.random.Generator``, so every dlpy function that takes ``rng=`` accepts it; numpy's own
methods (``rng.random()``, ...) still draw numpy's transforms, from the same engine. Kept apart
from dlpy.random because numpy.random costs import time: imported on first use."""

from __future__ import annotations

import numpy as np

from dlpy.device import CPU, as_device

# torch's default seed (c10::default_rng_seed_val): a fresh Generator() starts from it
DEFAULT_SEED = 67280421310721
STATE_SIZE = 5056  # bytes of torch's CPUGeneratorImplState
_MT_N = 624


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


class TorchMT19937(np.random.MT19937):
    """numpy's MT19937 carrying torch's two cached Box-Muller normals: its ``state`` (what
    deep copies, pickles and ``bit_generator.state`` savers keep) includes them."""

    next_double_normal: float | None = None
    next_float_normal: float | None = None

    def seed_torch(self, seed: int) -> None:
        """torch's manual_seed: init_genrand(seed & 0xffffffff), the caches cleared."""
        self._legacy_seeding(seed & 0xFFFFFFFF)
        self.next_double_normal = self.next_float_normal = None

    @property
    def state(self) -> dict:
        state = np.random.MT19937.state.__get__(self)
        return {**state, "next_double_normal": self.next_double_normal,
                "next_float_normal": self.next_float_normal}

    @state.setter
    def state(self, value: dict) -> None:
        np.random.MT19937.state.__set__(self, {"bit_generator": type(self).__name__,
                                               "state": value["state"]})
        self.next_double_normal = value.get("next_double_normal")
        self.next_float_normal = value.get("next_float_normal")

    def random32(self, count: int) -> np.ndarray:
        """``count`` outputs of torch's ``random()`` (uint32 values, as uint64)."""
        return self.random_raw(count)

    def random64(self, count: int) -> np.ndarray:
        """``count`` outputs of torch's ``random64()``: two random() each, the first the high
        word."""
        words = self.random_raw(2 * count).reshape(count, 2)
        return (words[:, 0] << np.uint64(32)) | words[:, 1]


class Generator(np.random.Generator):
    """torch.Generator(device='cpu'): manual_seed, seed, initial_seed, get_state/set_state
    (torch's 5056-byte layout), clone_state; a numpy Generator over torch's engine.

    A fresh Generator is seeded with torch's default seed (67280421310721), as in torch."""

    def __init__(self, device="cpu"):
        if isinstance(device, np.random.BitGenerator):  # a copy being rebuilt
            super().__init__(device)
            self._initial_seed = None
            return
        as_device(device, "Generator")  # the CPU ("cpu", "cpu:0", a device); else RuntimeError
        engine = TorchMT19937()
        engine.seed_torch(DEFAULT_SEED)
        super().__init__(engine)
        self._initial_seed = DEFAULT_SEED

    @property
    def device(self):
        """``dlpy.device("cpu")``, as torch's (a CPU generator's device has no index)."""
        return CPU

    def manual_seed(self, seed: int) -> Generator:
        """Reseed in place (objects holding this generator see the new stream); returns self.
        The engine takes the seed's low 32 bits; initial_seed() gives it whole, as torch's."""
        seed = _check_seed(seed, "Generator.manual_seed")
        self.bit_generator.seed_torch(seed)
        self._initial_seed = seed
        return self

    def seed(self) -> int:
        """Reseed from the OS's entropy; returns the new seed."""
        new = os_seed()
        self.manual_seed(new)
        return new

    def initial_seed(self) -> int:
        """The seed given to the last manual_seed/seed/set_state (torch's default seed
        before any)."""
        if self._initial_seed is None:
            self._initial_seed = DEFAULT_SEED
        return self._initial_seed

    def spawn(self, n_children: int) -> list:
        """``n_children`` generators seeded from this one's random64() draws (a deep copy of
        a module gives each copy its own)."""
        return [Generator().manual_seed(int(s)) for s in self.bit_generator.random64(n_children)]

    def get_state(self):
        """torch's state: a uint8 Tensor of 5056 bytes (the seed, the Mersenne Twister's
        words and position, the cached normals), which torch's set_state takes too."""
        from dlpy.tensor import Tensor

        return Tensor(state_bytes(self.bit_generator, self.initial_seed()))

    def set_state(self, new_state, caller: str = "Generator.set_state") -> Generator:
        """Restore a state from get_state / get_rng_state (dlpy's or torch's); returns self."""
        from dlpy.ops import ArgError

        data = getattr(new_state, "data", None)
        if not isinstance(data, np.ndarray):
            raise TypeError(f"{caller}: expected a state from get_rng_state() or get_state() "
                            f"(a uint8 tensor), got {type(new_state).__name__}")
        if data.dtype != np.uint8:  # torch's TypeError
            raise TypeError(f"{caller}: expected a torch.ByteTensor, but got a tensor of "
                            f"{data.dtype}")
        if data.size != STATE_SIZE:  # (torch 2.13 no longer takes the legacy 5048 bytes)
            raise ArgError(f"{caller}: expected a CPUGeneratorImplState of size {STATE_SIZE} "
                           f"but found the input RNG state size to be {data.size}")
        self._initial_seed = load_state_bytes(self.bit_generator, data.reshape(-1))
        return self

    def clone_state(self) -> Generator:
        """A new Generator at the same state (and initial seed): both then draw the same."""
        clone = Generator()
        clone.bit_generator.state = self.bit_generator.state
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
        return f"<dlpy.Generator (torch's mt19937) initial_seed={self._initial_seed}>"

    __str__ = __repr__


def _rebuild(bit_generator, initial_seed) -> Generator:
    generator = Generator(bit_generator)
    generator._initial_seed = initial_seed
    return generator


# torch's CPUGeneratorImplState, little-endian: the_initial_seed u64 @0, left i32 @8,
# seeded i32 @12, next u64 @16, state u64[624] @24, normal_x f64 @5016, normal_y f64 @5024,
# normal_rho f64 @5032, normal_is_valid i32 @5040, (pad), next_float_normal_sample f32 @5048,
# is_next_float_normal_sample_valid bool @5052
_WORDS = 24
_NORMAL_Y, _NORMAL_VALID = 5024, 5040
_FLOAT_SAMPLE, _FLOAT_VALID = 5048, 5052


def _fresh_key(seed: int) -> np.ndarray:
    engine = np.random.MT19937()
    engine._legacy_seeding(seed & 0xFFFFFFFF)
    return engine.state["state"]["key"]


def state_bytes(engine: TorchMT19937, initial_seed: int) -> np.ndarray:
    """The engine's state in torch's 5056-byte layout."""
    mt = np.random.MT19937.state.__get__(engine)["state"]
    key, position = np.asarray(mt["key"], np.uint32), int(mt["pos"])
    if position == _MT_N and np.array_equal(key, _fresh_key(initial_seed)):
        left, next_ = 1, 0  # just seeded: torch's engine has not twisted yet
    else:
        left, next_ = _MT_N - position + 1, position
    out = np.zeros(STATE_SIZE, np.uint8)
    out[0:8] = np.frombuffer(np.uint64(initial_seed).tobytes(), np.uint8)
    out[8:16] = np.frombuffer(np.array([left, 1], "<i4").tobytes(), np.uint8)
    out[16:24] = np.frombuffer(np.uint64(next_).tobytes(), np.uint8)
    out[_WORDS:_WORDS + 8 * _MT_N] = np.frombuffer(key.astype("<u8").tobytes(), np.uint8)
    if engine.next_double_normal is not None:
        out[_NORMAL_Y:_NORMAL_Y + 8] = np.frombuffer(
            np.float64(engine.next_double_normal).tobytes(), np.uint8)
        out[_NORMAL_VALID] = 1
    if engine.next_float_normal is not None:
        out[_FLOAT_SAMPLE:_FLOAT_SAMPLE + 4] = np.frombuffer(
            np.float32(engine.next_float_normal).tobytes(), np.uint8)
        out[_FLOAT_VALID] = 1
    return out


def load_state_bytes(engine: TorchMT19937, data: np.ndarray) -> int:
    """Set the engine from torch's layout (5056 bytes); returns the initial seed it holds."""
    raw = data.tobytes()
    seed = int(np.frombuffer(raw[0:8], "<u8")[0])
    next_ = int(np.frombuffer(raw[16:24], "<u8")[0])
    key = np.frombuffer(raw[_WORDS:_WORDS + 8 * _MT_N], "<u8").astype(np.uint32)
    position = _MT_N if next_ == 0 else next_  # next 0 (with left 1): twist on the next draw
    np.random.MT19937.state.__set__(engine, {
        "bit_generator": type(engine).__name__, "state": {"key": key, "pos": position}})
    valid = np.frombuffer(raw[_NORMAL_VALID:_NORMAL_VALID + 4], "<i4")[0]
    engine.next_double_normal = float(np.frombuffer(raw[_NORMAL_Y:_NORMAL_Y + 8], "<f8")[0]) \
        if valid else None
    engine.next_float_normal = None
    if len(raw) == STATE_SIZE and raw[_FLOAT_VALID]:
        engine.next_float_normal = float(np.frombuffer(raw[_FLOAT_SAMPLE:_FLOAT_SAMPLE + 4],
                                                       "<f4")[0])
    return seed
