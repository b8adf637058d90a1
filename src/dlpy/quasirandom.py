"""torch.quasirandom.SobolEngine: Sobol' low-discrepancy sequences, with torch's direction
numbers, so unscrambled draws equal torch's bit for bit.

The direction numbers are Joe and Kuo's (new-joe-kuo-6.21201), as torch uses them, for the first
1111 dimensions (every primitive polynomial up to degree 13; torch ships 21201): the initial
numbers were read from torch's own state and are stored packed in dlpy/_sobol_table.py; the
polynomials are the primitive ones in increasing order, and the table's maker checked that the
recurrence rebuilds torch's state for every dimension. Points are generated in Gray-code order:
point c+1 = point c XOR v[lowest zero bit of c]. Scrambling (``scramble=True``) is torch's: a
random lower-triangular binary matrix per dimension applied to the direction numbers (a linear
matrix scramble) and a random digital shift. With a ``seed`` the bits are torch's own: its
CPU generator is a Mersenne Twister seeded as numpy's legacy MT19937 (init_genrand of the
seed's low 32 bits) and ``randint(2)`` keeps each 32-bit output's low bit, so seeded scrambled
points equal torch's bit for bit (BoTorch's seeded samplers rely on it). Without a seed they
come from the default generator (numpy's PCG64, dlpy.Generator): they differ from torch's but
keep the same balance properties."""

from __future__ import annotations

import numpy as np

from dlpy.tensor import Tensor, default_dtype

__all__ = ["SobolEngine"]

MAXBIT = 30


def _lowest_zero_bit(counts: np.ndarray) -> np.ndarray:
    """The index of the lowest 0 bit of each count (torch's rightmost_zero)."""
    lowest = (counts + 1) & ~counts  # that bit alone, as a power of two
    return np.log2(lowest.astype(np.float64)).astype(np.int64)


def direction_numbers(dimension: int) -> np.ndarray:
    """(dimension, 30) int64: v[d, j] = m[d, j] * 2^(29 - j), torch's initialized sobolstate."""
    from dlpy._sobol_table import initial_numbers

    polys, initial = initial_numbers(dimension)
    degrees = np.array([p.bit_length() - 1 for p in polys])
    m = np.ones((dimension, MAXBIT), np.int64)  # dimension 0 (polynomial 1): every m is 1
    for s in range(1, int(degrees.max()) + 1):  # the dimensions of one degree at once
        rows = np.flatnonzero(degrees == s)
        if rows.size == 0:
            continue
        block = np.array([initial[d] for d in rows], np.int64).reshape(rows.size, s)
        block = np.concatenate([block, np.zeros((rows.size, MAXBIT - s), np.int64)], axis=1)
        coefficients = np.array([[(polys[d] >> (s - k)) & 1 for k in range(s)] for d in rows])
        for j in range(s, MAXBIT):  # Bratley and Fox's recurrence over GF(2)
            new = block[:, j - s] ^ (block[:, j - s] << s)
            for k in range(1, s):
                new ^= (block[:, j - k] << k) * coefficients[:, k]
            block[:, j] = new
        m[rows] = block
    return m << (MAXBIT - 1 - np.arange(MAXBIT))


def scramble_direction_numbers(sobolstate: np.ndarray, ltm: np.ndarray) -> np.ndarray:
    """torch's _sobol_engine_scramble_: each v[d, j] as 30 bits (most significant first) times
    the lower-triangular binary matrix ltm[d] (its diagonal set to 1), modulo 2.
    sobolstate (dimension, 30) int64, ltm (dimension, 30, 30) 0/1."""
    matrices = np.tril(np.asarray(ltm, np.int64))
    idx = np.arange(MAXBIT)
    matrices[:, idx, idx] = 1
    weights = np.int64(1) << (MAXBIT - 1 - idx)  # bit k (from the top) is worth 2^(29 - k)
    bits = (sobolstate[:, :, None] >> (MAXBIT - 1 - idx)) & 1  # (dimension, j, k)
    new_bits = np.einsum("dpk,djk->djp", matrices, bits) & 1
    return new_bits @ weights


def torch_randint2(seed: int, n: int) -> np.ndarray:
    """The n values (int64, 0 or 1) that torch.randint(2, (n,)) draws from a CPU generator
    seeded with ``seed``: its mt19937 (seeded with seed mod 2^32, as numpy's legacy seeding)
    gives 32-bit outputs and randint keeps each one modulo 2."""
    bit_generator = np.random.MT19937()
    bit_generator._legacy_seeding(int(seed) % 2 ** 32)
    return (bit_generator.random_raw(n) & 1).astype(np.int64)


class SobolEngine:
    """torch.quasirandom.SobolEngine(dimension, scramble=False, seed=None): draw(n),
    draw_base2(m), fast_forward(n), reset(). Draws are (n, dimension) tensors in [0, 1) in the
    default dtype (or ``dtype``). ``seed`` seeds the scrambling (None: the default generator)."""

    MAXBIT = MAXBIT
    MAXDIM = 1111  # torch: 21201 (see the module's docstring)

    def __init__(self, dimension: int, scramble: bool = False, seed: int | None = None):
        if (isinstance(dimension, bool) or not isinstance(dimension, (int, np.integer))
                or not 1 <= dimension <= self.MAXDIM):
            raise ValueError(f"SobolEngine: dimension must be an integer in [1, {self.MAXDIM}] "
                             f"(dlpy ships the first {self.MAXDIM} of torch's 21201), got "
                             f"{dimension!r}")
        self.seed, self.scramble, self.dimension = seed, bool(scramble), int(dimension)
        self.sobolstate = direction_numbers(self.dimension)
        if self.scramble:
            self._scramble()
        else:
            self.shift = np.zeros(self.dimension, np.int64)
        self.quasi = self.shift.copy()
        # in the default dtype, as torch (whose scrambled first point is so float32-rounded
        # even in a float64 draw)
        self._first_point = (self.quasi / 2 ** MAXBIT).astype(default_dtype()).reshape(1, -1)
        self.num_generated = 0

    def _scramble(self) -> None:
        shape = (self.dimension, MAXBIT)
        if self.seed is None:
            from dlpy.random import get_rng

            generator = get_rng(None)
            shift_bits = generator.integers(0, 2, shape)
            ltm = generator.integers(0, 2, (*shape, MAXBIT))
        else:  # torch's randint(2, ..., generator=Generator().manual_seed(seed)), in its order
            from dlpy.generator import _check_seed

            seed = _check_seed(self.seed, "Generator.manual_seed")  # torch's refusals
            bits = torch_randint2(seed, self.dimension * MAXBIT * (1 + MAXBIT))
            shift_bits = bits[:self.dimension * MAXBIT].reshape(shape)
            ltm = bits[self.dimension * MAXBIT:].reshape(*shape, MAXBIT)
        self.shift = shift_bits @ (np.int64(1) << np.arange(MAXBIT))
        self.sobolstate = scramble_direction_numbers(self.sobolstate, ltm)

    def _advance(self, n: int, start: int) -> np.ndarray:
        """The next n points after self.quasi, (n, dimension) int64; counts from ``start``.
        Few values: the recurrence (point c+1 = point c ^ v[lowest zero bit of c]) as one
        cumulative XOR; many: _blocks, 2-4x faster from about 2^15 values (its tables cost
        more than the scan below)."""
        if n * self.dimension <= 1 << 15:
            columns = _lowest_zero_bit(np.arange(start, start + n, dtype=np.int64))
            points = np.bitwise_xor.accumulate(
                np.ascontiguousarray(self.sobolstate.T)[columns], axis=0)  # (n, dimension)
            points ^= self.quasi
        else:
            points = self._blocks(n, start)
        if n:
            self.quasi = points[-1].copy()
        return points

    def _blocks(self, n: int, start: int) -> np.ndarray:
        """_advance's points i = start+1..start+n (n > 0) in closed form: point i is
        shift ^ P(gray(i)), P(g) the XOR of the direction numbers v[j] of g's set bits, so
        they are quasi ^ P(gray(start)) ^ P(gray(i)). With i = hi * 2^b + lo, gray(i) =
        gray(hi) << b ^ (hi & 1) << (b - 1) ^ gray(lo): one table over the 2^b low parts and
        one over the blocks, joined by a single broadcast XOR (no sequential scan)."""
        first, last = start + 1, start + n  # the point numbers
        bits = max(1, (n.bit_length() + 1) // 2)  # 2^b low parts, about sqrt(n) blocks
        v = self.sobolstate.T  # (30, dimension)
        lo = np.arange(1 << bits)
        low = _xor_table(v[:bits])[lo ^ (lo >> 1)]  # low[lo] = P(gray(lo))
        first_block, last_block = first >> bits, last >> bits
        # high[h] = P(gray(hi) << b) by the recurrence over the few blocks, from hi's first
        high = np.zeros((last_block - first_block + 1, self.dimension), np.int64)
        high[1:] = v[bits + _lowest_zero_bit(np.arange(first_block, last_block))]
        high = np.bitwise_xor.accumulate(high, axis=0)
        # the bit (hi & 1) << (b - 1) of gray(i) that neither gray(hi) << b nor gray(lo) has
        high[np.arange(first_block, last_block + 1) & 1 == 1] ^= v[bits - 1]
        high ^= self.quasi ^ _xor_of(v, (_gray(first_block) << bits) ^ _gray(start))
        points = (high[:, None, :] ^ low[None, :, :]).reshape(-1, self.dimension)
        offset = first - (first_block << bits)
        return points[offset:offset + n]

    def draw(self, n: int = 1, out: Tensor | None = None, dtype=None) -> Tensor:
        """The next n points, (n, dimension); ``out``: a Tensor whose data they replace."""
        n = _count("draw", "n", n)
        dtype = default_dtype(dtype)
        if self.num_generated == 0:
            first = self._first_point[:min(n, 1)]
            points = np.concatenate([first.astype(dtype),
                                     _scaled(self._advance(max(n - 1, 0), 0), dtype)])
        else:
            points = _scaled(self._advance(n, self.num_generated - 1), dtype)
        self.num_generated += n
        result = Tensor(points)
        if out is not None:
            if not isinstance(out, Tensor):
                raise TypeError(f"SobolEngine.draw: out must be a Tensor, got "
                                f"{type(out).__name__}")
            out.data = result.data
            return out
        return result

    def draw_base2(self, m: int, out: Tensor | None = None, dtype=None) -> Tensor:
        """The next 2^m points; the total drawn must stay a power of two (balance)."""
        n = 2 ** _count("draw_base2", "m", m)
        total = self.num_generated + n
        if total & (total - 1):
            raise ValueError(f"SobolEngine.draw_base2: the balance properties of Sobol' points "
                             f"require n to be a power of 2; {self.num_generated} points were "
                             f"drawn before, then n={self.num_generated}+2**{m}={total}. Use "
                             "draw() to draw them anyway")
        return self.draw(n, out=out, dtype=dtype)

    def reset(self) -> SobolEngine:
        """Back to the first point."""
        self.quasi = self.shift.copy()
        self.num_generated = 0
        return self

    def fast_forward(self, n: int) -> SobolEngine:
        """Skip n points (as n draws would, without making them)."""
        n = _count("fast_forward", "n", n)
        start = self.num_generated - 1 if self.num_generated else 0
        steps = n if self.num_generated else n - 1
        if steps > 0:  # point i is shift ^ P(gray(i)) (_blocks): O(1), no loop over the steps
            self.quasi = self.quasi ^ _xor_of(self.sobolstate.T,
                                              _gray(start) ^ _gray(start + steps))
        self.num_generated += n
        return self

    def __repr__(self) -> str:
        settings = [f"dimension={self.dimension}"]
        if self.scramble:
            settings.append("scramble=True")
        if self.seed is not None:
            settings.append(f"seed={self.seed}")
        return f"SobolEngine({', '.join(settings)})"


def _xor_table(v: np.ndarray) -> np.ndarray:
    """(2^k, dimension): row g the XOR of the rows v[j] (v: (k, dimension)) of g's set bits,
    built by doubling: the second half of the first 2^(j+1) rows is the first half ^ v[j]."""
    table = np.zeros((1 << v.shape[0], v.shape[1]), np.int64)
    for j in range(v.shape[0]):
        table[1 << j:2 << j] = table[:1 << j] ^ v[j]
    return table


def _gray(count: int) -> int:
    return count ^ (count >> 1)


def _xor_of(v: np.ndarray, code: int) -> np.ndarray:
    """(dimension,): the XOR of the rows v[j] of code's set bits j."""
    return np.bitwise_xor.reduce(v[[j for j in range(code.bit_length()) if code >> j & 1]],
                                 axis=0)


def _scaled(points: np.ndarray, dtype) -> np.ndarray:
    """points / 2^30 in ``dtype`` (exact in float64; one rounding in float32, as torch's: the
    conversion of the integer rounds as that of the quotient, 2^-30 being a power of two)."""
    if np.dtype(dtype) in (np.float32, np.float64):
        scaled = points.astype(dtype)
        scaled *= 1.0 / 2 ** MAXBIT
        return scaled
    return np.multiply(points, 1.0 / 2 ** MAXBIT, dtype=np.float64).astype(dtype, copy=False)


def _count(name: str, what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"SobolEngine.{name}: {what} must be a non-negative integer, got "
                         f"{value!r}")
    return int(value)
