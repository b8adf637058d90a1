"""dlpy.vision.tv_tensors and the v2 transforms that dispatch on them, against
torchvision.transforms.v2.functional on tv_tensors (tests/fixtures/vision_round2/
tv_tensors.npz, from make_vision_round2_fixtures.py): images, masks (nearest, fill 0) and boxes
in every format flipped, cropped, resized, padded, rotated with the image; the sample
transforms with fixed parameters; one draw shared by a whole sample; errors."""

from pathlib import Path

import numpy as np
import pytest
from make_vision_rotate_fixtures import ROTATE_CASES
from make_vision_round2_fixtures import FORMATS, TV_AFFINE, TV_OPS, TV_ROTATIONS, tv_input

from dlpy import Tensor
from dlpy.vision import transforms as T
from dlpy.vision import tv_tensors
from dlpy.vision.transforms import v2
from dlpy.vision.transforms.v2 import functional as F

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vision_round2"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURES / "tv_tensors.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def sample():
    data = tv_input()
    xyxy = tv_tensors.BoundingBoxes(data["boxes"], format="XYXY", canvas_size=(10, 12))
    boxes = {fmt: F.convert_bounding_box_format(xyxy, new_format=fmt) for fmt in FORMATS}
    return tv_tensors.Image(data["image"]), tv_tensors.Mask(data["mask"]), boxes


def close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_box_formats_convert_and_clamp_as_torchvisions(reference, sample):
    _, _, boxes = sample
    for fmt, b in boxes.items():
        assert b.format.name == fmt and b.canvas_size == (10, 12)
        close(b.data, reference[f"convert:{fmt}"])
    clamped = F.clamp_bounding_boxes(boxes["CXCYWH"])
    assert isinstance(clamped, tv_tensors.BoundingBoxes)
    close(clamped.data, reference["clamp"])


@pytest.mark.parametrize("name", list(TV_OPS))
def test_geometric_kernels_move_images_masks_and_boxes_together(reference, sample, name):
    image, mask, boxes = sample
    function, kwargs = TV_OPS[name]
    out = getattr(F, function)(image, **kwargs)
    assert isinstance(out, tv_tensors.Image)
    close(out.data, reference[f"{name}:image"])
    out_mask = getattr(F, function)(mask, **kwargs)
    assert isinstance(out_mask, tv_tensors.Mask) and out_mask.dtype == np.uint8
    np.testing.assert_array_equal(out_mask.data, reference[f"{name}:mask"])
    for fmt, b in boxes.items():
        moved = getattr(F, function)(b, **kwargs)
        assert moved.format.name == fmt
        assert moved.canvas_size == tuple(reference[f"{name}:canvas"])
        close(moved.data, reference[f"{name}:{fmt}"])


@pytest.mark.parametrize("name", list(TV_ROTATIONS))
def test_rotation_and_affine_kernels_of_boxes_and_masks(reference, sample, name):
    _, mask, boxes = sample
    kwargs = TV_ROTATIONS[name]
    np.testing.assert_array_equal(F.rotate_mask(mask, **kwargs).data, reference[f"{name}:mask"])
    for fmt, b in boxes.items():
        out, canvas = F.rotate_bounding_boxes(b, fmt, b.canvas_size, **kwargs)
        assert canvas == tuple(reference[f"{name}:canvas"])
        np.testing.assert_allclose(out, reference[f"{name}:{fmt}"], rtol=1e-12, atol=1e-10)
    for fmt, b in boxes.items():
        out, _ = F.affine_bounding_boxes(b, fmt, b.canvas_size, **TV_AFFINE)
        np.testing.assert_allclose(out, reference[f"affine:{fmt}"], rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(F.affine_mask(mask, **TV_AFFINE).data,
                                  reference["affine:mask"])


def test_sample_transforms_with_fixed_parameters_are_torchvisions(reference, sample):
    image, mask, boxes = sample
    within = np.array([True, True, False, True])
    cases = {
        "iou_crop": (v2.RandomIoUCrop(), {"top": 1, "left": 2, "height": 6, "width": 9,
                                          "within": within}),
        "zoom_out": (v2.RandomZoomOut(fill=0.5), {"padding": [3, 1, 5, 2]}),
        "scale_jitter": (v2.ScaleJitter((20, 30)), {"size": (13, 15)}),
        "photometric": (v2.RandomPhotometricDistort(), {
            "brightness_factor": 1.1, "contrast_factor": 0.7, "saturation_factor": 1.3,
            "hue_factor": 0.04, "contrast_before": False, "channel_permutation": [2, 0, 1]}),
    }
    for case, (transform, params) in cases.items():
        for kind, value in (("image", image), ("mask", mask), ("XYXY", boxes["XYXY"])):
            out = transform.apply(value, params)
            assert type(out) is type(value), (case, kind)
            np.testing.assert_allclose(out.data, reference[f"{case}:{kind}"], rtol=1e-6,
                                       atol=1e-6, err_msg=f"{case}:{kind}")


def test_one_draw_moves_a_whole_nested_sample():
    image, mask, boxes = (tv_tensors.Image(tv_input()["image"]),
                          tv_tensors.Mask(tv_input()["mask"]),
                          tv_tensors.BoundingBoxes(tv_input()["boxes"], format="XYXY",
                                                   canvas_size=(10, 12)))
    flip = v2.RandomHorizontalFlip(p=1.0)
    out = flip({"image": image, "target": {"boxes": boxes, "masks": mask, "label": 3}})
    np.testing.assert_array_equal(out["image"].data, image.data[..., ::-1])
    np.testing.assert_array_equal(out["target"]["masks"].data, mask.data[..., ::-1])
    assert out["target"]["label"] == 3
    np.testing.assert_allclose(out["target"]["boxes"].data[:, [2, 0]],
                               12 - boxes.data[:, [0, 2]])
    # a plain array is the image only when there is no Image; the second one passes through
    plain, other = np.zeros((3, 4, 5)), np.ones((3, 4, 5))
    resized = v2.Resize((2, 3))(plain, other)
    assert resized[0].shape == (3, 2, 3) and resized[1] is other
    # one crop for image, mask and boxes: the boxes stay on the pixels they covered
    crop = v2.RandomResizedCrop((6, 6), scale=(0.3, 0.6), rng=np.random.default_rng(0))
    img2, mask2, boxes2 = crop(image, mask, boxes)
    assert img2.shape == (3, 6, 6) and mask2.shape == (6, 6) and boxes2.canvas_size == (6, 6)
    assert set(np.unique(mask2.data)) <= {0, 1, 2}
    zoom = v2.RandomZoomOut(side_range=(2.0, 2.0), p=1.0, rng=np.random.default_rng(1))
    img3, boxes3 = zoom(image, boxes)
    assert img3.shape == (3, 20, 24) and boxes3.canvas_size == (20, 24)
    left, top = np.argwhere(img3.data[0] != 0)[0][::-1]
    np.testing.assert_allclose(boxes3.data, boxes.data + [left, top, left, top])


def test_random_iou_crop_draws_an_overlapping_crop_and_zeroes_boxes_outside():
    image = tv_tensors.Image(np.ones((3, 40, 50)))
    boxes = tv_tensors.BoundingBoxes(np.array([[5.0, 5.0, 20.0, 20.0], [30.0, 25.0, 45.0, 38.0]]),
                                     format="XYXY", canvas_size=(40, 50))
    transform = v2.RandomIoUCrop(sampler_options=[0.3], rng=np.random.default_rng(2))
    for _ in range(5):
        cropped_image, cropped = transform(image, boxes)
        assert cropped.canvas_size == tuple(cropped_image.shape[-2:])
        kept = cropped.data[(cropped.data != 0).any(axis=1)]
        assert len(kept) >= 1
    params = transform.try_crop([0.5, 0.5], [0.0, 0.0], 40, 50, boxes.data, 0.9)
    assert params is None  # no box overlaps a 32x26 corner crop by IoU 0.9


def test_gaussian_noise_and_clamp_transforms():
    image = tv_tensors.Image(np.full((3, 30, 30), 0.5))
    noisy = v2.GaussianNoise(sigma=0.1, rng=np.random.default_rng(0))(image)
    assert isinstance(noisy, tv_tensors.Image)
    assert abs(noisy.data.std() - 0.1) < 0.01 and noisy.data.min() >= 0
    uint8 = F.gaussian_noise(np.full((1, 50, 50), 250, np.uint8), sigma=0.2,
                             rng=np.random.default_rng(1))
    assert uint8.dtype == np.uint8 and uint8.max() == 255  # clipped, not wrapped
    boxes = tv_tensors.BoundingBoxes(np.array([[-3.0, 2.0, 15.0, 12.0]]), format="XYXY",
                                     canvas_size=(10, 12))
    np.testing.assert_array_equal(v2.ClampBoundingBoxes()(boxes).data, [[0, 2, 12, 10]])


def test_tv_tensors_and_their_errors():
    assert tv_tensors.Image(np.zeros((4, 5))).shape == (1, 4, 5)
    boxes = tv_tensors.BoundingBoxes([[1, 2, 3, 4]], format="xywh", canvas_size=(5, 6))
    assert boxes.format is tv_tensors.BoundingBoxFormat.XYWH
    assert not isinstance(boxes * 2, tv_tensors.TVTensor)  # arithmetic gives plain Tensors
    wrapped = tv_tensors.wrap(Tensor(np.zeros((1, 4))), like=boxes)
    assert wrapped.format is boxes.format and wrapped.canvas_size == (5, 6)
    with pytest.raises(ValueError, match="BoundingBoxes: format must be one of XYXY, XYWH"):
        tv_tensors.BoundingBoxes([[1, 2, 3, 4]], format="XYWHR", canvas_size=(5, 6))
    with pytest.raises(ValueError, match=r"BoundingBoxes: expected \(N, 4\)"):
        tv_tensors.BoundingBoxes([[1, 2, 3]], format="XYXY", canvas_size=(5, 6))
    with pytest.raises(ValueError, match="pad_bounding_boxes: padding_mode 'reflect'"):
        F.pad(boxes, 2, padding_mode="reflect")
    with pytest.raises(TypeError, match="RandomIoUCrop: the sample must hold an image and "
                                        "BoundingBoxes"):
        v2.RandomIoUCrop()(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="RandomZoomOut: side_range must be"):
        v2.RandomZoomOut(side_range=(0.5, 2.0))


@pytest.mark.parametrize("quality", [10, 75])
def test_jpeg_is_torchvisions_pillow_round_trip(reference, quality):
    pytest.importorskip("PIL")
    pixels = (tv_input()["image"] * 255).astype(np.uint8)
    out = v2.JPEG(quality)(tv_tensors.Image(pixels))
    assert isinstance(out, tv_tensors.Image)
    np.testing.assert_array_equal(out.data, reference[f"jpeg:{quality}"])
    assert not np.array_equal(out.data, pixels)
    with pytest.raises(ValueError, match="JPEG: quality must be an int from 1 to 100"):
        v2.JPEG((0, 50))
    with pytest.raises(TypeError, match="jpeg: expected uint8 images"):
        F.jpeg(np.zeros((3, 4, 4)), 50)


@pytest.mark.parametrize("case", ["rotation", "rotation_bilinear_expand", "rotation_center",
                                  "affine"])
def test_v2_rotation_and_affine_move_the_whole_sample_as_torchvisions(case, sample):
    with np.load(FIXTURES / "rotate_v2.npz") as data:
        reference = dict(data)
    name, settings, params = ROTATE_CASES[case]
    transform = getattr(v2, name)(**settings)
    image, mask, boxes = sample
    out = transform.apply(image, params)
    assert isinstance(out, tv_tensors.Image)
    close(out.data, reference[f"{case}:image"])
    out_mask = transform.apply(mask, params)
    assert isinstance(out_mask, tv_tensors.Mask) and out_mask.dtype == np.uint8
    np.testing.assert_array_equal(out_mask.data, reference[f"{case}:mask"])
    for fmt, b in boxes.items():
        moved = transform.apply(b, params)
        assert isinstance(moved, tv_tensors.BoundingBoxes) and moved.format.name == fmt
        assert moved.canvas_size == tuple(reference[f"{case}:canvas"])
        np.testing.assert_allclose(moved.data, reference[f"{case}:{fmt}"], rtol=1e-12,
                                   atol=1e-10)


@pytest.mark.parametrize("name, settings", [("RandomRotation", {"degrees": 45}),
                                            ("RandomAffine", {"degrees": 30,
                                                              "translate": (0.2, 0.2)})])
def test_v2_rotation_and_affine_draw_once_per_sample(name, settings, sample):
    image, mask, boxes = sample
    plain = np.asarray(image.data)
    for seed in range(3):
        transform = getattr(v2, name)(**settings, rng=np.random.default_rng(seed))
        params = getattr(v2, name)(**settings, rng=np.random.default_rng(seed)).make_params(
            [image])
        out = transform({"image": image, "mask": mask, "boxes": boxes["XYWH"], "label": 3})
        assert out["label"] == 3
        close(out["image"].data, transform.apply(image, params).data)
        np.testing.assert_array_equal(out["mask"].data, transform.apply(mask, params).data)
        close(out["boxes"].data, transform.apply(boxes["XYWH"], params).data)
        assert out["boxes"].canvas_size == transform.apply(boxes["XYWH"], params).canvas_size
    # a plain image alone is rotated as v1's transform with the same draw
    v1 = getattr(T, name)(**settings, rng=np.random.default_rng(7))
    close(getattr(v2, name)(**settings, rng=np.random.default_rng(7))(plain), v1(plain))


def test_v2_rotation_fill_by_type(sample):
    image, mask, _ = sample
    transform = v2.RandomRotation((35, 40), fill={tv_tensors.Image: 0.5, tv_tensors.Mask: 7})
    out = transform({"image": image, "mask": mask})
    np.testing.assert_array_equal(out["image"].data[:, 0, 0], 0.5)  # (a corner left empty)
    assert out["mask"].data[0, 0] == 7 and np.isin(out["mask"].data, [0, 1, 2, 7]).all()


@pytest.mark.parametrize("name", list(TV_ROTATIONS))
def test_v2_functional_rotate_and_affine_dispatch_on_tv_tensors(reference, sample, name):
    _, mask, boxes = sample
    out = F.rotate(mask, **TV_ROTATIONS[name])
    assert isinstance(out, tv_tensors.Mask)
    np.testing.assert_array_equal(out.data, reference[f"{name}:mask"])
    for fmt, b in boxes.items():
        moved = F.rotate(b, **TV_ROTATIONS[name])
        assert moved.canvas_size == tuple(reference[f"{name}:canvas"])
        np.testing.assert_allclose(moved.data, reference[f"{name}:{fmt}"], rtol=1e-12,
                                   atol=1e-10)
        np.testing.assert_allclose(F.affine(b, **TV_AFFINE).data, reference[f"affine:{fmt}"],
                                   rtol=1e-12, atol=1e-10)
    np.testing.assert_array_equal(F.affine(mask, **TV_AFFINE).data, reference["affine:mask"])
