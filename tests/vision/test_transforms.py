"""dlpy.vision.transforms against torchvision.transforms.v2.functional on tensors
(tests/fixtures/vision/transforms.npz, written by make_vision_fixtures.py), the random
transforms' boxes and seeding, ToTensor, Compose and errors."""

from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.vision import transforms as T

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "vision" / "transforms.npz"
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
CASES = {  # the calls of make_vision_fixtures.transform_fixtures
    "resize_down": lambda x: T.resize(x, [8, 11]),
    "resize_down_no_antialias": lambda x: T.resize(x, [8, 11], antialias=False),
    "resize_up": lambda x: T.Resize([20, 27])(x),
    "resize_up_no_antialias": lambda x: T.resize(x, [20, 27], antialias=False),
    "resize_mixed": lambda x: T.resize(x, [20, 7]),
    "resize_far_down": lambda x: T.resize(x, [3, 4]),
    "resize_smaller_edge": lambda x: T.Resize(10)(x),
    "center_crop": lambda x: T.CenterCrop([10, 12])(x),
    "center_crop_odd": lambda x: T.center_crop(x, 9),
    "center_crop_padded": lambda x: T.center_crop(x, [16, 20]),
    "normalize": lambda x: T.Normalize(MEAN, STD)(x),
    "resized_crop": lambda x: T.resized_crop(x, 2, 3, 10, 12, [8, 8]),
    "pad_constant": lambda x: T.pad(x, [2, 3], fill=0.5),
    "pad_reflect": lambda x: T.pad(x, [1, 2, 3, 4], padding_mode="reflect"),
    "pad_edge": lambda x: T.pad(x, 2, padding_mode="edge"),
    "hflip": lambda x: T.horizontal_flip(x),
}


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return dict(data)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_torchvision_on_arrays_and_tensors(reference, case):
    image = reference["image"]
    out = CASES[case](image)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, reference[case], rtol=1e-12, atol=1e-12)
    out = CASES[case](Tensor(image))
    assert isinstance(out, Tensor)
    np.testing.assert_allclose(out.data, reference[case], rtol=1e-12, atol=1e-12)
    batch = CASES[case](np.stack([image, image[::-1]]))  # leading axes are carried along
    np.testing.assert_allclose(batch[0], reference[case], rtol=1e-12, atol=1e-12)


def test_float32_image_stays_float32(reference):
    out = T.resize(reference["image"].astype(np.float32), [8, 11])
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, reference["resize_down"], rtol=1e-5, atol=1e-6)


def test_uint8_resize_is_within_one_of_torchvisions(reference):
    # torch's uint8 kernel works in fixed point; dlpy rounds the float result
    out = T.resize(reference["image_uint8"], [8, 11])
    assert out.dtype == np.uint8
    diff = np.abs(out.astype(int) - reference["resize_uint8"].astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.8  # 83% equal here


def test_to_tensor_and_compose():
    rng = np.random.default_rng(0)
    hwc = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    x = T.ToTensor()(hwc)
    assert isinstance(x, Tensor) and x.dtype == np.float32 and x.shape == (3, 6, 5)
    np.testing.assert_allclose(x.data[1], hwc[..., 1] / 255.0, rtol=1e-6)
    assert T.ToTensor()(hwc[..., 0]).shape == (1, 6, 5)
    assert T.ToTensor()(hwc.astype(np.float64)).dtype == np.float64  # kept, as torchvision
    pipeline = T.Compose([T.ToTensor(), T.CenterCrop(4), T.Normalize([0.5] * 3, [0.25] * 3)])
    out = pipeline(hwc)
    np.testing.assert_allclose(out.data, (hwc.transpose(2, 0, 1)[:, 1:5, 0:4] / 255 - 0.5)
                               / 0.25, rtol=1e-5, atol=1e-6)
    assert "CenterCrop" in repr(pipeline)


def test_random_crop_boxes_padding_and_seed():
    image = np.arange(2 * 6 * 7, dtype=np.float64).reshape(2, 6, 7)
    crop = T.RandomCrop(4, rng=np.random.default_rng(3))
    seen = set()
    for _ in range(30):
        out = crop(image)
        top, left = np.argwhere(image[0] == out[0, 0, 0])[0]
        np.testing.assert_array_equal(out, image[:, top:top + 4, left:left + 4])
        seen.add((top, left))
    assert len(seen) > 5  # many positions, all inside
    again = [T.RandomCrop(4, rng=np.random.default_rng(3))(image) for _ in range(3)]
    first = [T.RandomCrop(4, rng=np.random.default_rng(3))(image) for _ in range(3)]
    np.testing.assert_array_equal(np.stack(again), np.stack(first))
    padded = T.RandomCrop(10, padding=2, rng=np.random.default_rng(0))(image)
    assert padded.shape == (2, 10, 10) and (padded == 0).sum() >= 2 * (100 - 42)
    grown = T.RandomCrop((8, 9), pad_if_needed=True, padding_mode="edge")(image)
    assert grown.shape == (2, 8, 9)


def test_random_horizontal_flip_and_resized_crop():
    image = np.random.default_rng(0).uniform(size=(3, 20, 30))
    flips = [T.RandomHorizontalFlip(rng=np.random.default_rng(seed))(image) for seed in range(20)]
    flipped = sum(np.array_equal(f, image[..., ::-1]) for f in flips)
    assert 0 < flipped < 20
    assert sum(np.array_equal(f, image) for f in flips) == 20 - flipped
    assert np.array_equal(T.RandomHorizontalFlip(p=1.0)(image), image[..., ::-1])
    transform = T.RandomResizedCrop(8, rng=np.random.default_rng(1))
    for _ in range(20):
        top, left, h, w = transform.get_params(20, 30)
        assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 30
        assert 0.08 * 600 * 0.8 <= h * w <= 600 and 3 / 4 * 0.8 <= w / h <= 4 / 3 * 1.25
    out = transform(Tensor(image))
    assert isinstance(out, Tensor) and out.shape == (3, 8, 8)
    whole = T.RandomResizedCrop(8, scale=(1.0, 1.0), ratio=(1.5, 1.5))
    np.testing.assert_allclose(whole(image), T.resize(image, [8, 8]))


def test_bad_arguments_are_refused():
    image = np.zeros((3, 5, 5))
    with pytest.raises(ValueError, match=r"resize: size must be a positive int.*got \[0, 3\]"):
        T.resize(image, [0, 3])
    with pytest.raises(TypeError, match="resize: expected a numpy array or a dlpy Tensor, got "
                                        "list"):
        T.resize([[1.0]], 2)
    with pytest.raises(ValueError, match="pad: padding_mode must be one of .*got 'wrap'"):
        T.pad(image, 1, padding_mode="wrap")
    with pytest.raises(TypeError, match="normalize: expected a float image"):
        T.normalize(image.astype(np.uint8), MEAN, STD)
    with pytest.raises(ValueError, match=r"normalize: std must be non-zero"):
        T.normalize(image, MEAN, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"RandomCrop: the crop \(6, 6\) is larger than the "
                                         r"\(padded\) image \(5, 5\)"):
        T.RandomCrop(6)(image)
    with pytest.raises(TypeError, match=r"ToTensor: expected an \(H, W, C\)"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: p must be in \[0, 1\], got 2"):
        T.RandomHorizontalFlip(p=2)
