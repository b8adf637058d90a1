"""pad (PyTorch's F.pad): PyTorch values for every mode (tests/fixtures/ops/pad.npz), gradient
checks including cropping, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "constant_last": lambda x: F.pad(x, (1, 2)),
    "constant_two_axes_value": lambda x: F.pad(x, (1, 0, 2, 3), value=1.5),
    "constant_crop": lambda x: F.pad(x, (-1, 2, -2, -1)),
    "constant_crop_to_one": lambda x: F.pad(x, (-4, 1)),
    "constant_every_axis": lambda x: F.pad(x, (1, 1, 2, 0)),
    "constant_three_axes": lambda x: F.pad(x, (1, 0, 0, 2, 1, 1), value=-2.0),
    "reflect_1d": lambda x: F.pad(x, (2, 4), mode="reflect"),
    "reflect_2d": lambda x: F.pad(x, (1, 3, 2, 3), mode="reflect"),
    "reflect_3d": lambda x: F.pad(x, (1, 1, 2, 1, 2, 2), mode="reflect"),
    "reflect_unbatched": lambda x: F.pad(x, (2, 1), mode="reflect"),
    "reflect_crop": lambda x: F.pad(x, (-2, 3), mode="reflect"),
    "replicate_1d": lambda x: F.pad(x, (3, 5), mode="replicate"),
    "replicate_2d": lambda x: F.pad(x, (2, 1, 0, 3), mode="replicate"),
    "replicate_3d": lambda x: F.pad(x, (1, 2, 1, 0, 2, 1), mode="replicate"),
    "replicate_crop": lambda x: F.pad(x, (2, -3), mode="replicate"),
    "circular_1d": lambda x: F.pad(x, (4, 2), mode="circular"),
    "circular_2d": lambda x: F.pad(x, (1, 2, 3, 0), mode="circular"),
    "replicate_crop_past_the_input": lambda x: F.pad(x, (5, -8), mode="replicate"),
    "reflect_crop_past_the_input": lambda x: F.pad(x, (-6, 3), mode="reflect"),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("pad", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("pad") == set(TORCH_CASES)


@pytest.mark.parametrize("shape, widths, mode", [
    ((3, 4), (1, 2), "constant"),
    ((2, 3, 5), (0, 0, 2, 1), "constant"),
    ((2, 5, 4), (-1, 2, 1, -3), "constant"),  # crop and pad at once
    ((1,), (2, 3), "constant"),
    ((2, 5), (3, 4), "reflect"),
    ((1, 2, 4, 5), (-1, 4, 3, 2), "reflect"),  # values reflected twice get both gradients
    ((2, 3), (4, 1), "replicate"),
    ((1, 2, 3, 2), (2, 2, 1, 3), "replicate"),
    ((2, 3, 5), (-2, 1), "replicate"),
    ((2, 4), (5, -7), "replicate"),  # nothing of x's own order left: only copies of the edge
    ((2, 4), (3, -6), "reflect"),
    ((2, 3), (3, 2), "circular"),
    ((1, 2, 3, 4), (4, 4, 1, 2), "circular"),  # as wide as the axis
    ((2, 5), (-1, 3), "circular"),  # cropped first, then wrapped around what is left
    ((1, 3, 4), (2, -1, -1, 1), "circular"),
])
def test_gradcheck(shape, widths, mode, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.pad(x, widths, mode=mode), x)


def test_values_and_summed_gradients_by_hand():
    x = Tensor(np.array([[1.0, 2.0, 3.0]]), requires_grad=True)
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="reflect").data, [[3, 2, 1, 2, 3, 2]])
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="replicate").data, [[1, 1, 1, 2, 3, 3]])
    np.testing.assert_array_equal(F.pad(x, (2, 1), mode="circular").data, [[2, 3, 1, 2, 3, 1]])
    np.testing.assert_array_equal(F.pad(x, (1, -2), value=9).data, [[9, 1]])
    # circular crops first, then wraps what is left (torch's order)
    np.testing.assert_array_equal(F.pad(x, (-1, 2), mode="circular").data, [[2, 3, 2, 3]])
    F.pad(x, (2, 1), mode="replicate").sum().backward()
    np.testing.assert_array_equal(x.grad, [[3, 1, 2]])  # the edges counted once per copy


def test_crop_to_nothing_keeps_a_zero_gradient():
    x = Tensor(np.ones((2, 4)), requires_grad=True)
    y = F.pad(x, (-4, 0))
    assert y.shape == (2, 0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros((2, 4)))


def test_float32_stays_float32(rng):
    x = Tensor(rng.standard_normal((2, 3, 4)).astype(np.float32), requires_grad=True)
    for mode in ("constant", "reflect", "replicate", "circular"):
        y = F.pad(x, (1, 2, 1, 0), mode=mode)
        assert y.dtype == np.float32
        x.grad = None
        y.sum().backward()
        assert x.grad.dtype == np.float32


@pytest.mark.parametrize("make, error, message", [
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 2, 3)), ValueError,
     r"pad: pad needs a \(before, after\) pair per axis, an even length, got 3: \(1, 2, 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 1, 1, 1, 1, 1)), ValueError,
     r"pad: pad \(1, 1, 1, 1, 1, 1\) has 3 pairs but x has only 2 axes, shape \(2, 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1.0, 1)), TypeError,
     r"pad: pad must be a tuple of ints, got \(1.0, 1\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), 1), TypeError, r"pad must be a tuple of ints"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 1), mode="wrap"), ValueError,
     r"pad: mode must be one of constant, reflect, replicate, circular, got 'wrap'"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 1), mode="reflect", value=1.0), ValueError,
     r"pad: mode 'reflect' takes no value, got 1.0"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 1), value="0"), TypeError,
     r"pad: value must be a number, got '0'"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (-2, -2)), ValueError,
     r"pad: cannot crop \(-2, -2\) from axis 1 \(size 3\) of x \(2, 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (3, 0), mode="reflect"), ValueError,
     r"pad: reflect needs widths below the size, got \(3, 0\) for axis 1 \(size 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (-2, -1), mode="replicate"), ValueError,
     r"pad: \(-2, -1\) leaves nothing of axis 1 \(size 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (4, 0), mode="circular"), ValueError,
     r"pad: circular needs widths at most the size \(after any crop\), got \(4, 0\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (-2, 2), mode="circular"), ValueError,
     r"pad: circular needs widths at most the size \(after any crop\), got \(-2, 2\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (1, 1, 1, 1), mode="reflect"), NotImplementedError,
     r"pad: mode 'reflect' pads 1, 2 or 3 last axes .* got 4 widths for x \(2, 3\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 0, 3))), (1, 1), mode="replicate"), ValueError,
     r"pad: mode 'replicate' needs non-empty axes \(but the batch\), got x \(2, 0, 3\)"),
])
def test_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_widths_may_be_0d_integer_tensors():
    """torch takes a 0-d integer Tensor as a width (``(max_len - lens[i], 0)``); a float one, or
    a bool, is still a TypeError."""
    import dlpy

    x = Tensor(np.arange(3.0))
    got = F.pad(x, (dlpy.tensor(2), dlpy.tensor(-1, dtype=dlpy.int32)), value=7.0)
    np.testing.assert_array_equal(got.data, [7.0, 7.0, 0.0, 1.0])
    np.testing.assert_array_equal(F.pad(x, [dlpy.tensor(1), 0]).data, [0.0, 0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="pad must be a tuple of ints"):
        F.pad(x, (dlpy.tensor(2.0), 0))
    with pytest.raises(TypeError, match="pad must be a tuple of ints"):
        F.pad(x, (True, 0))
