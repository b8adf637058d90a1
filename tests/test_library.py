"""dlpy.library: custom ops as torch.library's (schema, autograd, fake, vmap, opcheck, Library,
fx/export). Expected schema strings and error texts are torch 2.13's own."""

import io
import json
import math
import pathlib
from typing import Optional

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import Tensor, library, nn
from dlpy.export import SerializationError
from dlpy.testing import gradcheck

NS = "dlpy_libtest"  # one namespace for every op of this file


def _t(*shape, seed=0, grad=False):
    rng = np.random.default_rng(seed)
    return Tensor(rng.standard_normal(shape), requires_grad=grad)


# ---------------------------------------------------------------------------- gelu_mul
K = math.sqrt(2 / math.pi)  # gelu's tanh approximation: 0.5 x (1 + tanh(K (x + c x^3)))


@library.custom_op(f"{NS}::gelu_mul", mutates_args=())
def gelu_mul(x: Tensor, y: Tensor) -> Tensor:
    a = x.numpy()
    return 0.5 * a * (1 + np.tanh(K * (a + 0.044715 * a * a * a))) * y.numpy()  # one numpy pass


@gelu_mul.register_fake
def _(x, y):
    return dlpy.empty_like(x)


def _setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad):
    x, y = ctx.saved_tensors
    t = dlpy.tanh(K * (x + 0.044715 * x * x * x))
    dgelu = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x)
    return grad * y * dgelu, grad * 0.5 * x * (1 + t)


gelu_mul.register_autograd(_backward, setup_context=_setup)


class Block(nn.Module):
    def __init__(self, fused: bool):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(4, 6), nn.Linear(4, 6), nn.Linear(6, 1)
        self.fused = fused

    def forward(self, x):
        a, b = self.a(x), self.b(x)
        h = gelu_mul(a, b) if self.fused else F.gelu(a, approximate="tanh") * b
        return self.out(h)


def test_gelu_mul_trains_as_the_composite():
    models = []
    for fused in (True, False):
        dlpy.manual_seed(0)
        models.append(Block(fused))
    x, target = _t(8, 4, seed=1).float(), _t(8, 1, seed=2).float()
    losses = {True: [], False: []}
    for model in models:
        opt = dlpy.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(5):
            loss = F.mse_loss(model(x), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[model.fused].append(loss.item())
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-5, atol=1e-6)


def test_gelu_mul_gradcheck_and_names():
    x, y = _t(3, 4, grad=True), _t(3, 4, seed=1, grad=True)
    assert gradcheck(gelu_mul, x, y)
    np.testing.assert_allclose(gelu_mul(x, y).data, (F.gelu(x, approximate="tanh") * y).data)
    packet = getattr(dlpy.ops, NS).gelu_mul
    assert packet.default is gelu_mul._opoverload
    assert str(packet.default._schema) == f"{NS}::gelu_mul(Tensor x, Tensor y) -> Tensor"
    np.testing.assert_allclose(packet(x, y).data, gelu_mul(x, y).data)
    assert repr(gelu_mul) == f"<CustomOpDef({NS}::gelu_mul)>"
    assert library.opcheck(gelu_mul, (x, y)) == dict.fromkeys(
        ["test_schema", "test_autograd_registration", "test_faketensor",
         "test_aot_dispatch_dynamic"], "SUCCESS")


# ---------------------------------------------------------------------------- schema
SCHEMAS = json.loads((pathlib.Path(__file__).parent / "fixtures" / "library_schemas.json")
                     .read_text())  # torch's infer_schema (fixtures/make_library_fixtures.py)


def test_infer_schema_matches_torch():
    def everything(x: Tensor, ys: list[Tensor], n: int, a: float, b: bool, s: str,
                   o: Optional[Tensor] = None, k: int = 3, m: int | None = None,  # noqa: UP045
                   fl: float = 1.5, ss: str = "hi", bb: bool = True) -> tuple[Tensor, Tensor]: ...

    def two(x: Tensor, y: Tensor) -> None: ...

    def keyword(x: Tensor, *, alpha: float = 1.0) -> list[Tensor]: ...

    def scalars(x: Tensor, ws: list[float], flags: list[bool], sizes: list[int] | None = None
                ) -> int: ...

    cases = {"everything": (everything, ()), "two_y": (two, {"y"}),
             "two_unknown": (two, "unknown"), "keyword": (keyword, ()), "scalars": (scalars, ())}
    for name, (fn, mutates) in cases.items():
        assert library.infer_schema(fn, mutates_args=mutates) == SCHEMAS[name], name
        parsed = library.parse_schema(SCHEMAS[name], "ns::op")  # and read back
        assert parsed.arguments_str() == SCHEMAS[name], name
    with pytest.raises(ValueError, match="Parameter x must have a type annotation"):
        library.infer_schema(lambda x: x, mutates_args=())
    with pytest.raises(ValueError, match=r"\{'z'\} in mutates_args were not found"):
        library.infer_schema(two, mutates_args={"z"})

    def bad(x: dict) -> Tensor: ...

    with pytest.raises(ValueError, match="Parameter x has unsupported type"):
        library.infer_schema(bad, mutates_args=())


def test_arguments_checked_at_call():
    @library.custom_op(f"{NS}::scale", mutates_args=())
    def scale(x: Tensor, *, alpha: float = 2.0) -> Tensor:
        return x * alpha

    x = _t(3)
    np.testing.assert_allclose(scale(x, alpha=3).data, x.data * 3)
    with pytest.raises(TypeError, match=r"Expected a value of type 'Tensor' for argument 'x' "
                                        r"but instead found type 'int'"):
        scale(3)
    with pytest.raises(TypeError, match=r"expected at most 1 argument\(s\) but received 2"):
        scale(x, 2.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'beta'"):
        scale(x, beta=1.0)
    with pytest.raises(TypeError, match="is missing value for argument 'x'"):
        scale()
    with pytest.raises(TypeError, match="for argument 'alpha' but instead found type 'str'"):
        scale(x, alpha="2")
    with pytest.raises(ValueError, match="expected a name 'namespace::name'"):
        library.custom_op("noname", mutates_args=())(lambda x: x)
    with pytest.raises(AttributeError, match="no attribute 'nothere'"):
        _ = getattr(dlpy.ops, NS).nothere
    with pytest.raises(AttributeError, match="no attribute 'no_such_namespace'"):
        _ = dlpy.ops.no_such_namespace


def test_output_aliasing_an_input_is_an_error():
    @library.custom_op(f"{NS}::alias", mutates_args=())
    def alias(x: Tensor) -> Tensor:
        return x

    @library.custom_op(f"{NS}::view", mutates_args=())
    def view(x: Tensor) -> Tensor:
        return Tensor(x.data[:2])

    for op in (alias, view):
        with pytest.raises(RuntimeError, match="must not also be an input to this custom "
                                               "operator and \\(2\\) may not alias"):
            op(_t(3))


def test_mutates_args_bumps_the_version():
    @library.custom_op(f"{NS}::sin_", mutates_args={"x"})
    def sin_(x: Tensor) -> None:
        np.sin(x.data, out=x.data)

    x = _t(4)
    expected, version = np.sin(x.data), x._version
    assert sin_(x) is None
    np.testing.assert_allclose(x.data, expected)
    assert x._version == version + 1
    assert str(sin_._opoverload._schema) == f"{NS}::sin_(Tensor(a0!) x) -> ()"

    @library.custom_op(f"{NS}::unknown", mutates_args="unknown")
    def unknown(x: Tensor, y: Tensor) -> None:
        pass

    x, y = _t(2), _t(2)
    unknown(x, y)
    assert (x._version, y._version) == (1, 1)
    with pytest.raises(RuntimeError, match="Cannot register autograd formula for "
                                           "non-functional operator"):
        sin_.register_autograd(lambda ctx, g: g)
    with pytest.raises(ValueError, match="The schema suggests that the op mutates"):
        library.custom_op(f"{NS}::bad", mutates_args=(),
                          schema="(Tensor(a0!) x) -> ()")(lambda x: None)


# ---------------------------------------------------------------------------- autograd
def test_list_input_keyword_only_and_no_formula():
    @library.custom_op(f"{NS}::weighted_sum", mutates_args=())
    def weighted_sum(tensors: list[Tensor], weights: list[float], *, bias: float = 0.0
                     ) -> Tensor:
        return Tensor(sum(t.data * w for t, w in zip(tensors, weights)) + bias)

    def setup(ctx, inputs, keyword_only_inputs, output):
        ctx.weights, ctx.keyword_only = inputs[1], keyword_only_inputs

    seen = []

    def backward(ctx, grad):
        seen.append((ctx.keyword_only, ctx.needs_input_grad))
        return [grad * w for w in ctx.weights], None

    a, b = _t(3, grad=True), _t(3, seed=1)
    with pytest.raises(RuntimeError, match="Trying to backward through "
                                           f"{NS}.weighted_sum.default but no autograd formula "
                                           "was registered. Please use register_autograd"):
        weighted_sum([a, b], [0.3, 0.7]).sum().backward()
    weighted_sum.register_autograd(backward, setup_context=setup)
    b.requires_grad_()
    assert gradcheck(lambda u, v: weighted_sum([u, v], [0.3, 0.7], bias=1.0), a, b)
    out = weighted_sum([a, b], [0.3, 0.7], bias=1.0)
    np.testing.assert_allclose(out.data, 0.3 * a.data + 0.7 * b.data + 1.0)
    out.sum().backward()
    assert seen[-1] == ({"bias": 1.0}, ([True, True], False))  # as torch's


def test_several_outputs_and_create_graph():
    @library.custom_op(f"{NS}::sin_cos", mutates_args=())
    def sin_cos(x: Tensor) -> tuple[Tensor, Tensor]:
        return np.sin(x.data), np.cos(x.data)  # numpy arrays become Tensors

    def setup(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def backward(ctx, grad_sin, grad_cos):
        (x,) = ctx.saved_tensors
        return grad_sin * dlpy.cos(x) - grad_cos * dlpy.sin(x)

    sin_cos.register_autograd(backward, setup_context=setup)
    x = _t(5, grad=True)
    assert gradcheck(lambda t: sin_cos(t)[0] * 2 + sin_cos(t)[1], x)
    (g,) = dlpy.autograd.grad(sin_cos(x)[0].sum(), x, create_graph=True)
    (gg,) = dlpy.autograd.grad(g.sum(), x)  # the backward is written with dlpy ops
    np.testing.assert_allclose(gg.data, -np.sin(x.data))


# ---------------------------------------------------------------------------- kernels, fake
def test_register_kernel_and_opcheck_failures():
    @library.custom_op(f"{NS}::twice", mutates_args=(), device_types="cpu")
    def twice(x: Tensor) -> Tensor:
        return x * 2

    x = _t(2, 3)
    twice.register_kernel("cpu")(lambda x: x * 3)
    np.testing.assert_allclose(twice(x).data, x.data * 3)
    with pytest.raises(library.OpCheckError, match="test_faketensor failed with There was no "
                                                   "fake impl registered"):
        library.opcheck(twice, (x,))
    with pytest.raises(library.OpCheckError, match="test_aot_dispatch_dynamic failed with "
                                                   "Trying to backward through"):
        library.opcheck(twice, (_t(2, grad=True),), test_utils="test_aot_dispatch_dynamic")
    twice.register_fake(lambda x: dlpy.empty(x.shape[0], dtype=x.dtype))
    result = library.opcheck(twice, (x,), raise_exception=False)
    assert result["test_schema"] == "SUCCESS"
    assert "fake kernel has shape (2,)" in str(result["test_faketensor"])

    @library.custom_op(f"{NS}::sneaky", mutates_args=())
    def sneaky(x: Tensor) -> Tensor:
        x.data[0] = 0.0
        return x * 1

    with pytest.raises(library.OpCheckError, match="argument 'x' was changed in place"):
        library.opcheck(sneaky, (x,), test_utils="test_schema")
    with pytest.raises(ValueError, match="unknown test_utils"):
        library.opcheck(sneaky, (x,), test_utils="test_everything")


# ---------------------------------------------------------------------------- vmap
def test_vmap_rule_and_loop_fallback():
    @library.custom_op(f"{NS}::cube", mutates_args=())
    def cube(x: Tensor, k: float) -> Tensor:
        return Tensor(x.data ** 3 * k)

    x = _t(4, 3)
    dlpy.func_batching.stats["op_loops"].pop(f"{NS}::cube", None)
    looped = dlpy.func.vmap(lambda t: cube(t, 2.0))(x)
    assert dlpy.func_batching.stats["op_loops"][f"{NS}::cube"] == 1
    calls = []

    @cube.register_vmap
    def _(info, in_dims, x, k):
        calls.append((info.batch_size, info.randomness, in_dims))
        return cube(x, k), in_dims[0]

    vectorised = dlpy.func.vmap(lambda t: cube(t, 2.0), in_dims=1)(x)
    assert calls == [(3, "error", (0, None))]
    dlpy.func.vmap(lambda t: cube(t, 2.0), randomness="same")(x)
    assert calls[-1] == (4, "same", (0, None))  # the vmap's own setting, as torch's VmapInfo
    np.testing.assert_allclose(looped.data, x.data ** 3 * 2)
    np.testing.assert_allclose(vectorised.data, (x.data ** 3 * 2).T)


def test_vmap_nested_optional_and_per_sample_grads():
    @library.custom_op(f"{NS}::affine", mutates_args=())
    def affine(x: Tensor, b: Tensor | None = None, n: int = 1) -> Tensor:
        return x * n + (0 if b is None else b)

    dims = []

    @affine.register_vmap
    def _(info, in_dims, x, b, n):
        dims.append(in_dims)
        x = x if in_dims[0] == 0 else x[None]
        b = b if b is None or in_dims[1] == 0 else b[None]
        return affine(x, b, n), 0

    x, b = _t(2, 3, 4), _t(4, seed=1)
    out = dlpy.func.vmap(dlpy.func.vmap(lambda t: affine(t, b, 2)))(x)
    np.testing.assert_allclose(out.data, x.data * 2 + b.data)
    assert dims == [(0, None, None), (0, None, None)]  # one call per vmap level
    affine.register_autograd(lambda ctx, g: (g * ctx.n, g, None),
                             setup_context=lambda ctx, inputs, output:
                             setattr(ctx, "n", inputs[2]))
    grads = dlpy.func.vmap(dlpy.func.grad(lambda t: (affine(t, b, 3) ** 2).sum()))(x[0])
    np.testing.assert_allclose(grads.data, 2 * (3 * x[0].data + b.data) * 3)


# ---------------------------------------------------------------------------- Library
def test_library_define_impl_by_name():
    lib = library.Library(NS + "_lib", "DEF")
    frag = library.Library(NS + "_lib", "FRAGMENT")
    try:
        with pytest.raises(RuntimeError, match="Only a single TORCH_LIBRARY"):
            library.Library(NS + "_lib", "DEF")
        assert lib.define("mul2(Tensor x, float k=2.0) -> Tensor") == "mul2"
        with pytest.raises(RuntimeError, match="same name and overload name"):
            lib.define("mul2(Tensor x) -> Tensor")
        x = _t(3, grad=True)
        with pytest.raises(NotImplementedError, match="Could not run .* 'CPU' backend"):
            getattr(dlpy.ops, NS + "_lib").mul2(x)
        lib.impl("mul2", lambda x, k=2.0: Tensor(x.data * k), "CPU")
        with pytest.raises(library.OpCheckError, match="has a kernel but no autograd formula"):
            library.opcheck(f"{NS}_lib::mul2", (x,), test_utils="test_autograd_registration")
        library.register_autograd(f"{NS}_lib::mul2", lambda ctx, g: (g * ctx.k, None),
                                  setup_context=lambda ctx, inputs, output:
                                  setattr(ctx, "k", inputs[1]), lib=lib)
        library.register_fake(f"{NS}_lib::mul2", lambda x, k=2.0: dlpy.empty_like(x), lib=lib)
        op = getattr(dlpy.ops, NS + "_lib").mul2
        assert gradcheck(lambda t: op(t, 3.0), x)
        assert all(v == "SUCCESS" for v in library.opcheck(op, (x, 3.0)).values())
        # a composite: differentiated through its dlpy ops, no formula needed
        library.define(f"{NS}_lib::softplus", "(Tensor x) -> Tensor", lib=frag)
        library.impl(f"{NS}_lib::softplus", "CompositeImplicitAutograd",
                     lambda x: dlpy.log(1 + dlpy.exp(x)), lib=frag)
        assert gradcheck(getattr(dlpy.ops, NS + "_lib").softplus, x)
        with pytest.raises(ValueError, match="dispatch keys it maps are"):
            frag.impl("softplus", lambda x: x, "XLA")
    finally:
        lib._destroy()
        frag._destroy()
    with pytest.raises(AttributeError):
        getattr(dlpy.ops, NS + "_lib")
    library.Library(NS + "_lib", "DEF")._destroy()  # the name is free again
    with pytest.raises(NotImplementedError, match="no Triton"):
        library.triton_op(f"{NS}::t", mutates_args=())


# ---------------------------------------------------------------------------- fx, export
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 5), nn.Linear(4, 5)

    def forward(self, x):
        return gelu_mul(self.a(x), self.b(x)).sum(-1)


def test_fx_and_export_keep_one_node(tmp_path):
    dlpy.manual_seed(0)
    model, x = Net(), _t(2, 4).float()
    gm = dlpy.fx.symbolic_trace(model)
    nodes = [n for n in gm.graph.nodes if n.op == "call_function"]
    assert [(n.name, n.target) for n in nodes] == [("gelu_mul_default", gelu_mul._opoverload)]
    assert f"dlpy.ops.{NS}.gelu_mul.default(" in gm.code
    np.testing.assert_allclose(gm(x).data, model(x).data)

    ep = dlpy.export.export(model, (x,))
    (node,) = [n for n in ep.graph.nodes if n.target is gelu_mul._opoverload]
    assert node.meta["val"].shape == (2, 5) and node.meta["val"].dtype == np.float32
    np.testing.assert_allclose(ep.module()(x).data, model(x).data)
    path = tmp_path / "net.pt2"
    dlpy.export.save(ep, path)
    np.testing.assert_allclose(dlpy.export.load(path).module()(x).data, model(x).data)

    packet = library._PACKETS.pop(f"{NS}::gelu_mul")  # as in a process that never defined it
    try:
        with pytest.raises(SerializationError, match=f"calls the custom op {NS}::gelu_mul"
                                                     r"\.default, which is not registered"):
            dlpy.export.load(path)
    finally:
        library._PACKETS[f"{NS}::gelu_mul"] = packet

    @library.custom_op(f"{NS}::nofake", mutates_args=())
    def nofake(x: Tensor) -> Tensor:
        return x * 2

    class Plain(nn.Module):
        def forward(self, x):
            return nofake(x)

    with pytest.raises(RuntimeError, match=f"no fake impl registered for {NS}::nofake"):
        dlpy.export.export(Plain(), (x,))
    buffer = io.BytesIO()
    dlpy.export.save(dlpy.export.export(model, (x,)), buffer)
    assert buffer.getvalue()
