"""torchvision's ShuffleNetV2 (Ma et al. 2018): channel split, a depthwise branch, concatenation
and a channel shuffle; module names as torchvision (stage<i>.<j>.branch<k>.<l>)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path


def _depthwise(channels: int, stride: int, rng) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, 3, stride=stride, padding=1, groups=channels,
                     bias=False, rng=rng)


class InvertedResidual(nn.Module):
    """Stride 1: half the channels pass, half go through branch2; stride > 1: both branches see
    all of x. The halves are concatenated and shuffled in 2 groups."""

    def __init__(self, inp: int, oup: int, stride: int, rng=None):
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError(f"InvertedResidual: stride must be 1, 2 or 3, got {stride}")
        self.stride = stride
        branch_features = oup // 2
        if stride == 1 and inp != branch_features << 1:
            raise ValueError(f"InvertedResidual: at stride 1 inp must be 2 * (oup // 2), got "
                             f"inp {inp}, oup {oup}")
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(inp, stride, rng), nn.BatchNorm2d(inp),
                nn.Conv2d(inp, branch_features, 1, bias=False, rng=rng),
                nn.BatchNorm2d(branch_features), nn.ReLU())
        else:
            self.branch1 = nn.Sequential()
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else branch_features, branch_features, 1, bias=False,
                      rng=rng),
            nn.BatchNorm2d(branch_features), nn.ReLU(),
            _depthwise(branch_features, stride, rng), nn.BatchNorm2d(branch_features),
            nn.Conv2d(branch_features, branch_features, 1, bias=False, rng=rng),
            nn.BatchNorm2d(branch_features), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = F.chunk(x, 2, dim=1)
            out = F.cat([x1, self.branch2(x2)], 1)
        else:
            out = F.cat([self.branch1(x), self.branch2(x)], 1)
        return F.channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """torchvision.models.ShuffleNetV2(stages_repeats (3), stages_out_channels (5),
    num_classes): x (N, 3, H, W) -> (N, num_classes). PyTorch's default initialisation
    (torchvision sets none)."""

    def __init__(self, stages_repeats, stages_out_channels, num_classes: int = 1000, rng=None):
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError(f"ShuffleNetV2: stages_repeats must be 3 positive ints, got "
                             f"{stages_repeats!r}")
        if len(stages_out_channels) != 5:
            raise ValueError(f"ShuffleNetV2: stages_out_channels must be 5 positive ints, got "
                             f"{stages_out_channels!r}")
        self._stage_out_channels = list(stages_out_channels)
        channels = stages_out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(3, channels, 3, stride=2, padding=1, bias=False,
                                             rng=rng), nn.BatchNorm2d(channels), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (repeats, out) in enumerate(zip(stages_repeats, stages_out_channels[1:4])):
            blocks = [InvertedResidual(channels, out, 2, rng)]
            blocks += [InvertedResidual(out, out, 1, rng) for _ in range(repeats - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*blocks))
            channels = out
        last = stages_out_channels[-1]
        self.conv5 = nn.Sequential(nn.Conv2d(channels, last, 1, bias=False, rng=rng),
                                   nn.BatchNorm2d(last), nn.ReLU())
        self.fc = nn.Linear(last, num_classes, rng=rng)

    def forward(self, x):
        x = self.stage4(self.stage3(self.stage2(self.maxpool(self.conv1(x)))))
        return self.fc(self.conv5(x).mean(dim=(2, 3)))


def _shufflenet(name, out_channels, weights, num_classes, rng, **kwargs) -> ShuffleNetV2:
    path = weights_path(weights, name)
    return load_weights(ShuffleNetV2([4, 8, 4], out_channels, num_classes=num_classes, rng=rng,
                                     **kwargs), path)


def shufflenet_v2_x0_5(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> ShuffleNetV2:
    """ShuffleNetV2 0.5x: widths [24, 48, 96, 192, 1024] (1.4 M parameters)."""
    return _shufflenet("shufflenet_v2_x0_5", [24, 48, 96, 192, 1024], weights, num_classes, rng,
                       **kwargs)


def shufflenet_v2_x1_0(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> ShuffleNetV2:
    """ShuffleNetV2 1.0x: widths [24, 116, 232, 464, 1024]."""
    return _shufflenet("shufflenet_v2_x1_0", [24, 116, 232, 464, 1024], weights, num_classes,
                       rng, **kwargs)


def shufflenet_v2_x1_5(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> ShuffleNetV2:
    """ShuffleNetV2 1.5x: widths [24, 176, 352, 704, 1024]."""
    return _shufflenet("shufflenet_v2_x1_5", [24, 176, 352, 704, 1024], weights, num_classes,
                       rng, **kwargs)


def shufflenet_v2_x2_0(*, weights=None, num_classes: int = 1000, rng=None,
                       **kwargs) -> ShuffleNetV2:
    """ShuffleNetV2 2.0x: widths [24, 244, 488, 976, 2048]."""
    return _shufflenet("shufflenet_v2_x2_0", [24, 244, 488, 976, 2048], weights, num_classes,
                       rng, **kwargs)
