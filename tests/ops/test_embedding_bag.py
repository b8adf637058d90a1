"""F.embedding_bag: sum, mean and max bags from offsets or 2-D ids, padding_idx, per-sample
weights (with their gradient), include_last_offset, empty bags, ties and NaN in max; values
and gradients against PyTorch (tests/fixtures/ops/embedding_bag.npz), gradient checks, sparse
gradients, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.sparse_grad import SparseGrad
from dlpy.testing import gradcheck


def bag(**settings):
    def run(weight, *rest, ids, offsets=None):
        psw = {"per_sample_weights": rest[0]} if rest else {}
        return F.embedding_bag(ids, weight, offsets, **settings, **psw)
    return run


TORCH_CASES = {
    "mean_offsets": bag(),
    "sum_2d": bag(mode="sum"),
    "max_offsets_padding": bag(mode="max", padding_idx=0),
    "mean_padding": bag(padding_idx=0),
    "mean_padding_negative_2d": bag(padding_idx=-1),
    "sum_per_sample_weights_padding": bag(mode="sum", padding_idx=6),
    "sum_per_sample_weights_2d": bag(mode="sum"),
    "max_include_last_offset": bag(mode="max", include_last_offset=True),
    "sum_include_last_offset": bag(mode="sum", include_last_offset=True),
    "max_ties_and_repeats": bag(mode="max"),
    "max_nan": bag(mode="max"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("embedding_bag", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("embedding_bag") == set(TORCH_CASES)


IDS = np.array([1, 2, 0, 3, 0, 5, 6, 6, 2])
OFFSETS = np.array([0, 2, 2, 5])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 0])
def test_embedding_bag_gradcheck(mode, padding_idx, rng):
    weight = Tensor(rng.standard_normal((7, 3)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding_bag(IDS, w, OFFSETS, mode=mode,
                                               padding_idx=padding_idx), weight)
    assert gradcheck(lambda w: F.embedding_bag(IDS.reshape(3, 3), w, mode=mode,
                                               padding_idx=padding_idx), weight)


def test_per_sample_weights_gradcheck(rng):
    weight = Tensor(rng.standard_normal((7, 3)), requires_grad=True)
    psw = Tensor(rng.standard_normal(IDS.size), requires_grad=True)
    assert gradcheck(lambda w, s: F.embedding_bag(IDS, w, OFFSETS, mode="sum",
                                                  per_sample_weights=s, padding_idx=6),
                     weight, psw)
    # constant per-sample weights: one sparse_linear, the same values
    direct = F.embedding_bag(IDS, weight, OFFSETS, mode="sum", per_sample_weights=psw.data)
    composed = F.embedding_bag(IDS, weight, OFFSETS, mode="sum", per_sample_weights=psw)
    np.testing.assert_allclose(direct.data, composed.data, rtol=1e-14)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_sparse_gradient_equals_the_dense_one(mode, rng):
    weight = Tensor(rng.standard_normal((7, 3)), requires_grad=True)
    F.embedding_bag(IDS, weight, OFFSETS, mode=mode, sparse=True).sum().backward()
    assert isinstance(weight.grad, SparseGrad)
    sparse = weight.grad.to_dense()
    weight.grad = None
    F.embedding_bag(IDS, weight, OFFSETS, mode=mode).sum().backward()
    np.testing.assert_allclose(sparse, weight.grad, rtol=1e-14)
    psw = Tensor(rng.standard_normal(IDS.size), requires_grad=True)
    weight.grad = None
    F.embedding_bag(IDS, weight, OFFSETS, mode="sum", sparse=True,
                    per_sample_weights=psw).sum().backward()
    assert isinstance(weight.grad, SparseGrad) and psw.grad is not None


def test_empty_bags_and_dtype(rng):
    weight = Tensor(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
    for mode in ("sum", "mean", "max"):
        y = F.embedding_bag(np.array([], dtype=np.int64), weight, np.array([0, 0]), mode=mode)
        np.testing.assert_array_equal(y.data, np.zeros((2, 2)))
        assert y.dtype == np.float32
        y = F.embedding_bag(np.array([[2, 2]]), weight, mode=mode, padding_idx=2)  # all padding
        np.testing.assert_array_equal(y.data, np.zeros((1, 2)))


def test_embedding_bag_errors(rng):
    weight = Tensor(rng.standard_normal((7, 3)))
    with pytest.raises(ValueError, match=r"embedding_bag: 1-D input needs offsets"):
        F.embedding_bag(IDS, weight)
    with pytest.raises(ValueError, match=r"embedding_bag: 2-D input is one bag a row and takes "
                                         r"no offsets"):
        F.embedding_bag(IDS.reshape(3, 3), weight, OFFSETS)
    with pytest.raises(ValueError, match=r"embedding_bag: offsets must start at 0 and never "
                                         r"decrease, up to the input's length 9, got \[1, 3\]"):
        F.embedding_bag(IDS, weight, np.array([1, 3]))
    with pytest.raises(ValueError, match=r"offsets must start at 0 and never decrease"):
        F.embedding_bag(IDS, weight, np.array([0, 4, 2]))
    with pytest.raises(ValueError, match=r"embedding_bag: with include_last_offset the last "
                                         r"offset must be the input's length 9, got 6"):
        F.embedding_bag(IDS, weight, np.array([0, 3, 6]), include_last_offset=True)
    with pytest.raises(ValueError, match=r"embedding_bag: ids must lie in \[0, 7\), got values "
                                         r"from 0 to 7"):
        F.embedding_bag(np.array([[0, 7]]), weight)
    with pytest.raises(ValueError, match=r"embedding_bag: mode must be sum, mean or max, got "
                                         r"'min'"):
        F.embedding_bag(IDS, weight, OFFSETS, mode="min")
    with pytest.raises(NotImplementedError, match=r"embedding_bag: per_sample_weights needs "
                                                  r"mode 'sum', got 'mean'"):
        F.embedding_bag(IDS, weight, OFFSETS, per_sample_weights=np.ones(9))
    with pytest.raises(ValueError, match=r"embedding_bag: per_sample_weights \(8,\) must have "
                                         r"the input's shape \(9,\)"):
        F.embedding_bag(IDS, weight, OFFSETS, mode="sum", per_sample_weights=np.ones(8))
    with pytest.raises(ValueError, match=r"embedding_bag: mode 'max' does not support sparse"):
        F.embedding_bag(IDS, weight, OFFSETS, mode="max", sparse=True)
    with pytest.raises(TypeError, match=r"embedding_bag: input must be integer ids, got "
                                        r"float64"):
        F.embedding_bag(np.zeros((2, 2)), weight)
    with pytest.raises(ValueError, match=r"embedding_bag: padding_idx must be an integer in "
                                         r"\[-7, 7\), got 7"):
        F.embedding_bag(IDS, weight, OFFSETS, padding_idx=7)
    with pytest.raises(TypeError, match=r"embedding_bag: max_norm must be a number or None, "
                                        r"got 'big'"):
        F.embedding_bag(IDS, weight, OFFSETS, max_norm="big")


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_wide_rows_gradcheck(mode, rng):
    """dim > 16: sums level by level, gradients by sorted runs (ops/sparse.py)."""
    weight = Tensor(rng.standard_normal((7, 20)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding_bag(IDS, w, OFFSETS, mode=mode, padding_idx=6),
                     weight)
    if mode == "sum":
        psw = Tensor(rng.standard_normal(IDS.size), requires_grad=True)
        assert gradcheck(lambda w, s: F.embedding_bag(IDS, w, OFFSETS, mode="sum",
                                                      per_sample_weights=s), weight, psw)


def _max_scan(weight, ids, offsets):
    """PyTorch's max bag, one bag and one dimension at a time: the first value, replaced only
    by a larger one (so a NaN stays only where it comes first); the winning rows."""
    ends = np.append(offsets[1:], ids.size)
    values = np.zeros((offsets.size, weight.shape[1]))
    winners = np.full((offsets.size, weight.shape[1]), -1)
    for b, (start, end) in enumerate(zip(offsets, ends)):
        for d in range(weight.shape[1]):
            for i in ids[start:end]:
                if winners[b, d] < 0 or weight[i, d] > values[b, d]:
                    values[b, d], winners[b, d] = weight[i, d], i
    return values, winners


@pytest.mark.parametrize("long_bag", [False, True])
def test_max_is_pytorchs_scan_with_ties_nan_and_long_bags(long_bag, rng):
    """Bags up to MAX_LEVELS long go level by level, longer ones by reduceats: both give the
    scan's values, and only the winning rows get the gradient."""
    from dlpy.ops.sparse import MAX_LEVELS

    weight = np.round(rng.standard_normal((30, 4)), 1)  # ties
    weight[3, 0] = weight[8, 2] = np.nan
    lengths = [5, 0, 3, 40, 1] + ([MAX_LEVELS + 10] if long_bag else [])
    ids = rng.integers(0, 30, sum(lengths))
    ids[[0, 9, 20]] = [3, 8, 3]  # NaN first in bag 0; later in bag 3
    offsets = np.cumsum([0] + lengths[:-1])
    values, winners = _max_scan(weight, ids, offsets)
    w = Tensor(weight, requires_grad=True)
    y = F.embedding_bag(ids, w, offsets, mode="max")
    np.testing.assert_array_equal(y.data, values)
    grad_output = rng.standard_normal(y.shape)
    y.backward(grad_output)
    expected = np.zeros_like(weight)
    won = winners >= 0
    np.add.at(expected, (winners[won], np.nonzero(won)[1]), grad_output[won])
    np.testing.assert_allclose(w.grad, expected, rtol=1e-14)


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_divides_each_rows_gradient_by_its_count(mode):
    # ids 1 twice and 3 once: the documented rule (torch's CUDA kernel and F.embedding's);
    # torch 2.13's CPU kernel divides row 3 by 2 here (pytorch/pytorch#190063)
    weight = Tensor(np.ones((4, 2)), requires_grad=True)
    ids, offsets = np.array([1, 1, 3]), np.array([0, 2])
    F.embedding_bag(ids, weight, offsets, mode=mode, scale_grad_by_freq=True).sum().backward()
    per_bag = [2.0, 1.0] if mode == "mean" else [1.0, 1.0]  # d bag / d each of its rows
    expected = np.zeros((4, 2))
    expected[1] = 2 * (1 / per_bag[0]) / 2
    expected[3] = (1 / per_bag[1]) / 1
    np.testing.assert_allclose(weight.grad, expected)
    unscaled = Tensor(np.ones((4, 2)), requires_grad=True)
    F.embedding_bag(ids, unscaled, offsets, mode=mode).sum().backward()
    counts = np.bincount(ids, minlength=4)[:, None]
    np.testing.assert_allclose(weight.grad, unscaled.grad / np.maximum(counts, 1))


def test_scale_grad_by_freq_refusals_as_torchs(rng):
    weight = Tensor(rng.standard_normal((7, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"max mode does not support scaling the gradient by "
                                         r"the frequency"):  # at the call, as torch's F
        F.embedding_bag(IDS, weight, OFFSETS, mode="max", scale_grad_by_freq=True)
    y = F.embedding_bag(IDS, weight, OFFSETS, mode="sum", sparse=True, scale_grad_by_freq=True)
    with pytest.raises(RuntimeError, match=r"scale_grad_by_freq is not supported with sparse"):
        y.sum().backward()
