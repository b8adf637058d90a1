"""F.ctc_loss and nn.CTCLoss: values and gradients against PyTorch (tests/fixtures/ops/ctc.npz:
padded and concatenated targets, repeated labels, the blank elsewhere, empty targets, infeasible
alignments with and without zero_infinity, reductions, unbatched), gradient checks through
log_softmax, errors, and a model that learns to emit a label sequence."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.optim import Adam
from dlpy.testing import gradcheck


def ctc(reduction="mean", blank=0, zero_infinity=False):
    return lambda lp, targets, input_lengths, target_lengths: F.ctc_loss(
        lp, targets, input_lengths, target_lengths, blank, reduction, zero_infinity)


TORCH_CASES = {
    "padded_none": ctc("none"),
    "padded_mean": ctc("mean"),
    "padded_sum": ctc("sum"),
    "concatenated_mean": ctc("mean"),
    "repeated_only_none": ctc("none"),
    "blank_last_mean": ctc("mean", blank=4),
    "blank_middle_none": ctc("none", blank=2),
    "empty_targets_none": ctc("none"),
    "infeasible_none": ctc("none"),  # inf, and PyTorch's nan gradient in the feasible frames
    "infeasible_zero_infinity_none": ctc("none", zero_infinity=True),
    "infeasible_zero_infinity_mean": ctc("mean", zero_infinity=True),
    "no_frames_none": ctc("none"),
    "unbatched_none": ctc("none"),
    "unbatched_mean": ctc("mean"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("ctc", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("ctc") == set(TORCH_CASES)


def test_infeasible_loss_is_inf_and_zero_infinity_zeroes_it(rng):
    lp = F.log_softmax(Tensor(rng.standard_normal((4, 2, 3))), dim=-1)
    targets = np.array([[1, 1, 1], [1, 2, 0]])  # [1, 1, 1] needs 5 frames
    loss = F.ctc_loss(lp, targets, [4, 4], [3, 2], reduction="none")
    assert np.isinf(loss.data[0]) and np.isfinite(loss.data[1])
    kept = F.ctc_loss(lp, targets, [4, 4], [3, 2], reduction="none", zero_infinity=True)
    np.testing.assert_array_equal(kept.data, [0.0, loss.data[1]])


def test_single_frame_single_label_is_its_log_probability():
    lp = np.log(np.array([[[0.2, 0.5, 0.3]]]))  # T = 1: the only alignment emits label 1
    loss = F.ctc_loss(Tensor(lp), np.array([[1]]), [1], [1], reduction="sum")
    assert loss.data == pytest.approx(-np.log(0.5))


def brute_force(probs: np.ndarray, target: list[int], blank: int) -> float:
    """-log of the summed probability of every path that collapses to target."""
    steps, classes = probs.shape
    total = 0.0
    for path in np.ndindex(*(classes,) * steps):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == target:
            total += np.prod(probs[np.arange(steps), path])
    return -np.log(total)


@pytest.mark.parametrize("target, blank", [([1, 1], 0), ([2, 1, 2], 0), ([0, 2], 1), ([], 0)])
def test_matches_summing_every_path(target, blank, rng):
    logits = rng.standard_normal((5, 3))
    probs = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    loss = F.ctc_loss(Tensor(np.log(probs)), np.array(target, dtype=np.int64), [5], [len(target)],
                      blank=blank, reduction="sum")
    assert loss.data == pytest.approx(brute_force(probs, target, blank), rel=1e-10)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("blank", [0, 3])
def test_gradcheck_through_log_softmax(reduction, blank, rng):
    """PyTorch's gradient w.r.t. log_probs is exact once log_softmax's backward takes it."""
    logits = Tensor(rng.standard_normal((7, 3, 4)), requires_grad=True)
    targets = np.array([[1, 1, 2], [2, 1, 0], [1, 2, 1]])  # 0 only as padding

    def loss(x):
        return F.ctc_loss(F.log_softmax(x, dim=-1), targets, [7, 6, 5], [3, 2, 1],
                          blank=blank, reduction=reduction)

    assert gradcheck(loss, logits)


def test_gradient_with_respect_to_log_probs_is_pytorchs(rng):
    """d loss / d log_probs[t, n, c] = p - posterior (not the exact -posterior): the rows sum
    to 0 over classes in the frames of each input, and are 0 after its end."""
    lp = Tensor(F.log_softmax(Tensor(rng.standard_normal((6, 2, 4))), dim=-1).data,
                requires_grad=True)
    F.ctc_loss(lp, np.array([[1, 2], [3, 3]]), [6, 4], [2, 2], reduction="sum").backward()
    np.testing.assert_allclose(lp.grad.sum(axis=-1), 0.0, atol=1e-12)
    np.testing.assert_array_equal(lp.grad[4:, 1], 0.0)


def test_nn_ctc_loss_and_float32(rng):
    lp = F.log_softmax(Tensor(rng.standard_normal((6, 2, 4)).astype(np.float32),
                              requires_grad=True), dim=-1)
    criterion = nn.CTCLoss(blank=0, reduction="sum")
    loss = criterion(lp, np.array([[1, 2], [3, 3]]), np.array([6, 5]), np.array([2, 2]))
    expected = F.ctc_loss(lp, np.array([[1, 2], [3, 3]]), [6, 5], [2, 2], reduction="sum")
    assert loss.dtype == np.float32
    assert loss.data == expected.data
    assert repr(criterion) == "CTCLoss()"  # torch's losses print no settings
    assert criterion.blank == 0 and nn.CTCLoss(zero_infinity=True).zero_infinity is True


def greedy_decode(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    best = log_probs.argmax(axis=-1)
    return [int(c) for i, c in enumerate(best) if c != blank and (i == 0 or c != best[i - 1])]


def test_linear_model_learns_to_emit_a_label_sequence():
    """A Linear layer over fixed random frame features learns, from the CTC loss alone, to emit
    [1, 2, 2, 3] (the repeated 2 needs a blank between): greedy decoding gives it back."""
    rng = np.random.default_rng(0)
    features = Tensor(rng.standard_normal((12, 1, 8)))
    layer = nn.Linear(8, 5, rng=rng, dtype=np.float64)
    optimizer = Adam(layer.parameters(), lr=0.05)
    target = np.array([[1, 2, 2, 3]])
    before = greedy_decode(F.log_softmax(layer(features), dim=-1).data[:, 0])
    for _ in range(150):
        optimizer.zero_grad()
        log_probs = F.log_softmax(layer(features), dim=-1)
        loss = F.ctc_loss(log_probs, target, [12], [4])
        loss.backward()
        optimizer.step()
    assert before != [1, 2, 2, 3]
    assert greedy_decode(log_probs.data[:, 0]) == [1, 2, 2, 3]
    assert float(loss.data) < 0.1


LP = Tensor(np.log(np.full((5, 2, 4), 0.25)))
TARGETS = np.array([[1, 2], [3, 0]])


@pytest.mark.parametrize("call, message", [
    (lambda: F.ctc_loss(LP, TARGETS, [5, 4], [2, 1], blank=4),
     r"ctc_loss: blank must be a class index in \[0, 4\), got 4"),
    (lambda: F.ctc_loss(LP, TARGETS, [6, 4], [2, 1]),
     r"ctc_loss: input_lengths must be at most T = 5 .* got \[6, 4\]"),
    (lambda: F.ctc_loss(LP, TARGETS, [5, -1], [2, 1]),
     r"ctc_loss: input_lengths must be >= 0, got \[5, -1\]"),
    (lambda: F.ctc_loss(LP, TARGETS, [5, 4], [2, -1]),
     r"ctc_loss: target_lengths must be >= 0"),
    (lambda: F.ctc_loss(LP, TARGETS, [5, 4, 3], [2, 1]),
     r"ctc_loss: expected input_lengths of shape \(2,\) .* got \(3,\)"),
    (lambda: F.ctc_loss(LP, TARGETS, [5, 4], [3, 1]),
     r"ctc_loss: expected targets \(N, S\) with N = 2 and S >= max\(target_lengths\) = 3"),
    (lambda: F.ctc_loss(LP, np.array([1, 2, 3, 1]), [5, 4], [2, 1]),
     r"ctc_loss: concatenated targets must hold sum\(target_lengths\) = 3 labels, got 4"),
    (lambda: F.ctc_loss(LP, np.array([[1, 4], [3, 0]]), [5, 4], [2, 1]),
     r"ctc_loss: targets must be class indices in \[0, 4\), got \[1, 3, 4\]"),
    (lambda: F.ctc_loss(LP, TARGETS, [5, 4], [2, 1], reduction="avg"),
     r"ctc_loss: reduction must be mean, sum or none, got 'avg'"),
    (lambda: F.ctc_loss(Tensor(np.zeros((5, 2, 4, 1))), TARGETS, [5, 4], [2, 1]),
     r"ctc_loss: expected floating log_probs \(T, N, C\) or \(T, C\), got float64 "
     r"\(5, 2, 4, 1\)"),
    (lambda: nn.CTCLoss(reduction="avg"), r"CTCLoss: reduction must be mean, sum or none"),
])
def test_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_type_errors():
    # float targets are truncated to class indices, as torch's; float lengths are refused
    np.testing.assert_allclose(F.ctc_loss(LP, TARGETS.astype(np.float64), [5, 4], [2, 1]).data,
                               F.ctc_loss(LP, TARGETS, [5, 4], [2, 1]).data)
    with pytest.raises(TypeError, match="ctc_loss: input_lengths must hold integers"):
        F.ctc_loss(LP, TARGETS, [5.0, 4.0], [2, 1])
    with pytest.raises(TypeError, match="both be tensors or both sequences"):
        F.ctc_loss(LP, TARGETS, Tensor(np.array([5, 4])), [2, 1])


def test_argument_errors_are_runtime_errors():
    # torch raises RuntimeError for lengths, blank and target shapes that do not fit
    with pytest.raises(RuntimeError, match="input_lengths must be at most T"):
        F.ctc_loss(LP, TARGETS, [6, 4], [2, 1])
    with pytest.raises(RuntimeError, match="blank must be a class index"):
        F.ctc_loss(LP, TARGETS, [5, 4], [2, 1], blank=4)


def test_unbatched_log_probs_take_one_padded_row_of_targets_as_torch():
    log_probs = F.log_softmax(dlpy.tensor(np.sin(np.arange(15.0)).reshape(5, 3)), -1)
    flat = F.ctc_loss(log_probs, dlpy.tensor([1, 2]), dlpy.tensor(5), dlpy.tensor(2))
    row = F.ctc_loss(log_probs, dlpy.tensor([[1, 2, 1]]), dlpy.tensor(5), dlpy.tensor(2))
    assert abs(float(flat) - 1.0904581546783447) < 1e-6  # torch 2.13's value
    assert float(row) == float(flat)
    with pytest.raises(RuntimeError, match=r"expected targets \(N, S\) with N = 1"):
        F.ctc_loss(log_probs, dlpy.tensor([[1, 2], [1, 1]]), dlpy.tensor(5), dlpy.tensor(2))


def test_blank_labels_padding_and_masked_frames_as_torch():
    """A target equal to the blank is an ordinary label and the padding past each target is
    never read (torch's CPU kernel); log_probs of -inf give a nan gradient in the frames read."""
    lp = F.log_softmax(dlpy.tensor(np.sin(np.arange(24.0)).reshape(4, 2, 3)), -1)
    as_label = F.ctc_loss(lp, dlpy.tensor([[0, 1], [1, 0]]), [4, 4], [2, 2], reduction="none")
    np.testing.assert_allclose(as_label.data, [3.7828585308631655, 0.44387652355907153],
                               rtol=1e-6)  # torch 2.13
    junk = F.ctc_loss(lp, dlpy.tensor([[1, 99], [2, -7]]), [4, 4], [1, 1], reduction="none")
    clean = F.ctc_loss(lp, dlpy.tensor([[1, 0], [2, 0]]), [4, 4], [1, 1], reduction="none")
    np.testing.assert_array_equal(junk.data, clean.data)
    masked = Tensor(np.where(np.arange(3) == 2, -np.inf, lp.data), requires_grad=True)
    F.ctc_loss(masked, dlpy.tensor([[1], [1]]), [4, 2], [1, 1], reduction="sum").backward()
    assert np.isnan(masked.grad[:, 0, 2]).all() and np.isnan(masked.grad[:2, 1, 2]).all()
    assert (masked.grad[2:, 1] == 0).all()
    with pytest.raises(TypeError):
        F.ctc_loss(lp, dlpy.tensor([[1], [1]]), 4, 1)
