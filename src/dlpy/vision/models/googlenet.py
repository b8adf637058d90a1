"""torchvision's GoogLeNet (Szegedy et al. 2014, Inception v1 with batch norm): nine Inception
blocks, two auxiliary classifiers used while training; module names as torchvision (conv1,
inception3a.branch2.1.conv, aux1.fc2, ...)."""

from __future__ import annotations

from collections import namedtuple

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.vision.models._weights import load_weights, weights_path

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """Conv2d without bias, BatchNorm2d (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, rng=None, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, rng=rng, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def transform_input(x):
    """ImageNet-normalised input -> the (x - 0.5) / 0.5 scaling the ported weights expect."""
    channels = [F.unsqueeze(x[:, c], 1) * (std / 0.5) + (mean - 0.5) / 0.5
                for c, (mean, std) in enumerate(((0.485, 0.229), (0.456, 0.224),
                                                 (0.406, 0.225)))]
    return F.concat(channels, axis=1)


class Inception(nn.Module):
    """Four branches concatenated: 1x1; 1x1 then 3x3; 1x1 then 3x3 (torchvision's "5x5");
    3x3 max pool then 1x1."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, rng=None):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1, rng=rng)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1, rng=rng),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1, rng=rng))
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1, rng=rng),
            BasicConv2d(ch5x5red, ch5x5, kernel_size=3, padding=1, rng=rng))
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1, rng=rng))

    def forward(self, x):
        return F.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)],
                        axis=1)


class InceptionAux(nn.Module):
    """Adaptive average pool to 4x4, 1x1 conv to 128, fc1 (2048 -> 1024), ReLU, dropout,
    fc2."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7, rng=None):
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1, rng=rng)
        self.fc1 = nn.Linear(2048, 1024, rng=rng)
        self.fc2 = nn.Linear(1024, num_classes, rng=rng)
        self.dropout = nn.Dropout(dropout, rng=rng)

    def forward(self, x):
        x = F.flatten(self.conv(F.adaptive_avg_pool2d(x, (4, 4))), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    """torchvision.models.GoogLeNet(num_classes, aux_logits, transform_input, init_weights,
    dropout, dropout_aux): x (N, 3, H, W) -> (N, num_classes); in training mode with
    aux_logits, a GoogLeNetOutputs(logits, aux_logits2, aux_logits1). Initialised as
    torchvision: truncated N(0, 0.01) convolutions and Linear layers."""

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, init_weights: bool | None = None,
                 dropout: float = 0.2, dropout_aux: float = 0.7, rng=None):
        super().__init__()
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3, rng=rng)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1, rng=rng)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1, rng=rng)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32, rng=rng)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64, rng=rng)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64, rng=rng)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64, rng=rng)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64, rng=rng)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64, rng=rng)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128, rng=rng)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128, rng=rng)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128, rng=rng)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes, dropout_aux, rng=rng)
            self.aux2 = InceptionAux(528, num_classes, dropout_aux, rng=rng)
        else:
            self.aux1 = self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.fc = nn.Linear(1024, num_classes, rng=rng)
        if init_weights is None or init_weights:
            for module in self.modules():
                if isinstance(module, (nn.Conv2d, nn.Linear)):
                    init.trunc_normal_(module.weight, 0.0, 0.01, -2.0, 2.0, generator=rng)

    def forward(self, x):
        if self.transform_input:
            x = transform_input(x)
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(F.flatten(self.avgpool(x), 1)))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> GoogLeNet:
    """GoogLeNet (6.6 M parameters at 1000 classes, 13 M with the auxiliary classifiers).
    torchvision's pretrained weights come with transform_input=True, aux_logits=False: pass
    those with a converted ``weights`` file."""
    path = weights_path(weights, "googlenet")
    return load_weights(GoogLeNet(num_classes=num_classes, rng=rng, **kwargs), path)
