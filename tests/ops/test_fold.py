"""F.unfold (im2col) and F.fold (col2im), each the other's adjoint: values and gradients against
PyTorch (tests/fixtures/ops/fold.npz), gradient checks, the link to conv2d, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "unfold": lambda x: F.unfold(x, 2),
    "unfold_all_settings": lambda x: F.unfold(x, (2, 3), 2, 1, (1, 2)),
    "unfold_unbatched": lambda x: F.unfold(x, 3, padding=1, stride=2),
    "fold": lambda x: F.fold(x, (4, 5), 2),
    "fold_all_settings": lambda x: F.fold(x, (7, 8), (2, 3), 2, 1, (1, 2)),
    "fold_unbatched": lambda x: F.fold(x, (4, 5), 2),
    "fold_of_unfold": lambda x: F.fold(F.unfold(x, 3, padding=1, stride=2), (5, 5), 3,
                                       padding=1, stride=2),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("fold", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("fold") == set(TORCH_CASES)


SETTINGS = [  # kernel_size, dilation, padding, stride
    (2, 1, 0, 1), ((2, 3), (2, 1), 1, (2, 1)), (3, 1, 1, 2), (1, 1, 0, 1),
]


@pytest.mark.parametrize("kernel_size, dilation, padding, stride", SETTINGS)
def test_unfold_and_fold_gradcheck(kernel_size, dilation, padding, stride, rng):
    x = Tensor(rng.standard_normal((2, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda t: F.unfold(t, kernel_size, dilation, padding, stride), x)
    cols = F.unfold(x, kernel_size, dilation, padding, stride)
    c = Tensor(rng.standard_normal(cols.shape), requires_grad=True)
    assert gradcheck(lambda t: F.fold(t, (5, 6), kernel_size, dilation, padding, stride), c)
    # adjoint: <unfold(x), c> = <x, fold(c)>
    folded = F.fold(c, (5, 6), kernel_size, dilation, padding, stride)
    np.testing.assert_allclose(np.sum(cols.data * c.data), np.sum(x.data * folded.data),
                               rtol=1e-12)


def test_unfold_times_weight_is_conv2d(rng):
    x = rng.standard_normal((2, 3, 6, 7))
    w = rng.standard_normal((4, 3, 3, 2))
    cols = F.unfold(Tensor(x), (3, 2), 2, 1, (2, 1))  # (N, C kh kw, L)
    y = (w.reshape(4, -1) @ cols.data).reshape(2, 4, *F.conv2d(
        Tensor(x), Tensor(w), None, (2, 1), 1, 2).shape[2:])
    np.testing.assert_allclose(y, F.conv2d(Tensor(x), Tensor(w), None, (2, 1), 1, 2).data,
                               rtol=1e-12, atol=1e-12)


def test_fold_errors():
    with pytest.raises(ValueError, match=r"fold: output_size \(4, 5\) with kernel_size \(2, "
                                         r"2\), dilation \(1, 1\), padding \(0, 0\) and stride "
                                         r"\(1, 1\) has 3 \* 4 = 12 blocks, but the input has 11 "
                                         r"columns \(axis 2\)"):
        F.fold(Tensor(np.zeros((2, 12, 11))), (4, 5), 2)
    with pytest.raises(ValueError, match=r"fold: the columns' size 13 \(axis 1\) must be a "
                                         r"multiple of kh \* kw = 4"):
        F.fold(Tensor(np.zeros((2, 13, 12))), (4, 5), 2)
    with pytest.raises(ValueError, match=r"fold: expected columns \(N, C \* kh \* kw, L\) or "
                                         r"unbatched \(C \* kh \* kw, L\), got \(1, 2, 12, 12\)"):
        F.fold(Tensor(np.zeros((1, 2, 12, 12))), (4, 5), 2)
    with pytest.raises(ValueError, match=r"unfold: expected x \(N, C, H, W\) or unbatched "
                                         r"\(C, H, W\), got \(4, 5\)"):
        F.unfold(Tensor(np.zeros((4, 5))), 2)
    with pytest.raises(ValueError, match=r"unfold: kernel_size \(6, 6\) with dilation \(1, 1\) "
                                         r"does not fit the spatial size \(4, 5\) with padding "
                                         r"\(0, 0\)"):
        F.unfold(Tensor(np.zeros((1, 3, 4, 5))), 6)
    with pytest.raises(ValueError, match=r"unfold: need kernel_size >= 1, dilation >= 1, "
                                         r"padding >= 0 and stride >= 1"):
        F.unfold(Tensor(np.zeros((1, 3, 4, 5))), 2, stride=0)
