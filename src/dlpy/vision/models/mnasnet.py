"""torchvision's MNASNet (Tan et al. 2018, the B1 variant): a stem, six stacks of inverted
residuals (ReLU, no squeeze-and-excitation), BatchNorm momentum 3e-4; module names as
torchvision (layers.<i>, layers.<stack>.<block>.layers.<j>, classifier.1)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path

_BN_MOMENTUM = 1 - 0.9997


class _InvertedResidual(nn.Module):
    """1x1 expansion, depthwise kxk (stride), 1x1 projection, each with BatchNorm; + x when
    the shape is kept."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int,
                 expansion_factor: int, bn_momentum: float = 0.1, rng=None):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MNASNet: stride must be 1 or 2, got {stride}")
        if kernel_size not in (3, 5):
            raise ValueError(f"MNASNet: kernel_size must be 3 or 5, got {kernel_size}")
        mid = in_ch * expansion_factor
        self.apply_residual = in_ch == out_ch and stride == 1
        self.layers = nn.Sequential(
            nn.Conv2d(in_ch, mid, 1, bias=False, rng=rng),
            nn.BatchNorm2d(mid, momentum=bn_momentum), nn.ReLU(),
            nn.Conv2d(mid, mid, kernel_size, padding=kernel_size // 2, stride=stride,
                      groups=mid, bias=False, rng=rng),
            nn.BatchNorm2d(mid, momentum=bn_momentum), nn.ReLU(),
            nn.Conv2d(mid, out_ch, 1, bias=False, rng=rng),
            nn.BatchNorm2d(out_ch, momentum=bn_momentum))

    def forward(self, x):
        return self.layers(x) + x if self.apply_residual else self.layers(x)


def _stack(in_ch, out_ch, kernel_size, stride, exp_factor, repeats, bn_momentum, rng):
    return nn.Sequential(*[
        _InvertedResidual(in_ch if i == 0 else out_ch, out_ch, kernel_size,
                          stride if i == 0 else 1, exp_factor, bn_momentum, rng)
        for i in range(repeats)])


def _round_to_multiple_of(val: float, divisor: int, round_up_bias: float = 0.9) -> int:
    """Round to a multiple of divisor, up unless that is more than 10% above val."""
    new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
    return new_val if new_val >= round_up_bias * val else new_val + divisor


def _get_depths(alpha: float) -> list[int]:
    return [_round_to_multiple_of(d * alpha, 8) for d in (32, 16, 24, 40, 80, 96, 192, 320)]


class MNASNet(nn.Module):
    """torchvision.models.MNASNet(alpha, num_classes, dropout): x (N, 3, H, W) -> (N,
    num_classes); widths scaled by alpha. Initialised as torchvision: Kaiming-normal
    (fan_out) convolutions, Kaiming-uniform (fan_out, sigmoid gain) Linear, zero bias."""

    def __init__(self, alpha: float, num_classes: int = 1000, dropout: float = 0.2, rng=None):
        super().__init__()
        if not alpha > 0.0:
            raise ValueError(f"MNASNet: alpha must be > 0, got {alpha}")
        self.alpha, self.num_classes = alpha, num_classes
        d = _get_depths(alpha)
        m = _BN_MOMENTUM
        self.layers = nn.Sequential(
            nn.Conv2d(3, d[0], 3, padding=1, stride=2, bias=False, rng=rng),
            nn.BatchNorm2d(d[0], momentum=m), nn.ReLU(),
            nn.Conv2d(d[0], d[0], 3, padding=1, groups=d[0], bias=False, rng=rng),
            nn.BatchNorm2d(d[0], momentum=m), nn.ReLU(),
            nn.Conv2d(d[0], d[1], 1, bias=False, rng=rng), nn.BatchNorm2d(d[1], momentum=m),
            _stack(d[1], d[2], 3, 2, 3, 3, m, rng), _stack(d[2], d[3], 5, 2, 3, 3, m, rng),
            _stack(d[3], d[4], 5, 2, 6, 3, m, rng), _stack(d[4], d[5], 3, 1, 6, 2, m, rng),
            _stack(d[5], d[6], 5, 2, 6, 4, m, rng), _stack(d[6], d[7], 3, 1, 6, 1, m, rng),
            nn.Conv2d(d[7], 1280, 1, bias=False, rng=rng), nn.BatchNorm2d(1280, momentum=m),
            nn.ReLU())
        self.classifier = nn.Sequential(nn.Dropout(dropout, rng=rng),
                                        nn.Linear(1280, num_classes, rng=rng))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                     generator=rng)
            elif isinstance(module, nn.Linear):
                init.kaiming_uniform_(module.weight, mode="fan_out", nonlinearity="sigmoid",
                                      generator=rng)
                init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(F.mean(self.layers(x), axis=(2, 3)))


def _mnasnet(alpha: float, name: str, weights, num_classes: int, rng, **kwargs) -> MNASNet:
    path = weights_path(weights, name)
    return load_weights(MNASNet(alpha, num_classes=num_classes, rng=rng, **kwargs), path)


def mnasnet0_5(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MNASNet:
    """MNASNet with depth multiplier 0.5 (2.2 M parameters)."""
    return _mnasnet(0.5, "mnasnet0_5", weights, num_classes, rng, **kwargs)


def mnasnet0_75(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MNASNet:
    """MNASNet with depth multiplier 0.75 (3.2 M parameters)."""
    return _mnasnet(0.75, "mnasnet0_75", weights, num_classes, rng, **kwargs)


def mnasnet1_0(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MNASNet:
    """MNASNet with depth multiplier 1.0 (4.4 M parameters)."""
    return _mnasnet(1.0, "mnasnet1_0", weights, num_classes, rng, **kwargs)


def mnasnet1_3(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> MNASNet:
    """MNASNet with depth multiplier 1.3 (6.3 M parameters)."""
    return _mnasnet(1.3, "mnasnet1_3", weights, num_classes, rng, **kwargs)
