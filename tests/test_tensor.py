"""The engine: Tensor, backward(), no_grad, dtype rules and the classic autodiff bugs."""

import gc
import weakref

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Op, Tensor, no_grad


# ----------------------------------------------------------------- construction and dtypes
def test_lists_and_python_numbers_become_float32():
    assert Tensor([1, 2, 3]).dtype == np.float32
    assert Tensor([[1.5, 2.0]]).dtype == np.float32
    assert Tensor(3).dtype == np.float32 and Tensor(3).shape == ()


def test_arrays_keep_their_dtype():
    assert Tensor(np.zeros(3)).dtype == np.float64
    assert Tensor(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert Tensor(np.arange(3)).dtype == np.int64
    assert Tensor(np.float64(2.0)).dtype == np.float64
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_a_tensor_wraps_the_array_without_copying():
    array = np.zeros(3)
    assert Tensor(array).data is array


def test_only_floating_point_tensors_can_require_gradients():
    with pytest.raises(RuntimeError, match="only Tensors of floating point and complex dtype "
                                           "can require gradients"):
        Tensor(np.arange(3), requires_grad=True)


def test_float32_stays_float32_through_ops_and_gradients():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    y = F.softmax(F.relu(x @ w * 2.0 + 1) / 3.0 - 0.5, -1)
    loss = F.cross_entropy(F.layer_norm(y), [0, 1]) + (y**2).mean() + F.sigmoid(y).sum()
    assert y.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_properties_and_repr():
    x = Tensor(np.zeros((2, 3)), requires_grad=True)
    assert (x.shape, x.ndim, x.numel(), len(x), x.is_leaf) == ((2, 3), 2, 6, 2, True)
    y = x * 2
    assert not y.is_leaf and repr(y) == ("tensor([[0., 0., 0.],\n        [0., 0., 0.]], "
                                         "dtype=torch.float64, grad_fn=<MulBackward0>)")
    assert repr(x).endswith("dtype=torch.float64, requires_grad=True)")
    assert Tensor(np.array([[7.0]])).item() == 7.0
    with pytest.raises(RuntimeError, match="^a Tensor with 6 elements cannot be converted to"):
        x.item()
    with pytest.raises(TypeError, match="len: a tensor with no axes"):
        len(Tensor(1.0))


def test_detach_cuts_the_graph():
    x = Tensor(np.ones(2), requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.op is None
    np.testing.assert_array_equal(d.data, [2.0, 2.0])


# ----------------------------------------------------------------- backward
def test_scalar_backward_needs_no_argument():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_non_scalar_backward_without_grad_output_is_a_value_error():
    y = Tensor(np.ones(3), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"backward: grad_output must be given for a non-scalar "
                                         r"tensor of shape \(3,\)"):
        y.backward()


def test_grad_output_may_be_an_array_or_a_tensor_of_the_right_shape():
    x = Tensor(np.ones(3), requires_grad=True)
    (x * 2).backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    x.zero_grad()
    (x * 2).backward(Tensor(np.array([1.0, 0.0, 0.0])))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"backward: grad_output shape \(2,\) must equal the "
                                         r"tensor's shape \(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_on_a_tensor_that_needs_no_gradient_is_an_error():
    with pytest.raises(ValueError, match="backward: this tensor does not require gradients"):
        (Tensor(np.ones(2)) * 2).sum().backward()


def test_a_node_used_twice_gets_the_sum_of_its_gradients():
    # residual: y = f(x) + x, with x an intermediate node used by two consumers
    w = Tensor(np.array([2.0, 3.0]), requires_grad=True)
    x = w * w  # dx/dw = 2w
    y = (x * 3 + x).sum()  # dy/dx = 4
    y.backward()
    np.testing.assert_array_equal(w.grad, 4 * 2 * w.data)


def test_the_same_tensor_as_both_operands():
    x = Tensor(np.array([3.0]), requires_grad=True)
    (x * x + x / x).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0])


def test_diamond_graph():
    x = Tensor(np.array(2.0), requires_grad=True)
    a, b = x.exp(), x * 3
    (a * b).backward()
    np.testing.assert_allclose(x.grad, np.exp(2.0) * 6 + np.exp(2.0) * 3)


def test_a_ten_thousand_op_chain_backpropagates_without_recursion():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000], rtol=1e-9)


def test_gradients_accumulate_across_backward_calls_until_zeroed():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_retain_graph_allows_a_second_backward_through_the_same_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = F.softmax(x * x, -1).sum() + (x**3).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_a_second_backward_through_a_freed_graph_is_a_clear_error():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"backward: the graph through Mul was already freed "
                                           r"by an earlier backward\(\); pass retain_graph=True"):
        y.backward()


def test_backward_frees_saved_arrays_but_keeps_the_inputs():
    x = Tensor(np.arange(1000.0).reshape(10, 100), requires_grad=True)
    y = F.layer_norm(x, Tensor(np.ones(100)))
    saved = weakref.ref(y.op.xhat)  # an array only the op holds
    y.sum().backward()
    gc.collect()
    assert saved() is None and y.op.freed and y.op.inputs[0] is x


def test_the_leaf_grad_is_a_private_array():
    x = Tensor(np.ones(3), requires_grad=True)
    y = x + 0.0
    g = np.ones(3)
    y.backward(g)
    g[0] = 5.0
    x.grad[1] = 7.0
    assert x.grad.numpy()[0] == 1.0 and g[1] == 1.0


def test_broadcast_gradients_are_summed_back_once():
    b = Tensor(np.zeros((1, 3)), requires_grad=True)
    x = Tensor(np.ones((4, 3)))
    (x + b).sum().backward()
    np.testing.assert_array_equal(b.grad, [[4.0, 4.0, 4.0]])


def test_sum_to_shape():
    g = np.ones((2, 3, 4))
    np.testing.assert_array_equal(dlpy.sum_to_shape(g, (3, 1)), np.full((3, 1), 8.0))
    assert dlpy.sum_to_shape(g, (2, 3, 4)) is g
    assert dlpy.sum_to_shape(g, ()).shape == ()
    with pytest.raises(ValueError, match=r"sum_to_shape: cannot reduce a gradient of shape"):
        dlpy.sum_to_shape(g, (5,))


# ----------------------------------------------------------------- no_grad
def test_no_grad_records_nothing_and_restores_itself():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        assert not dlpy.is_grad_enabled()
        y = x * 2
    assert dlpy.is_grad_enabled()
    assert not y.requires_grad and y.op is None
    with pytest.raises(ZeroDivisionError), no_grad():
        _ = 1 / 0
    assert dlpy.is_grad_enabled()


# ----------------------------------------------------------------- writing an op
class _Twice(Op):
    def forward(self, x):
        return 2 * x

    def backward(self, grad_output):
        return (2 * grad_output,)


class _WrongCount(_Twice):
    def backward(self, grad_output):
        return grad_output, grad_output


class _WrongShape(_Twice):
    def backward(self, grad_output):
        return (np.ones(7),)


def test_a_user_op_needs_only_forward_and_backward():
    x = Tensor(np.ones(3), requires_grad=True)
    _Twice()(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_the_engine_checks_the_number_and_shapes_of_gradients():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"_WrongCount.backward returned 2 gradients for 1 "
                                           r"inputs"):
        _WrongCount()(x).sum().backward()
    with pytest.raises(RuntimeError, match=r"_WrongShape.backward: gradient 0 has shape \(7,\), "
                                           r"input has shape \(3,\)"):
        _WrongShape()(x).sum().backward()


def test_ops_accept_numbers_and_arrays_as_constants():
    x = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    y = F.add(np.array([1.0, 2.0]), x)
    assert y.dtype == np.float32  # constants take the tensor's dtype
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


# ----------------------------------------------------------------- PyTorch's tensor methods
def test_methods_are_their_functions():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, 3, 4))
    cases = [
        (lambda t: t.min(axis=1)[0], lambda t: F.min(t, axis=1).values),
        (lambda t: t.min(), F.min),
        (lambda t: t.logsumexp(-1, True), lambda t: F.logsumexp(t, -1, keepdims=True)),
        (lambda t: t.var(0), lambda t: F.var(t, 0)),
        (lambda t: t.var((0, 2), correction=0), lambda t: F.var(t, (0, 2), correction=0)),
        (lambda t: t.std(unbiased=False), lambda t: F.std(t, correction=0)),
        (lambda t: t.std(2, keepdims=True), lambda t: F.std(t, 2, keepdims=True)),
        (lambda t: t.clamp(-0.5, 0.5), lambda t: F.clamp(t, -0.5, 0.5)),
        (lambda t: t.clamp(max=0.1), lambda t: F.clamp(t, max=0.1)),
        (lambda t: t.softmax(1), lambda t: F.softmax(t, 1)),
        (lambda t: t.log_softmax(-1), lambda t: F.log_softmax(t, -1)),
        (lambda t: t.unsqueeze(1), lambda t: F.reshape(t, (2, 1, 3, 4))),
        (lambda t: t.unsqueeze(1).squeeze(), lambda t: t * 1),
        (lambda t: t.flatten(1), lambda t: F.reshape(t, (2, 12))),
        (lambda t: t.permute(2, 0, 1), lambda t: F.transpose(t, (2, 0, 1))),
    ]
    grad_rng = np.random.default_rng(1)
    for method, function in cases:
        a, b = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
        out_a, out_b = method(a), function(b)
        np.testing.assert_array_equal(out_a.data, out_b.data)
        grad = grad_rng.standard_normal(out_a.shape)
        out_a.backward(grad)
        out_b.backward(grad)
        np.testing.assert_array_equal(a.grad, b.grad)


def test_argmax_and_argmin_are_int64_tensors_as_torch():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [5.0, -2.0, -2.0]]), requires_grad=True)
    assert x.argmax().item() == 3 and x.argmax().dtype == np.int64  # of the flattened tensor
    np.testing.assert_array_equal(x.argmax(1), [1, 0])  # the first of tied maxima, as torch
    np.testing.assert_array_equal(x.argmin(1), [0, 1])
    np.testing.assert_array_equal(x.argmin(0, keepdims=True), [[0, 1, 1]])
    assert isinstance(x.argmax(1), Tensor) and not x.argmax(1).requires_grad
    assert Tensor(np.array([1.0, np.nan, 2.0])).argmax().item() == 1  # nan is the max, as torch


def test_ordering_comparisons_give_masks_and_one_element_tensors_have_a_truth():
    # as torch: x > 0 is a bool tensor without gradient; bool() of one element is its value
    x = Tensor(np.array([-1.0, 0.5, 2.0]), requires_grad=True)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad
    np.testing.assert_array_equal(mask.data, [False, True, True])
    np.testing.assert_array_equal((x <= 0.5).data, [True, True, False])
    np.testing.assert_array_equal((0.5 >= x).data, [True, True, False])  # reflected
    np.testing.assert_array_equal((x < Tensor(np.array([0.0, 0.0, 3.0]))).data,
                                  [True, False, True])
    np.testing.assert_array_equal(F.where(x > 0, x, 0.0).data, [0.0, 0.5, 2.0])
    assert bool(x.sum() > 1) is True and bool(x.max() < 0) is False
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value "
                                           "is ambiguous, got shape \\(3,\\)"):
        bool(mask)
    assert x in [x] and not (x != Tensor(np.array([-1.0, 0.5, 2.0]))).data.any()


def test_grad_mode_switches_as_torchs():
    x = Tensor(np.ones(2), requires_grad=True)
    with no_grad():
        with dlpy.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with dlpy.set_grad_enabled(False):
        assert not dlpy.is_grad_enabled() and not (x * 2).requires_grad
    assert dlpy.is_grad_enabled()
    dlpy.set_grad_enabled(False)  # called, not entered: stays off, as torch
    try:
        assert not (x * 2).requires_grad
    finally:
        dlpy.set_grad_enabled(True)
    with dlpy.inference_mode():
        assert not (x * 2).requires_grad
    with dlpy.inference_mode(False):
        assert (x * 2).requires_grad

    @dlpy.enable_grad()
    def doubled(t):
        return t * 2

    with no_grad():
        assert doubled(x).requires_grad
    @dlpy.set_grad_enabled(False)
    def tripled(t):
        return t * 3

    assert dlpy.is_grad_enabled()  # decorating changed nothing
    assert not tripled(x).requires_grad and dlpy.is_grad_enabled()
    with pytest.raises(TypeError, match="mode must be True or False"):
        dlpy.set_grad_enabled(1)


def test_transpose_with_two_dims_swaps_them_as_torch_and_otherwise_permutes_as_numpy():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4), requires_grad=True)
    m = Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(m.transpose(0, 1).data, m.data.T)  # numpy: the identity
    np.testing.assert_array_equal(m.transpose(-1, 0).data, m.data.T)
    np.testing.assert_array_equal(x.transpose(0, 2).data, np.swapaxes(x.data, 0, 2))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).data, x.data.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose((1, 0, 2)).data, x.data.transpose(1, 0, 2))
    np.testing.assert_array_equal(x.transpose().data, x.data.T)
    np.testing.assert_array_equal(dlpy.transpose(x, 1, 2).data, np.swapaxes(x.data, 1, 2))
    np.testing.assert_array_equal(dlpy.transpose(m, 0, 1).data, m.data.T)
    np.testing.assert_array_equal(F.transpose(x, (2, 1, 0)).data, x.data.T)
    (x.transpose(0, 2) * Tensor(np.arange(24.0).reshape(4, 3, 2))).sum().backward()
    np.testing.assert_array_equal(x.grad, np.arange(24.0).reshape(4, 3, 2).transpose(2, 1, 0))
    with pytest.raises(ValueError, match="swapaxes"):
        x.transpose(0, 3)


def test_numpy_reads_a_tensor_as_its_values():
    """np.asarray(t) is t's values (as torch's on the CPU), so numpy code and optimiser state
    loaders take Tensors; binary numpy ops still give Tensors."""
    t = Tensor(np.array([1.5, -2.0], np.float32), requires_grad=True)
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    copied = np.array(t)
    assert copied is not t.data and np.array_equal(copied, t.data)
    assert int(np.asarray(Tensor(np.array(3)))) == 3
    assert type(np.ones(2) + t) is Tensor and type(np.ones(2) * t) is Tensor


def test_a_list_or_tuple_subclass_with_its_own_reflected_operator_answers_it():
    """A plain list or tuple of numbers is an operand (dlpy's leniency); a subclass defining the
    reflected operator (a container of tensors with its own arithmetic) gets to answer, as for
    torch, whose operators return NotImplemented for every sequence."""

    class Nested(tuple):
        def __rmul__(self, other):
            return Nested(other * v for v in self)

        def __gt__(self, other):
            return "gt"

    t = Tensor(np.array(2.0))
    n = Nested((Tensor(np.ones(2)), Tensor(np.arange(3.0))))
    assert type(t * n) is Nested
    np.testing.assert_array_equal((t * n)[1].data, [0.0, 2.0, 4.0])
    assert (t < n) == "gt"
    u = Tensor(np.ones(2))
    u *= Nested((1.0,))  # in place: __imul__ steps aside, then __mul__, then __rmul__
    assert type(u) is Nested
    np.testing.assert_array_equal((t * (1.0, 2.0)).data, [2.0, 4.0])  # plain tuples: values
    np.testing.assert_array_equal((t + Nested((1.0, 2.0))).data, [3.0, 4.0])  # no __radd__


def test_standard_gamma_draws_with_a_reparameterised_gradient():
    alpha = Tensor(np.array([0.5, 2.0, 30.0]), requires_grad=True)
    draws = dlpy._standard_gamma(alpha)
    assert draws.shape == (3,) and draws.dtype == dlpy.float64 and (draws.data > 0).all()
    draws.sum().backward()
    assert np.isfinite(alpha.grad).all()
    many = dlpy._standard_gamma(Tensor(np.full(20000, 3.0, np.float32)))
    assert many.dtype == dlpy.float32 and abs(float(many.mean()) - 3.0) < 0.1
    with pytest.raises(NotImplementedError):
        dlpy._standard_gamma(Tensor(np.array([1, 2])))


def test_float_of_a_tensor_requiring_grad_warns_once_as_torch(monkeypatch):
    """torch 2.13 warns (once a process) for ``float(t)`` of a tensor requiring grad in grad
    mode; ``item()``, ``int()``, a detached tensor and ``no_grad`` say nothing."""
    import sys
    import warnings

    monkeypatch.setattr(sys.modules["dlpy.tensor"], "_scalar_warned", [])
    t = dlpy.tensor(1.5, requires_grad=True)
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        t.item(), int(t), float(t.detach())
        with dlpy.no_grad():
            float(t)
    assert quiet == []
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        assert float(t * 2) == 3.0 and float(t) == 1.5
    assert [str(w.message).split("\n")[0] for w in said] == [
        "Converting a tensor with requires_grad=True to a scalar may lead to unexpected "
        "behavior."]
