"""The creation functions beyond tensor/zeros/ones/randn/arange: values and dtypes against
PyTorch's (the "create:" keys of tests/fixtures/habits, made by make_habits_fixtures.py), and the
random ones' streams (numpy's, from dlpy's default generator or ``generator=``)."""

from pathlib import Path

import numpy as np
import pytest
from cases_habits import creation_cases

import dlpy

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "habits.npz"

# the cases make_habits_fixtures.py ran in torch
CREATION_CASES = {**creation_cases(dlpy, np.float64), "empty": lambda: dlpy.empty(2, 3)}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("create:")}


def test_every_fixture_case_is_tested(reference):
    assert {k.split(":")[1] for k in reference} == set(CREATION_CASES)


@pytest.mark.parametrize("case", sorted(CREATION_CASES))
def test_matches_torch(case, reference):
    made = CREATION_CASES[case]()
    expected = reference[f"create:{case}"]
    assert str(made.dtype) == str(reference[f"create:{case}:dtype"])
    assert made.shape == expected.shape and not made.requires_grad
    # linspace: computed in float64 and rounded once; torch's float32 may differ in the last bit
    np.testing.assert_allclose(made.data, expected, rtol=1e-6, atol=0)


def test_like_functions_follow_their_input():
    x = dlpy.tensor([[1.0, 2.0]])
    for made in (dlpy.zeros_like(x), dlpy.ones_like(x), dlpy.full_like(x, 3),
                 dlpy.rand_like(x), dlpy.randn_like(x)):
        assert made.shape == (1, 2) and made.dtype == np.float32 and not made.requires_grad
    assert dlpy.zeros_like(np.zeros(3, dtype=np.float64)).dtype == np.float64  # arrays too
    assert dlpy.ones_like(x, dtype=np.float64).dtype == np.float64
    assert dlpy.rand_like(x, dtype=np.float64).dtype == np.float64
    assert dlpy.zeros_like(x, requires_grad=True).requires_grad
    assert dlpy.full_like(x, dlpy.tensor(2.0)).tolist() == [[2.0, 2.0]]
    assert dlpy.full(3, 1.0).shape == (3,) and dlpy.eye(0).shape == (0, 0)
    assert dlpy.linspace(0, 1, 0).shape == (0,)


def test_random_functions_draw_from_the_default_generator():
    makers = [lambda: dlpy.rand(2, 3), lambda: dlpy.rand_like(dlpy.zeros(4)),
              lambda: dlpy.randn_like(dlpy.zeros(4)), lambda: dlpy.randint(0, 10, (5,)),
              lambda: dlpy.randperm(6), lambda: dlpy.randn(3)]
    for make in makers:
        dlpy.manual_seed(3)
        first = make().numpy()
        dlpy.manual_seed(3)
        np.testing.assert_array_equal(make().numpy(), first)


def test_random_functions_take_a_generator():
    def seeded():
        return np.random.default_rng(5)

    np.testing.assert_array_equal(dlpy.rand(4, generator=seeded()).numpy(),
                                  seeded().random(4).astype(np.float32))
    np.testing.assert_array_equal(dlpy.rand(4, rng=seeded()).numpy(),
                                  seeded().random(4).astype(np.float32))
    np.testing.assert_array_equal(dlpy.randn(4, generator=seeded()).numpy(),
                                  seeded().standard_normal(4).astype(np.float32))
    np.testing.assert_array_equal(dlpy.randn_like(dlpy.zeros(4, dtype=np.float64),
                                                  generator=seeded()).numpy(),
                                  seeded().standard_normal(4))
    np.testing.assert_array_equal(dlpy.randint(3, 9, (2, 2), generator=seeded()).numpy(),
                                  seeded().integers(3, 9, (2, 2)))
    np.testing.assert_array_equal(dlpy.randperm(7, generator=seeded()).numpy(),
                                  seeded().permutation(7))
    with pytest.raises(TypeError, match=r"rand: give generator or rng \(the same thing\), not "
                                        "both"):
        dlpy.rand(2, generator=seeded(), rng=seeded())
    with pytest.raises(TypeError, match=r"randperm: generator must be a numpy Generator or "
                                        "None, got int"):
        dlpy.randperm(3, generator=0)


def test_random_values_dtypes_and_ranges_as_torch():
    g = np.random.default_rng(0)
    u = dlpy.rand(1000, generator=g)
    assert u.dtype == np.float32 and 0 <= u.data.min() and u.data.max() < 1
    assert dlpy.rand(2, 2, requires_grad=True).requires_grad
    ints = dlpy.randint(-2, 3, size=(1000,), generator=g)
    assert ints.dtype == np.int64 and set(ints.tolist()) == {-2, -1, 0, 1, 2}
    assert set(dlpy.randint(3, (100,), generator=g).tolist()) == {0, 1, 2}  # randint(high, size)
    assert set(dlpy.randint(2, size=(100,), generator=g).tolist()) == {0, 1}
    assert dlpy.randint(0, 5, 3, dtype=np.float32).dtype == np.float32
    perm = dlpy.randperm(10, generator=g)
    assert perm.dtype == np.int64 and sorted(perm.tolist()) == list(range(10))


def test_rand_stays_below_one_where_the_cast_rounds_up():
    # float64 draws within 2^-12 of 1 round to 1.0 in float16: kept just below, as torch's [0, 1)
    draws = np.random.default_rng(0).random(20000)
    assert (draws.astype(np.float16) == 1).any()
    u = dlpy.rand(20000, dtype=np.float16, generator=np.random.default_rng(0))
    assert u.data.max() < 1 and u.dtype == np.float16


def test_creation_errors():
    with pytest.raises(TypeError, match=r"full: fill_value must be a number, got str"):
        dlpy.full((2,), "1")
    with pytest.raises(ValueError, match=r"full_like: fill_value must be a number or a "
                                         r"one-element tensor, got shape \(2,\)"):
        dlpy.full_like(dlpy.zeros(2), dlpy.zeros(2))
    with pytest.raises(ValueError, match=r"full: the shape must be non-negative ints"):
        dlpy.full((2, -1), 0.0)
    with pytest.raises(ValueError, match=r"eye: n must be an int >= 0, got -1"):
        dlpy.eye(-1)
    with pytest.raises(TypeError, match=r"linspace: steps must be an int, got 2.5"):
        dlpy.linspace(0, 1, 2.5)
    with pytest.raises(ValueError, match=r"randint: low must be less than high, got \[3, 3\)"):
        dlpy.randint(3, 3, (2,))
    with pytest.raises(TypeError, match=r"randint: size is required"):
        dlpy.randint(0, 3)
    with pytest.raises(TypeError, match=r"randint: high must be an int, got 2.5"):
        dlpy.randint(0, 2.5, (2,))
    with pytest.raises(ValueError, match=r"randperm: n must be an int >= 0"):
        dlpy.randperm(-2)
    with pytest.raises(RuntimeError, match=r"only Tensors of floating point and complex dtype"):
        dlpy.randint(0, 3, (2,), requires_grad=True)


def test_complex_random_draws_fill_both_parts_as_torch():
    # torch.rand: real and imaginary parts each U[0, 1); torch.randn: each N(0, 1/2)
    u = dlpy.rand(100_000, dtype=dlpy.complex64, generator=np.random.default_rng(0)).data
    assert u.dtype == np.complex64
    for part in (u.real, u.imag):
        assert part.min() >= 0 and part.max() < 1 and abs(part.mean() - 0.5) < 0.01
    assert abs(np.corrcoef(u.real, u.imag)[0, 1]) < 0.02  # independent draws
    z = dlpy.randn(100_000, dtype=dlpy.complex128, generator=np.random.default_rng(1)).data
    assert z.dtype == np.complex128
    assert abs(np.mean(np.abs(z) ** 2) - 1) < 0.02
    assert abs(z.real.var() - 0.5) < 0.01 and abs(z.imag.var() - 0.5) < 0.01
    like = dlpy.randn_like(dlpy.zeros(1000, dtype=dlpy.complex64)).data
    assert like.dtype == np.complex64 and np.abs(like.imag).max() > 0
    like = dlpy.rand_like(dlpy.zeros(1000, dtype=dlpy.complex64)).data
    assert np.abs(like.imag).max() > 0


def test_numpy_sources_torch_refuses():
    # torch's from_numpy / as_tensor / asarray / tensor cannot hold these arrays
    for make in (dlpy.from_numpy, dlpy.as_tensor, dlpy.asarray, dlpy.tensor):
        with pytest.raises(ValueError, match=r"byte order different from the native"):
            make(np.array([1, 2], dtype=">i4"))
        with pytest.raises(ValueError, match=r"stride in the given numpy array is negative"):
            make(np.arange(4)[::-1])
    flipped = dlpy.tensor([1.0, 2.0]).flip(0)
    assert dlpy.tensor(flipped).tolist() == [2.0, 1.0]  # a tensor's own array is fine
    with pytest.raises(ValueError, match=r"asarray: can't alias int64 data into dtype float32"):
        dlpy.asarray(np.array([1, 2]), dtype=np.float32, copy=False)
    with pytest.raises(ValueError, match=r"asarray: can't alias arbitrary sequence"):
        dlpy.asarray([1, 2], copy=False)


def test_tensor_reads_numpy_scalars_and_tensors_in_lists_as_torch():
    assert dlpy.tensor([np.float16(1.5), 2]).dtype == np.float16
    assert dlpy.tensor([1.5, np.float64(2)]).dtype == np.float64
    assert dlpy.tensor([dlpy.tensor(1.5, dtype=np.float64), 2.5]).dtype == np.float64
    assert dlpy.tensor([dlpy.tensor([1.0]), dlpy.tensor([2.0])]).shape == (2,)
    with pytest.raises(ValueError, match=r"only one element tensors"):
        dlpy.tensor([dlpy.tensor([1.0, 2.0]), dlpy.tensor([3.0, 4.0])])


def test_size_forms_and_like_inputs():
    assert dlpy.zeros(size=(2, 3)).shape == (2, 3)
    assert dlpy.empty(dlpy.tensor(3)).shape == (3,)
    with pytest.raises(TypeError, match=r"zeros: got the sizes both positionally and as size="):
        dlpy.zeros(2, size=(3,))
    with pytest.raises(TypeError, match=r"zeros: the sizes must be ints, got float"):
        dlpy.zeros(2.5)
    with pytest.raises(TypeError, match=r"ones_like: argument 'input' must be Tensor, not list"):
        dlpy.ones_like([1, 2])
    assert dlpy.arange(end=3).tolist() == [0, 1, 2]
    assert dlpy.arange(dlpy.tensor(3)).dtype == np.int64
    assert dlpy.linspace(0, 1j, 3).dtype == np.complex64
    assert dlpy.Tensor().shape == (0,) and dlpy.Tensor().dtype == np.float32
