"""dlpy.masked (torch.masked) against torch (fixtures/masked_nested/masked.npz, made by
make_masked_nested_fixtures.py): the functional forms and MaskedTensor, values and gradients;
empty slices; central differences; the constructors, dispatch and errors."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from cases_masked_nested import EMPTY_CASES, EMPTY_MASK, MASKED_CASES

import dlpy
import dlpy.masked
from dlpy import functional as F
from dlpy.masked import MaskedTensor
from dlpy.testing import assert_close, gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "masked_nested" / "masked.npz"
LIB = SimpleNamespace(masked=dlpy.masked, F=F, cat=dlpy.cat)


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _case(ref, case):
    return {key.split(":", 1)[1]: value for key, value in ref.items()
            if key.startswith(case + ":")}


@pytest.mark.parametrize("case", MASKED_CASES)
def test_against_torch(ref, case):
    kind, _, _, fn = MASKED_CASES[case]
    arrays = _case(ref, case)
    mask = arrays["mask"]
    if kind == "tensor":
        x = dlpy.tensor(arrays["x"], requires_grad=True)
        out = fn(LIB, x, mask)
        assert isinstance(out, dlpy.Tensor)
        assert_close(out.data, arrays["out"], rtol=1e-12, atol=1e-12, check_dtype=False)
        if "grad" not in arrays:  # argmax / argmin: indices in the input's dtype, as torch's
            assert out.dtype == np.float64
            return
        out.backward(arrays["grad_out"])
        assert_close(x.grad, arrays["grad"], rtol=1e-10, atol=1e-12)
        return
    mt = dlpy.masked_tensor(arrays["x"], mask, requires_grad=True)
    out = fn(LIB, mt)
    if "out_mask" in arrays:
        assert isinstance(out, MaskedTensor)
        out_mask = out.get_mask().data
        np.testing.assert_array_equal(out_mask, arrays["out_mask"])
        assert_close(np.where(out_mask, out.get_data().data, 0.0), arrays["out"], rtol=1e-12,
                     atol=1e-12)
        out.backward(dlpy.masked_tensor(arrays["grad_out"], out_mask))
    else:
        assert_close(out.data, arrays["out"], rtol=1e-12, atol=1e-12)
        out.backward(arrays["grad_out"])
    assert isinstance(mt.grad, MaskedTensor)
    np.testing.assert_array_equal(mt.grad.get_mask().data, mask)
    assert_close(mt.grad.get_data().data, arrays["grad"], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", EMPTY_CASES)
def test_empty_slice_values(ref, name):
    # the row with no kept element: 0 (sum), nan (mean, var, softmax), -inf (amax), ...
    with np.errstate(invalid="ignore"):  # softmax of a row of -inf
        out = EMPTY_CASES[name](LIB, dlpy.tensor(ref["empty:x"]), EMPTY_MASK)
    assert_close(out.data, ref[f"empty:{name}"], rtol=1e-12, atol=1e-12, equal_nan=True)


GRADCHECKS = {
    "sum": lambda x, m: dlpy.masked.sum(x, 1, mask=m),
    "mean_keepdim": lambda x, m: dlpy.masked.mean(x, 0, keepdim=True, mask=m),
    "amax": lambda x, m: dlpy.masked.amax(x, 1, mask=m),
    "prod": lambda x, m: dlpy.masked.prod(x, (0, 1), mask=m),
    "var": lambda x, m: dlpy.masked.var(x, 1, mask=m),
    "std_keepdim": lambda x, m: dlpy.masked.std(x, 1, keepdim=True, unbiased=False, mask=m),
    "norm": lambda x, m: dlpy.masked.norm(x, 3.0, 1, mask=m),
    "logsumexp": lambda x, m: dlpy.masked.logsumexp(x, 1, mask=m),
    "softmax": lambda x, m: dlpy.masked.softmax(x, 1, mask=m),
    "log_softmax": lambda x, m: dlpy.masked.log_softmax(x, 0, mask=m).masked_fill(~m, 0.0),
    "normalize": lambda x, m: dlpy.masked.normalize(x, 2.0, 1, mask=m),
    "masked_tensor": lambda x, m: dlpy.as_masked_tensor(x, m).exp().mean(1).to_tensor(0.0),
    "broadcast_mask": lambda x, m: dlpy.masked.sum(x, 0, mask=m[:1]),
}


@pytest.mark.parametrize("name", GRADCHECKS)
def test_gradcheck(name):
    rng = np.random.default_rng(3)
    x = dlpy.tensor(rng.standard_normal((4, 5)) + 0.2, requires_grad=True)
    mask = rng.random((4, 5)) < 0.6
    mask[:, 0] = mask[0] = True  # no empty slice
    assert gradcheck(lambda x: GRADCHECKS[name](x, mask), x)


def test_masked_out_elements_get_no_gradient():
    # nan and inf where masked out: the results and the gradient stay finite, 0 there
    x = dlpy.tensor(np.array([[1.0, np.nan, 3.0], [np.inf, 5.0, 2.0]]), requires_grad=True)
    mask = np.isfinite(x.data)
    out = (dlpy.masked.sum(x, 1, mask=mask) + dlpy.masked.amax(x, 1, mask=mask)
           + dlpy.masked.var(x, 1, mask=mask) + dlpy.masked.logsumexp(x, 1, mask=mask))
    assert np.isfinite(out.data).all()
    out.sum().backward()
    g = x.grad.numpy()
    assert np.isfinite(g).all() and (g[~mask] == 0).all() and (g[mask] != 0).all()


def test_as_masked_tensor_keeps_the_graph_and_masked_tensor_copies():
    x = dlpy.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = np.array([[True, False, True], [False, True, True]])
    (dlpy.as_masked_tensor(x, mask) * 3.0).sum().backward()
    assert_close(x.grad, np.where(mask, 3.0, 0.0))
    mt = dlpy.masked_tensor(x, mask, requires_grad=True)
    assert mt.is_leaf and mt.requires_grad and mt.get_data() is not x
    assert mt.grad is None


def test_parts_and_repr():
    mt = dlpy.masked_tensor(np.array([1.0, 2.0, 3.0]), np.array([True, False, True]))
    assert mt.shape == (3,) and mt.dim() == 1 and mt.dtype == np.float64
    assert_close(mt.to_tensor(-1.0), np.array([1.0, -1.0, 3.0]))
    assert "--" in repr(mt) and "3.0000" in repr(mt)
    total = mt.sum()
    assert isinstance(total, MaskedTensor) and total.get_mask().data.item() is True
    assert mt.argmax().get_data().item() == 2
    assert_close((1.0 - mt).to_tensor(0.0), np.array([0.0, 0.0, -2.0]))
    assert_close((dlpy.tensor([1.0, 1.0, 1.0]) + mt).get_data(), np.array([2.0, 3.0, 4.0]))


def test_functional_dispatch_on_a_masked_tensor():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = np.array([[True, False, True], [True, True, False]])
    mt = dlpy.masked_tensor(x, mask)
    for out in (F.softmax(mt, 1), dlpy.softmax(mt, 1)):
        assert isinstance(out, MaskedTensor)
        assert_close(out.to_tensor(0.0), dlpy.masked.softmax(dlpy.tensor(x), 1, mask=mask))
    assert_close(F.relu(mt - 2.0).get_data(), np.maximum(x - 2.0, 0.0))
    # torch.masked's functions give a plain Tensor for a MaskedTensor; its methods a MaskedTensor
    out = dlpy.masked.sum(mt, 1)
    assert type(out) is dlpy.Tensor
    assert_close(out, np.array([4.0, 9.0]))
    assert_close(mt.sum(1).to_tensor(0.0), np.array([4.0, 9.0]))


def test_errors():
    x = dlpy.tensor(np.ones((2, 3)))
    a = dlpy.masked_tensor(x, np.ones((2, 3), bool))
    b = dlpy.masked_tensor(x, np.eye(2, 3, dtype=bool))
    with pytest.raises(ValueError, match="add: the masks of the two MaskedTensors must match"):
        a + b
    with pytest.raises(ValueError, match="masked_tensor: data and mask must have the same"):
        dlpy.masked_tensor(x, np.ones((3,), bool))
    with pytest.raises(TypeError, match="as_masked_tensor: mask must be a boolean"):
        dlpy.as_masked_tensor(x, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"masked.sum: mask of shape \(4,\) does not broadcast"):
        dlpy.masked.sum(x, 1, mask=np.ones(4, bool))
    with pytest.raises(TypeError, match="masked.mean: mask must be boolean"):
        dlpy.masked.mean(x, mask=np.full((2, 3), "a"))
    # a number mask is read as mask != 0, as torch's
    np.testing.assert_array_equal(dlpy.masked.sum(x, 1, mask=np.eye(2, 3, dtype=np.int64)).data,
                                  dlpy.masked.sum(x, 1, mask=np.eye(2, 3, dtype=bool)).data)
    with pytest.raises(ValueError, match="masked.amax: dim 2 is out of range"):
        dlpy.masked.amax(x, 2)
    with pytest.raises(ValueError, match="masked.var: give correction or unbiased, not both"):
        dlpy.masked.var(x, 1, unbiased=True, correction=0)
    with pytest.raises(ValueError, match="masked.sum: a MaskedTensor input carries its mask"):
        dlpy.masked.sum(a, mask=np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"mul: the other operand must broadcast to the "
                                         r"MaskedTensor's shape \(2, 3\)"):
        a * dlpy.tensor(np.ones((4, 2, 3)))
    with pytest.raises(NotImplementedError, match="linear: not supported on a MaskedTensor"):
        F.linear(a, dlpy.tensor(np.ones((2, 3))))
