"""dlpy.vision.ops against torchvision.ops (tests/fixtures/vision_more/ops.npz, written by
make_vision_more_fixtures.py): box IoUs and losses with their gradients, focal loss, box
conversions, clipping, NMS, RoI Align values and gradients, FPN; RoI Pool by hand and by a
gradient check; the random layers' statistics; the building blocks' names; errors."""

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from make_vision_fixtures import deterministic_state
from make_vision_more_fixtures import SEED, ops_input

import dlpy
from dlpy import Tensor, nn
from dlpy.testing import gradcheck
from dlpy.vision import ops

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_more"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / "ops.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def data():
    return ops_input()


def close(actual, expected):
    np.testing.assert_allclose(np.asarray(actual), expected, rtol=1e-10, atol=1e-12)


def check_pair(reference, data, name, first, second, grad_output):
    """ops.<name>(first, second): value and both gradients against torchvision's."""
    b1, b2 = Tensor(data[first], requires_grad=True), Tensor(data[second], requires_grad=True)
    value = getattr(ops, name)(b1, b2)
    (value * Tensor(data[grad_output])).sum().backward()
    close(value.data, reference[name])
    close(b1.grad, reference[f"{name}:grad1"])
    close(b2.grad, reference[f"{name}:grad2"])


@pytest.mark.parametrize("name", ["box_iou", "generalized_box_iou", "distance_box_iou",
                                  "complete_box_iou"])
def test_pairwise_ious_and_gradients_are_torchvisions(reference, data, name):
    check_pair(reference, data, name, "boxes1", "boxes2", "grad_pairs")


@pytest.mark.parametrize("name", ["generalized_box_iou_loss", "distance_box_iou_loss",
                                  "complete_box_iou_loss"])
def test_box_losses_and_gradients_are_torchvisions(reference, data, name):
    check_pair(reference, data, name, "match1", "match2", "grad_match")
    close(getattr(ops, name)(data["match1"], data["match2"], "mean").data,
          reference[f"{name}:mean"])


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (-1, 0.5)])
def test_sigmoid_focal_loss_is_torchvisions(reference, data, alpha, gamma):
    logits = Tensor(data["logits"], requires_grad=True)
    value = ops.sigmoid_focal_loss(logits, data["targets"], alpha, gamma)
    (value * Tensor(data["grad_logits"])).sum().backward()
    close(value.data, reference[f"focal:{alpha}:{gamma}"])
    close(logits.grad, reference[f"focal:{alpha}:{gamma}:grad"])
    close(ops.sigmoid_focal_loss(data["logits"], data["targets"], reduction="sum").data,
          reference["focal:sum"])


def test_conversions_area_clipping_and_small_boxes_are_torchvisions(reference, data):
    for fmt in ("xywh", "cxcywh"):
        close(ops.box_convert(data["boxes1"], "xyxy", fmt).data, reference[f"convert:xyxy:{fmt}"])
        close(ops.box_convert(data["boxes1"], fmt, "xyxy").data, reference[f"convert:{fmt}:xyxy"])
        close(ops.box_iou(data["boxes1"], data["boxes2"], fmt=fmt).data,
              reference[f"box_iou:{fmt}"])
    close(ops.box_convert(data["boxes1"], "xywh", "cxcywh").data,
          reference["convert:xywh:cxcywh"])
    close(ops.box_area(data["boxes1"]).data, reference["box_area"])
    close(ops.clip_boxes_to_image(data["nms_boxes"], (15, 12)).data, reference["clip"])
    kept = ops.remove_small_boxes(data["nms_boxes"], 4.0)
    assert kept.dtype == np.int64
    np.testing.assert_array_equal(kept.data, reference["remove_small"])


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.6])
def test_nms_and_batched_nms_keep_torchvisions_boxes(reference, data, threshold):
    keep = ops.nms(data["nms_boxes"], data["nms_scores"], threshold)
    np.testing.assert_array_equal(keep.data, reference[f"nms:{threshold}"])
    keep = ops.batched_nms(data["nms_boxes"], data["nms_scores"], data["nms_idxs"], threshold)
    np.testing.assert_array_equal(keep.data, reference[f"batched_nms:{threshold}"])
    assert 0 < len(reference[f"nms:{threshold}"]) < 30  # the case suppresses something


@pytest.mark.parametrize("case, scale, ratio, aligned", [
    ("plain", 1.0, -1, False), ("aligned", 1.0, 2, True), ("scaled", 0.5, -1, True),
    ("sampled", 1.0, 3, False)])
def test_roi_align_and_its_gradient_are_torchvisions(reference, data, case, scale, ratio,
                                                     aligned):
    feature = Tensor(data["feature"], requires_grad=True)
    value = ops.roi_align(feature, data["rois"], (3, 4), scale, ratio, aligned)
    (value * Tensor(data["grad_roi"])).sum().backward()
    close(value.data, reference[f"roi_align:{case}"])
    close(feature.grad, reference[f"roi_align:{case}:grad"])


def test_roi_align_takes_a_list_of_boxes_and_passes_the_gradient_check(data):
    rois = data["rois"]
    per_image = [rois[rois[:, 0] == i, 1:] for i in range(2)]
    expected = ops.roi_align(data["feature"], rois[np.argsort(rois[:, 0], kind="stable")],
                             (3, 4), 1.0, 2)
    close(ops.roi_align(data["feature"], per_image, (3, 4), 1.0, 2).data, expected.data)
    feature = Tensor(data["feature"][:, :, :6, :7].copy(), requires_grad=True)
    assert gradcheck(lambda x: ops.roi_align(x, rois * 0.5, 2, 1.0, -1, True), feature)
    layer = ops.RoIAlign((3, 4), 1.0, 2)
    close(layer(data["feature"], rois).data, ops.roi_align(data["feature"], rois, (3, 4), 1.0,
                                                           2).data)


def test_roi_pool_takes_bin_maxima_and_routes_the_gradient_to_them():
    x = np.arange(2 * 1 * 4 * 5, dtype=np.float64).reshape(2, 1, 4, 5)
    x[1, 0, 0, 0] = 100.0
    rois = np.array([[0, 0, 0, 4, 3], [1, 0, 0, 1.4, 1.4]])
    out = ops.roi_pool(Tensor(x), rois, (2, 2))
    # roi 0 covers the whole 4x5 image: bins rows [0, 2), [2, 4) x cols [0, 3), [2, 5)
    np.testing.assert_array_equal(out.data[0, 0], [[7, 9], [17, 19]])
    # roi 1 is 2x2 pixels: one pixel a bin
    np.testing.assert_array_equal(out.data[1, 0], [[100, 21], [25, 26]])
    rng = np.random.default_rng(0)
    feature = Tensor(rng.standard_normal((2, 2, 6, 7)), requires_grad=True)
    rois = np.array([[0, 0.6, 1.2, 5.1, 4.9], [1, 2.0, 0.0, 6.0, 3.0]])
    assert gradcheck(lambda f: ops.RoIPool(3, 1.0)(f, rois), feature)


def test_feature_pyramid_network_is_torchvisions(reference, data):
    fpn = ops.FeaturePyramidNetwork([4, 8], 6).double()
    keys = [(k, list(v.shape)) for k, v in fpn.state_dict().items()]
    assert [k for k, _ in keys] == ["inner_blocks.0.0.weight", "inner_blocks.0.0.bias",
                                    "inner_blocks.1.0.weight", "inner_blocks.1.0.bias",
                                    "layer_blocks.0.0.weight", "layer_blocks.0.0.bias",
                                    "layer_blocks.1.0.weight", "layer_blocks.1.0.bias"]
    fpn.load_state_dict(deterministic_state(keys, SEED + 500))
    out = fpn(OrderedDict([("0", Tensor(data["fpn_0"])), ("1", Tensor(data["fpn_1"]))]))
    assert list(out) == ["0", "1"]
    for key, value in out.items():
        close(value.data, reference[f"fpn:{key}"])


def test_stochastic_depth_keeps_whole_rows_and_the_expectation():
    x = Tensor(np.ones((4000, 3, 2)))
    y = ops.stochastic_depth(x, 0.3, "row", rng=np.random.default_rng(0)).data
    rows = y.reshape(4000, -1)
    assert np.all(rows == rows[:, :1])  # a sample is kept or dropped whole
    assert set(np.unique(rows)) == {0.0, 1 / 0.7}
    assert abs(rows.mean() - 1.0) < 0.05
    batch = ops.stochastic_depth(x, 0.5, "batch", rng=np.random.default_rng(1)).data
    assert len(np.unique(batch)) == 1
    assert ops.stochastic_depth(x, 0.3, "row", training=False) is x
    layer = ops.StochasticDepth(0.3, "row").eval()
    assert layer(x) is x


def test_drop_block_drops_square_blocks_and_rescales():
    x = Tensor(np.ones((64, 2, 16, 16)))
    y = ops.drop_block2d(x, 0.2, 3, rng=np.random.default_rng(0)).data
    kept = y > 0
    assert abs(1 - kept.mean() - 0.2) < 0.05  # about p of the values are dropped
    np.testing.assert_allclose(y[kept], y.size / kept.sum())  # survivors rescaled
    # a dropped pixel sits inside a dropped 3x3 square
    n, c, i, j = np.argwhere(~kept[:, :, 1:-1, 1:-1])[0] + [0, 0, 1, 1]
    window = ~kept[n, c, i - 2: i + 3, j - 2: j + 3]
    assert any(window[a: a + 3, b: b + 3].all() for a in range(3) for b in range(3))
    assert ops.DropBlock2d(0.2, 3).eval()(x) is x


def test_building_blocks_have_torchvisions_names():
    block = ops.Conv2dNormActivation(4, 8, 3, stride=2)
    assert [k for k in block.state_dict()][:2] == ["0.weight", "1.weight"]
    assert block[0].padding == (1, 1) and block[0].bias is None
    assert isinstance(block[2], nn.ReLU) and block.out_channels == 8
    assert ops.Conv2dNormActivation(4, 8, 5, dilation=2, norm_layer=None)[0].padding == (4, 4)
    se = ops.SqueezeExcitation(8, 2)
    assert list(se.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    x = Tensor(np.random.default_rng(0).standard_normal((2, 8, 5, 5), dtype=np.float32))
    scale = dlpy.functional.sigmoid(se.fc2(dlpy.functional.relu(se.fc1(
        x.mean(dim=(2, 3), keepdim=True)))))
    # (its adaptive average pool and this mean may round the float32 means apart by an ulp)
    np.testing.assert_allclose(se(x).data, (scale * x).data, rtol=1e-6, atol=1e-7)
    mlp = ops.MLP(4, [8, 3], norm_layer=nn.LayerNorm, dropout=0.1)
    assert [type(m).__name__ for m in mlp] == ["Linear", "LayerNorm", "ReLU", "Dropout",
                                               "Linear", "Dropout"]
    assert ops.Permute([0, 2, 1])(Tensor(np.zeros((1, 2, 3)))).shape == (1, 3, 2)


def test_bad_arguments_are_refused(data):
    with pytest.raises(ValueError, match=r"box_iou: expected boxes of shape \(\.\.\., 4\), got "
                                         r"\(3, 5\)"):
        ops.box_iou(np.zeros((3, 5)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="box_convert: fmt must be one of .* got 'xyz'"):
        ops.box_convert(data["boxes1"], "xyz", "xyxy")
    with pytest.raises(ValueError, match="nms: expected boxes \\(N, 4\\) and scores \\(N,\\)"):
        ops.nms(data["boxes1"], np.zeros(4), 0.5)
    with pytest.raises(ValueError, match="generalized_box_iou_loss: reduction must be"):
        ops.generalized_box_iou_loss(data["match1"], data["match2"], "max")
    with pytest.raises(ValueError, match=r"sigmoid_focal_loss: alpha must be in \[0, 1\] or -1"):
        ops.sigmoid_focal_loss(data["logits"], data["targets"], alpha=2.0)
    with pytest.raises(ValueError, match=r"roi_align: batch indices must be in \[0, 2\), got"):
        ops.roi_align(data["feature"], np.array([[2, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=r"roi_pool: expected boxes \(K, 5\)"):
        ops.roi_pool(data["feature"], np.zeros((3, 4)), 2)
    with pytest.raises(ValueError, match="stochastic_depth: mode must be 'batch' or 'row'"):
        ops.stochastic_depth(data["feature"], 0.2, "col")
    with pytest.raises(ValueError, match=r"StochasticDepth: drop probability must be in \[0, 1\]"):
        ops.StochasticDepth(1.5, "row")
    with pytest.raises(ValueError, match="drop_block2d: block_size must be odd, got 4"):
        ops.drop_block2d(data["feature"], 0.2, 4)
