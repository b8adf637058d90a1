"""dlpy.vision.ops' round-two additions: masks_to_boxes, ps_roi_align / ps_roi_pool,
MultiScaleRoIAlign and deform_conv2d against torchvision
(tests/fixtures/vision_round2/ops.npz, from make_vision_round2_fixtures.py) and DropBlock3d
(random: its structure and scaling, as torchvision's drop_block3d)."""

from pathlib import Path

import numpy as np
import pytest
from make_vision_round2_fixtures import DEFORM, ops_input

from dlpy import Tensor
from dlpy import functional as F
from dlpy.testing import gradcheck
from dlpy.vision import ops

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_round2"


def test_masks_to_boxes_is_torchvisions():
    with np.load(FIXTURES / "ops.npz") as data:
        expected = data["masks_to_boxes"]
    boxes = ops.masks_to_boxes(ops_input()["masks"])
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes.data, expected)
    assert ops.masks_to_boxes(np.zeros((0, 3, 3))).shape == (0, 4)


def test_drop_block3d_zeroes_whole_cubes_and_rescales():
    x = np.ones((2, 3, 9, 10, 11))
    out = ops.drop_block3d(Tensor(x), 0.2, 3, rng=np.random.default_rng(0)).data
    kept = out != 0
    assert 0 < kept.mean() < 1
    np.testing.assert_allclose(out[kept], x.size / (1e-6 + kept.sum()))  # one scale, kept cells
    # every dropped cell lies in a 3x3x3 cube of dropped cells
    dropped = np.pad(~kept, ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(dropped, (3, 3, 3), (2, 3, 4))
    full = windows.all(axis=(-3, -2, -1))
    covered = np.lib.stride_tricks.sliding_window_view(
        np.pad(full, ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1))), (3, 3, 3), (2, 3, 4))
    assert np.array_equal(covered.any(axis=(-3, -2, -1)), ~kept)
    layer = ops.DropBlock3d(0.5, 3, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(layer.eval()(Tensor(x)).data, x)
    assert (layer.train()(Tensor(x)).data == 0).any()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match=r"drop_block3d: expected a 5D input, got shape \(2, 3\)"):
        ops.drop_block3d(Tensor(np.ones((2, 3))), 0.1, 3)
    with pytest.raises(ValueError, match="drop_block3d: block_size must be odd, got 2"):
        ops.drop_block3d(Tensor(np.ones((1, 1, 4, 4, 4))), 0.1, 2)
    with pytest.raises(ValueError, match=r"masks_to_boxes: expected masks of shape \(N, H, W\)"):
        ops.masks_to_boxes(np.ones((3, 3)))


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / "ops.npz") as data:
        return dict(data)


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", ["ps_roi_align:plain", "ps_roi_align:scaled",
                                  "ps_roi_pool:plain", "ps_roi_pool:scaled"])
def test_position_sensitive_roi_ops_are_torchvisions(reference, case):
    data = ops_input()
    scale = 0.5 if case.endswith("scaled") else 1.0
    feature = Tensor(data["ps_feature"], requires_grad=True)
    if case.startswith("ps_roi_align"):
        out = ops.ps_roi_align(feature, data["ps_rois"], (3, 4), scale, 2 if scale < 1 else -1)
    else:
        out = ops.PSRoIPool((3, 4), scale)(feature, data["ps_rois"])
    (out * Tensor(data["ps_grad"])).sum().backward()
    close(out.data, reference[case])
    close(feature.grad[:, ::3, ::2, ::2], reference[f"{case}:grad"])


def test_position_sensitive_roi_ops_pass_the_gradient_check():
    rng = np.random.default_rng(2)
    feature = Tensor(rng.standard_normal((2, 8, 5, 6)), requires_grad=True)
    rois = np.array([[0, 0.6, 1.2, 5.1, 4.9], [1, 2.0, 0.0, 6.0, 3.0]])
    assert gradcheck(lambda f: ops.PSRoIAlign(2, 1.0, 2)(f, rois), feature)
    assert gradcheck(lambda f: ops.ps_roi_pool(f, rois, 2), feature)


def test_multi_scale_roi_align_is_torchvisions(reference):
    data = ops_input()
    pooler = ops.MultiScaleRoIAlign(["p2", "p3"], 2, 2, canonical_scale=16, canonical_level=2)
    p2, p3 = Tensor(data["ms_p2"], requires_grad=True), Tensor(data["ms_p3"], requires_grad=True)
    out = pooler({"p2": p2, "p3": p3, "skipped": data["ms_p3"]},
                 [data["ms_boxes0"], data["ms_boxes1"]], [(64, 64), (60, 62)])
    (out * Tensor(data["ms_grad"])).sum().backward()
    close(out.data, reference["multiscale"])
    close(p2.grad, reference["multiscale:grad_p2"])
    close(p3.grad, reference["multiscale:grad_p3"])
    assert np.abs(p2.grad).sum() > 0 and np.abs(p3.grad).sum() > 0  # both levels used
    # one level: plain roi_align at that level's scale
    single = ops.MultiScaleRoIAlign(["p3"], 2, 2)
    boxes = [data["ms_boxes0"], data["ms_boxes1"]]
    close(single({"p3": data["ms_p3"]}, boxes, [(64, 64)]).data,
          ops.roi_align(data["ms_p3"], boxes, 2, 0.125, 2).data)


def test_round_two_ops_refuse_bad_arguments():
    feature = Tensor(np.ones((1, 10, 4, 4)))
    with pytest.raises(ValueError, match="ps_roi_align: input channels must be a multiple of "
                                         r"output_size\[0\] \* output_size\[1\] = 4, got 10"):
        ops.ps_roi_align(feature, np.array([[0, 0, 0, 2, 2.0]]), 2)
    with pytest.raises(ValueError, match=r"MultiScaleRoIAlign: feature maps \['p4'\] missing"):
        ops.MultiScaleRoIAlign(["p4"], 2, 2)({"p3": feature}, [np.zeros((1, 4))], [(8, 8)])
    with pytest.raises(ValueError, match="MultiScaleRoIAlign: image_shapes must not be empty"):
        ops.MultiScaleRoIAlign(["p3"], 2, 2)({"p3": feature}, [np.zeros((1, 4))], [])


@pytest.mark.parametrize("case", ["masked", "plain"])
def test_deform_conv2d_values_and_gradients_are_torchvisions(reference, case):
    """Against torchvision's kernel written with torch's grid_sample (the C++ op does not load
    with the CPU torch here): make_vision_round2_fixtures.reference_deform_conv2d."""
    data = ops_input()
    args = {k: Tensor(data[f"deform_{k}"], requires_grad=True)
            for k in ("x", "offset", "weight", "bias", "mask")}
    if case == "plain":
        args["bias"] = args["mask"] = None
    out = ops.deform_conv2d(args["x"], args["offset"], args["weight"], args["bias"],
                            mask=args["mask"], **DEFORM)
    (out * Tensor(data["deform_grad"])).sum().backward()
    close(out.data, reference[f"deform:{case}"])
    for key, tensor in args.items():
        if tensor is not None:
            np.testing.assert_allclose(tensor.grad, reference[f"deform:{case}:grad_{key}"],
                                       rtol=1e-9, atol=1e-11, err_msg=key)


def test_deform_conv2d_with_zero_offsets_is_a_convolution_and_passes_the_gradient_check():
    rng = np.random.default_rng(3)
    layer = ops.DeformConv2d(4, 6, 3, stride=1, padding=1, groups=2, rng=rng).double()
    x = Tensor(rng.standard_normal((1, 4, 5, 5)), requires_grad=True)
    offset = Tensor(np.zeros((1, 18, 5, 5)))
    expected = F.conv2d(x, layer.weight, layer.bias, 1, 1, 1, 2)
    close(layer(x, offset).data, expected.data)
    offset = Tensor(rng.uniform(-1.5, 1.5, (1, 18, 5, 5)), requires_grad=True)
    mask = Tensor(rng.uniform(size=(1, 9, 5, 5)), requires_grad=True)
    assert gradcheck(lambda x, o, m: layer(x, o, m), x, offset, mask)


def test_deform_conv2d_refuses_mismatched_shapes():
    x, weight = Tensor(np.ones((1, 4, 5, 5))), Tensor(np.ones((2, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"deform_conv2d: expected offset \(1, 2 \* "
                                         r"offset_groups \* 9, 3, 3\)"):
        ops.deform_conv2d(x, Tensor(np.zeros((1, 18, 5, 5))), weight)
    with pytest.raises(ValueError, match=r"deform_conv2d: expected mask \(1, 9, 3, 3\)"):
        ops.deform_conv2d(x, Tensor(np.zeros((1, 18, 3, 3))), weight,
                          mask=Tensor(np.ones((1, 3, 3, 3))))
