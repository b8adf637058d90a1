"""dlpy.autograd.functional.jacobian and vjp against torch.autograd.functional (stored values:
tests/fixtures/habits/autograd_extensions.npz), their layouts and errors."""

from pathlib import Path

import numpy as np
import pytest
from dlpy.autograd.functional import jacobian, vjp

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.tensor import Op

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "autograd_extensions.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files if k.startswith(("jacobian:", "vjp:"))}


def test_jacobian_of_one_input_and_one_output(ref):
    x = Tensor(ref["jacobian:softmax:x"])
    J = jacobian(lambda x: F.softmax(x, dim=-1), x)
    assert isinstance(J, Tensor) and J.shape == (4, 4) and not J.requires_grad
    np.testing.assert_allclose(J.data, ref["jacobian:softmax"], rtol=1e-12, atol=1e-15)
    assert x.grad is None and not x.requires_grad  # the caller's tensor is left alone


def test_jacobian_of_a_tuple_of_inputs(ref):
    x, w = Tensor(ref["jacobian:matmul:x"]), Tensor(ref["jacobian:matmul:w"])
    dx, dw = jacobian(lambda x, w: F.tanh(x @ w), (x, w))
    assert dx.shape == (2, 2, 2, 3) and dw.shape == (2, 2, 3, 2)
    np.testing.assert_allclose(dx.data, ref["jacobian:matmul:dx"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw.data, ref["jacobian:matmul:dw"], rtol=1e-12, atol=1e-15)


def test_jacobian_of_several_outputs_with_an_unused_input(ref):
    p, q, r = (Tensor(ref[f"jacobian:two:{k}"], requires_grad=True) for k in "pqr")
    blocks = jacobian(lambda p, q, r: (p * q, (p ** 2).sum()), (p, q, r))
    assert len(blocks) == 2 and all(len(row) == 3 for row in blocks)
    for i, row in enumerate(blocks):
        for j, block in enumerate(row):
            np.testing.assert_allclose(block.data, ref[f"jacobian:two:{i}{j}"], rtol=1e-12,
                                       atol=1e-15, err_msg=f"{i}{j}")
    assert blocks[1][0].shape == (3,) and blocks[0][2].shape == (3, 2)
    np.testing.assert_array_equal(blocks[0][2].data, 0)  # r is unused: zeros
    assert p.grad is None
    with pytest.raises(ValueError, match="output 0 of the function does not depend on input "
                                         "2, which strict=True does not allow"):
        jacobian(lambda p, q, r: (p * q, (p ** 2).sum()), (p, q, r), strict=True)


def test_jacobian_one_backward_per_row_matches_a_linear_layer():
    rng = np.random.default_rng(0)
    layer = nn.Linear(3, 2, rng=rng, dtype=np.float64)
    x = Tensor(rng.standard_normal(3))
    np.testing.assert_array_equal(jacobian(layer, x).data, layer.weight.data)
    assert layer.weight.grad is None  # parameters are not inputs: untouched
    J = jacobian(lambda x: x.sum(), x)  # a scalar output: the gradient's shape
    assert J.shape == (3,)
    # an output that does not need gradients at all gives zeros
    np.testing.assert_array_equal(jacobian(lambda x: Tensor(np.ones(2)), x).data,
                                  np.zeros((2, 3)))


def test_vjp_matches_torch(ref):
    x, w = Tensor(ref["jacobian:matmul:x"]), Tensor(ref["jacobian:matmul:w"])
    value, (dx, dw) = vjp(lambda x, w: F.tanh(x @ w), (x, w), Tensor(ref["vjp:v"]))
    np.testing.assert_allclose(value.data, ref["vjp:value"], rtol=1e-14)
    np.testing.assert_allclose(dx.data, ref["vjp:dx"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(dw.data, ref["vjp:dw"], rtol=1e-12, atol=1e-15)
    assert not value.requires_grad and not dx.requires_grad
    value, dx = vjp(lambda x: (x ** 3).sum(), x)  # v may be left out for a scalar
    np.testing.assert_allclose(value.data, ref["vjp:cube:value"], rtol=1e-14)
    np.testing.assert_allclose(dx.data, ref["vjp:cube:dx"], rtol=1e-12)
    # vjp is v^T J
    v = np.random.default_rng(1).standard_normal((2, 2))
    J = jacobian(lambda x: F.tanh(x @ w), x).data
    np.testing.assert_allclose(vjp(lambda x: F.tanh(x @ w), x, v)[1].data,
                               np.einsum("ij,ijkl->kl", v, J), rtol=1e-12)


def test_vjp_of_several_outputs_and_an_unused_input():
    x, y = Tensor(np.array([1.0, 2.0])), Tensor(np.array([3.0]))
    values, (dx, dy) = vjp(lambda x, y: (x * 2, x.sum() * 3), (x, y),
                           (np.ones(2), np.array(1.0)))
    assert isinstance(values, tuple) and len(values) == 2
    np.testing.assert_array_equal(dx.data, [5, 5])
    np.testing.assert_array_equal(dy.data, [0])
    with pytest.raises(ValueError, match="does not depend on input 1"):
        vjp(lambda x, y: x * 2, (x, y), np.ones(2), strict=True)


class _Twice(Op):
    """y = 2 x, with no backward_graph."""

    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return (2 * grad_output,)


def test_errors():
    x = Tensor(np.ones(3))
    with pytest.raises(TypeError, match=r"jacobian: inputs\[1\] must be a dlpy Tensor"):
        jacobian(lambda a, b: a, (x, 3.0))
    with pytest.raises(TypeError, match="jacobian: the output of func must be a dlpy Tensor"):
        jacobian(lambda a: 3.0, x)
    with pytest.raises(RuntimeError, match="input 0 has dtype int64"):
        jacobian(lambda a: a, Tensor(np.arange(3)))
    with pytest.raises(NotImplementedError, match="_Twice has no differentiable backward"):
        jacobian(lambda a: _Twice()(a), x, create_graph=True)
    with pytest.raises(NotImplementedError, match="only implemented for vectorize=True"):
        jacobian(lambda a: a, x, strategy="forward-mode")
    with pytest.raises(ValueError, match="strategy must be 'forward-mode' or 'reverse-mode'"):
        jacobian(lambda a: a, x, strategy="sideways")
    with pytest.raises(ValueError, match="strict=True and vectorize=True"):
        jacobian(lambda a: a, x, strict=True, vectorize=True)
    np.testing.assert_allclose(  # forward mode gives the same Jacobian (by reverse mode here)
        jacobian(lambda a: a * a, x, vectorize=True, strategy="forward-mode").data, 2 * np.eye(3))
    with pytest.raises(ValueError, match=r"vjp: v can be left out only when func returns a "
                                         r"single one-element Tensor, got shapes \[\(3,\)\]"):
        vjp(lambda a: a * 2, x)
    with pytest.raises(ValueError, match=r"vjp: v\[0\] has shape \(2,\), output 0 has shape "
                                         r"\(3,\)"):
        vjp(lambda a: a * 2, x, np.ones(2))
