"""torch's CPU random transforms on a dlpy.Generator's engine, vectorised.

Each function takes ``rng``: a dlpy.Generator (torch's engine: the values are those of torch's
ATen CPU kernel, draw for draw) or any other numpy Generator (numpy's own draws, as dlpy's
``rng=`` API always gave; the meta device's shape-only generator too). Shapes are tuples,
results numpy arrays. torch's kernels, in its words (aten/src/ATen/core/DistributionsHelper.h,
TransformationHelper.h, native/cpu/DistributionTemplates.h):

- uniform: float32 (and the half types, cast) from one ``random()``'s 24 low bits, float64
  from ``random64()``'s 53 low bits; ``x * (to - from) + from`` in the dtype's accumulate type.
- normal of >= 16 values: the uniforms first, then Box-Muller on blocks of 16 (the first 8 with
  the last 8), the tail block redrawn and recomputed; float32 through avx_mathfun's log and
  sincos. Fewer: one ``normal_distribution<double>`` a value, the second normal cached.
- integers: ``random() % range + low``, or ``random64()`` for ranges >= 2^32.
"""

from __future__ import annotations

import math

import numpy as np

_TWO_PI = 2.0 * math.pi


_ENGINE: list = []  # dlpy.generator.TorchMT19937, once imported (numpy.random costs import time)


def is_torch(rng) -> bool:
    """Whether ``rng`` draws torch's streams (a dlpy.Generator)."""
    if not _ENGINE:
        from dlpy.generator import TorchMT19937

        _ENGINE.append(TorchMT19937)
    return isinstance(getattr(rng, "bit_generator", None), _ENGINE[0])


def _size(shape) -> int:
    return int(math.prod(shape))  # (np.prod costs microseconds a call)


def _float_kind(dtype) -> str:
    """'d' float64, 'f' float32, 'h' float16, 'b' bfloat16."""
    dtype = np.dtype(dtype)
    if dtype == np.float64:
        return "d"
    if dtype == np.float16:
        return "h"
    if dtype.itemsize == 2:
        return "b"
    return "f"


def _fma(x, y, z, dtype):
    from dlpy.creation import _fma as fused

    return np.asarray(fused(x, y, z, dtype))


def _unit(engine, count: int, kind: str) -> np.ndarray:
    """``count`` uniforms in [0, 1) as torch's uniform_real_distribution<T>(0, 1) (float64 for
    'd', float32 otherwise: the accumulate type)."""
    if kind == "d":  # (below 2^53: int64 converts faster than uint64)
        bits = (engine.random64(count) & np.uint64(2 ** 53 - 1)).view(np.int64)
        return bits.astype(np.float64) * 2.0 ** -53
    values = _bits24(engine, count).astype(np.float32)
    values *= np.float32(2.0 ** -24)
    return values


def _bits24(engine, count: int) -> np.ndarray:
    """The 24 low bits of ``count`` random() outputs, as int32 (a float32 uniform's)."""
    if count >= _MANY_WORDS:  # numpy's full-range uint32 integers are the engine's outputs as
        # they come (one next_uint32 each, as random_raw's), in half random_raw's memory
        words = np.random.Generator(engine).integers(0, 2 ** 32, count, dtype=np.uint32)
        words &= np.uint32(2 ** 24 - 1)
        return words.view(np.int32)
    # the low 32-bit words of the uint64 outputs (little-endian), masked, as int32
    return (engine.random32(count).view(np.uint32)[::2] & np.uint32(2 ** 24 - 1)).view(np.int32)


_MANY_WORDS = 2 ** 16  # from so many outputs integers() is faster (half the temporaries'
# memory: 1,000,000 float32 uniforms 8.0 -> 3.8 ms); below, random_raw (integers costs ~10 us
# a call more)


def _numpys(values, dtype) -> np.ndarray:
    """A numpy Generator's draws in ``dtype``; the meta device's shape-only draws as they come
    (a MetaArray's astype would allocate its values: the Parameter or Tensor casts it)."""
    from dlpy.device import MetaArray

    if isinstance(values, MetaArray):
        return values
    return np.asarray(values).astype(dtype, copy=False)


def _cast(values: np.ndarray, dtype) -> np.ndarray:
    return values.astype(dtype, copy=False)


def uniform(rng, shape, dtype=np.float64, low=0.0, high=1.0) -> np.ndarray:
    """torch's uniform_(low, high) (rand: 0, 1)."""
    if not is_torch(rng):
        return _numpys(rng.uniform(low, high, shape), dtype)
    kind = _float_kind(dtype)
    if kind != "d" and low == -high:
        symmetric = _symmetric32(rng.bit_generator, _size(shape), dtype, high)
        if symmetric is not None:
            values = _cast(symmetric, dtype).reshape(shape)
            return values if kind == "f" else _wrap_top(values, dtype, low, high)
    return _uniform_fused(rng, shape, dtype, low, high)


def _uniform_fused(rng, shape, dtype, low, high) -> np.ndarray:
    """uniform's values in general: ``x * (high - low) + low`` fused, x the unit uniforms."""
    kind = _float_kind(dtype)
    x = _unit(rng.bit_generator, _size(shape), kind).reshape(shape)
    if low == 0.0 and high == 1.0:
        values = _cast(x, dtype)
        return values if kind in "df" else _wrap_top(values, dtype, low, high)
    if kind == "d":
        return _wrap_top(_fma(x, float(high) - float(low), float(low), np.float64), dtype, low,
                         high)
    # the bounds and the arithmetic in float32, also for the half types (torch rounds only the
    # result to float16 / bfloat16)
    low32, high32 = np.float32(low), np.float32(high)
    values = _cast(_madd(x, np.float32(high32 - low32), low32), dtype)
    return _wrap_top(values, dtype, low, high)


def _symmetric32(engine, count: int, dtype, bound) -> np.ndarray | None:
    """uniform_(-bound, bound)'s float32 values (a layer's initial weights), faster: with
    b = bound in float32, the fused ``x * (b - -b) + -b`` is b * (2x - 1) = b * 2^-23 * m,
    m = k - 2^23 for the uniform's 24 bits k; that product of two 24-bit numbers is exact in
    float64, so one rounding to float32 gives the fused result, which stays below b (no wrap
    in float32: b (1 - 2^-23) is at least an ulp below a normal b). None where 2b overflows
    float32, b is subnormal, or b <= 0 (a -0 the general path has not)."""
    top = float(np.float32(bound))
    if not 2.0 ** -126 <= top < 2.0 ** 127:
        return None
    scaled = (_bits24(engine, count) - np.int32(2 ** 23)).astype(np.float64)
    return (scaled * (top * 2.0 ** -23)).astype(np.float32)


def _wrap_top(values: np.ndarray, dtype, low, high) -> np.ndarray:
    """torch's uniform_ keeps [low, high): a value the rounding took to ``high`` is ``low``
    (seen for float16 / bfloat16 rand, where 1 - 2^-13 rounds to 1)."""
    top = np.asarray(high, dtype).astype(np.float64)
    at_top = np.asarray(values).astype(np.float64) == top
    if at_top.any():
        values = np.where(at_top, np.asarray(low, dtype), values).astype(dtype)
    return values


def normal(rng, shape, dtype=np.float64, mean=0.0, std=1.0, contiguous=True) -> np.ndarray:
    """torch's normal_(mean, std) (randn: 0, 1). ``contiguous``: whether the tensor filled
    is; torch's batched fills of 16 or more values take only a contiguous one, a strided one
    gets the one-at-a-time draws of any size."""
    if not is_torch(rng):
        values = rng.normal(mean, std, shape) if (mean, std) != (0.0, 1.0) else \
            rng.standard_normal(shape)
        return _numpys(values, dtype)
    count = _size(shape)
    if count >= 16 and contiguous:
        kind = _float_kind(dtype)
        if kind == "f":
            return _normal_fill_avx2(rng.bit_generator, count, mean, std).reshape(shape)
        return _cast(_normal_fill(rng.bit_generator, count, kind, mean, std), dtype).reshape(
            shape)
    return _cast(normal_doubles(rng, count, mean, std), dtype).reshape(shape)


def normal_doubles(rng, count: int, mean=0.0, std=1.0) -> np.ndarray:
    """``count`` draws of torch's normal_distribution<double>(mean, std): Box-Muller pairs,
    the sine cached in the generator for the next draw (any later call's first)."""
    return _box_muller(rng.bit_generator, count, "d", mean, std)


def normal_floats(rng, count: int, mean=0.0, std=1.0) -> np.ndarray:
    """``count`` draws of torch's normal_distribution<float> (float32 uniforms and
    arithmetic, the sine cached apart from the double one)."""
    return _box_muller(rng.bit_generator, count, "f", mean, std)


def _box_muller(engine, count: int, kind: str, mean, std) -> np.ndarray:
    """normal_distribution<T>: r = sqrt(-2 log1p(-u2)), theta = 2 pi u1, r cos(theta) std +
    mean, r sin(theta) kept for the next draw (T's own cache: 'd' float64, 'f' float32)."""
    if kind == "d" and count <= _FEW:
        return _box_muller_few(engine, count, float(mean), float(std))
    return _box_muller_arrays(engine, count, kind, mean, std)


def _box_muller_arrays(engine, count: int, kind: str, mean, std) -> np.ndarray:
    """_box_muller's values in numpy arrays (any count)."""
    work = np.float64 if kind == "d" else np.float32
    cached = "next_double_normal" if kind == "d" else "next_float_normal"
    out = np.empty(count, work)
    start = 0
    if count and getattr(engine, cached) is not None:
        out[0] = getattr(engine, cached)
        setattr(engine, cached, None)
        start = 1
    pairs = (count - start + 1) // 2
    if pairs:
        u = _unit(engine, 2 * pairs, kind).reshape(pairs, 2)
        radius = np.sqrt(work(-2.0) * np.log1p(-u[:, 1]))
        theta = work(_TWO_PI) * u[:, 0]
        both = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1).reshape(-1)
        out[start:] = both[:count - start]
        if (count - start) % 2:
            setattr(engine, cached, float(both[-1]))
    return _fma(out, work(std), work(mean), work)


_FEW = 32  # at most so many double normals: in Python floats (numpy's calls cost more)
_MASK53 = 2 ** 53 - 1


def _box_muller_few(engine, count: int, mean: float, std: float) -> np.ndarray:
    """_box_muller's float64 draws, value by value: Python's math.log1p, sqrt, cos and sin are
    the C library's, the functions torch's std:: calls (and numpy's float64 ones here), and
    each uniform is an integer below 2^53 times 2^-53 (exact), so the values are the same."""
    out = []
    if count and engine.next_double_normal is not None:
        out.append(engine.next_double_normal)
        engine.next_double_normal = None
    pairs = (count - len(out) + 1) // 2
    if pairs:
        words = engine.random_raw(4 * pairs).tolist()  # random64(): the high word first
        for i in range(0, 4 * pairs, 4):
            u1 = ((words[i] << 32 | words[i + 1]) & _MASK53) * 2.0 ** -53
            u2 = ((words[i + 2] << 32 | words[i + 3]) & _MASK53) * 2.0 ** -53
            radius = math.sqrt(-2.0 * math.log1p(-u2))
            theta = _TWO_PI * u1
            out.append(radius * math.cos(theta))
            out.append(radius * math.sin(theta))
        if len(out) > count:
            engine.next_double_normal = out.pop()
    # _fma(out, std, mean)'s own shortcuts (one rounding each), else the fused sum
    if std == 1.0:
        return np.array([value + mean for value in out], np.float64)
    if mean == 0.0:
        return np.array([value * std + 0.0 for value in out], np.float64)
    return _fma(np.array(out, np.float64), std, mean, np.float64)


def _uniform_blocks(engine, count: int, kind: str) -> np.ndarray:
    """normal_fill's uniforms: ``count`` of them, then the last 16 redrawn when ``count`` is
    not a multiple of 16 (as (blocks, 16) rows, and the tail block). The half types' kernel
    draws the whole blocks' only, then the tail's 16."""
    whole = count // 16 * 16
    u = _unit(engine, whole if kind in "hb" else count, kind)
    if whole == count:
        return u.reshape(-1, 16), None
    tail = _unit(engine, 16, kind)
    return u[:whole].reshape(-1, 16), tail


def _normal_fill(engine, count: int, kind: str, mean, std) -> np.ndarray:
    """normal_fill<T> (float64, float16, bfloat16): std::log, cos and sin in the dtype's
    arithmetic (float64 for double, float32 for the half types)."""
    blocks, tail = _uniform_blocks(engine, count, kind)
    work = np.float64 if kind == "d" else np.float32

    def fill(block):
        u1 = work(1) - block[:, :8]
        u2 = block[:, 8:]
        radius = np.sqrt(work(-2) * np.log(u1))
        theta = work(_TWO_PI) * u2
        scale = work(std)
        return np.concatenate([_fma(radius * np.cos(theta), scale, work(mean), work),
                               _fma(radius * np.sin(theta), scale, work(mean), work)], axis=1)

    out = fill(blocks).reshape(-1)
    if tail is not None:
        out = np.concatenate([out, np.zeros(count - out.size, work)])
        out[count - 16:] = fill(tail.reshape(1, 16)).reshape(-1)
    return out


# avx_mathfun.h's constants (cephes' single-precision log and sincos)
_F = np.float32
_LOG_P = [_F(v) for v in (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1,
                          1.4249322787E-1, -1.6668057665E-1, 2.0000714765E-1,
                          -2.4999993993E-1, 3.3333331174E-1)]
_LOG_Q1, _LOG_Q2, _SQRTHF = _F(-2.12194440e-4), _F(0.693359375), _F(0.707106781186547524)
_DP = [_F(v) for v in (-0.78515625, -2.4187564849853515625e-4, -3.77489497744594108e-8)]
_SINCOF = [_F(v) for v in (-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1)]
_COSCOF = [_F(v) for v in (2.443315711809948E-005, -1.388731625493765E-003,
                           4.166664568298827E-002)]
_FOPI = _F(1.27323954473516)


def _madd(a, b, c):
    """a * b + c in float32 as torch's AVX2 build computes it (GCC contracts the intrinsics'
    multiply and add into one fused multiply-add): the float32 product is exact in float64, so
    one float64 sum rounded to float32 is the fused result, except where that sum landed
    exactly on a float32 halfway point (a double rounding): those few are computed exactly."""
    total = np.asarray(np.multiply(a, b, dtype=np.float64))  # (0-d: an array, for out=)
    np.add(total, c, out=total)
    out = total.astype(np.float32)
    bits = total.view(np.uint64)  # (total is not needed after this: reused in place)
    np.bitwise_and(bits, np.uint64(0x1FFFFFFF), out=bits)
    halfway = bits == np.uint64(0x10000000)
    if halfway.any():
        exact = _fma(np.broadcast_to(a, total.shape)[halfway],
                     np.broadcast_to(b, total.shape)[halfway],
                     np.broadcast_to(c, total.shape)[halfway], np.float32)
        out[halfway] = exact
    return out


# The float32 normal transform's log and sincos: their only inputs are 1 - u and 2 pi u for
# the 2^24 float32 uniforms u = k 2^-24, so each of avx_mathfun's fused multiply-adds is
# written as cheaply as those inputs allow, always with its fused value:
# - plain float32 arithmetic where the product is exact in float32 (fused: the rounded sum);
# - one float64 sum fl64(a * b) + c, rounded to float32 (_fused32), where that sum is exact:
#   a * b is (two 24-bit significands), and for a, b, c multiples of 2^p, 2^q, 2^r a sum
#   below 2^(min(p + q, r) + 53) is a float64 too; one rounding of the exact value is fused;
# - the same where the float64 sum may round: its rounding to float32 differs from the fused
#   one only if it lands exactly on a float32 halfway point (a double rounding; _madd checks
#   for it), and over all 2^24 inputs none of these steps does (tests/test_random_streams.py
#   replays every input step by step through _madd's check).
_SQRTHF_BITS = int(np.array(_SQRTHF).view(np.int32))


def _fused32(a, b, c, work: np.ndarray) -> np.ndarray:
    """fl32(a * b + c) from one float64 sum (``work``: a float64 buffer of the result's shape),
    where the caller knows that sum has no double rounding (see above)."""
    np.multiply(a, b, out=work, dtype=np.float64)
    np.add(work, c, out=work)
    return work.astype(np.float32)


def _log_avx2(v: np.ndarray) -> np.ndarray:
    """log256_ps for v = 1 - u, a float32 uniform u: v = m 2^-24 in [2^-24, 1] (contiguous;
    normal, so the kernel's clamp to the smallest normal does nothing)."""
    bits = v.view(np.int32)
    mantissa = bits & 0x007FFFFF
    mantissa |= 0x3F000000  # v's significand in [0.5, 1)
    below = mantissa - _SQRTHF_BITS
    below >>= 31  # -1 where the significand is below sqrt(1/2), else 0
    e = bits >> 23
    e += below
    e = e.astype(np.float32)
    e -= _F(126)  # the exponent + 1, less 1 where below
    x = mantissa.view(np.float32) - _F(1)
    x += (mantissa & below).view(np.float32)  # + the significand where below: exact
    work = np.empty(x.shape)
    # x is a multiple of 2^-24 in (-0.3, 0.42) and every y in [2^-4, 0.43] in magnitude (an
    # ulp >= 2^-27): y x + p is a multiple of 2^-51 below 1, exact in float64
    x_wide = x.astype(np.float64)
    y = _fused32(x_wide, float(_LOG_P[0]), float(_LOG_P[1]), work)
    for p in _LOG_P[2:]:
        y = _fused32(y, x_wide, float(p), work)
    z = x * x
    y *= x
    y = _fused32(y, z, e * _LOG_Q1, work)  # GCC fuses this product, not e's; checked
    y -= z * _F(0.5)  # -z / 2 exact (z >= 2^-48 or 0): the fused sum is the plain one
    y += x
    e *= _LOG_Q2  # exact: e has 5 bits, Q2 9
    y += e
    return y


def _sincos_avx2(x: np.ndarray):
    """sincos256_ps for x = 2 pi u, a float32 uniform u (x in [0, 2 pi)): (sin, cos)."""
    j = (x * _FOPI).astype(np.int32)  # truncation, as cvttps
    j += 1
    j &= ~1  # 0, 2, 4, 6 or 8
    y = j.astype(np.float32)
    swap_bit = j << 30  # j's bit 1 as the sign bit: where sin and cos swap polynomials
    swap = swap_bit >> 31  # -1 there
    sin_sign = j & 4
    sin_sign <<= 29
    # x - j pi / 4 in three parts. j has 2 bits, DP[0] (201 2^-8) 8 and DP[1] (2029 2^-23) 11:
    # their products are exact in float32 and the sums too (j > 0 only for x >= 0.78, a
    # multiple of 2^-24; each sum a multiple of 2^-24 below 1), so plain float32 arithmetic
    # is fused. j DP[2] is a multiple of 2^-47 (exact in float64), and so is its sum with x,
    # below 1: exact in float64, one rounding.
    x = x + y * _DP[0]
    x += y * _DP[1]
    work = np.empty(x.shape)
    x = _fused32(y, float(_DP[2]), x, work)
    z = x * x
    # the rest: checked (x and z also in float64, converted once for the float64 sums)
    x_wide, z_wide = x.astype(np.float64), z.astype(np.float64)
    c = _fused32(z_wide, float(_COSCOF[0]), float(_COSCOF[1]), work)
    c = _fused32(c, z_wide, float(_COSCOF[2]), work)
    c *= z
    c = _fused32(c, z_wide, z_wide * -0.5, work)  # (-z / 2: exact)
    c += _F(1)
    s = _fused32(z_wide, float(_SINCOF[0]), float(_SINCOF[1]), work)
    s = _fused32(s, z_wide, float(_SINCOF[2]), work)
    s *= z
    s = _fused32(s, x_wide, x_wide, work)
    # sin = s, cos = c, swapped where j & 2, then the signs (cos's: sin's, flipped where
    # swapped), in bits: no np.where (its branches cost 4x a pass on these random masks)
    sine, cosine = s.view(np.int32), c.view(np.int32)
    change = sine ^ cosine
    change &= swap
    change ^= sin_sign
    sine ^= change
    cosine ^= change
    cosine ^= swap_bit
    return s, c


_ROW = np.dtype((np.void, 32))  # 8 float32s, half a block of 16, moved as one item


def _normal_fill_avx2(engine, count: int, mean, std) -> np.ndarray:
    """normal_fill_AVX2 (float32 tensors of >= 16 values)."""
    blocks, tail = _uniform_blocks(engine, count, "f")
    mean, std = _F(mean), _F(std)
    out = np.empty(count, np.float32)
    rows = out[:blocks.size].reshape(-1, 16)
    for start in range(0, len(blocks), _CHUNK):  # chunks that stay in the cache
        _normal_blocks(blocks[start:start + _CHUNK], rows[start:start + _CHUNK], mean, std)
    if tail is not None:
        last = np.empty((1, 16), np.float32)
        _normal_blocks(tail.reshape(1, 16), last, mean, std)
        out[count - 16:] = last.reshape(-1)
    return out


def _normal_blocks(block: np.ndarray, out: np.ndarray, mean, std) -> None:
    """normal_fill_16 on each (contiguous) row of 16 uniforms of ``block``, into ``out``: the
    first 8 give r cos(theta) std + mean, the last 8 r sin(theta) std + mean."""
    halves = block.view(_ROW)  # (n, 2): the rows' first and last 8 (copied as items: fast)
    radius = halves[:, 0].copy().view(np.float32)
    np.subtract(_F(1), radius, out=radius)
    radius = _log_avx2(radius)
    radius *= _F(-2)
    np.sqrt(radius, out=radius)
    theta = halves[:, 1].copy().view(np.float32)
    theta *= _F(_TWO_PI)
    sine, cosine = _sincos_avx2(theta)
    cosine *= radius
    sine *= radius
    _scale_shift(cosine, mean, std)
    _scale_shift(sine, mean, std)
    rows = out.view(_ROW)
    rows[:, 0] = cosine.view(_ROW)
    rows[:, 1] = sine.view(_ROW)


def _scale_shift(values: np.ndarray, mean: np.float32, std: np.float32) -> None:
    """values * std + mean fused, in place (none for 0, 1, as torch's kernel). std 1: the
    product is exact, the fused value the rounded sum. mean 0: the rounded product, + mean
    for a zero's sign; the same as fused unless the product rounds to zero, which needs
    |values * std| < 2^-150: every nonzero |value| is >= 2^-40 (radius >= 2^-12, |cos|,
    |sin| >= 2^-27 over all inputs), so |std| >= 2^-64 cannot."""
    if std == 1:
        if mean != 0:
            values += mean
    elif mean == 0 and 2.0 ** -64 <= abs(std) <= 2.0 ** 64:
        values *= std
        values += mean
    else:
        values[...] = _madd(values, std, mean)


_CHUNK = 8192  # blocks of 16 per step of the float32 normal transform (4,096: the same within
# the noise; 16,384: 2x slower, the temporaries out of the cache)


def integers(rng, shape, low: int, high: int, dtype=np.int64) -> np.ndarray:
    """torch's random_(low, high) / randint: ``random() % (high - low) + low`` (random64 for a
    range of 2^28 or more, any dtype: torch's uniform_int_from_to_distribution)."""
    if not is_torch(rng):
        return _numpys(rng.integers(low, high, shape), dtype)
    count, span = _size(shape), int(high) - int(low)
    dtype = np.dtype(dtype)
    wide = span >= 2 ** 28
    raw = rng.bit_generator.random64(count) if wide else rng.bit_generator.random32(count)
    if span < 2 ** 32 and not wide:  # 32-bit arithmetic (the low words): the same, faster
        values = (raw.view(np.uint32)[::2] % np.uint32(span)).astype(np.int64) + np.int64(low)
        return values.reshape(shape).astype(dtype, copy=False)
    values = (raw % np.uint64(span)).astype(np.int64) + np.int64(low) if span < 2 ** 63 else \
        ((raw % np.uint64(span)) + np.uint64(int(low) % 2 ** 64)).astype(np.int64)
    return values.reshape(shape).astype(dtype, copy=False)


def random_full(rng, shape, dtype) -> np.ndarray:
    """torch's random_() with no bounds: 0 .. the dtype's largest integer (for floats the
    integers its mantissa holds: 2^24 for float32), int64 and float64 from random64()."""
    dtype = np.dtype(dtype)
    count = _size(shape)
    engine = rng.bit_generator
    if dtype in (np.int64, np.float64):
        raw = engine.random64(count)
    else:
        raw = engine.random32(count)
    if dtype == np.bool_:
        values = raw & np.uint64(1)
    elif dtype.kind in "iu":
        values = raw % np.uint64(int(np.iinfo(dtype).max) + 1)
    else:
        digits = {8: 53, 4: 24}.get(dtype.itemsize, 11 if dtype == np.float16 else 8)
        values = raw % np.uint64(2 ** digits + 1)
    return values.reshape(shape).astype(dtype)


def randperm(rng, n: int) -> np.ndarray:
    """torch's randperm (CPU): Fisher-Yates, swapping i with i + random() % (n - i)."""
    if not is_torch(rng):
        return rng.permutation(n)
    if n < 2:
        return np.arange(n, dtype=np.int64)
    offsets = (rng.bit_generator.random32(n - 1) % np.arange(n, 1, -1, dtype=np.uint64))
    targets = offsets.astype(np.int64) + np.arange(n - 1)
    if n > _FEW_SWAPS:
        return _swapped(targets)
    values = list(range(n))
    for i, j in enumerate(targets.tolist()):
        values[i], values[j] = values[j], values[i]
    return np.array(values, np.int64)


_FEW_SWAPS = 1024  # up to so many values the swaps run in a Python loop (_swapped costs more)


def _swapped(targets: np.ndarray) -> np.ndarray:
    """0 .. n-1 after swapping position i with targets[i] (>= i) for i = 0, 1, .., n-2 in
    turn, without a loop over the swaps. Position i is final after its swap (the later ones
    touch only positions above i) and takes what position targets[i] held then: what the last
    earlier swap with that target moved there (what that swap's position held before it), or
    targets[i] itself. What position k held before its swap is likewise what position k' held
    before its own, k' the last earlier swap with target k, or k: chains of earlier swaps,
    resolved by pointer jumping (about 6 rounds for 60,000 values). Masks select by
    arithmetic: np.where and boolean indexing cost several times more on random masks."""
    count = len(targets)  # n - 1 swaps
    steps = np.arange(count)
    shift = count.bit_length()  # (target, step) as one int64: sorted, grouped by target
    ordered = np.sort((targets << shift) | steps)  # (faster than an argsort)
    grouped, order = ordered >> shift, ordered & ((1 << shift) - 1)
    first = np.empty(count, np.int64)  # 1 where a swap is the first with its target
    first[0] = 1
    np.not_equal(grouped[1:], grouped[:-1], out=first[1:])
    # where swap i reads its value in [held, targets]: the previous swap with its target, else
    # targets[i] (at count + 1 + i)
    earlier = np.empty(count, np.int64)
    earlier[0] = 0
    earlier[1:] = order[:-1]
    source = np.empty(count, np.int64)
    source[order] = earlier + first * (order + (count + 1) - earlier)
    # position k: the last swap with target k before k's own, else k itself (its own value)
    last = np.empty(count, np.int64)  # 1 where a swap is the last with its target
    last[-1] = 1
    last[:-1] = first[1:]
    held = np.arange(count + 2)  # the one past the end takes the groups' other swaps (which
    # of them is written last there does not matter)
    held[count + 1 + last * (grouped - (count + 1))] = order
    held = held[:count + 1]
    own = np.flatnonzero(targets == steps)  # k's own swap is its group's last: the one before
    held[own] = np.where(source[own] <= count, source[own], own)
    while True:
        jumped = held[held]
        if np.array_equal(jumped, held):
            break
        held = jumped
    out = np.empty(count + 1, np.int64)
    out[:count] = np.concatenate([held, targets])[source]
    out[count] = held[count]
    return out


def bernoulli(rng, shape, p) -> np.ndarray:
    """torch's bernoulli_(p) as booleans: a float64 uniform each for a number p (or a float64
    tensor p), a float32 one for a float32/16 tensor p; ``u < p`` (the kernel torch's CPU build
    runs where MKL's is not used, as on AMD processors)."""
    if not is_torch(rng):
        return rng.random(shape) < p
    p = np.asarray(p)
    kind = "d" if p.dtype == np.float64 or p.dtype.kind in "iub" else "f"
    u = _unit(rng.bit_generator, _size(shape), kind).reshape(shape)
    return u < (p if kind == "d" else p.astype(np.float32))


def draws_before(valid: np.ndarray) -> int:
    """How many elements torch's kernels draw for before they reach the first invalid
    parameter (``valid`` False, in the order they walk: row-major here) and refuse it
    (bernoulli's p, poisson's rate are checked value by value); the size when all are valid."""
    flat = np.asarray(valid).reshape(-1)
    return int(flat.argmin()) if flat.size and not flat.all() else flat.size


def exponential(rng, shape, lambd=1.0) -> np.ndarray:
    """torch's exponential_(lambd): ``-1 / lambd * log1p(-u)``, u a float64 uniform."""
    if not is_torch(rng):
        return rng.exponential(1.0 / lambd, shape)
    u = _unit(rng.bit_generator, _size(shape), "d").reshape(shape)
    return (-1.0 / lambd) * np.log1p(-u)


def geometric(rng, shape, p) -> np.ndarray:
    """torch's geometric_(p): ``ceil(log(u) / log(1 - p))``."""
    if not is_torch(rng):
        return rng.geometric(p, shape)
    u = _unit(rng.bit_generator, _size(shape), "d").reshape(shape)
    return np.ceil(np.log(u) / np.log(1.0 - p))


def cauchy(rng, shape, median=0.0, sigma=1.0) -> np.ndarray:
    """torch's cauchy_: ``median + sigma * tan(pi * (u - 0.5))``."""
    if not is_torch(rng):
        return median + sigma * rng.standard_cauchy(shape)
    u = _unit(rng.bit_generator, _size(shape), "d").reshape(shape)
    return _fma(sigma, np.tan(math.pi * (u - 0.5)), median, np.float64)


def log_normal(rng, shape, mean=1.0, std=2.0) -> np.ndarray:
    """torch's log_normal_: exp of normal_distribution<double>(mean, std) draws."""
    if not is_torch(rng):
        return rng.lognormal(mean, std, shape)
    return np.exp(normal_doubles(rng, _size(shape), mean, std)).reshape(shape)


def kaiming_bound(fan_in: int) -> float:
    """The bound of torch's ``kaiming_uniform_(weight, a=sqrt(5))`` (Linear's and the
    convolutions' weights), computed as torch does: 1 / sqrt(fan_in) but for the last bit,
    which float32 bounds can keep."""
    if not fan_in:
        return 0.0
    gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
    return math.sqrt(3.0) * (gain / math.sqrt(fan_in))


def layer_uniform(rng, shape, dtype, bound: float) -> np.ndarray:
    """A layer's initial U(-bound, bound) values, as torch's ``init.uniform_`` on a new
    parameter of ``dtype`` (None: the default dtype; an empty one draws nothing)."""
    if dtype is None:
        from dlpy.tensor import parameter_dtype

        dtype = parameter_dtype(None, "", has_parameters=False)
    if not _size(shape):
        return np.zeros(shape, dtype)
    if np.dtype(dtype).kind == "c":  # torch's uniform_ of a complex tensor: its view_as_real's
        real = np.float64 if np.dtype(dtype) == np.complex128 else np.float32
        pairs = uniform(rng, (*shape, 2), real, -bound, bound)
        return (pairs[..., 0] + 1j * pairs[..., 1]).astype(dtype)
    return uniform(rng, tuple(shape), dtype, -bound, bound)


def poisson(rng, rates) -> np.ndarray:
    """torch's CPU poisson, value by value (its sample_poisson: Hoermann's transformed rejection
    for rates >= 10, the product of uniforms below; float64 uniforms), as float64."""
    rates = np.asarray(rates, np.float64)
    if not is_torch(rng):
        return np.asarray(rng.poisson(rates), np.float64)
    engine = rng.bit_generator
    start = np.random.MT19937.state.__get__(engine)
    pool, used = np.empty(0), 0

    def uniform() -> float:  # drawn ahead in batches; the engine is rewound to what was used
        nonlocal pool, used
        if used == len(pool):
            pool = np.concatenate([pool, _unit(engine, max(64, len(pool)), "d")])
        used += 1
        return float(pool[used - 1])

    out = np.array([_poisson_one(float(rate), uniform) for rate in rates.reshape(-1)])
    np.random.MT19937.state.__set__(engine, {**start, "bit_generator": type(engine).__name__})
    if used:
        engine.random_raw(2 * used)
    return out.reshape(rates.shape)


def _poisson_one(rate: float, uniform) -> float:
    if rate >= 10:
        slam, loglam = math.sqrt(rate), math.log(rate)
        b = 0.931 + 2.53 * slam
        a = -0.059 + 0.02483 * b
        invalpha = 1.1239 + 1.1328 / (b - 3.4)
        vr = 0.9277 - 3.6224 / (b - 2)
        while True:
            u = uniform() - 0.5
            v = uniform()
            us = 0.5 - abs(u)
            value = (2 * a / us + b) * u + rate + 0.43
            # torch's (int64_t) of an infinite rate's inf or NaN: x86's INT64_MIN, returned
            # when accepted outright, else rejected as negative (the pairs drawn go on)
            k = math.floor(value) if math.isfinite(value) else -2 ** 63
            if us >= 0.07 and v <= vr:
                return float(k)
            if k < 0 or (us < 0.013 and v > us):
                continue
            if (math.log(v) + math.log(invalpha) - math.log(a / (us * us) + b)
                    <= -rate + k * loglam - math.lgamma(k + 1.0)):
                return float(k)
    if rate == 0:
        return 0.0
    enlam, count, product = math.exp(-rate), 0, 1.0
    while True:
        product *= uniform()
        if product > enlam:
            count += 1
        else:
            return float(count)


class _Draws:
    """torch's uniform_real_distribution<double> and normal_distribution<double> read value
    by value off one engine, as a C++ kernel interleaves them: uniforms drawn ahead in
    batches (the engine rewound to what was used by ``done``), normals by Box-Muller pairs
    with the sine cached in the generator (torch's next_double_normal_sample)."""

    def __init__(self, engine):
        self.engine = engine
        self.start = np.random.MT19937.state.__get__(engine)
        self.pool: list = []
        self.used = 0
        self.cached = engine.next_double_normal

    def uniform(self) -> float:
        if self.used == len(self.pool):
            self.pool.extend(_unit(self.engine, max(64, len(self.pool)), "d").tolist())
        self.used += 1
        return self.pool[self.used - 1]

    def normal(self) -> float:
        if self.cached is not None:
            value, self.cached = self.cached, None
            return value
        u1, u2 = self.uniform(), self.uniform()
        radius = math.sqrt(-2.0 * math.log1p(-u2))
        theta = _TWO_PI * u1
        self.cached = radius * math.sin(theta)
        return radius * math.cos(theta)

    def done(self) -> None:
        engine = self.engine
        np.random.MT19937.state.__set__(engine, {**self.start,
                                                 "bit_generator": type(engine).__name__})
        if self.used:
            engine.random_raw(2 * self.used)
        engine.next_double_normal = self.cached


_THIRD32 = float(np.float32(1.0) / np.float32(3.0))  # torch's 1.0f / 3.0f
_C0331 = float(np.float32(0.0331))  # its 0.0331f


def _log(x: float) -> float:
    """C's log: -inf at 0, nan below."""
    if x > 0:
        return math.log(x)
    return -math.inf if x == 0 else math.nan


def _gamma_one(alpha: float, single: bool, draws: _Draws) -> float:
    """ATen's sample_gamma (Marsaglia and Tsang, alpha < 1 boosted): ``alpha`` a float32
    (``single``: its float arithmetic where torch's is) or float64, double accumulation."""
    scale = 1.0
    if alpha < 1.0:
        if alpha == 0.0:
            return 0.0
        exponent = float(np.float32(1.0) / np.float32(alpha)) if single else 1.0 / alpha
        scale *= math.pow(1.0 - draws.uniform(), exponent)
        alpha = float(np.float32(alpha) + np.float32(1.0)) if single else alpha + 1.0
    d = float(np.float32(alpha) - np.float32(_THIRD32)) if single else alpha - _THIRD32
    nine = 9.0 * d
    c = 1.0 / math.sqrt(nine) if nine >= 0 else math.nan
    while True:
        while True:
            x = draws.normal()
            y = 1.0 + c * x
            if not y <= 0:
                break
        v = y * y * y
        u = 1.0 - draws.uniform()
        xx = x * x
        if u < 1.0 - _C0331 * xx * xx:
            return scale * d * v
        if _log(u) < 0.5 * xx + d * (1.0 - v + _log(v)):
            return scale * d * v


def standard_gamma(rng, alphas: np.ndarray) -> np.ndarray:
    """Gamma(alpha, 1) draws in alphas' float dtype, as torch's CPU _standard_gamma: ATen's
    sample_gamma value by value from a dlpy Generator's torch streams, clamped below at the
    dtype's smallest normal number (another numpy Generator: numpy's standard_gamma)."""
    alphas = np.asarray(alphas)
    dtype = alphas.dtype
    tiny = float(np.finfo(dtype).tiny)
    if not is_torch(rng):
        return np.maximum(rng.standard_gamma(alphas.astype(np.float64)), tiny).astype(dtype)
    draws = _Draws(rng.bit_generator)
    single = dtype == np.float32
    out = np.empty(alphas.shape, dtype)
    flat = out.reshape(-1)
    try:
        for i, alpha in enumerate(alphas.reshape(-1).tolist()):
            value = _gamma_one(alpha, single, draws)
            flat[i] = value  # (rounded to the dtype, then clamped: torch's max(min, (T) x))
            if not tiny < flat[i]:
                flat[i] = tiny
    finally:
        draws.done()
    return out


def dirichlet_gammas(rng, alphas: np.ndarray) -> np.ndarray:
    """The float64 gammas of torch's CPU _sample_dirichlet: sample_gamma in double for each
    alpha (as a double), at least the smallest normal double (another numpy Generator:
    numpy's standard_gamma). The row's normalisation is the caller's."""
    alphas = np.asarray(alphas, np.float64)
    tiny = float(np.finfo(np.float64).tiny)
    if not is_torch(rng):
        return np.maximum(rng.standard_gamma(alphas), tiny)
    draws = _Draws(rng.bit_generator)
    gammas = np.empty(alphas.shape, np.float64)
    flat = gammas.reshape(-1)
    try:
        for i, alpha in enumerate(alphas.reshape(-1).tolist()):
            value = _gamma_one(alpha, False, draws)
            flat[i] = value if tiny < value else tiny
    finally:
        draws.done()
    return gammas


_STIRLING_TAIL = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983,
                  0.02079067210376509, 0.0166446911898211, 0.0138761288230707,
                  0.0118967099458917, 0.0104112652619720, 0.00925546218271273,
                  0.00833056343336287)


def _stirling_tail(k: float) -> float:
    if k < len(_STIRLING_TAIL):
        return _STIRLING_TAIL[int(k)]
    square = (k + 1) * (k + 1)
    return (1.0 / 12 - (1.0 / 360 - 1.0 / 1260 / square) / square) / (k + 1)


def _binomial_inversion(count: float, prob: float, f, draws: _Draws) -> float:
    logprob = math.log1p(-prob) if f is float else float(np.log1p(np.float32(-prob)))
    total, successes = 0.0, 0.0
    while True:
        with np.errstate(divide="ignore", invalid="ignore"):  # (C's inf and nan)
            ratio = float(np.float64(_log(draws.uniform())) / logprob)
        geom = math.ceil(ratio) if math.isfinite(ratio) else ratio
        total += geom
        if total > count:
            return successes
        successes += 1


def _btrs(count: float, prob: float, f, draws: _Draws) -> float:
    """ATen's btrs (Hormann's transformed rejection), its float arithmetic (``f`` rounds to
    float32 for a float32 draw) where torch's is."""
    stddev = f(math.sqrt(f(f(count * prob) * f(1 - prob))))
    b = 1.15 + 2.53 * stddev
    a = -0.0873 + 0.0248 * b + 0.01 * prob
    c = f(count * prob) + 0.5
    v_r = 0.92 - 4.2 / b
    r = f(prob / f(1 - prob))
    alpha = (2.83 + 5.1 / b) * stddev
    m = math.floor(f(f(count + 1) * prob))
    while True:
        u = draws.uniform() - 0.5
        v = draws.uniform()
        us = 0.5 - abs(u)
        if us == 0:  # (C's k of -inf: refused)
            continue
        k = f(math.floor((2 * a / us + b) * u + c))
        if k < 0 or k > count:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        v = _log(v * alpha / (a / (us * us) + b))
        left = f(f(count - k) + 1)
        upper = ((m + 0.5) * _log((m + 1) / (r * (count - m + 1)))
                 + f(count + 1) * _log((count - m + 1) / left)
                 + (k + 0.5) * _log(r * left / f(k + 1))
                 + _stirling_tail(m) + _stirling_tail(count - m)
                 - _stirling_tail(k) - _stirling_tail(f(count - k)))
        if v <= upper:
            return k


def _binomial_one(count: float, prob: float, f, draws: _Draws) -> float:
    if count <= 0.0 or prob <= 0.0:
        return 0.0
    if prob >= 1.0:
        return count
    if prob <= 0.5:
        if f(count * prob) >= 10.0:
            return _btrs(count, prob, f, draws)
        return _binomial_inversion(count, prob, f, draws)
    if prob > 0.5:
        q = f(1.0 - prob)
        if f(count * q) >= 10.0:
            return f(count - _btrs(count, q, f, draws))
        return f(count - _binomial_inversion(count, q, f, draws))
    return math.nan


def _to_float32(value: float) -> float:
    return float(np.float32(value))


def binomial(rng, counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """torch.binomial on the CPU: ATen's sample_binomial value by value (BTRS where
    count * min(p, 1 - p) >= 10, else inversion; double uniforms, the float arithmetic of a
    float32 draw), in the counts' dtype (another numpy Generator: numpy's binomial)."""
    counts, probs = np.broadcast_arrays(np.asarray(counts), np.asarray(probs))
    dtype = counts.dtype
    if not is_torch(rng):
        return rng.binomial(counts.astype(np.int64), probs).astype(dtype)
    f = _to_float32 if dtype == np.float32 else float
    draws = _Draws(rng.bit_generator)
    out = np.empty(counts.shape, dtype)
    flat = out.reshape(-1)
    try:
        for i, (count, prob) in enumerate(zip(counts.reshape(-1).tolist(),
                                              probs.reshape(-1).tolist())):
            flat[i] = _binomial_one(count, prob, f, draws)
    finally:
        draws.done()
    return out
