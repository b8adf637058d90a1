"""A small U-Net segmenting synthetic shapes: every pixel labelled background, disc or square.

Each image holds a few filled discs and squares of random size, place and brightness, plus
noise; the target is the (N, H, W) map of class indices. The network is a two-level U-Net
(double 3x3 convolutions with BatchNorm, max-pool down, transposed convolution up, skip
connections by concatenation) trained with ``nn.CrossEntropyLoss`` on the (N, C, H, W)
logits plus a soft Dice loss, Adam and a cosine schedule. Reports pixel accuracy and the mean
intersection over union of each class on held-out images.

    python unet_segmentation.py --epochs 8 --size 32
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

parser = argparse.ArgumentParser(description="U-Net on synthetic shapes")
parser.add_argument("--size", type=int, default=32, help="image side (default 32)")
parser.add_argument("--train-images", type=int, default=256, help="training images")
parser.add_argument("--test-images", type=int, default=64, help="held-out images")
parser.add_argument("--width", type=int, default=8, help="channels of the first level")
parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
parser.add_argument("--epochs", type=int, default=8, help="epochs (default 8)")
parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
args = parser.parse_args()
torch.manual_seed(args.seed)
CLASSES = 3  # background, disc, square


class Shapes(Dataset):
    """Images (1, size, size) and their label maps (size, size), made once from a seed."""

    def __init__(self, count: int, size: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        ys = torch.arange(size).view(size, 1).float()
        xs = torch.arange(size).view(1, size).float()
        self.images = torch.zeros(count, 1, size, size)
        self.labels = torch.zeros(count, size, size, dtype=torch.long)
        for i in range(count):
            for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
                kind = int(torch.randint(1, CLASSES, (1,), generator=g))
                r = float(torch.randint(3, size // 4 + 1, (1,), generator=g))
                cy, cx = (float(v) for v in torch.randint(0, size, (2,), generator=g))
                if kind == 1:
                    mask = (ys - cy) ** 2 + (xs - cx) ** 2 <= r ** 2
                else:
                    mask = ((ys - cy).abs() <= r) & ((xs - cx).abs() <= r)
                brightness = 0.5 + 0.5 * float(torch.rand(1, generator=g))
                self.images[i, 0][mask] = brightness
                self.labels[i][mask] = kind
        self.images += 0.1 * torch.randn(self.images.shape, generator=g)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, width: int, classes: int):
        super().__init__()
        self.enc1 = DoubleConv(1, width)
        self.enc2 = DoubleConv(width, 2 * width)
        self.bottom = DoubleConv(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = DoubleConv(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = DoubleConv(2 * width, width)
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return self.head(d1)  # (N, classes, H, W) logits


def dice_loss(logits, labels, eps: float = 1.0):
    """1 - the mean soft Dice coefficient over the classes."""
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(labels, CLASSES).permute(0, 3, 1, 2).float()
    overlap = (probs * onehot).sum(dim=(0, 2, 3))
    total = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    return 1 - ((2 * overlap + eps) / (total + eps)).mean()


@torch.no_grad()
def evaluate(model, loader):
    """Pixel accuracy and the mean IoU over the classes."""
    model.eval()
    correct = pixels = 0
    intersection = torch.zeros(CLASSES)
    union = torch.zeros(CLASSES)
    for images, labels in loader:
        pred = model(images).argmax(dim=1)
        correct += (pred == labels).sum().item()
        pixels += labels.numel()
        for c in range(CLASSES):
            intersection[c] += ((pred == c) & (labels == c)).sum()
            union[c] += ((pred == c) | (labels == c)).sum()
    model.train()
    iou = intersection / union.clamp(min=1)
    return correct / pixels, iou.mean().item()


def main():
    start = time.perf_counter()
    train = DataLoader(Shapes(args.train_images, args.size, args.seed),
                       batch_size=args.batch_size, shuffle=True)
    test = DataLoader(Shapes(args.test_images, args.size, args.seed + 1),
                      batch_size=args.batch_size)
    model = UNet(args.width, CLASSES)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    first_acc, first_iou = evaluate(model, test)
    losses = []
    for epoch in range(1, args.epochs + 1):
        total = 0.0
        for images, labels in train:
            logits = model(images)
            loss = criterion(logits, labels) + dice_loss(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * images.size(0)
        scheduler.step()
        losses.append(total / len(train.dataset))
        acc, iou = evaluate(model, test)
        print(f"epoch {epoch}: loss {losses[-1]:.4f}, test pixel accuracy {acc:.3f}, "
              f"mean IoU {iou:.3f}")
    print("RESULT " + json.dumps({
        "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4),
        "first_iou": round(first_iou, 4), "accuracy": round(acc, 4), "iou": round(iou, 4),
        "seconds": round(time.perf_counter() - start, 2)}))


if __name__ == "__main__":
    main()
