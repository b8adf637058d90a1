"""dlpy.autograd.Function: custom functions against the built-in ops' gradients and against
the same functions written with torch.autograd.Function (tests/fixtures/habits/
autograd_extensions.npz, made by tests/fixtures/make_autograd_extension_fixtures.py); several
outputs, non-differentiable outputs, materialised gradients, errors, and the engine's other
features (hooks, autograd.grad, retain_graph, anomaly mode, the graph drawer, gradcheck)."""

import gc
from pathlib import Path

import numpy as np
import pytest
from cases_autograd import functions

import dlpy
import dlpy.functional as F
from dlpy import Tensor, graph, nn
from dlpy.autograd import Function, grad, once_differentiable
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "habits" / "autograd_extensions.npz"


# the functions make_autograd_extension_fixtures.py ran with torch.autograd.Function
Exp, ClampSTE, SinCos = functions(Function)


class MaxWithIndex(Function):
    """Row maxima and their indices (an int64 output, also marked non-differentiable);
    numpy arrays in and out."""

    @staticmethod
    def forward(ctx, x):
        index = x.data.argmax(axis=1)
        ctx.mark_non_differentiable(index)  # returned arrays can be marked too
        ctx.index, ctx.shape = index, x.shape
        return x.data[np.arange(len(index)), index], index

    @staticmethod
    def backward(ctx, grad_values, grad_index):
        grad = np.zeros(ctx.shape)
        grad[np.arange(len(ctx.index)), ctx.index] = grad_values.data
        return grad


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k[len("function:"):]: data[k] for k in data.files if k.startswith("function:")}


def _x(ref):
    return Tensor(ref["x"].copy(), requires_grad=True)


@pytest.mark.parametrize("key", ["exp", "clamp_ste", "sincos_first", "sincos_both",
                                 "max_index"])
def test_custom_functions_match_torch(key, ref):
    x, w = _x(ref), Tensor(ref["w"])
    if key == "exp":
        outputs = (Exp.apply(x),)
        loss = (outputs[0] * w).sum()
    elif key == "clamp_ste":
        outputs = (ClampSTE.apply(x, -0.5, 0.5),)
        loss = (outputs[0] * w).sum()
    elif key.startswith("sincos"):
        outputs = SinCos.apply(x, 2.0)
        loss = (outputs[0] * w).sum()
        if key == "sincos_both":
            loss = loss + (outputs[1] ** 2).sum()
    else:
        outputs = MaxWithIndex.apply(x)
        loss = (outputs[0] ** 3).sum()
    for i, out in enumerate(outputs):
        np.testing.assert_allclose(out.data, ref[f"{key}:out{i}"], rtol=1e-14, atol=1e-15)
    (gx,) = grad(loss, x)
    np.testing.assert_allclose(gx.data, ref[f"{key}:grad"], rtol=1e-12, atol=1e-14)


def test_custom_functions_match_the_built_in_ops():
    rng = np.random.default_rng(1)
    data = rng.standard_normal((4, 3))
    x, y = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    (Exp.apply(x) * 2).sum().backward()
    (y.exp() * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, y.grad)
    # the straight-through clamp passes the gradient where the built-in clamp stops it
    x, y = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    a, b = ClampSTE.apply(x, -0.5, 0.5), F.clamp(y, -0.5, 0.5)
    np.testing.assert_array_equal(a.data, b.data)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_array_equal(x.grad, np.ones_like(data))
    np.testing.assert_array_equal(y.grad, (np.abs(data) <= 0.5).astype(float))
    # two outputs against the same composite of built-in ops
    x, y = Tensor(data, requires_grad=True), Tensor(data, requires_grad=True)
    s, c = SinCos.apply(x, 3.0)
    (s * c + c).sum().backward()
    (F.sin(y) * 3.0 * F.cos(y) + F.cos(y)).sum().backward()
    np.testing.assert_allclose(x.grad, y.grad, rtol=1e-14, atol=1e-15)


def test_gradcheck_through_custom_functions():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(Exp.apply, x)
    assert gradcheck(lambda x: SinCos.apply(x, 1.5)[0] * SinCos.apply(x, 0.5)[1], x)
    assert gradcheck(lambda x: MaxWithIndex.apply(x)[0], x)


def test_two_outputs_one_unused_gets_zeros_or_none():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append(gb if gb is None else gb.data.copy())
            return ga * 2 + (0 if gb is None else gb * 3), None

    x = Tensor(np.ones(3), requires_grad=True)
    a, b = Probe.apply(x, True)
    a.sum().backward()
    np.testing.assert_array_equal(seen[-1], np.zeros(3))
    np.testing.assert_array_equal(x.grad, [2, 2, 2])
    a, b = Probe.apply(x, False)
    a.sum().backward()
    assert seen[-1] is None
    x.grad = None
    a, b = Probe.apply(x, True)
    (a + b).sum().backward()
    np.testing.assert_array_equal(x.grad, [5, 5, 5])


def test_outputs_of_different_dtypes_and_non_tensor_outputs():
    class Mixed(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x.astype(np.float32) * 3, "label", np.argsort(x.data)

        @staticmethod
        def backward(ctx, g64, g32, g_label, g_order):
            assert g64.dtype == np.float64 and g32.dtype == np.float32
            assert g_label is None and g_order.dtype == np.int64  # zeros: materialised
            return g64 * 2 + g32 * 3

    x = Tensor(np.arange(3.0), requires_grad=True)
    a, b, label, order = Mixed.apply(x)
    assert a.dtype == np.float64 and b.dtype == np.float32 and label == "label"
    assert a.requires_grad and b.requires_grad and not order.requires_grad
    assert order.dtype == np.int64
    (a.sum() + b.sum()).backward()
    np.testing.assert_array_equal(x.grad, [5, 5, 5])


def test_a_float_output_marked_non_differentiable():
    class WithMask(Function):
        @staticmethod
        def forward(ctx, x):
            mask = (x.data > 0).astype(x.dtype)  # a float array, marked
            ctx.mark_non_differentiable(mask)
            return x * 2, mask

        @staticmethod
        def backward(ctx, g, g_mask):
            np.testing.assert_array_equal(g_mask.data, 0)  # zeros, as torch
            return g * 2

    x = Tensor(np.array([-1.0, 2.0]), requires_grad=True)
    y, mask = WithMask.apply(x)
    assert y.requires_grad and not mask.requires_grad and mask.op is None
    (y.sum() + mask.sum()).backward()
    np.testing.assert_array_equal(x.grad, [2, 2])


def test_ctx_needs_input_grad_non_tensor_arguments_and_keywords():
    flags = []

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, y, factor, offset=0.0):
            flags.append((ctx.needs_input_grad, dlpy.is_grad_enabled()))
            ctx.factor = factor
            return x * y * factor + offset

        @staticmethod
        def backward(ctx, g):
            return g * ctx.factor, None, None, None  # one for offset too, as torch

    x = Tensor(np.ones(2), requires_grad=True)
    y = Tensor(np.full(2, 4.0))
    out = Scale.apply(x, y, 3.0, offset=1.0)
    # keyword arguments are inputs after the positional ones; forward runs under no_grad
    assert flags[-1] == ((True, False, False, False), False)
    np.testing.assert_array_equal(out.data, [13, 13])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 3])
    with dlpy.no_grad():
        out = Scale.apply(x, y, 3.0)
    assert not out.requires_grad and out.op is None
    assert not Scale.apply(y, y, 1.0).requires_grad  # no input needs a gradient

    class KeywordOnly(Function):
        @staticmethod
        def forward(ctx, x, *, offset=0.0):
            return x + offset

    # torch's apply makes keyword arguments positional inputs: a keyword-only one is refused
    with pytest.raises(TypeError, match="unexpected keyword argument 'offset'"):
        KeywordOnly.apply(x, offset=1.0)
    np.testing.assert_array_equal(KeywordOnly.apply(x).data, [1, 1])  # its default is fine


def _function(name, forward, backward):
    """A Function subclass called name, with forward(ctx, *inputs) and backward(ctx, *grads)."""
    return type(name, (Function,), {"forward": staticmethod(forward),
                                    "backward": staticmethod(backward)})


def test_forward_may_return_an_input_and_backward_broadcast_shapes_not_numbers():
    # b's gradient at a broadcast shape is summed back
    Passthrough = _function("Passthrough", lambda ctx, x, b: x, lambda ctx, g: (g, np.ones((4, 3))))
    x = Tensor(np.ones(3), requires_grad=True)
    b = Tensor(np.ones(3), requires_grad=True)
    y = Passthrough.apply(x, b)
    assert y is not x and x.op is None
    (y * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2, 2])
    np.testing.assert_array_equal(b.grad, [4, 4, 4])

    # a number, or a gradient the input would have to be broadcast to, is refused (as torch)
    Zero = _function("Zero", lambda ctx, x: x * 1, lambda ctx, g: 0.5)
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(RuntimeError, match="Zero.backward: the gradient of input 0 is a float"):
        Zero.apply(x).sum().backward()
    Small = _function("Small", lambda ctx, x: x * 1, lambda ctx, g: np.ones(2))
    with pytest.raises(RuntimeError, match=r"Small.backward: the gradient of input 0 has shape"):
        Small.apply(x).sum().backward()


def test_setup_context_style_and_once_differentiable():
    class Cube(Function):
        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** 2

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 12])


def test_wrong_number_of_gradients_is_an_error_naming_the_function():
    TooFew = _function("TooFew", lambda ctx, x, y, k: x * y * k, lambda ctx, g: g)
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"TooFew.backward returned 1 gradient\(s\) for 3 "
                                           r"input\(s\) of forward \(Tensor, Tensor, float\)"):
        TooFew.apply(x, x, 2.0).sum().backward()

    # trailing Nones past the inputs are fine, as torch
    ExtraNones = _function("ExtraNones", lambda ctx, x: x * 2, lambda ctx, g: (g * 2, None, None))
    x = Tensor(np.ones(2), requires_grad=True)
    ExtraNones.apply(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 2])


def test_wrong_shape_or_type_of_gradient_is_an_error_naming_the_function():
    BadShape = _function("BadShape", lambda ctx, x: x.sum(), lambda ctx, g: np.ones(5))
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"BadShape.backward: the gradient of input 0 has "
                                           r"shape \(5,\), the input has shape \(2, 3\)"):
        BadShape.apply(x).backward()

    GradForNumber = _function("GradForNumber", lambda ctx, x, k: x * k, lambda ctx, g: (g, g))
    with pytest.raises(RuntimeError, match=r"GradForNumber.backward returned a gradient for "
                                           r"input 1, a int, not a Tensor"):
        GradForNumber.apply(x, 2).sum().backward()

    Text = _function("Text", lambda ctx, x: x * 1, lambda ctx, g: "g")
    with pytest.raises(RuntimeError, match="Text.backward: the gradient of input 0 is a str"):
        Text.apply(x).sum().backward()


def test_usage_errors():
    class NoTensor(Function):
        @staticmethod
        def forward(ctx, x):
            return 3

    assert NoTensor.apply(Tensor(np.ones(2), requires_grad=True)) == 3  # as it is, as torch
    with pytest.warns(DeprecationWarning, match="Exp should not be instantiated"):
        instance = Exp()
    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"call Exp.apply\(...\), not an instance"):
        instance(x)

    class SaveNumber(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x

    with pytest.raises(TypeError, match="save_for_backward: can save only Tensors or None, "
                                        "but argument 1 is a int"):
        SaveNumber.apply(x)

    class Dirty(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x

    with pytest.raises(RuntimeError, match="Dirty.apply: a leaf tensor that requires grad"):
        Dirty.apply(x)  # as torch: a leaf that requires grad cannot be changed in place


def test_mark_dirty_gives_the_input_the_function_as_history():
    class AddOne(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            ctx.save_for_backward(x)  # the output (the same tensor)
            return x

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y  # reads the output: y = x + 1

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = x * 2
    y = AddOne.apply(a)
    assert y is a and y.grad_fn.name() == "AddOneBackward"
    np.testing.assert_array_equal(a.data, [3, 5])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [6, 10])  # d/dx of y's sum is 2 * (y's values)
    # a view of a non-leaf changed by the function changes its base (CopySlices)
    x.grad = None
    b = x * 1
    AddOne.apply(b[:1])
    np.testing.assert_array_equal(b.data, [2, 2])
    (b * b).sum().backward()
    np.testing.assert_array_equal(x.grad, [8, 4])

    class Forgot(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x * 2

    with pytest.raises(RuntimeError, match="marked dirty .* were not returned"):
        Forgot.apply(x * 1)


def test_retain_graph_and_the_freed_graph():
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = Exp.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(x.data))
    # sum saved no tensor (as torch's), so the error comes from the function's saved output
    with pytest.raises(RuntimeError, match="graph through ExpBackward was already freed"):
        y.backward()
    z = Exp.apply(x)
    z.backward(np.ones(2))
    with pytest.raises(RuntimeError, match="graph through ExpBackward was already freed"):
        z.backward(np.ones(2))
    a, b = SinCos.apply(x, 1.0)
    loss = (a + b).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        loss.backward()


def test_hooks_and_autograd_grad_with_intermediate_outputs():
    x = Tensor(np.array([0.1, 0.2, 0.3]), requires_grad=True)
    seen = {}
    x.register_hook(lambda g: seen.setdefault("x", g.numpy().copy()))
    a, b = SinCos.apply(x, 2.0)
    a.register_hook(lambda g: g * 10)  # replaces the gradient reaching the custom function
    b.register_hook(lambda g: seen.setdefault("b", g.numpy().copy()))
    loss = (a + b).sum()
    ga, gx = grad(loss, (a, x), retain_graph=True)
    # before a's hook, as torch's: a tensor whose node runs on is captured before its hooks
    np.testing.assert_array_equal(ga.data, np.ones(3))
    expected = 10 * 2.0 * np.cos(x.data) - np.sin(x.data)
    np.testing.assert_allclose(gx.data, expected, rtol=1e-14)
    np.testing.assert_array_equal(seen["b"], np.ones(3))
    assert x.grad is None
    loss.backward()
    np.testing.assert_allclose(x.grad, expected, rtol=1e-14)
    np.testing.assert_allclose(seen["x"], expected, rtol=1e-14)


def test_module_backward_hooks_around_a_custom_function():
    class Wrapped(nn.Module):
        def forward(self, x):
            return SinCos.apply(x, 1.0)

    module = Wrapped()
    calls = []
    module.register_full_backward_hook(lambda m, gin, gout: calls.append((gin, gout)))
    x = Tensor(np.array([0.3, 0.4]), requires_grad=True)
    a, b = module(x)
    a.sum().backward()
    (grad_input,), (grad_a, grad_b) = calls[0]
    np.testing.assert_array_equal(grad_a, [1, 1])
    assert grad_b is None  # PyTorch's: an output that got no gradient is None here
    np.testing.assert_allclose(grad_input, np.cos(x.data))


def test_anomaly_mode_names_the_custom_function():
    class BadBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            with np.errstate(divide="ignore"):
                return g.data * np.nan  # numpy: no dlpy op inside to be caught first

    x = Tensor(np.ones(2), requires_grad=True)
    with pytest.warns(UserWarning), dlpy.detect_anomaly(), pytest.raises(
            FloatingPointError, match=r"Function 'BadBackwardBackward' returned nan values in its "
                                      r"0th output .* created at .*test_autograd_function.py"):
        BadBackward.apply(x).sum().backward()


def test_the_graph_drawer_and_validate():
    x = Tensor(np.ones((2, 3)), requires_grad=True, name="x")
    a, b = SinCos.apply(x, 1.0)
    loss = (Exp.apply(a) * b).sum()
    assert graph.validate(loss) == {"tensors": 7, "ops": 6, "parameters": 1}
    dot = graph.to_dot(loss)
    for label in ('label="Exp"', 'label="SinCos"', 'label="SinCos[0]"', 'label="SinCos[1]"',
                  "packed outputs"):
        assert label in dot
    loss.backward()
    assert graph.to_dot(loss) == dot  # still drawable once freed


def test_swap_call_sites_nests_by_order_not_by_start():
    from dlpy import autograd_function as sites

    gc.collect()  # (a dispatch subclass an earlier test left keeps its dispatcher until then)
    plain = sites.PLAIN_CALL_SITES["op_call"]
    calls = []

    def layer(name):
        def wrap(inner):
            def call(self, *inputs):
                calls.append(name)
                return inner(self, *inputs)

            return call

        return wrap

    x = dlpy.Tensor(np.ones(2))
    outer = sites.swap_call_sites(1, op_call=layer("outer"))
    outer.__enter__()
    with sites.swap_call_sites(0, op_call=layer("inner")):  # entered later, still inside
        x.exp()
        assert calls == ["outer", "inner"]
        outer.__exit__(None, None, None)  # left first
        x.exp()
        assert calls == ["outer", "inner", "inner"]
    assert dlpy.Op.__call__ is plain and sites._layers == []
    with pytest.raises(ValueError, match=r"swap_call_sites: unknown call sites \['op_cal'\]"):
        with sites.swap_call_sites(0, op_cal=layer("typo")):
            pass
    assert dlpy.Op.__call__ is plain


def test_keyword_arguments_are_inputs_as_torch():
    """torch's apply: keyword arguments are inputs after the positional ones (a Tensor there
    gets a gradient, backward returns one per argument); the setup_context form binds them
    and the defaults to forward's signature, so setup_context sees them all."""

    class Scale(Function):
        @staticmethod
        def forward(ctx, x, k=2.0):
            ctx.save_for_backward(x, k)
            return x * k

        @staticmethod
        def backward(ctx, g):
            x, k = ctx.saved_tensors
            return g * k, g * x

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    k = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    Scale.apply(x, k=k).sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 4])
    np.testing.assert_array_equal(k.grad, [1, 2])

    class Times(Function):
        @staticmethod
        def forward(x, k=2.0):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    for y, factor in ((Times.apply(x), 2.0), (Times.apply(x, k=5.0), 5.0)):
        (gx,) = grad(y.sum(), [x])
        np.testing.assert_array_equal(gx.data, [factor, factor])


def test_vjp_and_saved_tensors_after_a_change_as_torch():
    class Double(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def vjp(ctx, g):  # torch's other name for backward
            return g * 2

    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    a = x * 1
    y = Double.apply(a)
    assert isinstance(y.op, dlpy.autograd_function.BackwardCFunction)
    assert len(y.op.saved_tensors) == 1
    y.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [2, 2])
    a.add_(1)  # a saved tensor changed in place: reading it is refused
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        _ = y.op.saved_tensors


def test_double_backward_through_saved_outputs_of_several():
    # the double backward tutorial's Sinh: exp(x) and exp(-x) are returned (and saved), so the
    # gradient of backward's result flows back through them into the Function
    class Sinh(Function):
        @staticmethod
        def forward(ctx, x):
            expx, expnegx = dlpy.exp(x), dlpy.exp(-x)
            ctx.save_for_backward(expx, expnegx)
            return (expx - expnegx) / 2, expx, expnegx

        @staticmethod
        def backward(ctx, grad_out, grad_exp, grad_negexp):
            expx, expnegx = ctx.saved_tensors
            return grad_out * (expx + expnegx) / 2 + grad_exp * expx - grad_negexp * expnegx

    values = np.array([0.2, -0.7, 1.1])
    x = Tensor(values, requires_grad=True)
    (g,) = grad(Sinh.apply(x)[0].sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.data, np.cosh(values))
    (gg,) = grad(g.sum(), [x])
    np.testing.assert_allclose(gg.data, np.sinh(values))
    assert dlpy.autograd.gradgradcheck(lambda t: Sinh.apply(t)[0], x)


def test_gradcheck_forward_ad_only_function():
    # a Function with a jvp and no backward: check_backward_ad=False checks forward mode only
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.result = dlpy.exp(x)
            return ctx.result

        @staticmethod
        def jvp(ctx, tangent):
            return tangent * ctx.result

    class WrongExp(Exp):
        @staticmethod
        def jvp(ctx, tangent):
            return tangent * ctx.result * 2

    x = Tensor(np.array([[0.1, -0.4], [1.2, 0.3]]), requires_grad=True)
    options = dict(check_forward_ad=True, check_backward_ad=False)
    assert dlpy.autograd.gradcheck(Exp.apply, (x,), **options)
    assert not dlpy.autograd.gradcheck(WrongExp.apply, (x,), raise_exception=False, **options)
    with pytest.raises(RuntimeError, match="forward mode"):
        dlpy.autograd.gradcheck(WrongExp.apply, (x,), **options)
    with pytest.raises(NotImplementedError):  # the backward check needs a backward
        dlpy.autograd.gradcheck(Exp.apply, (x,))
