"""dlpy.onnx.export of the ops added after the first 53: elementwise functions, reductions,
rearrangements, padding, interpolation, transposed convolutions, group norm, einsum, where /
gather with masks and positions, and the positions themselves (topk, sort, argmax): each run in
onnxruntime on the traced inputs and on new ones."""

import numpy as np
import pytest
from cases_onnx import check, op_types, random_tensor, run

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from dlpy.onnx import export  # noqa: E402


def _ops():
    """(id, function of tensors, input shapes)."""
    rng = np.random.default_rng(5)
    convt_w = Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    convt1_w = Tensor(rng.standard_normal((2, 3, 4)).astype(np.float32))
    slope = Tensor(np.array([0.1, 0.2, 0.3], np.float32))
    gamma = Tensor(rng.standard_normal(4).astype(np.float32))
    index = Tensor(np.array([[0, 2, 1, 1], [3, 0, 0, 2]]))
    return [
        ("maximum_minimum", lambda a, b: dlpy.maximum(a, b) + dlpy.minimum(a, b * 2), [(2, 3),
                                                                                       (3,)]),
        ("erf_pow", lambda a, b: dlpy.erf(a) + a.abs() ** b + 2.0 ** a, [(2, 3), (2, 3)]),
        ("sin_cos_atan_log1p", lambda a: dlpy.sin(a) * dlpy.cos(a) + dlpy.atan(a)
         + dlpy.log1p(a * a), [(3, 4)]),
        ("steps", lambda a: dlpy.sign(a) + dlpy.floor(a * 3) + dlpy.ceil(a) + dlpy.round(a * 4),
         [(3, 4)]),
        ("hard_activations", lambda a: F.hardswish(a * 4) + F.hardsigmoid(a * 4) + F.relu6(a * 9)
         + F.softsign(a), [(3, 5)]),
        ("softplus_mish_logsigmoid", lambda a: F.softplus(a * 8, beta=2, threshold=5)
         + F.mish(a * 5) + F.logsigmoid(a * 9), [(3, 5)]),
        ("prelu_glu", lambda a: F.prelu(a, slope)[:, :, :, :2] * F.glu(a, -1), [(2, 3, 2, 4)]),
        ("selu_celu_elu", lambda a: F.selu(a) + F.celu(a, 0.5) + F.elu(a, 0.3), [(3, 4)]),
        ("prod_logsumexp", lambda a: a.prod(1) + dlpy.logsumexp(a, (1, 2)) + a.prod(), [(2, 3, 2)]),
        ("var_std", lambda a: a.var(1) + a.std((0, 2), keepdim=True).sum()
         + a.var(1, correction=0), [(2, 3, 4)]),
        ("norms", lambda a: dlpy.linalg.vector_norm(a, dim=1) + dlpy.linalg.vector_norm(
            a, ord=1, dim=1) + dlpy.linalg.vector_norm(a, ord=float("inf"), dim=1)
         + dlpy.linalg.vector_norm(a, ord=3, dim=1) + F.normalize(a, dim=1).sum(1), [(3, 5)]),
        ("cumsum", lambda a: dlpy.cumsum(a, 1) + dlpy.cumsum(a, -1), [(2, 4, 4)]),
        ("expand_repeat_tile", lambda a: a[:, None].expand(3, 2, 4) + a[:, None].repeat(1, 2, 1)
         + dlpy.tile(a, (2, 1))[:, None][:3], [(3, 4)]),
        ("flip_triu_tril", lambda a: dlpy.flip(a, [0, 2]) + dlpy.triu(a, 1) + dlpy.tril(a, -1),
         [(2, 4, 4)]),
        ("pads", lambda a: F.pad(a, (1, 2))[..., 1:5] + F.pad(a, (1, 1, 2, 0), mode="reflect")
         [:, 2:, 1:5] + F.pad(a, (2, 1), mode="replicate")[..., 1:5]
         + F.pad(a, (1, 2), mode="circular")[..., :4] + F.pad(a, (-1, 1), value=2.0),
         [(2, 3, 4)]),
        ("interpolate", lambda a: F.interpolate(a, scale_factor=2, mode="nearest")
         + F.interpolate(a, size=(6, 8), mode="bilinear", align_corners=False), [(1, 2, 3, 4)]),
        ("conv_transpose2d", lambda a: F.conv_transpose2d(a, convt_w, gamma[:3], stride=2,
                                                          padding=1, output_padding=1),
         [(2, 4, 3, 3)]),
        ("conv_transpose1d_groups", lambda a: F.conv_transpose1d(a, convt1_w, stride=2,
                                                                 groups=2, dilation=2),
         [(1, 2, 5)]),
        ("group_norm", lambda a: F.group_norm(a, 2, gamma, gamma * 2) + F.group_norm(a, 4),
         [(2, 4, 3, 3)]),
        ("einsum", lambda a, b: dlpy.einsum("bij,bkj->bik", a, b), [(2, 3, 4), (2, 5, 4)]),
        ("gather_index_select", lambda a: dlpy.gather(a, 1, index)
         + dlpy.index_select(a, 1, Tensor(np.array([3, 1, 1, 0]))), [(2, 4)]),
        ("topk_sort_values", lambda a: dlpy.topk(a, 2, dim=1)[0].sum(1)
         + dlpy.sort(a, dim=1, descending=True)[0][:, 0]
         + dlpy.topk(a, 1, dim=1, largest=False)[0].sum(1), [(2, 5, 3)]),
        ("max_min_dim", lambda a: a.max(1)[0][:, None] + a.min(0, keepdim=True)[0], [(3, 4)]),
        ("sdpa_causal_4d", lambda q, k, v: F.scaled_dot_product_attention(q, k, v,
                                                                           is_causal=True),
         [(2, 2, 4, 3), (2, 2, 4, 3), (2, 2, 4, 5)]),
    ]


@pytest.mark.parametrize("name, function, shapes", _ops(), ids=[op[0] for op in _ops()])
def test_op_matches_dlpy_on_new_inputs(name, function, shapes):
    rng = np.random.default_rng(0)
    proto = check(function, *[random_tensor(rng, *s) for s in shapes])
    fresh = [random_tensor(rng, *s) for s in shapes]  # positions and masks are not baked in
    np.testing.assert_allclose(run(proto, *fresh)[0], function(*fresh).data, atol=1e-5,
                               rtol=1e-5)


def test_positions_export_as_topk_argmax_and_argmin():
    def model(a):
        values, indices = dlpy.topk(a, 2, dim=1)
        return (values, indices, Tensor(dlpy.argmax(a, 1)), Tensor(a.argmin(0)),
                dlpy.sort(a, 1, descending=True)[1], Tensor(dlpy.argsort(a, 0)),
                Tensor(dlpy.argmax(a)))

    rng = np.random.default_rng(1)
    proto = check(model, random_tensor(rng, 4, 5))
    types = op_types(proto)
    assert types.count("TopK") == 3 and "ArgMax" in types and "ArgMin" in types
    x = random_tensor(rng, 4, 5)
    for got, expected in zip(run(proto, x), model(x)):
        np.testing.assert_array_equal(got, expected.data)


def test_where_and_masked_fill_take_a_mask_input():
    def model(a, b, mask):
        return dlpy.where(mask, a, b) + a.masked_fill(mask, -1.0)

    rng = np.random.default_rng(2)
    mask = Tensor(rng.random((3, 4)) > 0.5)
    proto = check(model, random_tensor(rng, 3, 4), random_tensor(rng, 3, 4), mask)
    a, b, mask = random_tensor(rng, 3, 4), random_tensor(rng, 3, 4), Tensor(rng.random((3, 4))
                                                                           > 0.5)
    np.testing.assert_allclose(run(proto, a, b, mask)[0], model(a, b, mask).data)


def test_a_constant_mask_is_kept_and_a_mask_from_the_values_is_refused():
    causal = np.triu(np.ones((3, 3), bool), 1)
    check(lambda a: a.masked_fill(causal, 0.0), random_tensor(np.random.default_rng(3), 2, 3, 3))
    x = random_tensor(np.random.default_rng(3), 3, 4)
    with pytest.raises(NotImplementedError, match=r"where / masked_fill's condition \(3, 4\) "
                                                  r"follow the input values.*as an input"):
        export(lambda a: dlpy.where(a.data > 0, a, 0.1 * a), x)


def test_a_module_with_transposed_conv_group_norm_and_interpolate_with_a_dynamic_batch():
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 2, stride=2, rng=rng), nn.GroupNorm(2, 4),
                          nn.Hardswish(), nn.Upsample(scale_factor=2), nn.ReflectionPad2d(1))
    proto = check(model, random_tensor(rng, 2, 3, 3, 3), dynamic_axes={"input_0": {0: "b"}})
    x = random_tensor(rng, 5, 3, 3, 3)
    np.testing.assert_allclose(run(proto, x)[0], model(x).data, atol=1e-5)


def test_unsupported_cases_name_the_op():
    x = random_tensor(np.random.default_rng(5), 3, 4)
    with pytest.raises(NotImplementedError, match=r"export: CumProd \(from dlpy.ops.cumulative"
                                                  r"\) has no ONNX mapping"):
        export(lambda a: dlpy.cumprod(a, 1), x)
    with pytest.raises(NotImplementedError, match=r"export: trunc \(decimals=0\) has no ONNX form"):
        export(lambda a: dlpy.trunc(a), x)
    with pytest.raises(NotImplementedError, match=r"output 0 holds integers \(3, 4\) that no "
                                                  r"recorded op made"):
        export(lambda a: Tensor(np.argsort(a.data * 0 + np.arange(4)[None], 1)), x)
    with pytest.raises(ValueError, match="var / std over a dynamic axis"):
        export(lambda a: a.var(0), x, dynamic_axes={"input_0": [0]})


def test_a_qat_model_exports_fake_quantization_and_a_converted_one_is_refused():
    from dlpy.ao import quantization as q

    rng = np.random.default_rng(6)
    model = nn.Sequential(q.QuantStub(), nn.Conv2d(2, 3, 3, rng=rng), nn.ReLU(), nn.Flatten(),
                          nn.Linear(12, 4, rng=rng), q.DeQuantStub())
    model.qconfig = q.get_default_qat_qconfig("x86")
    q.fuse_modules(model, [["1", "2"]], inplace=True)
    prepared = q.prepare_qat(model.train())
    for _ in range(2):
        prepared(random_tensor(rng, 4, 2, 4, 4))
    prepared.eval().apply(q.disable_observer)  # qparams frozen: export and dlpy agree
    proto = check(prepared, random_tensor(rng, 4, 2, 4, 4), atol=0)
    types = op_types(proto)
    assert types.count("QuantizeLinear") == types.count("DequantizeLinear") == 5  # 3 + 2 weights
    assert "Clip" in types  # the 7-bit activations (reduce_range) clip the integers
    with pytest.raises(NotImplementedError, match=r"export: Quantize \(0, from dlpy.ao.nn."
                                                  r"quantized\) is a converted quantized layer"):
        export(q.convert(prepared), random_tensor(rng, 4, 2, 4, 4))
