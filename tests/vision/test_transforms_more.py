"""dlpy.vision.transforms beyond resize/crop/pad against torchvision 0.28's tensor kernels
(tests/fixtures/vision_transforms/transforms_more.npz, written by
make_vision_transforms_fixtures.py, whose torch-free CASES table drives these tests), the
auto-augment magnitude tables, gradients through the grid transforms, the random transforms'
parameters and seeding, PIL round trips and errors."""

import sys
from pathlib import Path

import numpy as np
import pytest

from dlpy import Tensor
from dlpy.testing import gradcheck
from dlpy.vision import transforms as T
from dlpy.vision.transforms import autoaugment as A
from dlpy.vision.transforms import functional as F

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
from make_vision_transforms_fixtures import (  # noqa: E402
    APPLY_OP,
    CASES,
    ELASTIC,
    FILLED,
    SPACES,
)

DTYPES = ("float32", "float64", "uint8", "int16")


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURES / "vision_transforms" / "transforms_more.npz") as data:
        return dict(data)


def _run(case, image):
    function, _, args, kwargs = CASES[case]
    args = [np.dtype(a) if a in DTYPES else a for a in args]
    out = getattr(F, function)(image, *args, **kwargs)
    return np.stack([getattr(o, "data", o) for o in out]) if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", list(CASES))
def test_functional_matches_torchvision(ref, case):
    image = ref[CASES[case][1]]
    out = _run(case, image)
    assert isinstance(out, np.ndarray) and out.dtype == ref[case].dtype
    np.testing.assert_allclose(out, ref[case], rtol=1e-12, atol=1e-12)
    out = _run(case, Tensor(image))  # a Tensor gives a Tensor of the same values
    np.testing.assert_allclose(getattr(out, "data", out), ref[case], rtol=1e-12, atol=1e-12)
    if CASES[case][0] not in ("five_crop", "ten_crop", "convert_image_dtype"):
        batch = _run(case, np.stack([image, image[:, ::-1].copy()]))  # leading axes carried
        np.testing.assert_allclose(batch[0], ref[case], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", list(ELASTIC))
def test_elastic_transform_matches_torchvision(ref, case):
    source, mode, fill = ELASTIC[case]
    out = F.elastic_transform(ref[source], ref["displacement"], mode, fill)
    assert out.dtype == ref[case].dtype
    np.testing.assert_allclose(out, ref[case], rtol=1e-12, atol=1e-12)


def _op_keys():
    for op in APPLY_OP:
        for source in ("image_uint8", "image"):
            if source == "image" and op not in FILLED:
                continue
            for fill in (None, [10.0, 20.0, 30.0]) if op in FILLED else (None,):
                yield op, source, fill


@pytest.mark.parametrize("op,source,fill", list(_op_keys()))
def test_augment_operations_match_torchvision(ref, op, source, fill):
    key = f"op:{op}:{source}:{'fill' if fill else 'none'}"
    out = A.apply_op(ref[source], op, APPLY_OP[op], T.InterpolationMode.NEAREST, fill)
    assert out.dtype == ref[key].dtype
    np.testing.assert_allclose(out, ref[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", list(SPACES))
def test_magnitude_tables_equal_torchvisions_bit_for_bit(ref, cls):
    bins, size = SPACES[cls]
    transform = getattr(A, cls)()
    space = transform._augmentation_space(bins, size) if size else \
        transform._augmentation_space(bins)
    assert sorted(space) == sorted(k.split(":")[2] for k in ref if k.startswith(f"space:{cls}:"))
    for op, (magnitudes, _) in space.items():
        np.testing.assert_array_equal(magnitudes, ref[f"space:{cls}:{op}"])


def test_v2_functional_agrees(ref):
    from dlpy.vision.transforms.v2 import functional as F2

    out = F2.to_dtype(ref["image_uint8"], np.float32, scale=True)
    np.testing.assert_array_equal(out, ref["v2_to_dtype_scale"])
    np.testing.assert_allclose(F2.rotate(ref["image"], 30.0, "bilinear"), ref["v2_rotate"],
                               rtol=1e-12, atol=1e-12)
    out = F2.affine(ref["image"], 15.0, [2, -1], 1.1, [10.0, 5.0], "bilinear", fill=0)
    np.testing.assert_allclose(out, ref["v2_affine_fill0"], rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# gradients

@pytest.mark.parametrize("name,fn", [
    ("resize_down", lambda x: F.resize(x, [3, 4])),
    ("resize_up", lambda x: F.resize(x, [7, 9], antialias=False)),
    ("resize_nearest", lambda x: F.resize(x, [7, 3], "nearest")),
    ("normalize", lambda x: F.normalize(x, [0.5, 0.1], [0.2, 0.3])),
    ("rotate", lambda x: F.rotate(x, 30.0, "bilinear", fill=[0.5, 0.2])),
    ("rotate_expand", lambda x: F.rotate(x, 50.0, "bilinear", expand=True)),
    ("affine", lambda x: F.affine(x, 10.0, [1, 0], 1.2, [5.0, 3.0], "bilinear")),
    ("perspective", lambda x: F.perspective(x, [[0, 0], [5, 0], [5, 4], [0, 4]],
                                            [[1, 0], [4, 1], [5, 4], [0, 3]])),
    ("elastic", lambda x: F.elastic_transform(
        x, np.random.default_rng(1).uniform(-0.2, 0.2, (1, 5, 6, 2)))),
])
def test_grid_and_resize_are_differentiable(name, fn):
    x = Tensor(np.random.default_rng(0).uniform(size=(2, 2, 5, 6)), requires_grad=True)
    out = fn(x)
    assert out.requires_grad
    np.testing.assert_allclose(out.data, fn(x.data), rtol=1e-12, atol=1e-12)  # same values
    assert gradcheck(fn, x)


def test_untracked_results_leave_the_graph():
    x = Tensor(np.ones((3, 4, 4)))
    assert not F.rotate(x, 10.0).requires_grad and isinstance(F.adjust_hue(x, 0.1), Tensor)


# --------------------------------------------------------------------------------------------
# random transforms: the same parameters give functional's result; the draws are in range

def _image(seed=0, shape=(3, 8, 10)):
    return np.random.default_rng(seed).uniform(size=shape)


def test_random_rotation_affine_perspective_use_their_parameters():
    image = _image()
    angle = T.RandomRotation.get_params([-30, 30], np.random.default_rng(5))
    out = T.RandomRotation(30, "bilinear", rng=np.random.default_rng(5))(image)
    np.testing.assert_allclose(out, F.rotate(image, angle, "bilinear", fill=[0.0] * 3))
    params = T.RandomAffine.get_params([-20, 20], [0.2, 0.1], [0.8, 1.2], [-5, 5, -3, 3],
                                       [10, 8], np.random.default_rng(6))
    transform = T.RandomAffine(20, (0.2, 0.1), (0.8, 1.2), (-5, 5, -3, 3), fill=1.0,
                               rng=np.random.default_rng(6))
    np.testing.assert_allclose(transform(image), F.affine(image, *params, fill=[1.0] * 3))
    rng = np.random.default_rng(7)
    rng.random()  # RandomPerspective draws its p first
    start, end = T.RandomPerspective.get_params(10, 8, 0.5, rng)
    out = T.RandomPerspective(0.5, p=1.0, rng=np.random.default_rng(7))(image)
    np.testing.assert_allclose(out, F.perspective(image, start, end, fill=[0.0] * 3))


def test_random_parameter_distributions():
    rng = np.random.default_rng(0)
    angles = [T.RandomRotation.get_params([-10, 40], rng) for _ in range(2000)]
    assert -10 <= min(angles) and max(angles) <= 40 and abs(np.mean(angles) - 15) < 1
    draws = [T.RandomAffine.get_params([0, 0], [0.2, 0.5], None, [-4, 4], [10, 8], rng)
             for _ in range(500)]
    tx = [d[1][0] for d in draws]
    ty = [d[1][1] for d in draws]
    assert set(tx) <= set(range(-2, 3)) and set(ty) <= set(range(-4, 5)) and len(set(ty)) == 9
    assert all(-4 <= d[3][0] <= 4 and d[3][1] == 0 for d in draws)
    for _ in range(200):
        start, end = T.RandomPerspective.get_params(10, 8, 0.6, rng)
        assert start == [[0, 0], [9, 0], [9, 7], [0, 7]]
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = end
        assert 0 <= x0 <= 3 and 0 <= y0 <= 2 and 6 <= x1 <= 9 and 5 <= y2 <= 7
        assert 0 <= x3 <= 3 and 6 <= x2 <= 9 and 0 <= y1 <= 2 and 5 <= y3 <= 7
    sigmas = [T.GaussianBlur.get_params(0.5, 1.5, rng) for _ in range(1000)]
    assert 0.5 <= min(sigmas) and max(sigmas) <= 1.5 and abs(np.mean(sigmas) - 1) < 0.05
    jitter = T.ColorJitter(0.5, (0.5, 0.9), 0.0, 0.1)
    assert jitter.brightness == [0.5, 1.5] and jitter.saturation is None
    for _ in range(100):
        order, b, c, s, h = T.ColorJitter.get_params(*[jitter.brightness, jitter.contrast,
                                                       jitter.saturation, jitter.hue], rng)
        assert sorted(order) == [0, 1, 2, 3] and s is None
        assert 0.5 <= b <= 1.5 and 0.5 <= c <= 0.9 and -0.1 <= h <= 0.1


def test_color_jitter_applies_its_factors_in_its_order():
    image = _image()
    jitter = T.ColorJitter(0.4, 0.4, 0.4, 0.2, rng=np.random.default_rng(3))
    order, *factors = T.ColorJitter.get_params(jitter.brightness, jitter.contrast,
                                               jitter.saturation, jitter.hue,
                                               np.random.default_rng(3))
    functions = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
    expected = image
    for index in order:
        expected = functions[index](expected, factors[index])
    np.testing.assert_allclose(jitter(image), expected)
    assert not np.allclose(expected, image)


def test_gaussian_blur_erasing_elastic_classes():
    image = _image()
    sigma = T.GaussianBlur.get_params(0.1, 2.0, np.random.default_rng(2))
    np.testing.assert_allclose(T.GaussianBlur((5, 3), rng=np.random.default_rng(2))(image),
                               F.gaussian_blur(image, [5, 3], [sigma, sigma]))
    erased = T.RandomErasing(p=1.0, value=0.5, rng=np.random.default_rng(4))(image)
    changed = erased != image
    rows, cols = np.nonzero(changed.any(axis=0))
    assert changed.any() and (erased[changed] == 0.5).all()
    box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
    assert (erased[:, box[0], box[1]] == 0.5).all()  # one rectangle, every channel
    noisy = T.RandomErasing(p=1.0, value="random", rng=np.random.default_rng(4))(image)
    assert (noisy != image).any() and noisy.dtype == image.dtype
    assert T.RandomErasing(p=0.0)(image) is image
    displacement = T.ElasticTransform.get_params([20.0, 10.0], [0.8, 0.8], [8, 10],
                                                 np.random.default_rng(8))
    assert displacement.shape == (1, 8, 10, 2) and 0 < np.abs(displacement).max() < 2
    out = T.ElasticTransform(20.0, 0.8, rng=np.random.default_rng(8))(image)
    np.testing.assert_allclose(out, F.elastic_transform(image, T.ElasticTransform.get_params(
        [20.0, 20.0], [0.8, 0.8], [8, 10], np.random.default_rng(8)), fill=[0.0] * 3))


def test_probability_transforms_and_containers():
    image = (_image() * 255).astype(np.uint8)
    for cls, expected in [(T.RandomInvert, 255 - image), (T.RandomVerticalFlip, image[:, ::-1]),
                          (T.RandomEqualize, F.equalize(image)),
                          (T.RandomAutocontrast, F.autocontrast(image))]:
        np.testing.assert_array_equal(cls(p=1.0)(image), expected)
        assert cls(p=0.0)(image) is image
    np.testing.assert_array_equal(T.RandomPosterize(2, p=1.0)(image), image & 0xC0)
    np.testing.assert_array_equal(T.RandomSolarize(128, p=1.0)(image),
                                  np.where(image >= 128, 255 - image, image))
    np.testing.assert_array_equal(T.RandomAdjustSharpness(2.0, p=1.0)(image),
                                  F.adjust_sharpness(image, 2.0))
    gray = T.RandomGrayscale(p=1.0)(image)
    assert gray.shape == image.shape and (gray[0] == gray[2]).all()
    hits = sum(T.RandomInvert(p=0.3, rng=np.random.default_rng(s))(image) is not image
               for s in range(400))
    assert 80 < hits < 160
    double = T.Lambda(lambda x: x * 2)
    plus = T.Lambda(lambda x: x + 1)
    assert T.RandomApply([double, plus], p=1.0)(3) == 7 and T.RandomApply([double], p=0.0)(3) == 3
    results = {T.RandomOrder([double, plus], rng=np.random.default_rng(s))(3) for s in range(20)}
    assert results == {7, 8}
    picks = [T.RandomChoice([double, plus], p=[3, 1], rng=np.random.default_rng(s))(3)
             for s in range(400)]
    assert 250 < picks.count(6) < 350 and picks.count(4) == 400 - picks.count(6)
    assert "Lambda" in repr(T.Compose([double])) and "p=0.5" in repr(T.RandomInvert())


def test_deterministic_classes():
    image = _image()
    crops = T.FiveCrop(4)(image)
    assert len(crops) == 5 and all(c.shape == (3, 4, 4) for c in crops)
    np.testing.assert_array_equal(crops[1], image[:, :4, 6:])
    ten = T.TenCrop((4, 5), vertical_flip=True)(image)
    np.testing.assert_array_equal(ten[5], image[:, ::-1][:, :4, :5])
    np.testing.assert_array_equal(T.Pad([1, 2], fill=7)(image)[:, 0], 7)
    np.testing.assert_allclose(T.Grayscale(3)(image)[1], F.rgb_to_grayscale(image)[0])
    matrix = np.random.default_rng(1).standard_normal((240, 240))
    mean = image.ravel() * 0.5
    out = T.LinearTransformation(matrix, mean)(image)
    np.testing.assert_allclose(out.ravel(), (image.ravel() - mean) @ matrix)
    as_uint8 = T.ConvertImageDtype(np.uint8)(image)
    np.testing.assert_array_equal(as_uint8, (image * 255.999).astype(np.uint8))
    np.testing.assert_allclose(F.adjust_gamma(image, 1.0), image)
    assert F.get_image_size(image) == [10, 8] and F.get_image_num_channels(image) == 3


def test_resize_interpolations_and_max_size():
    image = _image()
    assert T.Resize(4, max_size=5)(image).shape == (3, 4, 5)
    nearest = T.Resize([4, 5], interpolation=T.InterpolationMode.NEAREST)(image)
    np.testing.assert_array_equal(nearest, image[:, ::2, ::2])
    assert T.Resize([4, 5], interpolation=0)(image).shape == (3, 4, 5)  # PIL's code


# --------------------------------------------------------------------------------------------
# auto augmentation

def test_auto_augment_applies_its_sampled_sub_policy():
    image = (_image() * 255).astype(np.uint8)
    for policy in A.AutoAugmentPolicy:
        transform = A.AutoAugment(policy, rng=np.random.default_rng(0))
        assert len(transform.policies) == 25
        ops = A.AutoAugment(policy, rng=np.random.default_rng(0)).sample_ops((8, 10))
        expected = image
        for name, magnitude in ops:
            expected = A.apply_op(expected, name, magnitude)
        np.testing.assert_array_equal(transform(image), expected)
    policy_ids = [A.AutoAugment.get_params(25, np.random.default_rng(s))[0] for s in range(500)]
    assert set(policy_ids) == set(range(25))
    seen = set()
    transform = A.AutoAugment("cifar10", rng=np.random.default_rng(1))
    for _ in range(300):
        for name, magnitude in transform.sample_ops((8, 10)):
            seen.add(name)
            if name == "Posterize":
                assert magnitude in (4.0, 5.0)  # bins 7: int(8 - round(7 / 2.25))
    assert {"Invert", "Equalize", "TranslateY", "Sharpness"} <= seen


def test_rand_trivial_augmix():
    image = (_image() * 255).astype(np.uint8)
    rand = A.RandAugment(num_ops=3, magnitude=5, rng=np.random.default_rng(2))
    ops = A.RandAugment(num_ops=3, magnitude=5, rng=np.random.default_rng(2)).sample_ops((8, 10))
    assert len(ops) == 3
    expected = image
    for name, magnitude in ops:
        expected = A.apply_op(expected, name, magnitude)
    np.testing.assert_array_equal(rand(image), expected)
    names = {A.TrivialAugmentWide(rng=np.random.default_rng(s)).sample_ops()[0][0]
             for s in range(300)}
    assert len(names) == 14
    mixed = A.AugMix(rng=np.random.default_rng(3))(image)
    again = A.AugMix(rng=np.random.default_rng(3))(image)
    assert mixed.dtype == np.uint8 and mixed.shape == image.shape
    np.testing.assert_array_equal(mixed, again)
    batch = A.AugMix(severity=1, all_ops=False, rng=np.random.default_rng(4))(
        np.stack([image, image]))
    assert batch.shape == (2, 3, 8, 10) and batch.dtype == np.uint8


# --------------------------------------------------------------------------------------------
# PIL images (pillow is optional)

def test_pil_round_trip_and_functional_on_pil():
    Image = pytest.importorskip("PIL.Image")
    array = (_image() * 255).astype(np.uint8)
    pil = T.ToPILImage()(array)
    assert isinstance(pil, Image.Image) and pil.mode == "RGB" and pil.size == (10, 8)
    back = T.PILToTensor()(pil)
    assert isinstance(back, Tensor) and back.dtype == np.uint8
    np.testing.assert_array_equal(back.data, array)
    flipped = F.hflip(pil)
    assert isinstance(flipped, Image.Image)
    np.testing.assert_array_equal(np.asarray(flipped).transpose(2, 0, 1), array[..., ::-1])
    rotated = T.RandomRotation(20, rng=np.random.default_rng(0))(pil)
    assert isinstance(rotated, Image.Image) and rotated.size == (10, 8)
    np.testing.assert_allclose(T.ToTensor()(pil).data, array / 255, rtol=1e-6)
    gray = T.ToPILImage()(Tensor(np.full((1, 2, 3), 0.5)))
    assert gray.mode == "L" and np.asarray(gray).max() == 127


# --------------------------------------------------------------------------------------------
# errors

def test_bad_arguments_are_refused():
    image = _image()
    with pytest.raises(ValueError, match=r"adjust_hue: hue_factor must be in \[-0.5, 0.5\], "
                                         r"got 0.7"):
        F.adjust_hue(image, 0.7)
    with pytest.raises(ValueError, match="adjust_brightness: brightness_factor must be "
                                         "non-negative, got -1"):
        F.adjust_brightness(image, -1)
    with pytest.raises(TypeError, match=r"posterize: expected a uint8 image, got float64"):
        F.posterize(image, 3)
    with pytest.raises(TypeError, match=r"adjust_saturation: expected an image .* C in \[1, 3\]"):
        F.adjust_saturation(np.zeros((4, 3, 3)), 1.0)
    with pytest.raises(ValueError, match="rotate: interpolation must be one of .*got 'box'"):
        F.rotate(image, 10, "box")
    with pytest.raises(ValueError, match=r"rotate: fill must be a number or 3 values"):
        F.rotate(image, 10, fill=[1, 2])
    with pytest.raises(ValueError, match="gaussian_blur: kernel_size must be odd positive"):
        F.gaussian_blur(image, 4)
    with pytest.raises(ValueError, match="affine: scale must be positive, got 0"):
        F.affine(image, 0, [0, 0], 0, 0)
    with pytest.raises(ValueError, match="RandomRotation: if degrees is a single number it "
                                         "must be non-negative, got -3"):
        T.RandomRotation(-3)
    with pytest.raises(ValueError, match=r"ColorJitter: hue must be an increasing pair within "
                                         r"\[-0.5, 0.5\]"):
        T.ColorJitter(hue=0.8)
    with pytest.raises(ValueError, match="RandomInvert: p must be in"):
        T.RandomInvert(p=1.5)
    with pytest.raises(ValueError, match="AugMix: severity must be in"):
        A.AugMix(severity=11)
    with pytest.raises(ValueError, match="AutoAugment: policy must be one of"):
        A.AutoAugment("mnist")
    with pytest.raises(ValueError, match=r"apply_op: unknown operation 'Blur'"):
        A.apply_op(image, "Blur", 1.0)
    with pytest.raises(ValueError, match=r"elastic_transform: expected a displacement of shape"):
        F.elastic_transform(image, np.zeros((1, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"five_crop: size \(9, 9\) is bigger than the image"):
        F.five_crop(image, 9)
    with pytest.raises(ValueError, match="convert_image_dtype: the cast from float64 to int64"):
        F.convert_image_dtype(image, np.int64)
    with pytest.raises(ValueError, match="LinearTransformation: transformation_matrix must be "
                                         "square"):
        T.LinearTransformation(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(TypeError, match="Lambda: expected a callable, got int"):
        T.Lambda(3)


@pytest.mark.parametrize("fill", [None, [10.0, 20.0, 30.0]])
def test_grid_transforms_of_a_batch_equal_each_image_alone(fill):
    # the batch is folded into the channels under one grid: each image as if alone
    batch = np.random.default_rng(4).integers(0, 256, (2, 2, 3, 7, 9), dtype=np.uint8)
    out = F.rotate(batch, 35.0, "bilinear", fill=fill)
    assert out.shape == batch.shape and out.dtype == np.uint8
    for index in np.ndindex(2, 2):
        np.testing.assert_array_equal(out[index], F.rotate(batch[index], 35.0, "bilinear",
                                                           fill=fill))
    expanded = F.affine(batch.astype(np.float64), 10.0, [1, 2], 0.9, [4.0, 0.0], fill=fill)
    np.testing.assert_array_equal(expanded[1, 0], F.affine(batch[1, 0].astype(np.float64),
                                                           10.0, [1, 2], 0.9, [4.0, 0.0],
                                                           fill=fill))
