"""normalize, cosine_similarity, one_hot (composites in dlpy.functional): PyTorch values,
gradients, edges, errors."""

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor
from dlpy.testing import gradcheck

TORCH_CASES = {
    "normalize": F.normalize,
    "normalize_p1_dim0": lambda x: F.normalize(x, 1, 0),
    "normalize_zero_row": lambda x: F.normalize(x, dim=-1),  # gradient 1 / eps, as torch
    "normalize_eps": lambda x: F.normalize(x, eps=0.01),  # every norm below eps
    "cosine_similarity": F.cosine_similarity,
    "cosine_similarity_broadcast": lambda a, b: F.cosine_similarity(a, b, -1),
    # a zero vector, one shorter than eps (torch leaves the clamp out of the gradient)
    "cosine_similarity_zero": F.cosine_similarity,
}


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_matches_torch(case, torch_reference):
    torch_reference("composite", case, TORCH_CASES[case])


def test_every_fixture_case_is_tested(fixture_cases):
    assert fixture_cases("composite") == set(TORCH_CASES)


@pytest.mark.parametrize("shape, dim", [((3,), 0), ((2, 1), 1), ((2, 1), 0), ((2, 3, 4), 1),
                                        ((1, 2, 1, 3), -1)])
@pytest.mark.parametrize("p", [1, 2, 3.5, np.inf])
def test_normalize_gradcheck(shape, dim, p, rng):
    x = Tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda x: F.normalize(x, p, dim), x)


@pytest.mark.parametrize("shapes, dim", [(((3,), (3,)), 0), (((2, 3), (2, 3)), 1),
                                         (((2, 1, 4), (3, 4)), -1), (((2, 3), (1, 3)), 1),
                                         (((2, 3), (2, 1)), 1), (((1, 4), (2, 1, 4)), 2)])
def test_cosine_similarity_gradcheck(shapes, dim, rng):
    a, b = (Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)
    assert gradcheck(lambda a, b: F.cosine_similarity(a, b, dim), a, b)


def test_normalize_gives_unit_vectors_and_keeps_float32(rng):
    x = Tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    y = F.normalize(x, dim=1)
    np.testing.assert_allclose(np.linalg.norm(y.data, axis=1), np.ones(4), rtol=1e-6)
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_cosine_similarity_values(rng):
    a = np.array([[1.0, 0.0], [1.0, 1.0], [3.0, 4.0]])
    b = np.array([[0.0, 2.0], [-2.0, -2.0], [6.0, 8.0]])
    np.testing.assert_allclose(F.cosine_similarity(Tensor(a), Tensor(b)).data, [0.0, -1.0, 1.0],
                               atol=1e-15)
    # a numpy operand is a constant of the tensor's dtype
    x = Tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    y = F.cosine_similarity(x, rng.standard_normal((2, 3)))
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32 and y.shape == (2,)


def test_one_hot_as_torch():
    y = F.one_hot(np.array([[0, 2], [1, 0]]))
    assert isinstance(y, Tensor) and y.dtype == np.int64 and not y.requires_grad
    np.testing.assert_array_equal(y.data, [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]])
    assert F.one_hot([1, 3], num_classes=5).tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]]
    assert F.one_hot(np.int64(2), 3).tolist() == [0, 0, 1]
    assert F.one_hot(np.zeros(0, dtype=np.int64), 3).shape == (0, 3)
    assert F.one_hot(Tensor(np.array([1, 0]))).float().dtype == np.float32  # torch's habit
    # a one-hot target gives cross_entropy's value for the labels
    logits = Tensor(np.random.default_rng(0).standard_normal((3, 4)))
    labels = np.array([3, 0, 2])
    np.testing.assert_allclose(F.cross_entropy(logits, F.one_hot(labels, 4).double()).item(),
                               F.cross_entropy(logits, labels).item(), rtol=1e-14)


def test_composite_errors():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"normalize: dim 2 is out of range for a tensor with "
                                         r"2 axes"):
        F.normalize(x, dim=2)
    with pytest.raises(TypeError, match=r"norm: p must be a number, got \[1\]"):
        F.normalize(x, p=[1])
    with pytest.raises(ValueError, match=r"cosine_similarity: shapes \(2, 3\) and \(2,\) cannot "
                                         r"be broadcast together"):
        F.cosine_similarity(x, Tensor(np.ones(2)))
    with pytest.raises(TypeError, match=r"cosine_similarity: dim must be an int, got None"):
        F.cosine_similarity(x, x, dim=None)
    with pytest.raises(TypeError, match=r"one_hot: labels must be integers \(class indices\), "
                                        r"got float32"):
        F.one_hot(Tensor([1, 2]))  # dlpy makes Python numbers float32: cast to int64 first
    with pytest.raises(ValueError, match=r"one_hot: labels must be >= 0, got -1"):
        F.one_hot([1, -1])
    with pytest.raises(ValueError, match=r"one_hot: labels must be < num_classes \(3\), got 5"):
        F.one_hot([1, 5], 3)
    with pytest.raises(ValueError, match=r"one_hot: cannot infer num_classes from empty labels"):
        F.one_hot(np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=r"one_hot: num_classes must be -1 or a count >= 0, "
                                         r"got -2"):
        F.one_hot([1], -2)
