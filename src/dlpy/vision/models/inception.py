"""torchvision's Inception v3 (Szegedy et al. 2015): factorised 7x7 and 3x3 convolutions in
Mixed_5b ... Mixed_7c, an auxiliary classifier after Mixed_6e used while training; module
names as torchvision (Conv2d_1a_3x3.conv, Mixed_6b.branch7x7_2.bn, AuxLogits.fc, ...). Inputs
of at least 75x75 (299x299 for the auxiliary classifier)."""

from __future__ import annotations

from collections import namedtuple

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.models.googlenet import BasicConv2d, transform_input

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])


def _cat(*branches):
    return F.concat(list(branches), axis=1)


class InceptionA(nn.Module):
    """1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg pool, 1x1 (pool_features)."""

    def __init__(self, in_channels: int, pool_features: int, rng=None):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1, rng=rng)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1, rng=rng)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2, rng=rng)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1, rng=rng)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1, rng=rng)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1, rng=rng)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1, rng=rng)

    def forward(self, x):
        return _cat(self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                    self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                    self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1)))


class InceptionB(nn.Module):
    """Grid reduction: 3x3 stride 2 | 1x1, 3x3, 3x3 stride 2 | 3x3 max pool stride 2."""

    def __init__(self, in_channels: int, rng=None):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2, rng=rng)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1, rng=rng)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1, rng=rng)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2, rng=rng)

    def forward(self, x):
        return _cat(self.branch3x3(x),
                    self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                    F.max_pool2d(x, 3, stride=2))


class InceptionC(nn.Module):
    """1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 | avg pool, 1x1 (channels_7x7 inside)."""

    def __init__(self, in_channels: int, channels_7x7: int, rng=None):
        super().__init__()
        c7 = channels_7x7
        row, col = {"kernel_size": (1, 7), "padding": (0, 3)}, \
            {"kernel_size": (7, 1), "padding": (3, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1, rng=rng)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1, rng=rng)
        self.branch7x7_2 = BasicConv2d(c7, c7, rng=rng, **row)
        self.branch7x7_3 = BasicConv2d(c7, 192, rng=rng, **col)
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1, rng=rng)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, rng=rng, **col)
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, rng=rng, **row)
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, rng=rng, **col)
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, rng=rng, **row)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1, rng=rng)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            dbl = layer(dbl)
        return _cat(self.branch1x1(x), b7, dbl,
                    self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1)))


class InceptionD(nn.Module):
    """Grid reduction: 1x1, 3x3 stride 2 | 1x1, 1x7, 7x1, 3x3 stride 2 | max pool stride 2."""

    def __init__(self, in_channels: int, rng=None):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1, rng=rng)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2, rng=rng)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1, rng=rng)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3), rng=rng)
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0), rng=rng)
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2, rng=rng)

    def forward(self, x):
        b7 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return _cat(self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2))


class InceptionE(nn.Module):
    """1x1 | 1x1, (1x3 | 3x1) | 1x1, 3x3, (1x3 | 3x1) | avg pool, 1x1."""

    def __init__(self, in_channels: int, rng=None):
        super().__init__()
        row, col = {"kernel_size": (1, 3), "padding": (0, 1)}, \
            {"kernel_size": (3, 1), "padding": (1, 0)}
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1, rng=rng)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1, rng=rng)
        self.branch3x3_2a = BasicConv2d(384, 384, rng=rng, **row)
        self.branch3x3_2b = BasicConv2d(384, 384, rng=rng, **col)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1, rng=rng)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1, rng=rng)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, rng=rng, **row)
        self.branch3x3dbl_3b = BasicConv2d(384, 384, rng=rng, **col)
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1, rng=rng)

    def forward(self, x):
        b3 = self.branch3x3_1(x)
        dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return _cat(self.branch1x1(x), _cat(self.branch3x3_2a(b3), self.branch3x3_2b(b3)),
                    _cat(self.branch3x3dbl_3a(dbl), self.branch3x3dbl_3b(dbl)),
                    self.branch_pool(F.avg_pool2d(x, 3, stride=1, padding=1)))


class InceptionAux(nn.Module):
    """5x5 average pool stride 3, 1x1 conv to 128, 5x5 conv to 768, global pool, fc."""

    def __init__(self, in_channels: int, num_classes: int, rng=None):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1, rng=rng)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5, rng=rng)
        self.fc = nn.Linear(768, num_classes, rng=rng)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, stride=3)))
        return self.fc(F.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1))


class Inception3(nn.Module):
    """torchvision.models.Inception3(num_classes, aux_logits, transform_input, init_weights,
    dropout): x (N, 3, H, W) -> (N, num_classes); in training mode with aux_logits, an
    InceptionOutputs(logits, aux_logits). Initialised as torchvision: truncated N(0, 0.1)
    weights, N(0, 0.001) for AuxLogits.fc."""

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, init_weights: bool | None = None,
                 dropout: float = 0.5, rng=None):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2, rng=rng)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3, rng=rng)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1, rng=rng)
        self.maxpool1 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1, rng=rng)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3, rng=rng)
        self.maxpool2 = nn.MaxPool2d(3, stride=2)
        self.Mixed_5b = InceptionA(192, 32, rng=rng)
        self.Mixed_5c = InceptionA(256, 64, rng=rng)
        self.Mixed_5d = InceptionA(288, 64, rng=rng)
        self.Mixed_6a = InceptionB(288, rng=rng)
        self.Mixed_6b = InceptionC(768, 128, rng=rng)
        self.Mixed_6c = InceptionC(768, 160, rng=rng)
        self.Mixed_6d = InceptionC(768, 160, rng=rng)
        self.Mixed_6e = InceptionC(768, 192, rng=rng)
        self.AuxLogits = InceptionAux(768, num_classes, rng=rng) if aux_logits else None
        self.Mixed_7a = InceptionD(768, rng=rng)
        self.Mixed_7b = InceptionE(1280, rng=rng)
        self.Mixed_7c = InceptionE(2048, rng=rng)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.fc = nn.Linear(2048, num_classes, rng=rng)
        if init_weights is None or init_weights:
            aux_fc = self.AuxLogits.fc if aux_logits else None
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    std = 0.001 if module is aux_fc else 0.1
                    init.trunc_normal_(module.weight, 0.0, std, -2.0, 2.0, generator=rng)

    def forward(self, x):
        if self.transform_input:
            x = transform_input(x)
        for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1",
                     "Conv2d_3b_1x1", "Conv2d_4a_3x3", "maxpool2", "Mixed_5b", "Mixed_5c",
                     "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e"):
            x = getattr(self, name)(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(F.flatten(self.dropout(self.avgpool(x)), 1))
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x


def inception_v3(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> Inception3:
    """Inception v3 (27.2 M parameters with the auxiliary classifier) for 299x299 images.
    torchvision's pretrained weights come with transform_input=True: pass it with a converted
    ``weights`` file."""
    path = weights_path(weights, "inception_v3")
    return load_weights(Inception3(num_classes=num_classes, rng=rng, **kwargs), path)
