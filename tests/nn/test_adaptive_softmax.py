"""nn.AdaptiveLogSoftmaxWithLoss against PyTorch (tests/fixtures/nn/adaptive_softmax.npz, made
by make_adaptive_softmax_fixtures.py): torch's state dict loads, forward (output, loss), the
gradients, log_prob and predict agree in float64; gradient check; learning; errors."""

from pathlib import Path

import numpy as np
import pytest

import dlpy.nn as nn
from dlpy import Tensor
from dlpy.optim import Adam
from dlpy.testing import gradcheck

FIXTURES = np.load(Path(__file__).parent.parent / "fixtures" / "nn" / "adaptive_softmax.npz")

# as in make_adaptive_softmax_fixtures.py: (in_features, n_classes, cutoffs, div_value, head_bias)
CASES = {
    "two_clusters": (8, 10, [3, 6], 2.0, False),
    "one_cluster_bias": (6, 12, [4], 4.0, True),
    "three_clusters": (16, 20, [2, 5, 11], 4.0, False),  # the last tail has 16 // 64 = 0 units
}


def loaded(case):
    """The case's module in float64 with torch's state dict loaded (strict: same names)."""
    module = nn.AdaptiveLogSoftmaxWithLoss(*CASES[case], rng=np.random.default_rng(0),
                                           dtype=np.float64)
    prefix = f"{case}:state:"
    module.load_state_dict({k[len(prefix):]: FIXTURES[k] for k in FIXTURES.files
                            if k.startswith(prefix)})
    return module


@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradients_match_torch(case):
    module = loaded(case)
    x = Tensor(FIXTURES[f"{case}:input"], requires_grad=True)
    result = module(x, FIXTURES[f"{case}:target"])
    assert isinstance(result, nn.ASMOutput)
    output, loss = result
    np.testing.assert_allclose(output.data, FIXTURES[f"{case}:output"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss.data, FIXTURES[f"{case}:loss"], rtol=1e-12, atol=1e-12)
    loss.backward()
    np.testing.assert_allclose(x.grad, FIXTURES[f"{case}:grad_input"], rtol=1e-10, atol=1e-12)
    for name, param in module.named_parameters():
        np.testing.assert_allclose(param.grad, FIXTURES[f"{case}:grad:{name}"], rtol=1e-10,
                                   atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CASES)
def test_log_prob_predict_and_single_input_match_torch(case):
    module = loaded(case)
    x = Tensor(FIXTURES[f"{case}:input"])
    log_prob = module.log_prob(x)
    np.testing.assert_allclose(log_prob.data, FIXTURES[f"{case}:log_prob"], rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(np.exp(log_prob.data).sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(module.predict(x), FIXTURES[f"{case}:predict"])
    np.testing.assert_allclose(module.log_prob(x[0]).data, FIXTURES[f"{case}:log_prob"][0],
                               rtol=1e-12, atol=1e-12)
    assert module.predict(x[0]).item() == FIXTURES[f"{case}:predict"][0]
    single = module(x[0], FIXTURES[f"{case}:target"][0])
    assert single.output.shape == ()
    np.testing.assert_allclose(single.output.data, FIXTURES[f"{case}:single:output"],
                               rtol=1e-12)


def test_fixture_predictions_cover_head_and_tail_rows():
    # predict's two paths (head argmax kept, tail rows rescored) are both exercised above
    shortlist = {case: CASES[case][2][0] for case in CASES}
    predictions = np.concatenate([FIXTURES[f"{c}:predict"] - shortlist[c] for c in CASES])
    assert (predictions < 0).any() and (predictions >= 0).any()


def test_gradcheck_input_and_parameters():
    module = nn.AdaptiveLogSoftmaxWithLoss(5, 9, [2, 6], div_value=2.0, head_bias=True,
                                           rng=np.random.default_rng(1), dtype=np.float64)
    x = Tensor(np.random.default_rng(2).standard_normal((6, 5)), requires_grad=True)
    target = np.array([0, 8, 2, 6, 1, 4])
    assert gradcheck(lambda x, *params: module(x, target).output, x, *module.parameters())
    assert gradcheck(lambda x: module.log_prob(x), x)


def test_output_is_log_prob_at_target_and_loss_its_mean():
    module = nn.AdaptiveLogSoftmaxWithLoss(4, 7, [3], rng=np.random.default_rng(3),
                                           dtype=np.float64)
    x = Tensor(np.random.default_rng(4).standard_normal((5, 4)))
    target = np.array([6, 0, 3, 2, 5])
    output, loss = module(x, target)
    expected = module.log_prob(x).data[np.arange(5), target]
    np.testing.assert_allclose(output.data, expected, rtol=1e-12)
    np.testing.assert_allclose(loss.item(), -expected.mean(), rtol=1e-12)


def test_learns_a_tiny_dataset():
    rng = np.random.default_rng(5)
    module = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [2, 6], div_value=1.0, head_bias=True, rng=rng)
    x = Tensor(rng.standard_normal((12, 8)).astype(np.float32))
    target = np.arange(12)
    opt = Adam(module.parameters(), lr=0.05)
    losses = []
    for _ in range(150):
        loss = module(x, target).loss
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.1 * losses[0]
    np.testing.assert_array_equal(module.predict(x), target)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"^AdaptiveLogSoftmaxWithLoss: cutoffs must be"):
        nn.AdaptiveLogSoftmaxWithLoss(4, 10, [])
    for cutoffs in ([5, 3], [3, 3], [0, 4], [3, 10], [2.5]):
        with pytest.raises(ValueError, match=r"cutoffs must be unique increasing integers in "
                                             r"\[1, n_classes - 1 = 9\], got"):
            nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs)
    module = nn.AdaptiveLogSoftmaxWithLoss(4, 10, [3], rng=np.random.default_rng(0))
    x = Tensor(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"target values must be in \[0, 9\], got \[0, 10\]"):
        module(x, np.array([0, 10, 2]))
    with pytest.raises(ValueError, match=r"target values must be in \[0, 9\], got \[-1, 2\]"):
        module(x, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match=r"got \(3, 4\) and \(2,\)"):
        module(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"target must be 0-D or 1-D integers, got shape \(3, 1\)"):
        module(x, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"target must be 0-D or 1-D integers.*float"):
        module(x, np.zeros(3))
    with pytest.raises(ValueError, match=r"log_prob: expected input \(batch, 4\) or \(4,\), "
                                         r"got \(3, 5\)"):
        module.log_prob(Tensor(np.zeros((3, 5))))
    with pytest.raises(ValueError, match=r"predict: expected input"):
        module.predict(Tensor(np.zeros((2, 3, 4))))
