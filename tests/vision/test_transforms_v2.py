"""dlpy.vision.transforms.v2: v1's classes under v2's names, ToImage, ToDtype(scale=), MixUp,
CutMix (their mixing formulas and parameter draws) and SanitizeBoundingBoxes."""

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.vision import transforms as T
from dlpy.vision.transforms import v2


def test_v2_has_v1_classes_and_functional():
    assert v2.AugMix is T.AugMix and v2.functional.to_dtype is not None
    # rotations dispatch on tv_tensors (tests/vision/test_tv_tensors.py); v1's draws kept
    assert issubclass(v2.RandomRotation, T.RandomRotation) and v2.RandomRotation is not \
        T.RandomRotation and v2.functional.rotate is not T.rotate
    image = np.random.default_rng(0).uniform(size=(3, 6, 7))
    assert v2.functional.get_size(image) == [6, 7]
    np.testing.assert_array_equal(v2.RGB()(image[:1]), np.repeat(image[:1], 3, axis=0))
    assert v2.Identity()(image) is image


def test_to_image_and_to_dtype():
    hwc = np.random.default_rng(1).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    image = v2.ToImage()(hwc)
    assert isinstance(image, Tensor) and image.shape == (3, 5, 4) and image.dtype == np.uint8
    scaled = v2.ToDtype(np.float32, scale=True)(image)
    np.testing.assert_allclose(scaled.data, hwc.transpose(2, 0, 1) / 255, rtol=1e-6)
    plain = v2.ToDtype(np.float32)(image)
    assert plain.data.max() == hwc.max()
    back = v2.ToDtype(np.uint8, scale=True)(scaled)
    np.testing.assert_array_equal(back.data, hwc.transpose(2, 0, 1))
    pipeline = v2.Compose([v2.ToImage(), v2.ToDtype(np.float32, scale=True),
                           v2.Normalize([0.5] * 3, [0.5] * 3)])
    out = pipeline(hwc)
    assert -1 <= out.data.min() and out.data.max() <= 1


def test_mixup_mixes_images_and_labels_by_lambda():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(4, 3, 5, 5))
    labels = np.array([0, 2, 1, 2])
    lam = v2.MixUp.get_params(0.4, np.random.default_rng(9))
    out, mixed = v2.MixUp(alpha=0.4, num_classes=3, rng=np.random.default_rng(9))(images, labels)
    np.testing.assert_allclose(out, lam * images + (1 - lam) * np.roll(images, 1, axis=0))
    one_hot = np.eye(3)[labels]
    np.testing.assert_allclose(mixed, lam * one_hot + (1 - lam) * np.roll(one_hot, 1, axis=0),
                               rtol=1e-6)
    np.testing.assert_allclose(mixed.sum(axis=1), 1, rtol=1e-6)
    lams = [v2.MixUp.get_params(1.0, rng) for _ in range(2000)]
    assert abs(np.mean(lams) - 0.5) < 0.03 and 0 < min(lams) and max(lams) < 1  # Beta(1, 1)
    out_t, mixed_t = v2.MixUp(num_classes=3)(Tensor(images), Tensor(labels))
    assert isinstance(out_t, Tensor) and isinstance(mixed_t, Tensor)


def test_cutmix_pastes_a_box_and_weights_labels_by_its_area():
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(3, 2, 8, 10))
    labels = np.eye(4)[[0, 1, 3]]
    (x1, y1, x2, y2), lam = v2.CutMix.get_params(1.0, 8, 10, np.random.default_rng(5))
    out, mixed = v2.CutMix(rng=np.random.default_rng(5))(images, labels)
    inside = np.zeros((8, 10), bool)
    inside[y1:y2, x1:x2] = True
    assert inside.any() and not inside.all()
    np.testing.assert_array_equal(out[..., inside], np.roll(images, 1, axis=0)[..., inside])
    np.testing.assert_array_equal(out[..., ~inside], images[..., ~inside])
    assert lam == pytest.approx(1 - inside.sum() / 80)
    np.testing.assert_allclose(mixed, lam * labels + (1 - lam) * np.roll(labels, 1, axis=0))
    for _ in range(200):
        (x1, y1, x2, y2), lam = v2.CutMix.get_params(1.0, 8, 10, rng)
        assert 0 <= x1 <= x2 <= 10 and 0 <= y1 <= y2 <= 8 and 0 <= lam <= 1


def test_sanitize_bounding_boxes():
    sample = {"image": np.zeros((3, 4, 4)), "labels": np.array([1, 2, 3, 4]),
              "boxes": np.array([[0, 0, 2, 2], [1, 1, 1.5, 3], [0, 0, np.nan, 1], [1, 0, 4, 3]])}
    out = v2.SanitizeBoundingBoxes()(sample)
    np.testing.assert_array_equal(out["labels"], [1, 4])
    np.testing.assert_array_equal(out["boxes"], [[0, 0, 2, 2], [1, 0, 4, 3]])
    assert out["image"] is sample["image"]
    assert len(v2.SanitizeBoundingBoxes(min_size=3)(sample)["labels"]) == 1


def test_v2_errors():
    images = np.zeros((2, 3, 4, 4))
    with pytest.raises(ValueError, match="MixUp: num_classes must be given for index labels"):
        v2.MixUp()(images, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"CutMix: expected labels \(N,\) or \(N, num_classes\) "
                                         r"for 2 images, got shape \(3,\)"):
        v2.CutMix(num_classes=2)(images, np.array([0, 1, 1]))
    with pytest.raises(ValueError, match=r"MixUp: expected a batch \(N, C, H, W\)"):
        v2.MixUp(num_classes=2)(np.zeros((1, 2, 3, 4, 5)), np.array([0]))
    with pytest.raises(ValueError, match="MixUp: alpha must be positive, got 0"):
        v2.MixUp(alpha=0)
    with pytest.raises(ValueError, match=r"SanitizeBoundingBoxes: expected boxes \(N, 4\)"):
        v2.SanitizeBoundingBoxes()({"boxes": np.zeros((2, 3))})
