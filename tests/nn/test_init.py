"""nn.init against torch.nn.init (stored values: tests/fixtures/habits/init.npz, made by
tests/fixtures/make_init_fixtures.py). The streams are numpy's, so a random fill is checked by
replaying its generator with the range / std PyTorch's formulas give for the same shape, and
by the statistics of large samples beside torch's."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, nn
from dlpy.nn import init

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "habits" / "init.npz"
with np.load(FIXTURE) as _data:
    REF = {k: _data[k] for k in _data.files}

GAINS = sorted(k for k in REF if k.startswith("gain:"))
FANS = sorted(k for k in REF if k.startswith("fan:"))
SCALES = sorted({int(k.split(":")[1]) for k in REF if k.startswith("scale:")})
TRUNCS = sorted({int(k.split(":")[1]) for k in REF if k.startswith("trunc:")})
TRUNC_SIZE = 1_000_000  # as the fixture script's: torch's statistics are over as many values


def shape_of(name):
    return tuple(int(s) for s in name.split("x"))


def zeros(shape, dtype=np.float64):
    return nn.Parameter(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("key", GAINS)
def test_calculate_gain_matches_torch(key):
    _, nonlinearity, *param = key.split(":")
    args = [json.loads(param[0])] if param else []
    assert init.calculate_gain(nonlinearity, *args) == REF[key]


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'; expected one of "
                                         "linear, conv1d"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope must be a number, got True"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="negative_slope must be a number, got '0.1'"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("key", FANS)
def test_fan_in_and_fan_out_match_torch(key):
    tensor = Tensor(np.zeros(shape_of(key.split(":")[1])))
    assert init._calculate_fan_in_and_fan_out(tensor) == tuple(REF[key])


def _case(i):
    spec = json.loads(str(REF[f"scale:{i}:spec"]))
    kind = "range" if f"scale:{i}:range" in REF else "normal"
    return spec["fn"], spec["kwargs"], tuple(spec["shape"]), kind, REF[f"scale:{i}:{kind}"]


@pytest.mark.parametrize("i", SCALES)
def test_random_init_draws_from_torchs_range_or_std(i):
    """The generator replayed with the range / std from torch's formulas gives the same values
    (to the rounding of the bound), so the bounds and stds are PyTorch's."""
    fn, kwargs, shape, kind, (first, second) = _case(i)
    w = zeros(shape)
    assert getattr(init, fn)(w, **kwargs, generator=np.random.default_rng(i)) is w
    replay = np.random.default_rng(i)
    expected = (replay.uniform(first, second, shape) if kind == "range"
                else replay.normal(first, second, shape))
    np.testing.assert_allclose(w.data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("i", SCALES)
def test_random_init_statistics_match_torch(i):
    """A float32 tensor filled from the default generator: the dtype stays, a uniform fill
    stays inside its range, and the sample std is the expected one (and torch's)."""
    fn, kwargs, shape, kind, (first, second) = _case(i)
    dlpy.manual_seed(i)
    w = getattr(init, fn)(zeros(shape, np.float32), **kwargs)
    assert w.dtype == np.float32
    if kind == "range":
        assert w.data.min() >= np.float32(first) and w.data.max() <= np.float32(second)
        expected_std = (second - first) / math.sqrt(12)
        absmax = np.abs(w.data).max()
        assert absmax == pytest.approx(REF[f"scale:{i}:torch_absmax"], rel=0.01)
    else:
        expected_std = second
        assert w.data.mean() == pytest.approx(first, abs=0.03 * second)
    assert w.data.std() == pytest.approx(expected_std, rel=0.03)
    assert w.data.std() == pytest.approx(REF[f"scale:{i}:torch_std"], rel=0.03)


TORCH_UNIFORM_SEED7 = [-0.16185871028078802, -0.17891885904470306, 1.5862788842528763,
                       0.9700652917646041, 1.7675881023589617]


def test_default_generator_is_used_and_reseeded_by_manual_seed():
    dlpy.manual_seed(7)
    a = init.uniform_(zeros((4, 5)), -1.0, 2.0)
    # torch 2.13's values after torch.manual_seed(7) (its Mersenne Twister, float64 uniforms)
    np.testing.assert_array_equal(a.data[0], TORCH_UNIFORM_SEED7)
    dlpy.manual_seed(7)
    np.testing.assert_array_equal(init.uniform_(zeros((4, 5)), -1.0, 2.0).data, a.data)
    b = init.uniform_(zeros((4, 5)), -1.0, 2.0)  # the stream moved on
    assert not np.array_equal(a.data, b.data)


def test_layers_initialise_as_the_matching_init_functions():
    """Linear/Conv2d draw U(-1/sqrt(fan_in), 1/sqrt(fan_in)) and Embedding N(0, 1): the same
    values as uniform_ / normal_ with the same generator (kaiming_uniform_(a=sqrt(5)), what
    PyTorch calls, differs only by the rounding of the bound)."""
    layer = nn.Linear(6, 4, rng=np.random.default_rng(3))
    rng = np.random.default_rng(3)
    weight = init.uniform_(zeros((4, 6), np.float32), -1 / math.sqrt(6), 1 / math.sqrt(6), rng)
    bias = init.uniform_(zeros(4, np.float32), -1 / math.sqrt(6), 1 / math.sqrt(6), rng)
    np.testing.assert_array_equal(layer.weight.data, weight.data)
    np.testing.assert_array_equal(layer.bias.data, bias.data)
    kaiming = init.kaiming_uniform_(zeros((4, 6), np.float32), a=math.sqrt(5),
                                    generator=np.random.default_rng(3))
    np.testing.assert_allclose(layer.weight.data, kaiming.data, rtol=1e-6)
    conv = nn.Conv2d(2, 3, 3, rng=np.random.default_rng(4))
    expected = init.kaiming_uniform_(zeros((3, 2, 3, 3)), a=math.sqrt(5),
                                     generator=np.random.default_rng(4))
    np.testing.assert_allclose(conv.weight.data, expected.data, rtol=1e-6)
    embedding = nn.Embedding(5, 3, rng=np.random.default_rng(5))
    normal = init.normal_(zeros((5, 3), np.float32), generator=np.random.default_rng(5))
    np.testing.assert_array_equal(embedding.weight.data, normal.data)


@pytest.mark.parametrize("i", TRUNCS)
def test_trunc_normal_matches_the_truncated_distribution_and_torch(i):
    kwargs = json.loads(str(REF[f"trunc:{i}:spec"]))
    a, b = kwargs.get("a", -2.0), kwargs.get("b", 2.0)
    values = init.trunc_normal_(zeros(TRUNC_SIZE), **kwargs,
                                generator=np.random.default_rng(i)).data
    mean, std = REF[f"trunc:{i}:analytic"]
    ours = values.mean(), values.std(), values.min(), values.max()
    for sample_mean, sample_std, low, high in [ours, REF[f"trunc:{i}:torch"]]:
        assert a <= low and high <= b
        assert sample_mean == pytest.approx(mean, abs=5e-3 * std)
        assert sample_std == pytest.approx(std, rel=0.01)


def test_trunc_normal_bounds_are_values_not_stds_and_float32_stays_inside():
    # a and b are absolute: std=0.02 with the default [-2, 2] truncates nothing
    w = init.trunc_normal_(zeros((200, 200), np.float32), std=0.02,
                           generator=np.random.default_rng(0))
    assert w.dtype == np.float32 and w.data.std() == pytest.approx(0.02, rel=0.02)
    w = init.trunc_normal_(zeros(50_000, np.float32), mean=0.1, std=1.0, a=-0.1, b=0.1,
                           generator=np.random.default_rng(1))
    assert w.data.min() >= np.float32(-0.1) and w.data.max() <= np.float32(0.1)
    with pytest.warns(UserWarning, match="mean is more than 2 std from"):
        init.trunc_normal_(zeros(10), mean=5.0, std=1.0, a=-1.0, b=1.0)


@pytest.mark.parametrize("name", ["eye:3x5", "eye:5x3", "eye:4x4"])
def test_eye_matches_torch(name):
    w = init.eye_(nn.Parameter(np.full(shape_of(name.split(":")[1]), 9.0, np.float32)))
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w.data, REF[name])


@pytest.mark.parametrize("val", [0.3, -1.5])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant_ones_zeros_match_torch(val, dtype):
    w = init.constant_(zeros((2, 3), dtype), val)
    expected = REF[f"constant:{val}:{dtype}"]
    assert w.dtype == expected.dtype
    np.testing.assert_array_equal(w.data, expected)
    np.testing.assert_array_equal(init.ones_(zeros((2, 3), np.float32)).data, REF["ones"])
    full = nn.Parameter(np.full((2, 3), 7.0, np.float32))
    np.testing.assert_array_equal(init.zeros_(full).data, REF["zeros"])


def test_init_writes_in_place_records_no_graph_and_keeps_grad():
    w = nn.Parameter(np.zeros((3, 4), np.float32))
    array = w.data
    w.grad = np.ones((3, 4), np.float32)
    out = init.xavier_normal_(w)
    assert out is w and w.data is array and w.dtype == np.float32
    assert np.abs(array).sum() > 0  # the same array was filled
    assert w.op is None and w.requires_grad and np.array_equal(w.grad, np.ones((3, 4)))
    with dlpy.no_grad():  # also fine where gradients are off
        init.zeros_(w)
    assert not w.data.any()
    # a plain Tensor (an integer one too, for the deterministic fills)
    assert init.ones_(Tensor(np.zeros(3, np.int64))).data.tolist() == [1, 1, 1]


def test_init_fills_a_parameters_data_array_in_place():
    # torch's DCGAN idiom `nn.init.normal_(m.weight.data, 0.0, 0.02)`: dlpy's .data is the array
    conv = nn.Conv2d(3, 4, 3)
    array = conv.weight.data
    dlpy.manual_seed(0)
    out = init.normal_(conv.weight.data, 0.0, 0.02)
    assert out is array and conv.weight.data is array and array.dtype == np.float32
    assert 0.01 < array.std() < 0.03 and abs(array.mean()) < 0.01
    assert init.constant_(conv.bias.data, 0.5) is conv.bias.data
    assert (conv.bias.data == 0.5).all()
    init.xavier_uniform_(conv.weight.data, gain=init.calculate_gain("relu"))
    bound = math.sqrt(2.0) * math.sqrt(6.0 / (3 * 9 + 4 * 9))
    assert np.abs(array).max() <= bound and np.abs(array).max() > 0.9 * bound
    init.orthogonal_(conv.weight.data)
    rows = array.reshape(4, -1)
    np.testing.assert_allclose(rows @ rows.T, np.eye(4), atol=1e-5)


def test_orthogonal():
    rng = np.random.default_rng(0)
    wide = init.orthogonal_(zeros((3, 5)), gain=2.0, generator=rng)
    np.testing.assert_allclose(wide.data @ wide.data.T, 4.0 * np.eye(3), atol=1e-12)
    tall = init.orthogonal_(zeros((6, 2, 2), np.float32), generator=rng)  # seen as (6, 4)
    flat = tall.data.reshape(6, 4).astype(np.float64)
    assert tall.dtype == np.float32
    np.testing.assert_allclose(flat.T @ flat, np.eye(4), atol=1e-6)
    with pytest.raises(ValueError, match=r"at least 2 dimensions, got shape \(4,\)"):
        init.orthogonal_(zeros(4))


def test_kaiming_mode_is_case_insensitive_and_empty_tensors_warn():
    a = init.kaiming_normal_(zeros((8, 3)), mode="FAN_OUT", generator=np.random.default_rng(0))
    b = init.kaiming_normal_(zeros((8, 3)), mode="fan_out", generator=np.random.default_rng(0))
    np.testing.assert_array_equal(a.data, b.data)
    with pytest.warns(UserWarning, match="zero-element tensor is a no-op"):
        init.kaiming_uniform_(zeros((0, 3)))


def test_errors_name_the_value():
    w = zeros((4, 3))
    with pytest.raises(ValueError, match="kaiming_uniform_: mode must be 'fan_in' or 'fan_out', "
                                         "got 'fan_avg'"):
        init.kaiming_uniform_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu'"):
        init.kaiming_normal_(w, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match=r"uniform_: expected a <= b, got a=1.0, b=0.0"):
        init.uniform_(w, 1.0, 0.0)
    with pytest.raises(ValueError, match=r"normal_: std must be >= 0, got -1.0"):
        init.normal_(w, std=-1.0)
    with pytest.raises(ZeroDivisionError, match=r"trunc_normal_: std must not be 0"):
        init.trunc_normal_(w, std=0.0)
    with pytest.raises(ValueError, match=r"trunc_normal_: expected a <= b, got a=1.0, b=-1.0"):
        init.trunc_normal_(w, a=1.0, b=-1.0)
    for fn in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_,
               init.kaiming_normal_):
        with pytest.raises(ValueError, match=fr"{fn.__name__}: fan in and fan out need a tensor "
                                             r"of at least 2 dimensions, got shape \(5,\)"):
            fn(zeros(5))
    with pytest.raises(ValueError, match=r"eye_: expected a 2-dimensional tensor, got shape "
                                         r"\(2, 2, 2\)"):
        init.eye_(zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="xavier_uniform_: expected a dlpy Tensor or Parameter, "
                                        "got list"):
        init.xavier_uniform_([[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(TypeError, match="normal_: random values need a floating-point tensor, "
                                        "got int64"):
        init.normal_(Tensor(np.zeros(3, np.int64)))
    with pytest.raises(TypeError, match="generator must be a numpy Generator or None, got int"):
        init.uniform_(w, generator=0)
