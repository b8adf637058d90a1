"""Unbatched inputs, as PyTorch: conv1d on (C, L), conv2d and the 2d pools on (C, H, W) give
PyTorch's values and gradients (tests/fixtures/ops/unbatched.npz) and what a batch of one gives;
the transposed convolutions and max_unpool2d are tested in their own files."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

from .conftest import load_cases

TORCH_CASES = {
    "conv2d": lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
    "conv2d_same_groups": lambda x, w, b: F.conv2d(x, w, b, padding="same", groups=2),
    "conv1d": lambda x, w, b: F.conv1d(x, w, b, padding=1),
    "conv1d_same_dilation": lambda x, w: F.conv1d(x, w, padding="same", dilation=2),
    "max_pool2d": lambda x: F.max_pool2d(x, 3, 2, 1),
    "max_pool2d_dilation_ceil": lambda x: F.max_pool2d(x, 2, 2, 1, dilation=2, ceil_mode=True),
    "avg_pool2d": lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "adaptive_avg_pool2d": lambda x: F.adaptive_avg_pool2d(x, (3, 4)),
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("unbatched", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("unbatched") == set(TORCH_CASES)


@pytest.mark.parametrize("case", ["max_pool2d", "max_pool2d_dilation_ceil"])
def test_max_pool2d_indices_are_torchs(case):
    record = load_cases("unbatched")[case]
    settings = {"max_pool2d": (3, 2, 1), "max_pool2d_dilation_ceil": (2, 2, 1, 2, True)}[case]
    values, indices = F.max_pool2d(Tensor(record["in0"]), *settings, return_indices=True)
    assert values.shape == indices.shape and values.ndim == 3
    np.testing.assert_array_equal(indices.data, record["out_indices"])


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_unbatched_is_a_batch_of_one(case):
    record = load_cases("unbatched")[case]
    inputs = [record[f"in{i}"] for i in range(sum(k.startswith("in") for k in record))]
    alone = TORCH_CASES[case](*map(Tensor, inputs))
    batched = TORCH_CASES[case](Tensor(inputs[0][None]), *map(Tensor, inputs[1:]))
    np.testing.assert_array_equal(alone.data, batched.data[0])


def test_unbatched_gradchecks(rng):
    x = Tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2, 2, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv2d(x, w, padding=1), x, w)
    assert gradcheck(lambda x: F.max_pool2d(x, 2, 1, 1), x)
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, 1, 1), x)
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), x)
    x1 = Tensor(rng.standard_normal((2, 7)), requires_grad=True)
    w1 = Tensor(rng.standard_normal((3, 2, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv1d(x, w, stride=2), x1, w1)
