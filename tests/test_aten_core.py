"""dlpy.ops.aten against torch 2.13's core ATen opset (the overloads tagged ``torch.Tag.core``,
listed here from torch): each has a schema and a dlpy implementation; values, node names and
gradients are compared with torch in tests/fixtures/cases_semantics_aten_core_ops.py."""

import numpy as np
import pytest

import dlpy
from dlpy.ops import aten

CORE = [
    '_adaptive_avg_pool2d.default', '_adaptive_avg_pool2d_backward.default',
    '_adaptive_avg_pool3d.default', '_cdist_forward.default', '_embedding_bag.default',
    '_fft_c2r.default', '_fft_r2c.default', '_local_scalar_dense.default', '_log_softmax.default',
    '_native_batch_norm_legit.default', '_native_batch_norm_legit.no_stats',
    '_native_batch_norm_legit_no_training.default', '_pdist_forward.default', '_softmax.default',
    '_to_copy.default', 'abs.default', 'acos.default', 'acosh.default',
    'adaptive_avg_pool1d.default', 'add.Scalar', 'add.Tensor', 'addmm.default', 'alias.default',
    'amax.default', 'amin.default', 'any.default', 'any.dim', 'any.dims', 'arange.start_step',
    'argmax.default', 'argmin.default', 'as_strided.default', 'asin.default', 'asinh.default',
    'atan.default', 'atan2.default', 'atan2.out', 'atanh.default', 'avg_pool1d.default',
    'avg_pool2d.default', 'avg_pool2d_backward.default', 'avg_pool3d.default',
    'bitwise_and.Scalar', 'bitwise_and.Tensor', 'bitwise_not.default', 'bitwise_or.Scalar',
    'bitwise_or.Tensor', 'bitwise_xor.Scalar', 'bitwise_xor.Tensor', 'bmm.default', 'cat.default',
    'ceil.default', 'clamp.Tensor', 'clamp.default', 'clone.default', 'col2im.default',
    'constant_pad_nd.default', 'convolution.default', 'convolution_backward.default',
    'copy.default', 'cos.default', 'cosh.default', 'cumsum.default', 'diagonal.default',
    'div.Scalar', 'div.Scalar_mode', 'div.Tensor', 'div.Tensor_mode', 'elu.default',
    'embedding.default', 'embedding_dense_backward.default', 'empty.memory_format',
    'empty_strided.default', 'eq.Scalar', 'eq.Tensor', 'erf.default', 'exp.default',
    'expand.default', 'expm1.default', 'fill.Scalar', 'flip.default', 'floor.default',
    'fmod.Scalar', 'fmod.Tensor', 'full.default', 'full_like.default', 'gather.default',
    'ge.Scalar', 'ge.Tensor', 'gelu.default', 'grid_sampler_2d.default', 'gt.Scalar', 'gt.Tensor',
    'hardtanh.default', 'index.Tensor', 'index_put.default', 'index_select.default',
    'isinf.default', 'isnan.default', 'le.Scalar', 'le.Tensor', 'leaky_relu.default',
    'log.default', 'log10.default', 'log1p.default', 'log2.default', 'logical_and.default',
    'logical_not.default', 'logical_or.default', 'logical_xor.default', 'lt.Scalar', 'lt.Tensor',
    'masked_scatter.default', 'max.dim', 'max_pool2d_with_indices.default',
    'max_pool2d_with_indices_backward.default', 'max_pool3d_with_indices.default',
    'maximum.default', 'mean.default', 'mean.dim', 'min.dim', 'minimum.default', 'mm.default',
    'mul.Scalar', 'mul.Tensor', 'native_dropout.default', 'native_group_norm.default',
    'native_group_norm_backward.default', 'native_layer_norm.default',
    'native_layer_norm_backward.default', 'ne.Scalar', 'ne.Tensor', 'neg.default',
    'nonzero.default', 'permute.default', 'pow.Scalar', 'pow.Tensor_Scalar', 'pow.Tensor_Tensor',
    'prod.default', 'prod.dim_int', 'rand.default', 'randn.default', 'randperm.default',
    'reciprocal.default', 'reflection_pad1d.default', 'reflection_pad2d.default',
    'reflection_pad3d.default', 'relu.default', 'remainder.Scalar', 'remainder.Tensor',
    'repeat.default', 'replication_pad2d.default', 'replication_pad3d.default', 'resize_.default',
    'round.default', 'rsqrt.default', 'scalar_tensor.default', 'scatter.src', 'scatter.value',
    'scatter_add.default', 'scatter_reduce.two', 'select.int', 'select_scatter.default',
    'sigmoid.default', 'sign.default', 'sin.default', 'sinh.default', 'slice.Tensor',
    'slice_scatter.default', 'sort.default', 'split_with_sizes.default', 'sqrt.default',
    'squeeze.dim', 'squeeze.dims', 'sub.Scalar', 'sub.Tensor', 'sum.dim_IntList',
    'sym_is_contiguous.default', 'sym_numel.default', 'sym_size.int',
    'sym_storage_offset.default', 'sym_stride.int', 'tan.default', 'tanh.default', 'topk.default',
    'trunc.default', 'unsqueeze.default', 'upsample_bilinear2d.vec', 'upsample_nearest2d.vec',
    'var.correction', 'var.dim', 'view.default', 'where.self',]
OUT_VARIANTS = {"atan2.out"}  # out= overloads: names and schemas only, as every out= one


@pytest.mark.parametrize("name", CORE)
def test_core_overload_has_an_implementation(name):
    op, overload = name.split(".", 1)
    target = getattr(getattr(aten, op), overload)
    assert str(target) == f"aten.{name}"
    if name in OUT_VARIANTS:
        assert target._implementation() is None
    else:
        assert target._implementation() is not None, name


def test_scalar_overload_names_its_node_and_leaves_inputs_alone():
    x = dlpy.tensor([1.0, -2.0], requires_grad=True)
    y = x * 1
    assert aten.add.Scalar(y, 2.0).grad_fn.name() == "AddBackward1"
    assert aten.div.Scalar_mode(y, 2.0, rounding_mode=None).grad_fn.name() == "DivBackward3"
    assert y.grad_fn.name() == "MulBackward0"  # the argument's node keeps its name
    pieces = aten.unsafe_split.Tensor(y, 1)
    assert [p.grad_fn.name() for p in pieces] == ["UnsafeSplitBackward0"] * 2
    assert y.grad_fn.name() == "MulBackward0"


def test_scalar_type_numbers_are_dtypes():
    assert aten.zeros.default([2], dtype=7).dtype == dlpy.float64
    assert aten.randperm.default(5).dtype == dlpy.int64  # the schema's default, dtype=4
    assert sorted(aten.randperm.default(5).tolist()) == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError):
        aten.zeros.default([2], dtype=99)


def test_empty_strided_keeps_its_strides():
    out = aten.empty_strided.default([3, 2, 2], [1, 6, 3], dtype=dlpy.float64)
    assert out.shape == (3, 2, 2) and out.stride() == (1, 6, 3)


def test_group_norm_backward_kernel_matches_autograd():
    rng = np.random.default_rng(0)
    x = dlpy.tensor(rng.standard_normal((2, 4, 6)), requires_grad=True)
    w = dlpy.tensor(rng.standard_normal(4), requires_grad=True)
    b = dlpy.tensor(rng.standard_normal(4), requires_grad=True)
    out, mean, rstd = aten.native_group_norm.default(x, w, b, 2, 4, 6, 2, 1e-5)
    g = dlpy.tensor(rng.standard_normal((2, 4, 6)))
    want = dlpy.autograd.grad(out, (x, w, b), g)
    got = aten.native_group_norm_backward.default(g, x, mean, rstd, w, 2, 4, 6, 2,
                                                  [True, True, True])
    for a, e in zip(got, want):
        np.testing.assert_allclose(a.numpy(), e.numpy(), rtol=1e-10, atol=1e-12)
    dx, dw, db = aten.native_group_norm_backward.default(g, x, mean, rstd, w, 2, 4, 6, 2,
                                                         [True, False, False])
    assert dw is None and db is None and dx.shape == x.shape
