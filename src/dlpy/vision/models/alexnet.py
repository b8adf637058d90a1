"""torchvision's AlexNet (Krizhevsky et al. 2012, the one-GPU variant of "One weird trick"):
five convolutions and three Linear layers, module names as torchvision (features.<i>,
classifier.<i>)."""

from __future__ import annotations

from dlpy import functional as F
from dlpy import nn
from dlpy.vision.models._weights import load_weights, weights_path


class AlexNet(nn.Module):
    """torchvision.models.AlexNet(num_classes, dropout): x (N, 3, H, W) -> (N, num_classes),
    H, W >= 63; an adaptive average pool to 6x6 before the classifier. PyTorch's default
    initialisation (torchvision sets none)."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, rng=None):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2, rng=rng), nn.ReLU(),
            nn.MaxPool2d(3, stride=2),
            nn.Conv2d(64, 192, 5, padding=2, rng=rng), nn.ReLU(), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(192, 384, 3, padding=1, rng=rng), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1, rng=rng), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout, rng=rng), nn.Linear(256 * 6 * 6, 4096, rng=rng), nn.ReLU(),
            nn.Dropout(dropout, rng=rng), nn.Linear(4096, 4096, rng=rng), nn.ReLU(),
            nn.Linear(4096, num_classes, rng=rng),
        )

    def forward(self, x):
        return self.classifier(F.flatten(self.avgpool(self.features(x)), 1))


def alexnet(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> AlexNet:
    """AlexNet (61.1 M parameters at 1000 classes)."""
    path = weights_path(weights, "alexnet")
    return load_weights(AlexNet(num_classes=num_classes, rng=rng, **kwargs), path)
