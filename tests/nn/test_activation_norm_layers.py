"""The modules of the added activations (PReLU, SELU, CELU, Mish, Hardswish, Hardsigmoid,
Softsign, LogSigmoid, GLU, Threshold, Tanhshrink, Softshrink, Hardshrink, ReLU6, Softmin),
normalisations (GroupNorm, InstanceNorm1d/2d/3d, RMSNorm, LocalResponseNorm), dropouts
(Dropout1d/2d/3d, AlphaDropout), Bilinear and Identity: PyTorch state dicts loading and training
steps as PyTorch's (tests/fixtures/nn/activation_norm.npz), parameter names, reprs, errors, and a
learning test."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn, optim

from .helpers import check_module_is_its_function, fit
from .reference import check_steps_as_torch, load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "activation_norm.npz"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def torch_modules():
    """{name: {"state": {...}, "state_after": {...}, "train0:input": ..., ...}}."""
    return load_grouped(FIXTURE, ("state", "state_after"))


def cnn():
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.GroupNorm(3, 6), nn.PReLU(6), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(6 * 3 * 3, 5), nn.RMSNorm(5), nn.Mish(), nn.Linear(5, 3),
    )


def mlp():
    return nn.Sequential(
        nn.Linear(4, 8), nn.SELU(), nn.Linear(8, 8), nn.Hardswish(), nn.Linear(8, 6), nn.GLU(),
        nn.Linear(3, 4), nn.CELU(0.7), nn.LogSigmoid(), nn.Linear(4, 3), nn.Softmin(1),
    )


# the modules of make_activation_norm_fixtures.py's MODULE_CASES
BUILD = {
    "prelu": lambda: nn.PReLU(),
    "prelu_channels": lambda: nn.PReLU(3, init=0.1),
    "group_norm": lambda: nn.GroupNorm(2, 6),
    "group_norm_no_affine": lambda: nn.GroupNorm(3, 6, affine=False, eps=1e-3),
    "instance_norm1d_tracked": lambda: nn.InstanceNorm1d(3, momentum=0.3, affine=True,
                                                         track_running_stats=True),
    "instance_norm2d_unbatched": lambda: nn.InstanceNorm2d(4),
    "instance_norm2d_tracked": lambda: nn.InstanceNorm2d(2, track_running_stats=True),
    "instance_norm3d_affine": lambda: nn.InstanceNorm3d(2, affine=True),
    "instance_norm1d_cumulative": lambda: nn.InstanceNorm1d(3, momentum=None,
                                                            track_running_stats=True),
    "rms_norm": lambda: nn.RMSNorm([3, 4]),
    "rms_norm_eps": lambda: nn.RMSNorm(5, eps=1e-3, elementwise_affine=False),
    "bilinear": lambda: nn.Bilinear(4, 5, 3),
    "bilinear_no_bias": lambda: nn.Bilinear(3, 2, 4, bias=False),
    "local_response_norm": lambda: nn.LocalResponseNorm(3, alpha=0.1, beta=0.5, k=2.0),
    "cnn": cnn,
    "mlp": mlp,
}


def test_every_fixture_module_is_tested(torch_modules):
    assert set(torch_modules) == set(BUILD)


@pytest.mark.parametrize("name", sorted(BUILD))
def test_torch_state_dict_loads_and_steps_as_torch(name, torch_modules):
    check_steps_as_torch(BUILD[name](), torch_modules[name])


ACTIVATIONS = [
    (nn.PReLU(), lambda x: F.prelu(x, Tensor(np.array([0.25], np.float32)))),
    (nn.SELU(), F.selu),
    (nn.CELU(), F.celu),
    (nn.CELU(0.4), lambda x: F.celu(x, 0.4)),
    (nn.Mish(), F.mish),
    (nn.Hardswish(), F.hardswish),
    (nn.Hardsigmoid(), F.hardsigmoid),
    (nn.Softsign(), F.softsign),
    (nn.LogSigmoid(), F.logsigmoid),
    (nn.GLU(), F.glu),
    (nn.GLU(dim=0), lambda x: F.glu(x, 0)),
    (nn.Threshold(0.1, 20.0), lambda x: F.threshold(x, 0.1, 20.0)),
    (nn.Tanhshrink(), F.tanhshrink),
    (nn.Softshrink(), F.softshrink),
    (nn.Softshrink(0.3), lambda x: F.softshrink(x, 0.3)),
    (nn.Hardshrink(), F.hardshrink),
    (nn.Hardshrink(lambd=1.0), lambda x: F.hardshrink(x, 1.0)),
    (nn.ReLU6(), F.relu6),
    (nn.Softmin(dim=1), lambda x: F.softmin(x, 1)),
    (nn.Softmin(0), lambda x: F.softmin(x, 0)),
    (nn.Identity(54, unused_argument=0.1), lambda x: x),
]


@pytest.mark.parametrize("module, fn", ACTIVATIONS, ids=lambda v: repr(v) if
                         isinstance(v, nn.Module) else "")
def test_activation_module_is_its_function(module, fn, rng):
    data = (2 * rng.standard_normal((4, 6))).astype(np.float32)
    check_module_is_its_function(module, fn, data, rng)


def test_parameters_and_buffers_have_torch_names_and_initial_values():
    prelu = nn.PReLU(3)
    assert [n for n, _ in prelu.named_parameters()] == ["weight"]
    np.testing.assert_array_equal(prelu.weight.data, [0.25, 0.25, 0.25])
    assert prelu.weight.dtype == np.float32
    assert nn.PReLU(init=-0.5, dtype=np.float64).weight.data.tolist() == [-0.5]
    gn = nn.GroupNorm(2, 4)
    assert list(gn.state_dict()) == ["weight", "bias"]
    np.testing.assert_array_equal(gn.weight.data, 1.0)
    np.testing.assert_array_equal(gn.bias.data, 0.0)
    assert list(nn.GroupNorm(2, 4, affine=False).state_dict()) == []
    assert list(nn.GroupNorm(2, 4, bias=False).state_dict()) == ["weight"]
    assert list(nn.InstanceNorm2d(3).state_dict()) == []  # torch's defaults: no affine, no stats
    tracked = nn.InstanceNorm1d(3, affine=True, track_running_stats=True).state_dict()
    assert list(tracked) == ["weight", "bias", "running_mean", "running_var",
                             "num_batches_tracked"]
    assert tracked["num_batches_tracked"].dtype == np.int64
    rms = nn.RMSNorm((2, 3))
    assert rms.normalized_shape == (2, 3) and rms.weight.shape == (2, 3)
    assert list(nn.RMSNorm(3, elementwise_affine=False).state_dict()) == []
    bilinear = nn.Bilinear(4, 5, 3, rng=np.random.default_rng(0))
    assert [n for n, _ in bilinear.named_parameters()] == ["weight", "bias"]
    assert bilinear.weight.shape == (3, 4, 5) and bilinear.bias.shape == (3,)
    # U(-1/sqrt(in1), 1/sqrt(in1)) for both, as torch
    assert np.abs(bilinear.weight.data).max() <= 0.5 and np.abs(bilinear.bias.data).max() <= 0.5
    assert bilinear.weight.data.std() > 0.2
    assert nn.Bilinear(4, 5, 3, bias=False).bias is None


def test_reprs_as_torch():
    assert repr(nn.PReLU(3)) == "PReLU(num_parameters=3)"
    assert repr(nn.CELU()) == "CELU(alpha=1.0)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"
    assert repr(nn.Threshold(0.1, 2.0)) == "Threshold(threshold=0.1, value=2.0)"
    assert repr(nn.Softshrink()) == "Softshrink(0.5)"
    assert repr(nn.Hardshrink(1.0)) == "Hardshrink(1.0)"
    assert repr(nn.Softmin(1)) == "Softmin(dim=1)"
    assert repr(nn.SELU()) == "SELU()" and repr(nn.Identity(3)) == "Identity()"
    assert repr(nn.InstanceNorm1d(3)) == ("InstanceNorm1d(3, eps=1e-05, momentum=0.1, "
                                          "affine=False, bias=False, track_running_stats=False)")
    assert repr(nn.RMSNorm([2, 3])) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"
    assert repr(nn.Bilinear(2, 3, 4)) == \
        "Bilinear(in1_features=2, in2_features=3, out_features=4, bias=True)"
    assert repr(nn.LocalResponseNorm(2)) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert repr(nn.Dropout2d(0.2)) == "Dropout2d(p=0.2, inplace=False)"
    assert repr(nn.AlphaDropout()) == "AlphaDropout(p=0.5, inplace=False)"


def test_instance_norm_train_and_eval(rng):
    norm = nn.InstanceNorm1d(2, momentum=0.5, track_running_stats=True)
    x = (1 + 2 * rng.standard_normal((3, 2, 5))).astype(np.float32)
    y = norm(x)
    np.testing.assert_allclose(y.data.mean(axis=2), 0.0, atol=1e-6)
    np.testing.assert_allclose(norm.running_mean, 0.5 * x.mean(axis=2).mean(axis=0), rtol=1e-5)
    assert int(norm.num_batches_tracked) == 0  # never counted, as torch's
    norm.eval()
    z = norm(x)
    expected = (x - norm.running_mean[:, None]) / np.sqrt(norm.running_var[:, None] + 1e-5)
    np.testing.assert_allclose(z.data, expected, rtol=1e-5, atol=1e-6)
    # without running statistics eval mode still uses the instance's own
    plain = nn.InstanceNorm1d(2).eval()
    np.testing.assert_allclose(plain(x).data, y.data, rtol=1e-6)
    # momentum=None: torch passes 0, so the running statistics stay
    frozen = nn.InstanceNorm1d(2, momentum=None, track_running_stats=True)
    frozen(x)
    np.testing.assert_array_equal(frozen.running_mean, 0.0)
    np.testing.assert_array_equal(frozen.running_var, 1.0)


def test_instance_norm_unbatched_is_a_batch_of_one(rng):
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    norm = nn.InstanceNorm2d(3, affine=True)
    np.testing.assert_array_equal(norm(x).data, norm(x[None]).data[0])


def test_channel_dropout_modules_train_and_eval():
    x = Tensor(np.ones((4, 6, 3, 3), np.float32))
    layer = nn.Dropout2d(0.5, rng=np.random.default_rng(0))
    y = layer(x).data
    planes = y.reshape(24, 9)
    assert np.all((planes == 0).all(axis=1) | (planes == 2).all(axis=1))
    assert y.dtype == np.float32
    layer.eval()
    assert layer(x) is x
    dlpy.manual_seed(3)
    first = nn.Dropout1d(0.3)(x[0]).data  # (6, 3, 3): (N, C, L)
    dlpy.manual_seed(3)
    np.testing.assert_array_equal(nn.Dropout1d(0.3)(x[0]).data, first)
    assert nn.Dropout3d(0.5)(x).shape == (4, 6, 3, 3)  # unbatched (C, D, H, W)
    alpha = nn.AlphaDropout(0.2, rng=np.random.default_rng(1))
    out = alpha(Tensor(np.random.default_rng(2).standard_normal(100_000)))
    assert abs(out.data.mean()) < 0.02 and abs(out.data.var() - 1) < 0.02
    alpha.eval()
    assert alpha(x) is x


def test_module_errors():
    with pytest.raises(ValueError, match=r"GroupNorm: num_channels \(6\) must be divisible by "
                                         r"num_groups \(4\)"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm: num_groups must be a positive integer, "
                                         r"got 0"):
        nn.GroupNorm(0, 6)
    with pytest.raises(ValueError, match=r"GroupNorm: expected input \(N, 6, \*\), got "
                                         r"\(2, 4, 3\)"):
        nn.GroupNorm(2, 6)(Tensor(np.zeros((2, 4, 3))))
    with pytest.raises(ValueError, match=r"InstanceNorm1d: expected a 2D \(C, L\) or 3D "
                                         r"\(N, C, L\) input, got a 4D input"):
        nn.InstanceNorm1d(3)(Tensor(np.zeros((2, 3, 4, 5))))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: expected 3 channels on axis 1, got "
                                         r"an input of shape \(2, 4, 3, 3\)"):
        nn.InstanceNorm2d(3, affine=True)(Tensor(np.zeros((2, 4, 3, 3))))
    with pytest.warns(UserWarning, match=r"InstanceNorm1d: the input's 4 channels are not "
                                         r"num_features \(3\)"):
        nn.InstanceNorm1d(3)(Tensor(np.ones((2, 4, 3))))  # unused without affine, as torch
    with pytest.raises(ValueError, match=r"InstanceNorm1d: num_features must be an integer >= 0, "
                                         r"got 2.5"):
        nn.InstanceNorm1d(2.5)
    with pytest.raises(TypeError, match=r"RMSNorm: normalized_shape must be an int or a "
                                        r"sequence of ints, got 'a'"):
        nn.RMSNorm("a")
    with pytest.raises(ValueError, match=r"PReLU: num_parameters must be a positive integer"):
        nn.PReLU(0)
    with pytest.raises(ValueError, match=r"prelu: expected one weight or one per channel"):
        nn.PReLU(3)(Tensor(np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match=r"prelu: expected input and weight of one dtype"):
        nn.PReLU(3)(Tensor(np.zeros((2, 3))))  # float64 x, float32 weight: torch promotes neither
    with pytest.raises(ValueError, match=r"CELU: alpha must be nonzero"):
        nn.CELU(0.0)
    with pytest.raises(ValueError, match=r"Softshrink: lambd must be >= 0, got -0.5"):
        nn.Softshrink(-0.5)
    with pytest.raises(TypeError, match=r"missing 2 required positional arguments: 'threshold' "
                                        r"and 'value'"):
        nn.Threshold()
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        nn.Softmin()(Tensor(np.zeros((2, 3))))  # torch's deprecated implicit dim (axis 1)
    with pytest.raises(ValueError, match=r"Dropout2d: p must be in \[0, 1\], got 1.5"):
        nn.Dropout2d(1.5)
    with pytest.raises(ValueError, match=r"AlphaDropout: p must be in \[0, 1\], got -0.1"):
        nn.AlphaDropout(-0.1)
    with pytest.raises(ValueError, match=r"LocalResponseNorm: size must be a positive integer"):
        nn.LocalResponseNorm(0)


def test_cnn_with_group_norm_prelu_rms_norm_and_mish_learns():
    # two classes of 6x6 two-channel images: a bright centre or a bright border, with noise
    data_rng = np.random.default_rng(0)
    n = 64
    labels = np.arange(n) % 2
    centre = np.zeros((6, 6))
    centre[2:4, 2:4] = 1.0
    patterns = np.stack([centre, 1.0 - centre])
    x = patterns[labels][:, None].repeat(2, axis=1) + 0.3 * data_rng.standard_normal((n, 2, 6, 6))
    x = x.astype(np.float32)
    model = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1, rng=np.random.default_rng(1)), nn.GroupNorm(3, 6),
        nn.PReLU(6), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(54, 8, rng=np.random.default_rng(2)), nn.RMSNorm(8), nn.Mish(),
        nn.Linear(8, 2, rng=np.random.default_rng(3)),
    )
    losses = fit(model, x, labels, optim.Adam(model.parameters(), lr=0.01), 60)
    assert losses[-1] < 0.1 * losses[0]
    accuracy = (model(x).data.argmax(axis=1) == labels).mean()
    assert accuracy == 1.0
