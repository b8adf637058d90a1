"""ConvNd's ways of computing (ops/conv.py conv_path): the rule that picks one, each path
other than the rule's forced through the PyTorch fixtures of conv1d/2d/3d and the
second-order cases it can take; the depthwise, pointwise, grouped, channels-last and
Winograd paths against the channel-major im2col one in float64 (to 1e-12: the same sums in
another order; Winograd's transforms are exact in binary but for rounding), over strides,
dilations, paddings, odd sizes, groups of a few channels, channel multipliers, batch 1,
non-contiguous inputs, 1-3 spatial axes and blocks that split samples; the transposed
convolutions through the same paths; float64 gradient checks through each; Winograd's float32
error against the exact result."""

import numpy as np
import pytest
from second_order import check_second_order

from dlpy import Tensor
from dlpy.ops import conv, conv_channels_last, conv_depthwise, conv_pointwise, conv_winograd
from dlpy.testing import gradcheck

from .conftest import load_cases
from .test_conv import TORCH_CASES as CONV2D_CASES
from .test_conv1d import TORCH_CASES as CONV1D_CASES
from .test_conv3d import TORCH_CASES as CONV3D_CASES
from .test_conv_higher_order import OPS as SECOND_ORDER_CASES

RULE = conv.conv_path


def _force(monkeypatch, path: str) -> None:
    """Make every ConvNd (and transposed one) take path where it can (channels_last: groups 1;
    winograd: 3x3, stride 1, dilation 1, groups 1; depthwise: groups == in_channels > 1;
    pointwise: 1x1, groups 1; grouped: other groups > 1, each group by the rule's path),
    else the rule's."""
    def forced(x_shape, w_shape, stride, dilation, groups, out_size):
        if path == "im2col" or path == "channels_last" and groups == 1 or (
                path == "winograd" and conv_winograd.applies(w_shape[2:], stride, dilation,
                                                             groups)) or (
                path == "depthwise" and conv_depthwise.applies(x_shape, w_shape, groups)) or (
                path == "pointwise" and conv_pointwise.applies(w_shape[2:], groups)) or (
                path == "grouped" and groups > 1 and x_shape[1] != groups):
            return path
        return RULE(x_shape, w_shape, stride, dilation, groups, out_size)
    monkeypatch.setattr(conv, "conv_path", forced)


@pytest.mark.parametrize("x_shape, w_shape, stride, dilation, groups, path", [
    ((16, 64, 32, 32), (64, 64, 3, 3), (1, 1), (1, 1), 1, "winograd"),  # a ResNet layer
    ((8, 128, 16, 16), (128, 128, 3, 3), (1, 1), (1, 1), 1, "winograd"),
    ((8, 256, 8, 8), (256, 256, 3, 3), (1, 1), (1, 1), 1, "im2col"),  # few tiles, long rows
    ((16, 64, 32, 32), (64, 64, 3, 3), (1, 1), (2, 2), 1, "channels_last"),  # dilated
    ((50, 16, 14, 14), (32, 16, 3, 3), (1, 1), (1, 1), 1, "channels_last"),  # few channels
    ((50, 16, 14, 14), (32, 16, 5, 5), (1, 1), (1, 1), 1, "channels_last"),  # the MNIST CNN
    ((8, 8, 8, 16, 16), (16, 8, 3, 3, 3), (1, 1, 1), (1, 1, 1), 1, "channels_last"),  # 3-d
    ((50, 1, 28, 28), (16, 1, 5, 5), (1, 1), (1, 1), 1, "im2col"),  # one channel: short runs
    ((64, 7, 14, 14), (16, 7, 3, 3), (1, 1), (1, 1), 1, "im2col"),
    ((16, 64, 32, 32), (64, 64, 3, 3), (2, 2), (1, 1), 1, "im2col"),  # strided
    # strides that divide the kernel (DCGAN's 4x4 / 2): channels-last, dx by phases
    ((64, 3, 32, 32), (32, 3, 4, 4), (2, 2), (1, 1), 1, "channels_last"),
    ((64, 64, 8, 8), (128, 64, 4, 4), (2, 2), (1, 1), 1, "channels_last"),
    ((64, 128, 8, 8), (128, 128, 4, 4), (2, 2), (1, 1), 1, "im2col"),  # long rows
    ((64, 64, 8, 8), (128, 64, 4, 4), (2, 2), (2, 2), 1, "im2col"),  # dilated
    ((8, 3, 112, 112), (64, 3, 7, 7), (2, 2), (1, 1), 1, "im2col"),  # a ResNet stem
    ((16, 64, 32, 32), (64, 32, 3, 3), (1, 1), (1, 1), 2, "grouped"),  # Winograd a group
    ((8, 128, 28, 28), (128, 32, 3, 3), (1, 1), (1, 1), 4, "grouped"),  # ResNeXt-like
    ((8, 128, 28, 28), (128, 4, 3, 3), (1, 1), (1, 1), 32, "depthwise"),  # ResNeXt's 4 a group
    ((2, 56, 6, 6), (56, 7, 3, 3), (2, 2), (1, 1), 8, "depthwise"),  # 7 a group
    ((2, 64, 6, 6), (64, 8, 3, 3), (2, 2), (1, 1), 8, "im2col"),  # 8 a group, strided
    ((32, 16, 200), (32, 16, 5), (1,), (1,), 1, "im2col"),  # 1-d: long rows
    ((32, 64, 256), (64, 64, 5), (1,), (1,), 1, "channels_last"),  # 1-d, more channels
    ((32, 64, 256), (64, 64, 3), (2,), (1,), 1, "im2col"),  # 1-d strided
    # MobileNetV2's depthwise 3x3 at stride 1 and 2, its pointwise 1x1
    ((8, 96, 28, 28), (96, 1, 3, 3), (1, 1), (1, 1), 96, "depthwise"),
    ((8, 144, 28, 28), (144, 1, 3, 3), (2, 2), (1, 1), 144, "depthwise"),
    ((8, 96, 28, 28), (24, 96, 1, 1), (1, 1), (1, 1), 1, "pointwise"),
    ((8, 64, 28, 28), (128, 64, 1, 1), (2, 2), (1, 1), 1, "pointwise"),  # ResNet's shortcut
    ((32, 128, 256), (128, 1, 4), (1,), (1,), 128, "depthwise"),  # 1-d (ConvNeXt, Mamba)
    ((2, 8, 6, 6, 6), (16, 1, 3, 3, 3), (1, 1, 1), (2, 2, 2), 8, "depthwise"),  # multiplier 2
    ((2, 1, 28, 28), (16, 1, 5, 5), (1, 1), (1, 1), 1, "im2col"),  # one channel: not groups
    ((2, 8, 6, 6), (8, 2, 3, 3), (1, 1), (1, 1), 4, "depthwise"),  # 2 channels a group
    ((2, 32, 6, 6), (16, 8, 1, 1), (1, 1), (1, 1), 4, "grouped"),  # 1x1: pointwise a group
    ((2, 32, 6, 6), (32, 16, 3, 3), (2, 2), (1, 1), 2, "im2col"),  # strided: im2col a group
])
def test_the_rule(x_shape, w_shape, stride, dilation, groups, path):
    out_size = conv._output_size("conv", x_shape[2:], w_shape[2:], stride,
                                 tuple(k // 2 for k in w_shape[2:]), dilation)
    assert conv.conv_path(x_shape, w_shape, stride, dilation, groups, out_size) == path


@pytest.mark.parametrize("x_shape, w_shape, groups, path", [
    ((2, 8, 5, 5), (3, 8, 3, 3), 1, "channels_last"), ((2, 4, 5, 5), (3, 4, 3, 3), 1, "im2col"),
    ((1, 32, 16, 16), (32, 32, 3, 3), 1, "winograd"), ((2, 4, 5, 5), (4, 1, 3, 3), 4, "depthwise"),
    ((2, 4, 5, 5), (3, 4, 1, 1), 1, "pointwise"), ((2, 16, 5, 5), (4, 8, 3, 3), 2, "grouped"),
    ((2, 8, 5, 5), (4, 2, 3, 3), 4, "depthwise")])
def test_the_op_takes_the_rule_s_path(x_shape, w_shape, groups, path, rng):
    op = conv.Conv2d((1, 1), (1, 1), (1, 1), groups)
    y = op.forward(rng.standard_normal(x_shape), rng.standard_normal(w_shape))
    assert op.path == path and y.flags.c_contiguous


FIXTURE_CASES = [("conv", case, fn) for case, fn in CONV2D_CASES.items()
                 if case.startswith("conv2d")]
FIXTURE_CASES += [("conv1d", case, fn) for case, fn in CONV1D_CASES.items()
                  if case.startswith("conv") and "transpose" not in case]
FIXTURE_CASES += [("conv3d", case, fn) for case, fn in CONV3D_CASES.items()
                  if case.startswith("conv3d")]
# the fixture cases of groups > 1 (the rule's path depthwise), those of 2+ channels a group
# among them, the 3x3 stride-1 ones of groups 1 (Winograd), the 1x1 one (the rule's pointwise)
GROUPS = {"conv2d_groups2", "conv2d_depthwise", "conv2d_dilation_stride_padding_groups_no_bias",
          "conv1d_dilation_groups", "conv1d_same_dilation_depthwise", "conv3d_groups_no_bias",
          "conv3d_depthwise"}
CHANNELS_A_GROUP = {"conv2d_groups2", "conv2d_dilation_stride_padding_groups_no_bias",
                    "conv1d_dilation_groups", "conv3d_groups_no_bias"}
WINOGRAD = {("conv", "conv2d"), ("conv1d", "conv2d_valid")}


def forced_paths(family: str, case: str) -> list[str]:
    """The paths other than the rule's that a fixture case can be forced through (a forced
    path that cannot take the case runs the rule's, as the case's own test_matches_torch in
    test_conv*.py does)."""
    if case in GROUPS:
        return ["im2col"] + ["grouped"] * (case in CHANNELS_A_GROUP)
    return (["channels_last"] + ["winograd"] * ((family, case) in WINOGRAD)
            + ["im2col"] * (case == "conv1d_kernel1"))


def _force_and_record(monkeypatch, path: str) -> set[str]:
    """_force(path); the set returned fills with the paths the convolutions then take."""
    _force(monkeypatch, path)
    forced, taken = conv.conv_path, set()

    def recorded(*args):
        chosen = forced(*args)
        taken.add(chosen)
        return chosen
    monkeypatch.setattr(conv, "conv_path", recorded)
    return taken


FIXTURE_RUNS = [(family, case, fn, path) for family, case, fn in FIXTURE_CASES
                for path in forced_paths(family, case)]


@pytest.mark.parametrize("family, case, fn, path", FIXTURE_RUNS,
                         ids=[f"{f}-{c}-{p}" for f, c, _, p in FIXTURE_RUNS])
def test_each_path_matches_torch(family, case, fn, path, monkeypatch, torch_reference):
    assert case in load_cases(family)
    taken = _force_and_record(monkeypatch, path)
    torch_reference(family, case, fn)
    assert path in taken, taken


def _second_order_through(monkeypatch, path: str, case: str) -> None:
    """check_second_order of test_conv_higher_order's case with path forced; some convolution
    of the case's graphs must take path (else the run repeats test_conv_higher_order's)."""
    taken = _force_and_record(monkeypatch, path)
    fn, *shapes = SECOND_ORDER_CASES[case]
    check_second_order(fn, *shapes)
    assert path in taken, taken


# the cases of groups 1 (channels-last takes no groups: the others run the rule's paths)
SECOND_ORDER = sorted(case for case in SECOND_ORDER_CASES if case.startswith("conv")
                      and case not in ("conv1d_groups", "conv2d_strided", "conv_transpose2d"))


@pytest.mark.parametrize("case", SECOND_ORDER)
def test_second_order_through_channels_last(case, monkeypatch):
    _second_order_through(monkeypatch, "channels_last", case)


def _value_and_grads(monkeypatch, path, x, w, b, grads, **settings):
    _force(monkeypatch, path)
    inputs = [Tensor(x, requires_grad="x" in grads), Tensor(w, requires_grad="w" in grads),
              Tensor(b, requires_grad="b" in grads)]
    fn = {3: conv.conv1d, 4: conv.conv2d, 5: conv.conv3d}[x.ndim]
    y = fn(*inputs, **settings)
    y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape))
    return y.data, [t.grad for t in inputs]


def _assert_path_matches_im2col(monkeypatch, rng, path, x_shape, w_shape, settings,
                                block_bytes, grads):
    """path's value and the gradients named in grads equal im2col's (the others None)."""
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", block_bytes)
    y0, grads0 = _value_and_grads(monkeypatch, "im2col", x, w, b, grads, **settings)
    y1, grads1 = _value_and_grads(monkeypatch, path, x, w, b, grads, **settings)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-12)
    for name, g0, g1 in zip("xwb", grads0, grads1):
        if name in grads:
            np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12, err_msg=name)
        else:
            assert g0 is None and g1 is None


def _gradcheck_path(monkeypatch, rng, path, block_bytes, x_shape, w_shape, settings):
    _force(monkeypatch, path)
    monkeypatch.setattr(conv_channels_last, "BLOCK_BYTES", block_bytes)
    fn = {3: conv.conv1d, 4: conv.conv2d, 5: conv.conv3d}[len(x_shape)]
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[0]), requires_grad=True)
    # random directions (torch's fast_mode): each path's values and gradients also equal
    # im2col's exactly (the _matches_im2col tests), whose gradient is checked element-wise
    assert gradcheck(lambda x, w, b: fn(x, w, b, **settings), x, w, b, directions=4)


# (x shape, weight shape, settings): every branch of conv_channels_last
CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), dict(dilation=2)),
    ((3, 8, 10, 11), (5, 8, 3, 3), dict(padding=1)),  # the chosen case of the rule
    ((1, 4, 11, 9), (4, 4, 3, 2), dict(stride=(2, 3), padding=(2, 1), dilation=(2, 3))),
    ((2, 3, 7, 7), (2, 3, 3, 3), dict(stride=2, padding=1)),  # strided: col2im adds
    ((2, 3, 6, 6), (2, 3, 3, 3), dict(padding=3)),  # padding past d (k - 1): col2im adds
    ((2, 3, 7, 8), (4, 3, 2, 4), dict(padding="same", dilation=(2, 3))),  # odd total
    ((3, 5, 20), (6, 5, 4), dict(stride=2, padding=1)),  # 1-d
    ((2, 3, 5, 6, 7), (4, 3, 3, 2, 3), dict(stride=(1, 2, 1), padding=(1, 0, 1),
                                            dilation=(1, 1, 2))),  # 3-d
    ((2, 3, 5, 4, 6), (2, 3, 3, 3, 3), dict(padding=1)),
    ((2, 3, 1, 1), (4, 3, 1, 1), {}),  # 1x1 everything
    ((2, 1, 6, 6), (3, 1, 1, 1), dict(stride=2)),  # a 1x1 kernel, strided
]
# strides that divide the kernel: dx by phases (phase_input_grad); DCGAN's 4x4 / 2 padding 1,
# uneven strides and kernels, a padding that leaves x's end past every window (zero there),
# no padding, 1-d and 3-d (a stride-1 axis: one phase)
PHASE_CASES = [
    ((3, 5, 8, 8), (4, 5, 4, 4), dict(stride=2, padding=1)),
    ((2, 3, 9, 7), (4, 3, 4, 6), dict(stride=(2, 3), padding=(1, 2))),
    ((2, 3, 10, 10), (4, 3, 4, 4), dict(stride=2, padding=(3, 0))),
    ((2, 3, 8, 9), (4, 3, 2, 2), dict(stride=2)),  # U-Net's 2x2 / 2
    ((2, 3, 11), (4, 3, 6), dict(stride=3, padding=2)),
    ((2, 2, 5, 6, 7), (3, 2, 2, 4, 2), dict(stride=(2, 2, 1), padding=(0, 1, 1))),
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 19, 200])  # 200: a block of a few lines
@pytest.mark.parametrize("x_shape, w_shape, settings", CASES + PHASE_CASES)
def test_channels_last_matches_im2col(x_shape, w_shape, settings, block_bytes, grads, rng,
                                      monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "channels_last", x_shape, w_shape, settings,
                                block_bytes, grads)


def test_blocks_cover_every_row_once():
    """Whole samples where one fits in BLOCK_BYTES, else runs of lines of one sample."""
    for n, out_size, row_bytes in [(5, (3, 4), 8), (3, (7, 2), 10 ** 5), (4, (6,), 1)]:
        seen = np.zeros((n, out_size[0]), dtype=int)
        for samples, lines, shape in conv_channels_last.blocks(n, out_size, row_bytes):
            seen[samples, lines] += 1
            assert shape == seen[samples, lines].shape + tuple(out_size[1:])
        assert (seen == 1).all()


def one_sample(x_shape, w_shape, settings, *rest):
    """The case on a batch of 1, for the gradchecks of the big cases: they take the same
    lines and branches of the path as on the batch (traced), and their values and gradients
    on the whole batch equal im2col's in the tests above."""
    return ((1, *x_shape[1:]), w_shape, settings, *rest)


# a central difference costs two convolutions a value of x and w: the gradchecks take the
# big cases' settings on fewer values (their gradients on the big shapes equal im2col's above)
@pytest.mark.parametrize("x_shape, w_shape, settings", [one_sample(*case) for case in CASES[:1] + [
    ((2, 8, 5, 6), (3, 8, 3, 3), dict(padding=1))] + CASES[2:4] + CASES[7:9]] + CASES[9:])
def test_channels_last_gradcheck(x_shape, w_shape, settings, rng, monkeypatch):
    _gradcheck_path(monkeypatch, rng, "channels_last", 200, x_shape, w_shape, settings)


@pytest.mark.parametrize("phase_waste", [0.0, np.inf])  # g @ w added back; phases' forward
@pytest.mark.parametrize("x_shape, w_shape, settings", PHASE_CASES)
def test_phase_input_grad_both_ways_match_im2col(x_shape, w_shape, settings, phase_waste, rng,
                                                 monkeypatch):
    monkeypatch.setattr(conv_channels_last, "PHASE_WASTE", phase_waste)
    _assert_path_matches_im2col(monkeypatch, rng, "channels_last", x_shape, w_shape, settings,
                                1 << 19, "xwb")


@pytest.mark.parametrize("phase_waste", [0.0, np.inf])
@pytest.mark.parametrize("x_shape, w_shape, settings", [
    ((1, 2, 6, 6), (3, 2, 4, 4), dict(stride=2, padding=1)),
    ((1, 2, 7, 5), (2, 2, 4, 6), dict(stride=(2, 3), padding=(1, 2))),
    ((1, 2, 8, 8), (2, 2, 4, 4), dict(stride=2, padding=(3, 0))),
    ((2, 2, 9), (3, 2, 6), dict(stride=3, padding=2)),
])
def test_phase_input_grad_gradcheck(x_shape, w_shape, settings, phase_waste, rng, monkeypatch):
    monkeypatch.setattr(conv_channels_last, "PHASE_WASTE", phase_waste)
    _gradcheck_path(monkeypatch, rng, "channels_last", 200, x_shape, w_shape, settings)


def test_channels_last_keeps_float32(rng):
    x = Tensor(rng.standard_normal((2, 8, 6, 6)).astype(np.float32), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 8, 3, 3)).astype(np.float32), requires_grad=True)
    b = Tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    y = conv.conv2d(x, w, b, padding=1)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    expected = conv.conv2d(Tensor(x.data.astype(np.float64)), Tensor(w.data.astype(np.float64)),
                           padding=1)
    np.testing.assert_allclose(y.data, expected.data, rtol=1e-5, atol=1e-4)


# 3x3, stride 1, dilation 1: every branch of conv_winograd (odd outputs: a half-empty last
# tile; padding 0, 2 and uneven; a single tile)
WINOGRAD_CASES = [
    ((2, 3, 9, 8), (4, 3, 3, 3), {}),
    ((3, 5, 10, 11), (6, 5, 3, 3), dict(padding=1)),
    ((1, 4, 11, 9), (5, 4, 3, 3), dict(padding=(2, 1))),
    ((2, 3, 6, 7), (2, 3, 3, 3), dict(padding=(0, 2))),
    ((1, 2, 3, 3), (3, 2, 3, 3), {}),  # one output
    ((2, 2, 4, 4), (1, 2, 3, 3), dict(padding="same")),
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 19, 300])  # 300: one tile row a block
@pytest.mark.parametrize("x_shape, w_shape, settings", WINOGRAD_CASES)
def test_winograd_matches_im2col(x_shape, w_shape, settings, block_bytes, grads, rng,
                                 monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "winograd", x_shape, w_shape, settings,
                                block_bytes, grads)


@pytest.mark.parametrize("x_shape, w_shape, settings", [one_sample(*case) for case in (
    WINOGRAD_CASES[:1] + [((2, 3, 7, 6), (3, 3, 3, 3), dict(padding=1))] + WINOGRAD_CASES[2:4])])
def test_winograd_gradcheck(x_shape, w_shape, settings, rng, monkeypatch):
    _gradcheck_path(monkeypatch, rng, "winograd", 300, x_shape, w_shape, settings)


def test_winograd_float32_error_is_that_of_im2col(rng, monkeypatch):
    """F(2x2, 3x3)'s transforms (sums of 4 values, halves) cost float32 a few roundings more
    than im2col's: measured, both stay near 1e-7 of the largest value (the float32 tests of
    the ops allow 1e-5), Winograd within 4x im2col's error."""
    x = rng.standard_normal((4, 32, 18, 17))
    w = rng.standard_normal((32, 32, 3, 3)) / 10
    errors = {}
    for path in ("im2col", "winograd"):
        grads = {}
        for dtype in (np.float64, np.float32):
            _force(monkeypatch, path)
            xt = Tensor(x.astype(dtype), requires_grad=True)
            wt = Tensor(w.astype(dtype), requires_grad=True)
            y = conv.conv2d(xt, wt, padding=1)
            y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape).astype(dtype))
            grads[dtype] = (y.data, xt.grad, wt.grad)
        errors[path] = [np.abs(low - exact).max() / np.abs(exact).max()
                        for low, exact in zip(grads[np.float32], grads[np.float64])]
    assert max(errors["winograd"]) < 1e-6
    assert all(e_wg < 4 * e_im2col for e_wg, e_im2col in zip(errors["winograd"],
                                                            errors["im2col"])), errors


# groups of 1-7 channels: every branch of conv_depthwise (strides 1-3 and per axis, dilation,
# padding past the kernel, odd sizes, a channel multiplier, 1-3 spatial axes, batch 1)
DEPTHWISE_CASES = [
    ((2, 3, 9, 8), (3, 1, 3, 3), dict(padding=1, groups=3)),
    ((3, 4, 10, 11), (4, 1, 3, 3), dict(stride=2, padding=1, groups=4)),  # MobileNetV2's
    ((1, 5, 11, 9), (5, 1, 3, 2), dict(stride=(3, 2), padding=(2, 1), dilation=(2, 3),
                                       groups=5)),
    ((2, 3, 7, 8), (6, 1, 3, 3), dict(padding=3, groups=3)),  # multiplier 2, padding past k
    ((2, 2, 5, 6), (6, 1, 2, 4), dict(padding="same", dilation=(2, 1), groups=2)),  # odd total
    ((3, 6, 20), (6, 1, 4), dict(padding=3, groups=6)),  # 1-d (a causal depthwise conv)
    ((2, 4, 17), (8, 1, 7), dict(stride=3, padding=2, dilation=2, groups=4)),
    ((2, 2, 5, 6, 7), (4, 1, 3, 2, 3), dict(stride=(1, 2, 1), padding=(1, 0, 1),
                                            dilation=(1, 1, 2), groups=2)),  # 3-d
    ((2, 3, 1, 1), (3, 1, 1, 1), dict(groups=3)),  # 1x1 everything
    ((2, 8, 9, 8), (6, 4, 3, 3), dict(padding=1, groups=2)),  # 4 channels a group (ResNeXt)
    ((2, 12, 9, 8), (8, 3, 3, 2), dict(stride=(2, 1), dilation=(1, 2), groups=4)),  # 3 -> 2
    ((1, 14, 7, 9), (4, 7, 2, 3), dict(stride=3, padding=2, groups=2)),  # 7 -> 2, strided
    ((3, 6, 15), (9, 2, 3), dict(padding=1, groups=3)),  # 1-d, 2 -> 3
    # strided, rows W = s_w out_w wide and outputs past conv_banded's NARROW: dx through the
    # whole rows' flat runs (unsplit sums the copies of a column phase in E, then sets x)
    ((2, 3, 9, 32), (3, 1, 3, 3), dict(stride=2, padding=1, groups=3)),  # MobileNetV2's
    ((2, 4, 8, 34), (8, 2, 3, 3), dict(stride=2, padding=1, groups=2)),  # 2 -> 4, odd out_w
    ((1, 4, 7, 48), (4, 2, 3, 5), dict(stride=(2, 3), padding=(1, 2), groups=2)),  # runs
    # of a column phase overlapping in part; below, odd columns unreached (gradient zero)
    ((2, 2, 6, 32), (2, 1, 3, 3), dict(stride=2, padding=2, dilation=2, groups=2)),
]


# 200: a group and a sample a block
@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("block_bytes", [1 << 19, 200])
@pytest.mark.parametrize("x_shape, w_shape, settings", DEPTHWISE_CASES)
def test_depthwise_matches_im2col(x_shape, w_shape, settings, block_bytes, grads, rng,
                                  monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "depthwise", x_shape, w_shape, settings,
                                block_bytes, grads)


# 1x1 kernels, groups 1: strides that skip values (their gradient zero), padding, 1-3 axes
POINTWISE_CASES = [
    ((2, 5, 6, 7), (4, 5, 1, 1), {}),
    ((3, 4, 7, 8), (6, 4, 1, 1), dict(stride=2)),  # ResNet's downsampling shortcut
    ((1, 3, 8, 7), (2, 3, 1, 1), dict(stride=(3, 2), padding=(1, 2), dilation=3)),
    ((2, 3, 9), (4, 3, 1), dict(stride=2, padding=1)),  # 1-d
    ((2, 3, 3, 4, 5), (2, 3, 1, 1, 1), dict(stride=(1, 2, 1))),  # 3-d
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("x_shape, w_shape, settings", POINTWISE_CASES)
def test_pointwise_matches_im2col(x_shape, w_shape, settings, grads, rng, monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "pointwise", x_shape, w_shape, settings,
                                1 << 19, grads)


# groups of 2+ channels, one convolution a group by its own path (channels-last, pointwise,
# Winograd, im2col where strided), values and gradients put back in their channels
GROUPED_CASES = [
    ((2, 16, 7, 6), (6, 8, 3, 3), dict(padding=1, groups=2)),  # channels-last a group
    ((2, 12, 6, 7), (9, 4, 1, 1), dict(groups=3)),  # pointwise a group
    ((1, 64, 16, 17), (64, 32, 3, 3), dict(padding=1, groups=2)),  # Winograd a group
    ((2, 6, 9, 8), (4, 3, 3, 2), dict(stride=(2, 3), padding=1, dilation=(1, 2), groups=2)),
    ((3, 64, 20), (8, 32, 5), dict(padding=2, groups=2)),  # 1-d, channels-last a group
    ((2, 16, 4, 5, 4), (4, 8, 3, 3, 3), dict(padding=1, groups=2)),  # 3-d
]


@pytest.mark.parametrize("grads", ["xwb", "x", "w"])
@pytest.mark.parametrize("x_shape, w_shape, settings", GROUPED_CASES)
def test_grouped_matches_im2col(x_shape, w_shape, settings, grads, rng, monkeypatch):
    _assert_path_matches_im2col(monkeypatch, rng, "grouped", x_shape, w_shape, settings,
                                1 << 19, grads)


@pytest.mark.parametrize("x_shape, w_shape, settings, path", [  # the big ones on fewer values
    *(one_sample(*case, "depthwise") for case in [
        ((1, 4, 7, 8), *DEPTHWISE_CASES[1][1:]), DEPTHWISE_CASES[3], DEPTHWISE_CASES[6],
        ((1, 12, 6, 6), *DEPTHWISE_CASES[10][1:]), ((1, 3, 5, 32), *DEPTHWISE_CASES[13][1:]),
        ((1, 4, 5, 48), *DEPTHWISE_CASES[15][1:])]),
    (*POINTWISE_CASES[2], "pointwise"), (*POINTWISE_CASES[3], "pointwise"),
    ((1, 16, 5, 6), *GROUPED_CASES[0][1:], "grouped"), one_sample(*GROUPED_CASES[3], "grouped")])
def test_new_paths_gradcheck(x_shape, w_shape, settings, path, rng, monkeypatch):
    _gradcheck_path(monkeypatch, rng, path, 200, x_shape, w_shape, settings)


@pytest.mark.parametrize("path, w_shape, groups", [
    ("depthwise", (6, 1, 3, 3), 6), ("depthwise", (4, 3, 3, 3), 2), ("pointwise", (4, 6, 1, 1), 1),
    ("channels_last", (4, 6, 3, 3), 1), ("grouped", (6, 2, 3, 3), 3)])
def test_non_contiguous_input(path, w_shape, groups, rng, monkeypatch):
    """x a transposed view (as after a permute): the same values and gradients as a copy."""
    base = rng.standard_normal((2, 6, 9, 7))
    w, b = rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
    results = []
    for x in (base.transpose(0, 1, 3, 2), np.ascontiguousarray(base.transpose(0, 1, 3, 2))):
        results.append(_value_and_grads(monkeypatch, path, x, w, b, "xwb", stride=2, padding=1,
                                        groups=groups))
    assert results[0][1][0].shape == (2, 6, 7, 9)
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=0, atol=1e-12)
    for g0, g1 in zip(results[0][1], results[1][1]):
        np.testing.assert_allclose(g0, g1, rtol=0, atol=1e-12)


@pytest.mark.parametrize("path, w_shape, groups", [
    ("depthwise", (16, 1, 3, 3), 8), ("depthwise", (8, 2, 3, 3), 4), ("pointwise", (4, 8, 1, 1), 1),
    ("grouped", (4, 4, 3, 3), 2)])
def test_new_paths_keep_float32(path, w_shape, groups, rng, monkeypatch):
    """float32 in, float32 out (values and gradients), near the float64 result."""
    _force(monkeypatch, path)
    arrays = [rng.standard_normal((2, 8, 9, 7)), rng.standard_normal(w_shape),
              rng.standard_normal(w_shape[0])]
    results = {}
    for dtype in (np.float32, np.float64):
        inputs = [Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        y = conv.conv2d(*inputs, stride=2, padding=1, groups=groups)
        assert y.op.path == path
        y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape).astype(dtype))
        results[dtype] = [y.data] + [t.grad for t in inputs]
    for low, exact in zip(results[np.float32], results[np.float64]):
        assert low.dtype == np.float32
        np.testing.assert_allclose(low, exact, rtol=1e-5, atol=1e-4)


SECOND_ORDER_NEW = {
    "depthwise": (lambda x, w, b: conv.conv2d(x * x, w, b, stride=2, padding=1, groups=3),
                  (2, 3, 5, 6), (6, 1, 3, 3), (6,)),
    "pointwise": (lambda x, w: conv.conv2d(x * x, w, stride=2, padding=1), (2, 3, 5, 4),
                  (4, 3, 1, 1)),
}


@pytest.mark.parametrize("path", ["depthwise", "pointwise"])
def test_second_order_through_new_paths(path, monkeypatch):
    """backward_graph (conv_transpose and a weight-gradient conv) also takes the new paths."""
    _force(monkeypatch, path)
    fn, *shapes = SECOND_ORDER_NEW[path]
    check_second_order(fn, *shapes)


# the cases the grouped path takes (of groups 2 and 2 channels a group, which the rule gives
# the depthwise path); no case has a 1x1 kernel (pointwise), and the depthwise ones are the
# rule's, run by test_conv_higher_order: the two tests above force those paths
@pytest.mark.parametrize("case", ["conv1d_groups", "conv2d_strided"])
def test_second_order_cases_through_the_grouped_path(case, monkeypatch):
    _second_order_through(monkeypatch, "grouped", case)


def _transpose_value_and_grads(monkeypatch, path, x, w, b, **settings):
    _force(monkeypatch, path)
    inputs = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    fn = {3: conv.conv_transpose1d, 4: conv.conv_transpose2d, 5: conv.conv_transpose3d}[x.ndim]
    y = fn(*inputs, **settings)
    path_taken = y.op.path
    y.backward(np.cos(np.arange(y.data.size)).reshape(y.shape))
    return y.data, [t.grad for t in inputs], path_taken


# the transposed convolution is the input gradient of a convolution (N, O, *out) -> x's
# shape, so it runs through that convolution's path: (x, weight (C, O/G, *k), settings, path)
TRANSPOSE_CASES = [
    ((2, 8, 5, 6), (8, 3, 3, 3), dict(padding=1), "channels_last"),
    ((2, 8, 5, 6), (8, 3, 3, 2), dict(stride=2, padding=1, output_padding=1), "channels_last"),
    ((1, 4, 7, 6), (4, 5, 3, 3), {}, "winograd"),
    ((2, 6, 4, 5), (6, 1, 3, 3), dict(stride=2, padding=1, output_padding=1, groups=6),
     "depthwise"),
    ((2, 6, 4, 5), (6, 1, 4, 4), dict(stride=2, padding=1, groups=3), "depthwise"),  # m 2
    ((3, 4, 9), (4, 1, 4), dict(stride=2, padding=1, groups=4), "depthwise"),  # 1-d
    ((2, 5, 4, 3), (5, 3, 1, 1), dict(stride=2, output_padding=1), "pointwise"),
    ((2, 3, 2, 3, 2), (3, 2, 1, 1, 1), dict(stride=(2, 1, 3)), "pointwise"),  # 3-d
    # an output_padding of a stride or more (below the dilation): windows past x's end
    ((1, 8, 3, 3), (8, 2, 2, 2), dict(output_padding=1, dilation=2), "im2col"),
    ((2, 16, 5, 4), (16, 6, 3, 3), dict(padding=1, groups=2), "grouped"),
    ((2, 8, 5, 4), (8, 3, 3, 3), dict(stride=2, padding=1, groups=4), "depthwise"),  # 2 -> 3
    ((2, 8, 4, 5), (8, 3, 4, 4), dict(stride=2, padding=1), "channels_last"),  # by phases
    ((2, 6, 5), (6, 4, 4), dict(stride=2, padding=1, output_padding=1), "channels_last"),
]


@pytest.mark.parametrize("x_shape, w_shape, settings, path", TRANSPOSE_CASES)
def test_transpose_paths_match_im2col(x_shape, w_shape, settings, path, rng, monkeypatch):
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * settings.get("groups", 1))
    y0, grads0, path0 = _transpose_value_and_grads(monkeypatch, "im2col", x, w, b, **settings)
    y1, grads1, path1 = _transpose_value_and_grads(monkeypatch, path, x, w, b, **settings)
    assert (path0, path1) == ("im2col", path)
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-12)
    for name, g0, g1 in zip("xwb", grads0, grads1):
        np.testing.assert_allclose(g1, g0, rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("x_shape, w_shape, settings, path",
                         [TRANSPOSE_CASES[i] for i in (1, 3, 5, 6)])
def test_transpose_paths_gradcheck(x_shape, w_shape, settings, path, rng, monkeypatch):
    _force(monkeypatch, path)
    fn = {3: conv.conv_transpose1d, 4: conv.conv_transpose2d}[len(x_shape)]
    x = Tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = Tensor(rng.standard_normal(w_shape), requires_grad=True)
    b = Tensor(rng.standard_normal(w_shape[1] * settings.get("groups", 1)), requires_grad=True)
    assert gradcheck(lambda x, w, b: fn(x, w, b, **settings), x, w, b, directions=4)


def test_the_transpose_takes_the_rule_s_path(rng):
    """MobileNet-like depthwise and U-Net-like 2x2 stride-2 upsamplings pick their paths."""
    for w_shape, groups, stride, path in [((8, 1, 3, 3), 8, 2, "depthwise"),
                                          ((16, 8, 1, 1), 1, 2, "pointwise"),
                                          ((16, 8, 3, 3), 1, 1, "channels_last"),
                                          ((16, 8, 2, 2), 1, 2, "channels_last"),
                                          ((16, 8, 4, 4), 1, 2, "channels_last")]:
        op = conv.ConvTranspose2d((stride,) * 2, (0, 0), (0, 0), (1, 1), groups)
        y = op.forward(rng.standard_normal((2, w_shape[0], 5, 5)),
                       rng.standard_normal(w_shape))
        assert op.path == path and y.flags.c_contiguous
