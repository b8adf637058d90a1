"""nn.utils.parametrizations.orthogonal against torch's (tests/fixtures/nn_utils_more, written
by tests/fixtures/make_nn_utils_more_fixtures.py): the three maps, with and without the
trivialization, square, tall, wide and batched weights; the base, the original, the weight and
the gradient; assigning a matrix; the gradient check; an optimiser keeps the weight orthogonal;
errors."""

from pathlib import Path

import numpy as np
import pytest
from cases_nn_utils_more import ORTH_CASES

import dlpy
from dlpy import nn, optim
from dlpy.nn.utils import parametrizations, parametrize
from dlpy.testing import gradcheck

FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "nn_utils_more"
           / "nn_utils_more.npz")
TOL = {"rtol": 1e-10, "atol": 1e-12}


class Holder(nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = nn.Parameter(weight, dtype=np.float64)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith("orth:")}


def _gram(q: np.ndarray) -> np.ndarray:
    """Q^T Q for a tall (or square) Q, Q Q^T for a wide one: the identity when orthogonal."""
    qt = np.swapaxes(q, -1, -2)
    return qt @ q if q.shape[-2] >= q.shape[-1] else q @ qt


def _is_orthogonal(q, atol=1e-12) -> bool:
    return np.allclose(_gram(q), np.eye(min(q.shape[-2:])), atol=atol)


@pytest.mark.parametrize("case", list(ORTH_CASES))
def test_orthogonal_matches_torch(case, ref):
    prefix = f"orth:{case}"
    shape, orthogonal_map, trivialization = ORTH_CASES[case]
    holder = Holder(ref[f"{prefix}:weight"])
    parametrizations.orthogonal(holder, "weight", orthogonal_map,
                                use_trivialization=trivialization)
    plist = holder.parametrizations.weight
    names = [n for n, _ in holder.named_parameters()] + [n for n, _ in holder.named_buffers()]
    assert names == ["parametrizations.weight.original"] + \
        (["parametrizations.weight.0.base"] if trivialization else [])
    if trivialization:
        if shape[-1] == shape[-2]:  # deterministic: the weight orthogonalised by QR
            np.testing.assert_allclose(plist[0].base, ref[f"{prefix}:base"], **TOL)
        else:  # completed by random columns: take torch's
            plist[0].base = ref[f"{prefix}:base"].copy()
    np.testing.assert_allclose(plist.original.data, ref[f"{prefix}:original"], **TOL)
    q = holder.weight
    np.testing.assert_allclose(q.data, ref[f"{prefix}:q"], **TOL)
    assert _is_orthogonal(q.data)
    (q * dlpy.tensor(ref[f"{prefix}:r"])).sum().backward()
    np.testing.assert_allclose(plist.original.grad, ref[f"{prefix}:grad"], **TOL)
    if f"{prefix}:assign" in ref:  # module.weight = Q: right_inverse
        holder.weight = dlpy.tensor(ref[f"{prefix}:assign"])
        np.testing.assert_allclose(holder.weight.data, ref[f"{prefix}:assign:q"], **TOL)
        np.testing.assert_allclose(plist.original.data, ref[f"{prefix}:assign:original"],
                                   **TOL)


def test_the_default_map_and_the_initial_weight():
    rng = np.random.default_rng(0)
    square = parametrizations.orthogonal(nn.Linear(4, 4, rng=rng, dtype=np.float64))
    assert square.parametrizations.weight[0].orthogonal_map == "matrix_exp"
    tall = parametrizations.orthogonal(nn.Linear(3, 6, rng=rng, dtype=np.float64))
    assert tall.parametrizations.weight[0].orthogonal_map == "householder"
    # an orthogonal weight is kept as it is
    q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    holder = parametrizations.orthogonal(Holder(q))
    np.testing.assert_allclose(holder.weight.data, q, atol=1e-14)
    # the random columns completing a non-square base come from ``rng``
    a = parametrizations.orthogonal(Holder(np.ones((5, 2)) + np.eye(5, 2)),
                                    rng=np.random.default_rng(3))
    b = parametrizations.orthogonal(Holder(np.ones((5, 2)) + np.eye(5, 2)),
                                    rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a.parametrizations.weight[0].base,
                                  b.parametrizations.weight[0].base)
    assert _is_orthogonal(a.parametrizations.weight[0].base)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
def test_orthogonal_gradients_pass_the_gradient_check(orthogonal_map, shape):
    rng = np.random.default_rng(1)
    holder = parametrizations.orthogonal(Holder(rng.standard_normal(shape)),
                                         orthogonal_map=orthogonal_map)
    layer = holder.parametrizations.weight[0]
    x = dlpy.tensor(0.3 * rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(layer, x)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_an_optimiser_keeps_the_weight_orthogonal(orthogonal_map):
    rng = np.random.default_rng(2)
    layer = parametrizations.orthogonal(nn.Linear(3, 5, rng=rng, dtype=np.float64),
                                        orthogonal_map=orthogonal_map)
    x = dlpy.tensor(rng.standard_normal((16, 3)))
    target = dlpy.tensor(rng.standard_normal((16, 5)))
    opt = optim.Adam(layer.parameters(), lr=0.05)
    losses = []
    for _ in range(40):
        loss = ((layer(x) - target) ** 2).mean()
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < losses[0]
    assert _is_orthogonal(layer.weight.data, atol=1e-10)
    # removing the parametrization leaves the orthogonal weight as a plain parameter
    parametrize.remove_parametrizations(layer, "weight")
    assert isinstance(layer.weight, nn.Parameter) and _is_orthogonal(layer.weight.data, 1e-10)


def test_float32_stays_float32():
    layer = parametrizations.orthogonal(nn.Linear(3, 3, rng=np.random.default_rng(0)))
    assert layer.weight.dtype == np.float32
    assert _is_orthogonal(layer.weight.data.astype(np.float64), atol=1e-5)


def test_orthogonal_errors():
    with pytest.raises(ValueError, match="orthogonal: Linear has no parameter or buffer "
                                         "'kernel'"):
        parametrizations.orthogonal(nn.Linear(2, 2), "kernel")
    with pytest.raises(ValueError, match=r"orthogonal: expected a matrix or a batch of "
                                         r"matrices, got a tensor of shape \(2,\)"):
        parametrizations.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match="orthogonal: orthogonal_map must be one of "
                                         "matrix_exp, cayley, householder, got 'qr'"):
        parametrizations.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    layer = parametrizations.orthogonal(nn.Linear(2, 3))
    with pytest.raises(ValueError, match=r"orthogonal: expected a matrix \(or batch\) of "
                                         r"shape \(3, 2\), got \(2, 3\)"):
        layer.weight = np.zeros((2, 3), np.float32)
    plain = parametrizations.orthogonal(nn.Linear(2, 2), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="matrix_exp parametrization cannot be "
                                                  "assigned to with use_trivialization=False"):
        plain.weight = np.eye(2, dtype=np.float32)


def test_householder_signs_are_the_diagonal_truncated_to_integers():
    """torch's ``X.diagonal().int()``: 1.7 -> 1, -0.6 -> 0 (a zero column), -1.2 -> -1."""
    holder = parametrizations.orthogonal(Holder(np.eye(4, 3)), orthogonal_map="householder",
                                         use_trivialization=False)
    original = holder.parametrizations.weight.original
    assert original.shape == (4, 3)
    original.data[[0, 1, 2], [0, 1, 2]] = [1.7, -0.6, -1.2]
    plain = holder.weight.data
    original.data[[0, 1, 2], [0, 1, 2]] = [1.0, 1.0, 1.0]
    reflections = holder.weight.data
    np.testing.assert_allclose(plain, reflections * [1.0, 0.0, -1.0], atol=1e-15)
