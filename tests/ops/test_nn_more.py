"""The torch.nn(.functional) names added last: 3-d interpolate (trilinear, nearest, area), rrelu,
feature_alpha_dropout, gumbel_softmax, lp_pool1d/2d/3d, channel_shuffle, Softmax2d, pdist,
triplet_margin_with_distance_loss, multilabel_margin_loss and their modules: values and
gradients against PyTorch (tests/fixtures/ops/nn_more.npz, cases in cases_nn_more.py), gradient
checks, the random ones' statistics, errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, autograd, nn
from dlpy.testing import gradcheck

from .conftest import load_cases

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fixtures"))
from cases_nn_more import cases  # noqa: E402

CASES = cases()


# PyTorch's 3-d nearest resamples in forward where a scale factor keeps a size (1.1 on 4) but
# its backward copies there (as its 1-d nearest, tests/ops/test_resample.py): its gradient is
# not its forward's. dlpy matches the forward and gives the forward's gradient (gradcheck).
FORWARD_ONLY = {"nearest_3d_scale"}


@pytest.mark.parametrize("case", sorted(set(CASES) - FORWARD_ONLY))
def test_matches_torch(case, torch_reference):
    fn = CASES[case][2]
    torch_reference("nn_more", case, lambda *inputs, **args: fn(F, *inputs, **args))


@pytest.mark.parametrize("case", sorted(FORWARD_ONLY))
def test_forward_matches_torch_where_its_backward_is_a_copy(case):
    record = load_cases("nn_more")[case]
    x = Tensor(record["in0"], requires_grad=True)
    fn = CASES[case][2]
    np.testing.assert_allclose(fn(F, x).data, record["out"], rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x: fn(F, x), x)


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("nn_more") == set(CASES)


MODULES = {
    "trilinear_scale": lambda: nn.Upsample(scale_factor=1.5, mode="trilinear"),
    "nearest_3d_size": lambda: nn.Upsample(size=(2, 6, 5)),
    "rrelu_eval": lambda: nn.RReLU(0.1, 0.4).eval(),
    "lp_pool1d": lambda: nn.LPPool1d(2.0, 3, 2),
    "lp_pool2d_p3_ceil": lambda: nn.LPPool2d(3, (2, 3), ceil_mode=True),
    "lp_pool3d": lambda: nn.LPPool3d(2, 2),
    "channel_shuffle": lambda: nn.ChannelShuffle(3),
    "softmax2d": lambda: nn.Softmax2d(),
    "triplet_distance_default": lambda: nn.TripletMarginWithDistanceLoss(margin=2.0),
    "multilabel_margin": lambda: nn.MultiLabelMarginLoss(),
    "multilabel_margin_sum": lambda: nn.MultiLabelMarginLoss(reduction="sum"),
}


@pytest.mark.parametrize("case", sorted(MODULES))
def test_module_matches_torch(case, torch_reference):
    torch_reference("nn_more", case, MODULES[case]())


GRADCHECKS = {
    "trilinear": lambda x: F.interpolate(x, scale_factor=(1.5, 0.7, 2.0), mode="trilinear"),
    "trilinear_align_corners": lambda x: F.interpolate(x, size=(3, 2, 4), mode="trilinear",
                                                       align_corners=True),
    "nearest_3d": lambda x: F.interpolate(x, scale_factor=(2.0, 1.3, 0.6)),
    "area_3d": lambda x: F.interpolate(x, size=(1, 2, 3), mode="area"),
    "lp_pool3d": lambda x: F.lp_pool3d(x * x + 0.5, 1.5, (2, 1, 2)),
    "channel_shuffle": lambda x: F.channel_shuffle(x, 2),
}


@pytest.mark.parametrize("case", sorted(GRADCHECKS))
def test_gradcheck_3d(case, rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4, 5)), requires_grad=True)
    assert gradcheck(GRADCHECKS[case], x)


def test_gradcheck_2d_ops(rng):
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda x: F.pdist(x, 3.0), x)
    scores = Tensor(rng.standard_normal((3, 5)), requires_grad=True)
    target = np.array([[3, 0, -1, 1, 2], [1, 4, 2, 0, 3], [4, -1, 0, 0, 0]])
    assert gradcheck(lambda s: F.multilabel_margin_loss(s, target), scores)
    a, p, n = (Tensor(rng.standard_normal((4, 5)), requires_grad=True) for _ in range(3))
    assert gradcheck(lambda a, p, n: F.triplet_margin_with_distance_loss(a, p, n, swap=True),
                     a, p, n)


def test_trilinear_second_derivative(rng):
    x = Tensor(rng.standard_normal((1, 1, 2, 3, 2)), requires_grad=True)
    y = F.interpolate(x, scale_factor=2.0, mode="trilinear")
    (grad,) = autograd.grad((y * y).sum(), x, create_graph=True)  # 2 A^T A x
    grad.sum().backward()  # d/dx of sum(2 A^T A x) = 2 A^T A 1 = 2 A^T 1 (A's rows sum to 1)
    ones = Tensor(x.data, requires_grad=True)
    F.interpolate(ones, scale_factor=2.0, mode="trilinear").sum().backward()
    np.testing.assert_allclose(x.grad, 2 * ones.grad, rtol=1e-12)


def test_rrelu_training_draws_slopes_in_range(rng):
    x = Tensor(-np.ones((200, 50)), requires_grad=True)
    y = F.rrelu(x, 0.1, 0.3, training=True, rng=np.random.default_rng(1))
    slopes = -y.data
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert abs(slopes.mean() - 0.2) < 0.005 and slopes.std() > 0.05
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, -y.data)  # the gradient is the drawn slope
    positive = Tensor(np.abs(rng.standard_normal(10)) + 0.1)
    np.testing.assert_array_equal(F.rrelu(positive, training=True).data, positive.data)
    same = F.rrelu(x, 0.1, 0.3, training=True, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(same.data, y.data)


def test_feature_alpha_dropout_drops_whole_channels_and_keeps_moments():
    x = Tensor(np.random.default_rng(0).standard_normal((400, 50, 6)))
    y = F.feature_alpha_dropout(x, 0.3, training=True, rng=np.random.default_rng(2)).data
    dropped = np.all(y == y[:, :, :1], axis=2)  # a dropped channel is one constant
    assert abs(dropped.mean() - 0.3) < 0.02
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1.0) < 0.02
    assert F.feature_alpha_dropout(x, 0.3) is x  # not training: identity
    layer = nn.FeatureAlphaDropout(0.3, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(layer(x).data, y)
    assert layer.eval()(x) is x


def test_gumbel_softmax_samples_the_softmax():
    logits = Tensor(np.log(np.array([[0.1, 0.2, 0.7]])).repeat(20000, axis=0),
                    requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5, rng=np.random.default_rng(3))
    np.testing.assert_allclose(soft.data.sum(-1), 1.0)
    hard = F.gumbel_softmax(logits, hard=True, rng=np.random.default_rng(3))
    assert set(np.unique(hard.data)) == {0.0, 1.0}
    np.testing.assert_array_equal(hard.data.sum(-1), 1.0)
    np.testing.assert_allclose(hard.data.mean(0), [0.1, 0.2, 0.7], atol=0.01)  # Gumbel-max
    weights = np.random.default_rng(4).standard_normal(3)
    (hard * weights).sum().backward()
    straight = logits.grad.numpy().copy()
    logits.grad = None
    soft_again = F.gumbel_softmax(logits, hard=False, rng=np.random.default_rng(3))
    (soft_again * weights).sum().backward()
    np.testing.assert_allclose(straight, logits.grad)  # straight-through: the soft gradient


def test_gumbel_softmax_learns_a_constant_choice():
    logits = nn.Parameter(np.zeros((1, 4)))
    rng = np.random.default_rng(5)
    for _ in range(300):
        sample = F.gumbel_softmax(logits, tau=1.0, rng=rng)
        loss = -F.log(sample[:, 2]).sum()
        logits.grad = None
        loss.backward()
        logits.data -= 0.1 * logits.grad.data
    assert np.argmax(logits.data) == 2 and F.softmax(logits, -1).data[0, 2] > 0.9


def test_errors():
    x5 = Tensor(np.zeros((1, 2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"interpolate: mode 'trilinear' needs x "
                                         r"\(N, C, D, H, W\), got \(1, 2, 3, 4\)"):
        F.interpolate(Tensor(np.zeros((1, 2, 3, 4))), size=2, mode="trilinear")
    with pytest.raises(ValueError, match=r"interpolate: mode 'bicubic' needs x \(N, C, H, W\)"):
        F.interpolate(x5, size=2, mode="bicubic")
    with pytest.raises(ValueError, match=r"rrelu: lower must be <= upper, got lower=0.5"):
        F.rrelu(x5, 0.5, 0.1)
    with pytest.raises(ValueError, match=r"feature_alpha_dropout: p must be in \[0, 1\], got 1.5"):
        F.feature_alpha_dropout(x5, 1.5, training=True)
    assert not F.feature_alpha_dropout(x5, 1, training=True).data.any()  # torch's x * 0
    with pytest.raises(ValueError, match=r"gumbel_softmax: tau must be > 0, got 0.0"):
        F.gumbel_softmax(x5, tau=0)
    with pytest.raises(ValueError, match=r"lp_pool2d: norm_type must be > 0, got -1.0"):
        F.lp_pool2d(x5[0], -1, 2)
    with pytest.raises(ValueError, match=r"channel_shuffle: the channels \(2\) must be "
                                         r"divisible by groups \(3\)"):
        F.channel_shuffle(x5, 3)
    with pytest.raises(ValueError, match=r"pdist: expected x \(N, M\), got \(1, 2, 3, 4, 5\)"):
        F.pdist(x5)
    with pytest.raises(ValueError, match=r"triplet_margin_with_distance_loss: margin must be "
                                         r"> 0, got 0.0"):
        F.triplet_margin_with_distance_loss(x5, x5, x5, margin=0)
    with pytest.raises(TypeError, match=r"triplet_margin_with_distance_loss: distance_function "
                                        r"must be callable, got 3"):
        F.triplet_margin_with_distance_loss(x5, x5, x5, distance_function=3)
    with pytest.raises(TypeError, match=r"multilabel_margin_loss: target must be integer"):
        F.multilabel_margin_loss(Tensor(np.zeros((2, 3))), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"multilabel_margin_loss: target indices must lie in "
                                         r"\[-1, 3\), got 3"):
        F.multilabel_margin_loss(Tensor(np.zeros((2, 3))), np.array([[0, 3, -1], [1, -1, 0]]))
    with pytest.raises(ValueError, match=r"Softmax2d: expected x \(N, C, H, W\) or \(C, H, W\)"):
        nn.Softmax2d()(x5)


def test_deprecated_upsample_aliases(rng):
    x = Tensor(rng.standard_normal((1, 2, 3, 4)))
    np.testing.assert_array_equal(F.upsample_bilinear(x, scale_factor=2).data, F.interpolate(
        x, scale_factor=2, mode="bilinear", align_corners=True).data)
    np.testing.assert_array_equal(F.upsample_nearest(x, size=(5, 7)).data,
                                  F.interpolate(x, size=(5, 7)).data)
    np.testing.assert_array_equal(F.upsample(x, size=5, mode="bicubic").data,
                                  F.interpolate(x, size=5, mode="bicubic").data)
