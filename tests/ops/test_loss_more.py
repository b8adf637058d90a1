"""binary_cross_entropy (an op with PyTorch's clamps), binary_cross_entropy_with_logits' weight
and pos_weight, and the composite losses: margin ranking, hinge embedding, soft margin, cosine
embedding, triplet margin (with pairwise_distance), multilabel soft margin, multi margin,
Poisson and Gaussian NLL. Values and gradients against PyTorch (tests/fixtures/ops/
loss_more.npz), gradient checks in float64, errors."""

import math

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "bce": F.binary_cross_entropy,
    "bce_weight_sum": lambda x, target, weight: F.binary_cross_entropy(x, target, weight,
                                                                       reduction="sum"),
    "bce_weight_broadcast_none": lambda x, t, weight: F.binary_cross_entropy(
        x, t, weight, reduction="none"),
    "bce_clamp_none": lambda x, target: F.binary_cross_entropy(x, target, reduction="none"),
    "bce_with_logits_pos_weight": lambda x, target, pos_weight: (
        F.binary_cross_entropy_with_logits(x, target, pos_weight=pos_weight)),
    "bce_with_logits_weight_pos_weight_sum": lambda x, target, weight, pos_weight: (
        F.binary_cross_entropy_with_logits(x, target, weight, reduction="sum",
                                           pos_weight=pos_weight)),
    "bce_with_logits_pos_weight_large_none": lambda x, target, pos_weight: (
        F.binary_cross_entropy_with_logits(x, target, "none", pos_weight=pos_weight)),
    "margin_ranking": F.margin_ranking_loss,
    "margin_ranking_margin_broadcast_sum": lambda a, b, target: F.margin_ranking_loss(
        a, b, target, 0.5, reduction="sum"),
    "margin_ranking_kink_none": lambda a, b, target: F.margin_ranking_loss(
        a, b, target, 0.25, reduction="none"),
    "hinge_embedding": F.hinge_embedding_loss,
    "hinge_embedding_margin_other_labels_sum": lambda x, target: F.hinge_embedding_loss(
        x, target, 0.5, reduction="sum"),
    "hinge_embedding_kink_broadcast_none": lambda x, target: F.hinge_embedding_loss(
        x, target, reduction="none"),
    "soft_margin": F.soft_margin_loss,
    "soft_margin_broadcast_sum": lambda x, target: F.soft_margin_loss(x, target,
                                                                      reduction="sum"),
    "soft_margin_none": lambda x, target: F.soft_margin_loss(x, target, reduction="none"),
    "cosine_embedding": F.cosine_embedding_loss,
    "cosine_embedding_margin_other_labels_none": lambda a, b, target: F.cosine_embedding_loss(
        a, b, target, -0.2, reduction="none"),
    "cosine_embedding_1d_sum": lambda a, b, target: F.cosine_embedding_loss(a, b, target,
                                                                            reduction="sum"),
    "cosine_embedding_broadcast": lambda a, b, target: F.cosine_embedding_loss(a, b, target,
                                                                               0.1),
    "triplet": F.triplet_margin_loss,
    "triplet_p1_swap_sum": lambda a, p, n: F.triplet_margin_loss(a, p, n, 2.0, 1, swap=True,
                                                                 reduction="sum"),
    "triplet_p3_eps_none": lambda a, p, n: F.triplet_margin_loss(a, p, n, 0.5, 3, 1e-3,
                                                                 reduction="none"),
    "triplet_inf_swap_broadcast_none": lambda a, p, n: F.triplet_margin_loss(
        a, p, n, 1.5, math.inf, swap=True, reduction="none"),
    "pairwise_distance": F.pairwise_distance,
    "pairwise_distance_keepdim_broadcast": lambda a, b: F.pairwise_distance(a, b, 1.5,
                                                                            keepdim=True),
    "pairwise_distance_3d_inf": lambda a, b: F.pairwise_distance(a, b, math.inf, 1e-3),
    "multilabel_soft_margin": F.multilabel_soft_margin_loss,
    "multilabel_soft_margin_weight_sum": lambda x, target, weight: (
        F.multilabel_soft_margin_loss(x, target, weight, reduction="sum")),
    "multilabel_soft_margin_3d_none": lambda x, target: F.multilabel_soft_margin_loss(
        x, target, reduction="none"),
    "multi_margin": F.multi_margin_loss,
    "multi_margin_p2_weight_sum": lambda x, target, weight: F.multi_margin_loss(
        x, target, 2, 0.7, weight, reduction="sum"),
    "multi_margin_1d_none": lambda x, target: F.multi_margin_loss(x, target, reduction="none"),
    "multi_margin_kink_none": lambda x, target: F.multi_margin_loss(x.reshape(1, 4), target,
                                                                    reduction="none"),
    "poisson": F.poisson_nll_loss,
    "poisson_full_sum": lambda x, t: F.poisson_nll_loss(x, t, full=True, reduction="sum"),
    "poisson_rate_eps_none": lambda x, t: F.poisson_nll_loss(x, t, False, eps=1e-3,
                                                             reduction="none"),
    "poisson_rate_full_zero_counts": lambda x, target: F.poisson_nll_loss(x, target, False,
                                                                          True),
    "gaussian": F.gaussian_nll_loss,
    "gaussian_one_var_per_row_full_sum": lambda x, t, var: F.gaussian_nll_loss(
        x, t, var, full=True, reduction="sum"),
    "gaussian_size1_axis_broadcast_target_none": lambda x, t, var: F.gaussian_nll_loss(
        x, t, var, reduction="none"),
    "gaussian_clamp_eps": lambda x, t, var: F.gaussian_nll_loss(x, t, var, eps=1e-2),
    "gaussian_float_var_sum": lambda x, t: F.gaussian_nll_loss(x, t, 0.7, reduction="sum"),
    "gaussian_middle_axis_var": lambda x, t, var: F.gaussian_nll_loss(x, t, var,
                                                                      reduction="none"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("loss_more", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("loss_more") == set(TORCH_CASES)


REDUCTIONS = ["mean", "sum", "none"]


def away_from(x, kinks, gap=0.05):
    """x nudged at least ``gap`` from each kink (a hinge's corner)."""
    for kink in kinks:
        x = np.where(np.abs(x - kink) < gap, x + 2 * gap, x)
    return x


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 1, 3)])
def test_binary_cross_entropy_gradcheck(reduction, shape, rng):
    x = Tensor(rng.uniform(0.05, 0.95, shape), requires_grad=True)
    t = Tensor(rng.uniform(0, 1, shape), requires_grad=True)
    weight = rng.uniform(0.5, 2.0, shape[-1:])
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b, weight, reduction=reduction),
                     x, t)
    logits = Tensor(3 * rng.standard_normal(shape), requires_grad=True)
    pos_weight = rng.uniform(0.5, 3.0, shape[-1:])
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(
        a, t.data, weight, reduction=reduction, pos_weight=pos_weight), logits)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_losses_gradcheck(reduction, rng):
    y = rng.choice([-1.0, 1.0], (3, 4))
    x1 = rng.standard_normal((3, 4))
    offset = away_from(rng.standard_normal((3, 4)), [0.0])  # the hinge at -offset: not 0
    a, b = Tensor(x1, requires_grad=True), Tensor(x1 - y * (0.3 + offset), requires_grad=True)
    assert gradcheck(lambda p, q: F.margin_ranking_loss(p, q, y, 0.3, reduction=reduction),
                     a, b)
    x = Tensor(away_from(rng.standard_normal((3, 4)), [1.0]), requires_grad=True)
    assert gradcheck(lambda p: F.hinge_embedding_loss(p, y, reduction=reduction), x)
    assert gradcheck(lambda p: F.soft_margin_loss(p, y, reduction=reduction), x)
    assert gradcheck(lambda p: F.soft_margin_loss(p, y[0], reduction=reduction), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shapes", [((5, 3), (5, 3), (5,)), ((4,), (4,), ()),
                                    ((4, 3), (1, 3), (4,))])
def test_cosine_embedding_gradcheck(reduction, shapes, rng):
    a = Tensor(rng.standard_normal(shapes[0]), requires_grad=True)
    b = Tensor(rng.standard_normal(shapes[1]), requires_grad=True)
    y = np.resize(np.array([1.0, -1.0, 1.0, -1.0, 0.0]), shapes[2])
    # margin -2 keeps max(0, cos - margin) off its corner
    assert gradcheck(lambda p, q: F.cosine_embedding_loss(p, q, y, -2.0, reduction=reduction),
                     a, b)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 3, math.inf])
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_and_pairwise_distance_gradcheck(reduction, p, swap, rng):
    anchor, positive, negative = (Tensor(rng.standard_normal((4, 3)), requires_grad=True)
                                  for _ in range(3))
    # margin 10: every triplet inside the hinge, so the gradient is the distances'
    assert gradcheck(lambda a, q, n: F.triplet_margin_loss(a, q, n, 10.0, p, swap=swap,
                                                           reduction=reduction),
                     anchor, positive, negative)
    x2 = Tensor(rng.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda a, b: F.pairwise_distance(a, b, p, keepdim=swap), anchor, x2)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 2, 3)])
def test_multilabel_soft_margin_gradcheck(reduction, shape, rng):
    x = Tensor(2 * rng.standard_normal(shape), requires_grad=True)
    y = (rng.uniform(size=shape) > 0.5).astype(float)
    assert gradcheck(lambda a: F.multilabel_soft_margin_loss(a, y, reduction=reduction), x)
    weight = rng.uniform(0.5, 2.0, shape[-1])
    assert gradcheck(lambda a: F.multilabel_soft_margin_loss(a, y, weight,
                                                             reduction=reduction), x)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_gradcheck(reduction, p, rng):
    labels = np.array([0, 3, 2])
    scores = rng.standard_normal((3, 4))
    # keep margin - x[y] + x[j] clear of 0
    picked = scores[np.arange(3), labels][:, None]
    scores = picked - 1.0 + away_from(scores - picked + 1.0, [0.0])
    x = Tensor(scores, requires_grad=True)
    weight = rng.uniform(0.5, 2.0, 4)
    assert gradcheck(lambda a: F.multi_margin_loss(a, labels, p, reduction=reduction), x)
    assert gradcheck(lambda a: F.multi_margin_loss(a, labels, p, 1.0, weight,
                                                   reduction=reduction), x)
    one = Tensor(scores[0], requires_grad=True)
    assert gradcheck(lambda a: F.multi_margin_loss(a, np.array(0), p, reduction=reduction), one)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_gradcheck(reduction, log_input, full, rng):
    x = Tensor(rng.standard_normal((3, 4)) if log_input else rng.uniform(0.2, 3, (3, 4)),
               requires_grad=True)
    counts = away_from(rng.uniform(0.1, 4.0, (3, 4)), [1.0])  # the Stirling term's switch
    t = Tensor(counts, requires_grad=True)
    assert gradcheck(lambda a, b: F.poisson_nll_loss(a, b, log_input, full,
                                                     reduction=reduction), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
def test_gaussian_nll_gradcheck(reduction, var_shape, rng):
    x, t = (Tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))
    var = Tensor(rng.uniform(0.2, 2.0, var_shape), requires_grad=True)
    assert gradcheck(lambda a, b, v: F.gaussian_nll_loss(a, b, v, True, reduction=reduction),
                     x, t, var)
    small = Tensor(np.full(var_shape, 1e-9), requires_grad=True)  # clamped: gradient at eps
    loss = F.gaussian_nll_loss(x, t.data, small, eps=0.5, reduction="sum")
    loss.backward()
    big = Tensor(np.full(var_shape, 0.5), requires_grad=True)
    F.gaussian_nll_loss(x, t.data, big, eps=0.5, reduction="sum").backward()
    np.testing.assert_allclose(small.grad, big.grad, rtol=1e-12)


def test_losses_keep_float32(rng):
    x = Tensor(rng.uniform(0.1, 0.9, (3, 4)).astype(np.float32), requires_grad=True)
    y = rng.choice([-1.0, 1.0], (3, 4))
    labels = np.array([0, 1, 3])
    losses = [
        F.binary_cross_entropy(x, np.full((3, 4), 0.5), np.ones(4)),
        F.binary_cross_entropy_with_logits(x, np.full((3, 4), 0.5), pos_weight=np.ones(4)),
        F.margin_ranking_loss(x, x * 2, y), F.hinge_embedding_loss(x, y),
        F.soft_margin_loss(x, y), F.cosine_embedding_loss(x, x + 1, y[:, 0]),
        F.triplet_margin_loss(x, x + 1, x * 2), F.multilabel_soft_margin_loss(x, y > 0),
        F.multi_margin_loss(x, labels, 2, weight=np.ones(4)), F.poisson_nll_loss(x, x, full=True),
        F.gaussian_nll_loss(x, x * 2, 0.5, full=True), F.gaussian_nll_loss(x, 0.5, x),
    ]
    for loss in losses:
        assert loss.dtype == np.float32, loss
        loss.backward()
    assert x.grad.dtype == np.float32


def test_binary_cross_entropy_clamps_as_pytorch():
    x = Tensor(np.array([0.0, 1.0, 0.5]), requires_grad=True)
    loss = F.binary_cross_entropy(x, np.array([1.0, 0.0, 0.5]), reduction="none")
    np.testing.assert_allclose(loss.data, [100.0, 100.0, np.log(2)])  # never inf
    loss.sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_soft_margin_is_stable_where_pytorch_overflows():
    loss = F.soft_margin_loss(Tensor(np.array([-1000.0, 1000.0])), np.array([1.0, 1.0]),
                              reduction="none")
    np.testing.assert_allclose(loss.data, [1000.0, 0.0])  # PyTorch: [inf, 0]


def test_poisson_full_masks_the_stirling_term_up_to_one_as_torch():
    counts = Tensor(np.array([0.0, 0.5, 3.0]), requires_grad=True)
    x = Tensor(np.zeros(3), requires_grad=True)
    F.poisson_nll_loss(x, counts, full=True, reduction="sum").backward()
    # the Stirling term counts only where the count is above 1; it is computed everywhere and
    # masked, as torch's, so a count of 0 gives torch's nan gradient (t log t at 0)
    grad = counts.grad.numpy()
    assert np.isnan(grad[0]) and grad[1] == 0.0 and np.isfinite(grad[2])
    assert np.isfinite(x.grad.numpy()).all()


def test_margin_losses_at_their_kinks_follow_pytorch():
    # clamp passes the gradient at 0 (margin ranking, hinge embedding, triplet); multi margin
    # gives none there (its strict z > 0)
    x = Tensor(np.array([1.0]), requires_grad=True)
    F.hinge_embedding_loss(x, np.array([-1.0])).backward()
    assert x.grad.numpy()[0] == -1.0
    scores = Tensor(np.array([[1.5, 0.5]]), requires_grad=True)
    F.multi_margin_loss(scores, np.array([0])).backward()
    np.testing.assert_array_equal(scores.grad, [[0.0, 0.0]])


# (exception, message, the call that raises it)
X = Tensor(np.full((2, 3), 0.5))
ERRORS = [
    (ValueError, r"binary_cross_entropy: every input value must lie in \[0, 1\], got values from "
                 r"0.5 to 1.5",
     lambda: F.binary_cross_entropy(Tensor(np.array([0.5, 1.5])), np.zeros(2))),
    (ValueError, r"binary_cross_entropy: every target value must lie in \[0, 1\], got values from "
                 r"0.0 to 1.0 \(and nan\)",
     lambda: F.binary_cross_entropy(X, np.array([[0.0, np.nan, 1.0]] * 2))),
    (ValueError, r"binary_cross_entropy: target \(3,\) must have the input's shape \(2, 3\)",
     lambda: F.binary_cross_entropy(X, np.zeros(3))),
    (ValueError, r"binary_cross_entropy: weight \(4, 2, 3\) must broadcast to the input's shape "
                 r"\(2, 3\)",
     lambda: F.binary_cross_entropy(X, np.zeros((2, 3)), np.ones((4, 2, 3)))),
    (ValueError, r"binary_cross_entropy_with_logits: pos_weight \(2,\) must broadcast to the "
                 r"input's shape \(2, 3\)",
     lambda: F.binary_cross_entropy_with_logits(X, np.zeros((2, 3)), pos_weight=np.ones(2))),
    (ValueError, r"margin_ranking_loss: input1, input2 and target must have the same number of "
                 r"axes, got shapes \(2, 3\), \(2, 3\), \(3,\)",
     lambda: F.margin_ranking_loss(X, X, np.ones(3))),
    (ValueError, r"hinge_embedding_loss: input and target of shapes \(2, 3\), \(2,\) cannot be "
                 r"broadcast together",
     lambda: F.hinge_embedding_loss(X, np.ones(2))),
    (ValueError, r"cosine_embedding_loss: a 1-D target needs 2-D inputs, got shapes \(3,\) and "
                 r"\(3,\)",
     lambda: F.cosine_embedding_loss(Tensor(np.ones(3)), Tensor(np.ones(3)), np.ones(1))),
    (ValueError, r"cosine_embedding_loss: target must be 0-D or 1-D",
     lambda: F.cosine_embedding_loss(X, X, np.ones((2, 1)))),
    (ValueError, r"triplet_margin_loss: margin must be > 0, got 0.0",
     lambda: F.triplet_margin_loss(X, X, X, 0.0)),
    (ValueError, r"triplet_margin_loss: anchor, positive and negative must have the same number "
                 r"of axes",
     lambda: F.triplet_margin_loss(X, Tensor(np.ones(3)), X)),
    (ValueError, r"multilabel_soft_margin_loss: expected input \(\.\.\., classes\), got \(\)",
     lambda: F.multilabel_soft_margin_loss(Tensor(np.ones(())), np.ones(()))),
    (ValueError, r"multi_margin_loss: p must be 1 or 2, got 3",
     lambda: F.multi_margin_loss(X, [0, 1], p=3)),
    (ValueError, r"multi_margin_loss: labels must lie in \[0, 3\), got values from 1 to 3",
     lambda: F.multi_margin_loss(X, np.array([1, 3]))),
    (ValueError, r"multi_margin_loss: expected one label per sample, target \(2,\) for scores "
                 r"\(2, 3\), got \(3,\)",
     lambda: F.multi_margin_loss(X, np.array([0, 1, 2]))),
    (TypeError, r"multi_margin_loss: target must be integer class indices, got float64",
     lambda: F.multi_margin_loss(X, np.array([0.0, 1.0]))),
    (ValueError, r"multi_margin_loss: weight must be 3 finite numbers",
     lambda: F.multi_margin_loss(X, np.array([0, 1]), weight=np.ones(4))),
    (ValueError, r"poisson_nll_loss: input and target of shapes \(2, 3\), \(2,\) cannot be "
                 r"broadcast together",
     lambda: F.poisson_nll_loss(X, np.ones(2))),
    (ValueError, r"gaussian_nll_loss: var must have the input's shape \(2, 3\), that without its "
                 r"last axis, or one axis of size 1 where the input's is larger, got \(3,\)",
     lambda: F.gaussian_nll_loss(X, X, np.ones(3))),
    (ValueError, r"gaussian_nll_loss: var has negative entries \(it must be >= 0\), the "
                 r"smallest is -1.0",
     lambda: F.gaussian_nll_loss(X, X, -1.0)),
    (ValueError, r"gaussian_nll_loss: input and target of shapes \(2, 3\), \(2,\) cannot be "
                 r"broadcast together",
     lambda: F.gaussian_nll_loss(X, np.ones(2), 1.0)),
    (ValueError, r"soft_margin_loss: reduction must be mean, sum or none, got 'avg'",
     lambda: F.soft_margin_loss(X, X, reduction="avg")),
    (TypeError, r"poisson_nll_loss: full must be True or False",
     lambda: F.poisson_nll_loss(X, X, full="yes")),
]


@pytest.mark.parametrize("error, message, call", ERRORS)
def test_loss_errors(error, message, call):
    with pytest.raises(error, match=message):
        call()


def test_pairwise_distance_takes_any_p_as_torch():
    """p = 0 counts the nonzero differences (eps makes a zero one nonzero), a negative p is
    vector_norm's; torch 2.13's values."""
    x1, x2 = Tensor(np.array([[1., 5, 3]])), Tensor(np.array([[1., 1, 2]]))
    np.testing.assert_allclose(F.pairwise_distance(x1, x2, p=0).data, [3.0])
    np.testing.assert_allclose(F.pairwise_distance(x1, x2, p=0, eps=0.0).data, [2.0])
    np.testing.assert_allclose(F.pairwise_distance(x1, x2, p=-1).data, [1e-6], rtol=1e-5)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_target_gradients_gradcheck(reduction, rng):
    """Targets that require grad get torch's gradient: binary_cross_entropy_with_logits (with
    weight and pos_weight, first and second order) and cross_entropy's probability targets."""
    logits = Tensor(2 * rng.standard_normal((2, 3)), requires_grad=True)
    t = Tensor(rng.uniform(0, 1, (2, 3)), requires_grad=True)
    weight, pos_weight = rng.uniform(0.5, 2.0, 3), rng.uniform(0.5, 3.0, 3)

    def bce(a, b):
        return F.binary_cross_entropy_with_logits(a, b, weight, reduction=reduction,
                                                  pos_weight=pos_weight)

    assert gradcheck(bce, logits, t)
    seed = Tensor(rng.standard_normal(bce(logits, t).shape))
    first = dlpy.func.grad(lambda a, b: (bce(a, b) * seed).sum(), argnums=(0, 1))
    assert gradcheck(lambda a, b: sum(g.sum() for g in first(a, b)), logits, t)
    probs = Tensor(rng.dirichlet(np.ones(3), size=(2, 2)).transpose(0, 2, 1), requires_grad=True)
    scores = Tensor(rng.standard_normal((2, 3, 2)), requires_grad=True)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, weight, reduction=reduction,
                                                  label_smoothing=0.2), scores, probs)
