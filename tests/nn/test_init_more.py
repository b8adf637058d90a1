"""nn.init.dirac_ against torch's (tests/fixtures/nn_utils_more, written by
tests/fixtures/make_nn_utils_more_fixtures.py) and as the identity convolution, sparse_ by its
properties (dlpy's draws), the deprecated names without the underscore; errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_nn_utils_more import DIRAC_CASES

import dlpy
from dlpy import nn
from dlpy.nn import init

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "nn_utils_more"
           / "nn_utils_more.npz")


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("dirac:")}


@pytest.mark.parametrize("case", list(DIRAC_CASES))
def test_dirac_matches_torch(case, ref):
    shape, groups = DIRAC_CASES[case]
    tensor = dlpy.tensor(np.full(shape, 5.0))
    assert init.dirac_(tensor, groups) is tensor
    np.testing.assert_array_equal(tensor.data, ref[f"dirac:{case}"])


@pytest.mark.parametrize("conv,shape", [(nn.Conv1d, (2, 3, 7)), (nn.Conv2d, (2, 3, 5, 6)),
                                        (nn.Conv3d, (1, 3, 4, 5, 3))])
def test_dirac_makes_a_convolution_the_identity(conv, shape):
    layer = conv(3, 3, 3, padding=1, bias=False, dtype=np.float64)
    init.dirac_(layer.weight)
    x = dlpy.tensor(np.random.default_rng(0).standard_normal(shape))
    np.testing.assert_array_equal(layer(x).data, x.data)


def test_dirac_with_groups_passes_each_groups_first_channels():
    layer = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False, dtype=np.float64)
    init.dirac_(layer.weight, groups=2)
    x = dlpy.tensor(np.random.default_rng(1).standard_normal((1, 4, 4, 4)))
    np.testing.assert_array_equal(layer(x).data[:, [0, 2]], x.data[:, [0, 2]])


@pytest.mark.parametrize("sparsity,rows", [(0.1, 10), (0.5, 7), (0.0, 4), (1.0, 3)])
def test_sparse_zeros_the_fraction_of_each_column(sparsity, rows):
    tensor = dlpy.tensor(np.zeros((rows, 200), np.float32))
    init.sparse_(tensor, sparsity, std=0.5, generator=np.random.default_rng(0))
    assert tensor.dtype == np.float32
    zeros = np.sum(tensor.data == 0, axis=0)
    np.testing.assert_array_equal(zeros, int(np.ceil(sparsity * rows)))
    kept = tensor.data[tensor.data != 0]
    if kept.size > 100:
        assert abs(kept.std() - 0.5) < 0.05 and abs(kept.mean()) < 0.05
    # the zeros fall on different rows in different columns (a permutation each)
    if 0 < sparsity < 1:
        assert len({tuple(np.flatnonzero(c == 0)) for c in tensor.data.T}) > 1


def test_sparse_is_reproducible_from_the_generator():
    a, b = dlpy.tensor(np.zeros((6, 5))), dlpy.tensor(np.zeros((6, 5)))
    init.sparse_(a, 0.3, generator=np.random.default_rng(4))
    init.sparse_(b, 0.3, generator=np.random.default_rng(4))
    np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("old,args", [
    ("uniform", ()), ("normal", ()), ("constant", (0.5,)), ("eye", ()), ("xavier_uniform", ()),
    ("xavier_normal", ()), ("kaiming_uniform", ()), ("kaiming_normal", ()), ("orthogonal", ()),
    ("sparse", (0.5,))])
def test_the_deprecated_names_warn_and_call_the_underscore_form(old, args):
    kwargs = {} if old in ("constant", "eye") else {"generator": np.random.default_rng(0)}
    expected = getattr(init, f"{old}_")(dlpy.tensor(np.zeros((4, 3))), *args, **kwargs)
    tensor = dlpy.tensor(np.zeros((4, 3)))
    kwargs = {} if old in ("constant", "eye") else {"generator": np.random.default_rng(0)}
    with pytest.warns(FutureWarning, match=f"nn.init.{old} is now deprecated in favor of "
                                           f"nn.init.{old}_"):
        assert getattr(init, old)(tensor, *args, **kwargs) is tensor
    np.testing.assert_array_equal(tensor.data, expected.data)
    assert getattr(init, old).__name__ == old and old in init.__all__


def test_dirac_deprecated_name():
    with pytest.warns(FutureWarning, match="nn.init.dirac is now deprecated"):
        init.dirac(dlpy.tensor(np.zeros((2, 2, 3))))


def test_errors():
    with pytest.raises(ValueError, match=r"init.dirac_: expected a 3, 4 or 5-dimensional "
                                         r"tensor, got shape \(3, 3\)"):
        init.dirac_(dlpy.tensor(np.zeros((3, 3))))
    with pytest.raises(ValueError, match=r"init.dirac_: groups must be a positive divisor of "
                                         r"dim 0 \(4\), got 3"):
        init.dirac_(dlpy.tensor(np.zeros((4, 2, 3))), groups=3)
    with pytest.raises(TypeError, match="init.dirac_: expected a dlpy Tensor"):
        init.dirac_([[[0.0]]])
    with pytest.raises(ValueError, match=r"init.sparse_: expected a 2-dimensional tensor, got "
                                         r"shape \(2, 2, 2\)"):
        init.sparse_(dlpy.tensor(np.zeros((2, 2, 2))), 0.5)
    # as torch's: a sparsity past 1 zeroes every row, not an error
    assert np.array_equal(init.sparse_(dlpy.tensor(np.ones((2, 2))), 1.5).data, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="init.sparse_: std must be >= 0, got -1"):
        init.sparse_(dlpy.tensor(np.zeros((2, 2))), 0.5, std=-1)
    with pytest.raises(TypeError, match="init.sparse_: random values need a floating-point"):
        init.sparse_(dlpy.tensor(np.zeros((2, 2), np.int64)), 0.5)


def test_torch_order_and_classes_of_errors():
    # a size-0 weight is skipped before mode / nonlinearity are read, as torch's
    with pytest.warns(UserWarning, match="zero-element"):
        w = init.kaiming_uniform_(dlpy.tensor(np.zeros((0, 3))), mode="bad")
    assert w.shape == (0, 3)
    assert init.orthogonal_(dlpy.tensor(np.zeros((0, 3), np.int64))).shape == (0, 3)
    with pytest.raises(ZeroDivisionError, match=r"xavier_uniform_: fan_in \+ fan_out is 0"):
        init.xavier_uniform_(dlpy.tensor(np.zeros((0, 0))))
    with pytest.raises(RuntimeError, match="trunc_normal_: expected a <= b"):
        init.trunc_normal_(dlpy.tensor(np.zeros(3)), a=1.0, b=0.0)
    with pytest.raises(RuntimeError, match="val must be a number or a 0-d tensor"):
        init.constant_(dlpy.tensor(np.zeros(2)), dlpy.tensor(np.ones(2)))
    with pytest.raises(ValueError, match="negative_slope must be a number"):
        init.calculate_gain("leaky_relu", np.float32(0.1))  # torch takes Python int / float only
    w = init.trunc_normal_(dlpy.tensor(np.zeros(50)), std=-1.0)  # torch's |std|
    assert np.all(np.abs(w.data) <= 2.0)
