"""torchvision's ResNet (He et al. 2015): BasicBlock (resnet18/34) and Bottleneck
(resnet50/101/152, stride on the 3x3 convolution, "ResNet v1.5"), module names as torchvision."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, groups: int = 1,
            rng=None) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, groups=groups,
                     bias=False, rng=rng)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, rng=None) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False, rng=rng)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)): two 3x3 convolutions."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64, rng=None):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f"BasicBlock: supports only groups=1 and base_width=64, got "
                             f"groups={groups}, base_width={base_width}")
        self.conv1 = conv3x3(inplanes, planes, stride, rng=rng)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes, rng=rng)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce), 3x3 (stride, groups), 1x1 (expand x4), plus the shortcut."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64, rng=None):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width, rng=rng)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, rng=rng)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion, rng=rng)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision.models.ResNet(block, layers, num_classes, zero_init_residual, groups,
    width_per_group): x (N, 3, H, W) -> logits (N, num_classes); any H, W >= 32 (the adaptive
    average pool makes the head size-independent). Initialised as torchvision: Kaiming-normal
    (fan_out) convolutions, BatchNorm weight 1 and bias 0, ``rng`` the generator."""

    def __init__(self, block, layers, num_classes: int = 1000, zero_init_residual: bool = False,
                 groups: int = 1, width_per_group: int = 64, rng=None):
        super().__init__()
        if block not in (BasicBlock, Bottleneck):
            raise TypeError(f"ResNet: block must be BasicBlock or Bottleneck, got {block!r}")
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"ResNet: layers must be 4 positive block counts, got {layers!r}")
        self.config = {"block": block.__name__, "layers": [int(n) for n in layers],
                       "num_classes": num_classes, "groups": groups,
                       "width_per_group": width_per_group}
        self.inplanes, self.groups, self.base_width = 64, groups, width_per_group
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False, rng=rng)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1, rng)
        self.layer2 = self._make_layer(block, 128, layers[1], 2, rng)
        self.layer3 = self._make_layer(block, 256, layers[2], 2, rng)
        self.layer4 = self._make_layer(block, 512, layers[3], 2, rng)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu",
                                     generator=rng)
        if zero_init_residual:  # each residual branch starts as the identity
            for module in self.modules():
                last = getattr(module, "bn3" if isinstance(module, Bottleneck) else "bn2",
                               None) if isinstance(module, (BasicBlock, Bottleneck)) else None
                if last is not None:
                    init.zeros_(last.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int, rng) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride, rng=rng),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        rng=rng)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups,
                                base_width=self.base_width, rng=rng))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(F.flatten(self.avgpool(x), 1))


def _resnet(name: str, block, layers, weights, num_classes: int, rng, **kwargs) -> ResNet:
    path = weights_path(weights, name)
    return load_weights(ResNet(block, layers, num_classes=num_classes, rng=rng, **kwargs), path)


def resnet18(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNet-18: BasicBlock, [2, 2, 2, 2] (11.7 M parameters at 1000 classes)."""
    return _resnet("resnet18", BasicBlock, [2, 2, 2, 2], weights, num_classes, rng, **kwargs)


def resnet34(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNet-34: BasicBlock, [3, 4, 6, 3]."""
    return _resnet("resnet34", BasicBlock, [3, 4, 6, 3], weights, num_classes, rng, **kwargs)


def resnet50(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNet-50: Bottleneck, [3, 4, 6, 3]."""
    return _resnet("resnet50", Bottleneck, [3, 4, 6, 3], weights, num_classes, rng, **kwargs)


def resnet101(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNet-101: Bottleneck, [3, 4, 23, 3]."""
    return _resnet("resnet101", Bottleneck, [3, 4, 23, 3], weights, num_classes, rng, **kwargs)


def resnet152(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> ResNet:
    """ResNet-152: Bottleneck, [3, 8, 36, 3]."""
    return _resnet("resnet152", Bottleneck, [3, 8, 36, 3], weights, num_classes, rng, **kwargs)
