"""torchvision.transforms' classes: each holds its settings, draws its random parameters with
``get_params`` (static, as torchvision's, plus an ``rng``) and calls the function of
dlpy.vision.transforms.functional. Random transforms draw from ``rng`` (a numpy Generator) or,
when it is None, from dlpy's default generator (dlpy.manual_seed); a batch (..., C, H, W) gets
one draw for all its images, as torchvision's tensors do."""

from __future__ import annotations

import math
import numbers

import numpy as np

from dlpy.random import get_rng
from dlpy.tensor import Tensor, as_array
from dlpy.vision.transforms import functional as F
from dlpy.vision.transforms.functional import PADDING_MODES, InterpolationMode, _array, _pair


class Transform:
    """A callable with torchvision's repr: ``Name(setting=value, ...)`` (``rng`` left out)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k != "rng" and not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def _check_p(p: float, name: str) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"{name}: p must be in [0, 1], got {p!r}")
    return float(p)


def _range(value, name: str, what: str, center: float = 0.0, bound=(-math.inf, math.inf),
           clip_first_on_zero: bool = False, allow_negative_number: bool = False) -> list[float]:
    """A number v -> [center - v, center + v] (v >= 0); a pair -> itself, checked inside
    ``bound`` and increasing."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        if value < 0 and not allow_negative_number:
            raise ValueError(f"{name}: if {what} is a single number it must be non-negative, "
                             f"got {value}")
        low, high = center - abs(value), center + abs(value)
        if clip_first_on_zero:
            low = max(low, 0.0)
        values = [float(low), float(high)]
    else:
        values = [float(v) for v in value] if value is not None else []
        if len(values) != 2:
            raise ValueError(f"{name}: {what} must be a number or a (min, max) pair, got "
                             f"{value!r}")
    if not bound[0] <= values[0] <= values[1] <= bound[1]:
        raise ValueError(f"{name}: {what} must be an increasing pair within {list(bound)}, "
                         f"got {value!r}")
    return values


def _channel_fill(fill, img) -> list[float] | None:
    """torchvision's classes turn a number into one fill value per channel."""
    if fill is None:
        return None
    channels = F.get_dimensions(img)[0]
    if isinstance(fill, numbers.Real):
        return [float(fill)] * channels
    return [float(f) for f in fill]


# ---------------------------------------------------------------------------------------------
# containers

class Compose(Transform):
    """Apply the transforms in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for transform in self.transforms:
            img = transform(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t!r}" for t in self.transforms)
        return f"Compose({body}\n)"


class RandomApply(Compose):
    """Apply all the transforms (in order) with probability p, else none."""

    def __init__(self, transforms, p: float = 0.5, rng=None):
        super().__init__(transforms)
        self.p, self.rng = _check_p(p, "RandomApply"), rng

    def __call__(self, img):
        if self.p < get_rng(self.rng).random():
            return img
        return super().__call__(img)

    def __repr__(self) -> str:
        return f"RandomApply(p={self.p}, {super().__repr__()})"


class RandomChoice(Transform):
    """Apply one transform picked at random (weights ``p``, default equal)."""

    def __init__(self, transforms, p=None, rng=None):
        self.transforms = list(transforms)
        if not self.transforms:
            raise ValueError("RandomChoice: expected at least one transform")
        if p is not None and (len(p) != len(self.transforms) or min(p) < 0 or sum(p) <= 0):
            raise ValueError(f"RandomChoice: p must hold {len(self.transforms)} non-negative "
                             f"weights, got {p!r}")
        self.p, self.rng = p, rng

    def __call__(self, img):
        weights = None if self.p is None else np.asarray(self.p, float) / sum(self.p)
        index = int(get_rng(self.rng).choice(len(self.transforms), p=weights))
        return self.transforms[index](img)


class RandomOrder(Transform):
    """Apply all the transforms in a random order."""

    def __init__(self, transforms, rng=None):
        self.transforms, self.rng = list(transforms), rng

    def __call__(self, img):
        for index in get_rng(self.rng).permutation(len(self.transforms)):
            img = self.transforms[int(index)](img)
        return img


class Lambda(Transform):
    """A user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: expected a callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)


# ---------------------------------------------------------------------------------------------
# conversions

class ToTensor(Transform):
    """(H, W, C) or (H, W) numpy image (or PIL image) -> (C, H, W) Tensor; uint8 becomes
    float32 / 255, other dtypes are kept (as torchvision's ToTensor on ndarrays)."""

    def __call__(self, pic) -> Tensor:
        if not isinstance(pic, np.ndarray) and not F._is_pil(pic):
            raise TypeError(f"ToTensor: expected an (H, W, C) or (H, W) numpy array, got "
                            f"{type(pic).__name__}")
        if isinstance(pic, np.ndarray) and pic.ndim not in (2, 3):
            raise TypeError(f"ToTensor: expected an (H, W, C) or (H, W) numpy array, got "
                            f"{pic.shape}")
        return F.to_tensor(pic)


class PILToTensor(Transform):
    """A PIL image -> its uint8 (C, H, W) Tensor (no scaling)."""

    def __call__(self, pic) -> Tensor:
        return Tensor(F.pil_to_tensor(pic))


class ToPILImage(Transform):
    """A (C, H, W) array or Tensor -> a PIL image (needs pillow)."""

    def __init__(self, mode: str | None = None):
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)


class ConvertImageDtype(Transform):
    """convert_image_dtype to ``dtype`` (a numpy dtype), rescaling the values."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def __call__(self, img):
        return F.convert_image_dtype(img, self.dtype)


class Normalize(Transform):
    """(img - mean) / std per channel."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std, self.inplace = list(mean), list(std), inplace

    def __call__(self, img):
        return F.normalize(img, self.mean, self.std, self.inplace)


class LinearTransformation(Transform):
    """(img.flatten() - mean_vector) @ transformation_matrix, reshaped back (ZCA whitening)."""

    def __init__(self, transformation_matrix, mean_vector):
        matrix = as_array(transformation_matrix)
        mean = as_array(mean_vector)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"LinearTransformation: transformation_matrix must be square, got "
                             f"{matrix.shape}")
        if mean.shape != (matrix.shape[0],):
            raise ValueError(f"LinearTransformation: mean_vector must have {matrix.shape[0]} "
                             f"values, got shape {mean.shape}")
        self.transformation_matrix, self.mean_vector = matrix, mean

    def __call__(self, img):
        data = _array(img, "LinearTransformation", 3)
        size = int(np.prod(data.shape[-3:]))
        if size != self.transformation_matrix.shape[0]:
            raise ValueError(f"LinearTransformation: the image {data.shape[-3:]} has {size} "
                             f"values, the matrix is {self.transformation_matrix.shape}")
        flat = data.reshape(-1, size) - self.mean_vector
        out = (flat @ self.transformation_matrix).astype(data.dtype, copy=False)
        return F._like(out.reshape(data.shape), img)


# ---------------------------------------------------------------------------------------------
# geometry

class Resize(Transform):
    """Resize to ``size`` (an int: the smaller edge), antialias=True as torchvision."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias: bool = True):
        _pair(size, "Resize")  # checked now; an int keeps its meaning (the smaller edge)
        F._interpolation(interpolation, "Resize", ("bilinear", "nearest", "nearest-exact"))
        self.size, self.interpolation = size, interpolation
        self.max_size, self.antialias = max_size, antialias

    def __call__(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)


class CenterCrop(Transform):
    """The central (h, w) box."""

    def __init__(self, size):
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img):
        return F.center_crop(img, self.size)


class Pad(Transform):
    """pad with ``padding`` (int, [lr, tb] or [l, t, r, b]) in ``padding_mode``."""

    def __init__(self, padding, fill: float = 0, padding_mode: str = "constant"):
        F.pad(np.zeros((1, 1)), padding, fill, padding_mode)  # checks the arguments now
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)


class RandomCrop(Transform):
    """A random (h, w) box, after ``padding`` (as ``pad``) and, with pad_if_needed, padding
    an image smaller than the box."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill: float = 0,
                 padding_mode: str = "constant", rng=None):
        self.size = _pair(size, "RandomCrop")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of "
                             f"{', '.join(PADDING_MODES)}, got {padding_mode!r}")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode, self.rng = fill, padding_mode, rng

    @staticmethod
    def get_params(img, output_size, rng=None) -> tuple[int, int, int, int]:
        """(top, left, h, w) of a random box of output_size."""
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: the crop {tuple(output_size)} is larger than the "
                             f"(padded) image ({h}, {w})")
        rng = get_rng(rng)
        return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, h, w = F.get_dimensions(img)
        th, tw = self.size
        if self.pad_if_needed and (h < th or w < tw):
            grow_w, grow_h = max(tw - w, 0), max(th - h, 0)
            img = F.pad(img, [grow_w, grow_h], self.fill, self.padding_mode)
        return F.crop(img, *self.get_params(img, self.size, self.rng))


class _RandomOne(Transform):
    """Apply ``_apply`` with probability p (one draw per call)."""

    def __init__(self, p: float = 0.5, rng=None):
        self.p, self.rng = _check_p(p, type(self).__name__), rng

    def __call__(self, img):
        return self._apply(img) if get_rng(self.rng).random() < self.p else img


class RandomHorizontalFlip(_RandomOne):
    """Flip left-right with probability p."""

    def _apply(self, img):
        return F.horizontal_flip(img)


class RandomVerticalFlip(_RandomOne):
    """Flip upside down with probability p."""

    def _apply(self, img):
        return F.vertical_flip(img)


class RandomResizedCrop(Transform):
    """A box of a random area fraction (``scale``) and aspect ratio (``ratio``, drawn
    log-uniformly), resized to ``size``; torchvision's 10 tries, then a central crop of the
    ratio clamped to ``ratio``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True, rng=None):
        self.size = _pair(size, "RandomResizedCrop")
        if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop: scale and ratio must be increasing positive "
                             f"(min, max) pairs, got scale={scale}, ratio={ratio}")
        if isinstance(interpolation, bool):  # the old positional antialias argument
            interpolation, antialias = InterpolationMode.BILINEAR, interpolation
        self.scale, self.ratio, self.interpolation = scale, ratio, interpolation
        self.antialias, self.rng = antialias, rng

    def get_params(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the box."""
        rng, area = get_rng(self.rng), height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)),\
                    h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        _, height, width = F.get_dimensions(img)
        top, left, h, w = self.get_params(height, width)
        return F.resized_crop(img, top, left, h, w, self.size, self.interpolation,
                              antialias=self.antialias)


class FiveCrop(Transform):
    """The four corner crops and the central crop, a tuple."""

    def __init__(self, size):
        self.size = _pair(size, "FiveCrop")

    def __call__(self, img):
        return F.five_crop(img, self.size)


class TenCrop(Transform):
    """five_crop of the image and of its flipped copy, a tuple of 10."""

    def __init__(self, size, vertical_flip: bool = False):
        self.size, self.vertical_flip = _pair(size, "TenCrop"), vertical_flip

    def __call__(self, img):
        return F.ten_crop(img, self.size, self.vertical_flip)


class RandomRotation(Transform):
    """rotate by an angle drawn uniformly from ``degrees`` ((-d, d) for a number d)."""

    def __init__(self, degrees, interpolation=InterpolationMode.NEAREST, expand: bool = False,
                 center=None, fill=0, rng=None):
        self.degrees = _range(degrees, "RandomRotation", "degrees")
        F._interpolation(interpolation, "RandomRotation", F._GRID_MODES)
        if center is not None and len(center) != 2:
            raise ValueError(f"RandomRotation: center must be (x, y), got {center!r}")
        self.interpolation, self.expand, self.center = interpolation, expand, center
        self.fill, self.rng = fill, rng

    @staticmethod
    def get_params(degrees, rng=None) -> float:
        return float(get_rng(rng).uniform(float(degrees[0]), float(degrees[1])))

    def __call__(self, img):
        angle = self.get_params(self.degrees, self.rng)
        return F.rotate(img, angle, self.interpolation, self.expand, self.center,
                        _channel_fill(self.fill, img))


class RandomAffine(Transform):
    """affine with an angle from ``degrees``, a translation of up to translate * (W, H)
    pixels (rounded), a scale from ``scale`` and shears from ``shear`` (a number s: x in
    (-s, s); 2 values: x's range; 4: x's then y's)."""

    def __init__(self, degrees, translate=None, scale=None, shear=None,
                 interpolation=InterpolationMode.NEAREST, fill=0, center=None, rng=None):
        self.degrees = _range(degrees, "RandomAffine", "degrees")
        if translate is not None and (len(translate) != 2 or
                                      not all(0.0 <= t <= 1.0 for t in translate)):
            raise ValueError(f"RandomAffine: translate must be two fractions in [0, 1], got "
                             f"{translate!r}")
        if scale is not None and (len(scale) != 2 or min(scale) <= 0):
            raise ValueError(f"RandomAffine: scale must be two positive values, got {scale!r}")
        if shear is not None:
            if isinstance(shear, numbers.Real):
                shear = _range(shear, "RandomAffine", "shear")
            elif len(shear) not in (2, 4):
                raise ValueError(f"RandomAffine: shear must be a number or 2 or 4 values, got "
                                 f"{shear!r}")
            else:
                shear = [float(s) for s in shear]
        F._interpolation(interpolation, "RandomAffine", F._GRID_MODES)
        self.translate, self.scale, self.shear = translate, scale, shear
        self.interpolation, self.fill, self.center, self.rng = interpolation, fill, center, rng

    @staticmethod
    def get_params(degrees, translate, scale_ranges, shears, img_size, rng=None):
        """(angle, (tx, ty), scale, (shear_x, shear_y)); img_size is (W, H)."""
        rng = get_rng(rng)
        angle = float(rng.uniform(float(degrees[0]), float(degrees[1])))
        translations = (0, 0)
        if translate is not None:
            max_dx, max_dy = float(translate[0] * img_size[0]), float(translate[1] * img_size[1])
            translations = (int(round(rng.uniform(-max_dx, max_dx))),
                            int(round(rng.uniform(-max_dy, max_dy))))
        scale = 1.0 if scale_ranges is None else float(rng.uniform(*scale_ranges))
        shear_x = shear_y = 0.0
        if shears is not None:
            shear_x = float(rng.uniform(shears[0], shears[1]))
            if len(shears) == 4:
                shear_y = float(rng.uniform(shears[2], shears[3]))
        return angle, translations, scale, (shear_x, shear_y)

    def __call__(self, img):
        _, height, width = F.get_dimensions(img)
        params = self.get_params(self.degrees, self.translate, self.scale, self.shear,
                                 [width, height], self.rng)
        return F.affine(img, *params, interpolation=self.interpolation,
                        fill=_channel_fill(self.fill, img), center=self.center)


class RandomPerspective(Transform):
    """With probability p, perspective from the corners to points moved inwards by up to
    distortion_scale * half the size."""

    def __init__(self, distortion_scale: float = 0.5, p: float = 0.5,
                 interpolation=InterpolationMode.BILINEAR, fill=0, rng=None):
        if not 0 <= distortion_scale <= 1:
            raise ValueError(f"RandomPerspective: distortion_scale must be in [0, 1], got "
                             f"{distortion_scale}")
        F._interpolation(interpolation, "RandomPerspective", F._GRID_MODES)
        self.distortion_scale, self.p = distortion_scale, _check_p(p, "RandomPerspective")
        self.interpolation, self.fill, self.rng = interpolation, fill, rng

    @staticmethod
    def get_params(width: int, height: int, distortion_scale: float, rng=None):
        """(startpoints, endpoints): the corners [top-left, top-right, bottom-right,
        bottom-left] and where they go."""
        rng = get_rng(rng)
        dx, dy = int(distortion_scale * (width // 2)), int(distortion_scale * (height // 2))

        def draw(low, high):
            return int(rng.integers(low, high))
        topleft = [draw(0, dx + 1), draw(0, dy + 1)]
        topright = [draw(width - dx - 1, width), draw(0, dy + 1)]
        botright = [draw(width - dx - 1, width), draw(height - dy - 1, height)]
        botleft = [draw(0, dx + 1), draw(height - dy - 1, height)]
        startpoints = [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]]
        return startpoints, [topleft, topright, botright, botleft]

    def __call__(self, img):
        rng = get_rng(self.rng)
        if rng.random() >= self.p:
            return img
        _, height, width = F.get_dimensions(img)
        start, end = self.get_params(width, height, self.distortion_scale, rng)
        return F.perspective(img, start, end, self.interpolation, _channel_fill(self.fill, img))


class ElasticTransform(Transform):
    """elastic_transform by a random displacement: uniform [-1, 1) noise per pixel, blurred by
    a Gaussian of ``sigma`` (kernel 8 sigma + 1, odd) and scaled by ``alpha`` / size."""

    def __init__(self, alpha=50.0, sigma=5.0, interpolation=InterpolationMode.BILINEAR,
                 fill=0, rng=None):
        alpha = [float(alpha)] * 2 if isinstance(alpha, numbers.Real) else list(alpha)
        sigma = [float(sigma)] * 2 if isinstance(sigma, numbers.Real) else list(sigma)
        if len(alpha) != 2 or len(sigma) != 2 or min(sigma) < 0:
            raise ValueError(f"ElasticTransform: alpha and sigma must be numbers or pairs "
                             f"(sigma non-negative), got {alpha!r} and {sigma!r}")
        F._interpolation(interpolation, "ElasticTransform", F._GRID_MODES)
        self.alpha, self.sigma, self.interpolation = alpha, sigma, interpolation
        self.fill, self.rng = fill, rng

    @staticmethod
    def get_params(alpha, sigma, size, rng=None) -> np.ndarray:
        """The displacement (1, H, W, 2) for an image of size (H, W)."""
        rng = get_rng(rng)
        axes = []
        for k in range(2):  # dx scaled by the width, dy by the height
            d = rng.random((1, 1) + tuple(size)) * 2 - 1
            if sigma[k] > 0:
                kernel = int(8 * sigma[k] + 1)
                kernel += 1 - kernel % 2
                d = F.gaussian_blur(d, [kernel, kernel], list(sigma))
            axes.append(d * alpha[k] / size[1 - k])
        return np.concatenate(axes, 1).transpose(0, 2, 3, 1)

    def __call__(self, img):
        _, height, width = F.get_dimensions(img)
        displacement = self.get_params(self.alpha, self.sigma, [height, width], self.rng)
        return F.elastic_transform(img, displacement, self.interpolation,
                                   _channel_fill(self.fill, img))


# ---------------------------------------------------------------------------------------------
# colour

class ColorJitter(Transform):
    """Brightness, contrast, saturation (factors around 1) and hue (a shift around 0) drawn
    uniformly from their ranges, applied in a random order."""

    def __init__(self, brightness=0, contrast=0, saturation=0, hue=0, rng=None):
        def check(value, what, center=1.0, bound=(0, math.inf), clip=True):
            values = _range(value, "ColorJitter", what, center, bound, clip)
            return None if values[0] == values[1] == center else values
        self.brightness = check(brightness, "brightness")
        self.contrast = check(contrast, "contrast")
        self.saturation = check(saturation, "saturation")
        self.hue = check(hue, "hue", 0.0, (-0.5, 0.5), False)
        self.rng = rng

    @staticmethod
    def get_params(brightness, contrast, saturation, hue, rng=None):
        """(order, brightness, contrast, saturation, hue factors); None where not set."""
        rng = get_rng(rng)
        order = rng.permutation(4)
        factors = [None if r is None else float(rng.uniform(r[0], r[1]))
                   for r in (brightness, contrast, saturation, hue)]
        return (order, *factors)

    def __call__(self, img):
        order, *factors = self.get_params(self.brightness, self.contrast, self.saturation,
                                          self.hue, self.rng)
        functions = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
        for index in order:
            if factors[index] is not None:
                img = functions[index](img, factors[index])
        return img


class Grayscale(Transform):
    """rgb_to_grayscale with 1 or 3 output channels."""

    def __init__(self, num_output_channels: int = 1):
        if num_output_channels not in (1, 3):
            raise ValueError(f"Grayscale: num_output_channels must be 1 or 3, got "
                             f"{num_output_channels}")
        self.num_output_channels = num_output_channels

    def __call__(self, img):
        return F.rgb_to_grayscale(img, self.num_output_channels)


class RandomGrayscale(_RandomOne):
    """Grayscale with probability p (as many output channels as input ones)."""

    def __init__(self, p: float = 0.1, rng=None):
        super().__init__(p, rng)

    def _apply(self, img):
        return F.rgb_to_grayscale(img, F.get_dimensions(img)[0])


class GaussianBlur(Transform):
    """gaussian_blur with sigma drawn uniformly from ``sigma`` ((s, s) for a number);
    kernel_size is (kx, ky), as torchvision passes it on."""

    def __init__(self, kernel_size, sigma=(0.1, 2.0), rng=None):
        self.kernel_size = _pair(kernel_size, "GaussianBlur", "kernel_size")
        if any(k % 2 == 0 for k in self.kernel_size):
            raise ValueError(f"GaussianBlur: kernel_size must be odd, got {kernel_size!r}")
        if isinstance(sigma, numbers.Real):
            if sigma <= 0:
                raise ValueError(f"GaussianBlur: sigma must be positive, got {sigma}")
            sigma = (float(sigma), float(sigma))
        elif len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f"GaussianBlur: sigma must be positive and (min, max), got "
                             f"{sigma!r}")
        self.sigma, self.rng = tuple(float(s) for s in sigma), rng

    @staticmethod
    def get_params(sigma_min: float, sigma_max: float, rng=None) -> float:
        return float(get_rng(rng).uniform(sigma_min, sigma_max))

    def __call__(self, img):
        sigma = self.get_params(self.sigma[0], self.sigma[1], self.rng)
        return F.gaussian_blur(img, self.kernel_size, [sigma, sigma])


class RandomErasing(Transform):
    """With probability p, set a random box (area fraction ``scale``, aspect ``ratio``) to
    ``value`` (a number, one per channel, or "random": standard normal noise)."""

    def __init__(self, p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0,
                 inplace: bool = False, rng=None):
        if not (0 <= scale[0] <= scale[1] <= 1) or not (0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomErasing: scale must be increasing in [0, 1] and ratio "
                             f"increasing positive, got scale={scale}, ratio={ratio}")
        if isinstance(value, str) and value != "random":
            raise ValueError(f"RandomErasing: value must be a number, a sequence or 'random', "
                             f"got {value!r}")
        self.p, self.scale, self.ratio = _check_p(p, "RandomErasing"), scale, ratio
        self.value, self.inplace, self.rng = value, inplace, rng

    @staticmethod
    def get_params(img, scale, ratio, value=None, rng=None):
        """(i, j, h, w, v) of the box; v None draws normal noise (C, h, w)."""
        data = _array(img, "RandomErasing", 3)
        channels, img_h, img_w = data.shape[-3:]
        rng = get_rng(rng)
        area = img_h * img_w
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            erase_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(*log_ratio))
            h = int(round(math.sqrt(erase_area * aspect)))
            w = int(round(math.sqrt(erase_area / aspect)))
            if not (h < img_h and w < img_w):
                continue
            if value is None:
                v = rng.standard_normal((channels, h, w)).astype(np.float32)
            else:
                v = np.asarray(value, dtype=np.float64)[:, None, None]
            return int(rng.integers(0, img_h - h + 1)), int(rng.integers(0, img_w - w + 1)), \
                h, w, v
        return 0, 0, img_h, img_w, data

    def __call__(self, img):
        rng = get_rng(self.rng)
        if rng.random() >= self.p:
            return img
        data = _array(img, "RandomErasing", 3)
        value = None if isinstance(self.value, str) else \
            [float(self.value)] if isinstance(self.value, numbers.Real) else list(self.value)
        if value is not None and len(value) not in (1, data.shape[-3]):
            raise ValueError(f"RandomErasing: value must be 1 or {data.shape[-3]} numbers (one "
                             f"per channel), got {self.value!r}")
        i, j, h, w, v = self.get_params(img, self.scale, self.ratio, value, rng)
        return F.erase(img, i, j, h, w, v, self.inplace)


class RandomInvert(_RandomOne):
    """invert with probability p."""

    def _apply(self, img):
        return F.invert(img)


class RandomPosterize(_RandomOne):
    """posterize to ``bits`` with probability p."""

    def __init__(self, bits: int, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        self.bits = bits

    def _apply(self, img):
        return F.posterize(img, self.bits)


class RandomSolarize(_RandomOne):
    """solarize above ``threshold`` with probability p."""

    def __init__(self, threshold: float, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        self.threshold = threshold

    def _apply(self, img):
        return F.solarize(img, self.threshold)


class RandomAdjustSharpness(_RandomOne):
    """adjust_sharpness by ``sharpness_factor`` with probability p."""

    def __init__(self, sharpness_factor: float, p: float = 0.5, rng=None):
        super().__init__(p, rng)
        if sharpness_factor < 0:
            raise ValueError(f"RandomAdjustSharpness: sharpness_factor must be non-negative, "
                             f"got {sharpness_factor}")
        self.sharpness_factor = sharpness_factor

    def _apply(self, img):
        return F.adjust_sharpness(img, self.sharpness_factor)


class RandomAutocontrast(_RandomOne):
    """autocontrast with probability p."""

    def _apply(self, img):
        return F.autocontrast(img)


class RandomEqualize(_RandomOne):
    """equalize with probability p."""

    def _apply(self, img):
        return F.equalize(img)
