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
    return _bits24(engine, count).astype(np.float32) * np.float32(2.0 ** -24)


def _bits24(engine, count: int) -> np.ndarray:
    """The 24 low bits of ``count`` random() outputs, as int32 (a float32 uniform's)."""
    # the low 32-bit words of the uint64 outputs (little-endian), masked, as int32
    return (engine.random32(count).view(np.uint32)[::2] & np.uint32(2 ** 24 - 1)).view(np.int32)


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


def normal(rng, shape, dtype=np.float64, mean=0.0, std=1.0) -> np.ndarray:
    """torch's normal_(mean, std) (randn: 0, 1)."""
    if not is_torch(rng):
        values = rng.normal(mean, std, shape) if (mean, std) != (0.0, 1.0) else \
            rng.standard_normal(shape)
        return _numpys(values, dtype)
    count = _size(shape)
    if count >= 16:
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


def _log_avx2(x: np.ndarray) -> np.ndarray:
    """log256_ps for positive float32 x."""
    x = np.maximum(x, np.array(0x00800000, np.int32).view(np.float32))
    bits = x.view(np.int32)
    e = ((bits >> 23) - 0x7F).astype(np.float32) + _F(1)
    x = ((bits & ~0x7F800000) | np.array(0.5, np.float32).view(np.int32)).view(np.float32)
    mask = x < _SQRTHF
    tmp = np.where(mask, x, _F(0))
    x = x - _F(1)
    e = e - np.where(mask, _F(1), _F(0))
    x = x + tmp
    z = x * x
    y = np.full_like(x, _LOG_P[0])
    for p in _LOG_P[1:]:
        y = _madd(y, x, p)
    y = _madd(y * x, z, e * _LOG_Q1)  # GCC fuses this product, not e's
    y = _madd(-z, _F(0.5), y)
    return _madd(e, _LOG_Q2, x + y)


def _sincos_avx2(x: np.ndarray):
    """sincos256_ps for non-negative float32 x: (sin, cos)."""
    j = (x * _FOPI).astype(np.int32)  # truncation, as cvttps
    j = (j + 1) & ~1
    y = j.astype(np.float32)
    sin_sign = ((j & 4) << 29).astype(np.int32)
    poly = (j & 2) == 0
    x = _madd(y, _DP[0], x)
    x = _madd(y, _DP[1], x)
    x = _madd(y, _DP[2], x)
    cos_sign = ((~(j - 2) & 4) << 29).astype(np.int32)
    z = x * x
    c = _madd(np.full_like(z, _COSCOF[0]), z, _COSCOF[1])
    c = _madd(c, z, _COSCOF[2])
    c = _madd(c * z, z, -(z * _F(0.5)))
    c = c + _F(1)
    s = _madd(np.full_like(z, _SINCOF[0]), z, _SINCOF[1])
    s = _madd(s, z, _SINCOF[2])
    s = s * z
    s = _madd(s, x, x)
    sine = np.where(poly, s, c)
    cosine = np.where(poly, c, s)
    sine = (sine.view(np.int32) ^ sin_sign).view(np.float32)
    cosine = (cosine.view(np.int32) ^ cos_sign).view(np.float32)
    return sine, cosine


def _normal_fill_avx2(engine, count: int, mean, std) -> np.ndarray:
    """normal_fill_AVX2 (float32 tensors of >= 16 values)."""
    blocks, tail = _uniform_blocks(engine, count, "f")
    mean, std = _F(mean), _F(std)

    def fill(block):
        radius = np.sqrt(_F(-2) * _log_avx2(_F(1) - block[:, :8]))
        sine, cosine = _sincos_avx2(_F(_TWO_PI) * block[:, 8:])
        first, second = radius * cosine, radius * sine
        if (mean, std) != (0.0, 1.0):
            first, second = _madd(first, std, mean), _madd(second, std, mean)
        return np.concatenate([first, second], axis=1)

    out = np.empty((len(blocks), 16), np.float32)
    for start in range(0, len(blocks), _CHUNK):  # chunks that stay in the cache
        out[start:start + _CHUNK] = fill(blocks[start:start + _CHUNK])
    out = out.reshape(-1)
    if tail is not None:
        out = np.concatenate([out, np.zeros(count - out.size, np.float32)])
        out[count - 16:] = fill(tail.reshape(1, 16)).reshape(-1)
    return out


_CHUNK = 8192  # blocks of 16 per step of the float32 normal transform (2048: 13% slower)


def integers(rng, shape, low: int, high: int, dtype=np.int64) -> np.ndarray:
    """torch's random_(low, high) / randint: ``random() % (high - low) + low`` (random64 for a
    range of 2^32 or more, into int64 and float tensors)."""
    if not is_torch(rng):
        return _numpys(rng.integers(low, high, shape), dtype)
    count, span = _size(shape), int(high) - int(low)
    dtype = np.dtype(dtype)
    wide = span >= 2 ** 32 and (dtype in (np.int64, np.float64, np.float32)
                                or (dtype.kind == "V" and dtype.itemsize == 2))
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
    targets = (offsets.astype(np.int64) + np.arange(n - 1)).tolist()
    values = list(range(n))
    for i, j in enumerate(targets):  # each swap sees the previous ones: inherently serial
        values[i], values[j] = values[j], values[i]
    return np.array(values, np.int64)


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
            k = math.floor((2 * a / us + b) * u + rate + 0.43)
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
