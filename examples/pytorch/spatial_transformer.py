"""A spatial transformer network, in the shape of the PyTorch tutorial: a small localisation
network predicts a 2x3 affine matrix per image, ``F.affine_grid`` + ``F.grid_sample`` warp the
image with it, and a small CNN classifies the warped image. The affine regressor starts at the
identity, so at first the network sees the images as they are.

    python spatial_transformer.py --epochs 2                 # synthetic rotated digits
    python spatial_transformer.py --data-root ROOT --epochs 1  # ROOT/MNIST/raw: the IDX files

Without ``--data-root`` the images are ten fixed stroke figures ("digits"), each drawn at a
random rotation (up to +-30 degrees), scale and shift, with noise: what a spatial transformer
is meant to undo.
"""

import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

        # the localisation network: (N, 1, 28, 28) -> (N, 10, 3, 3)
        self.localization = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=7),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(8, 10, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
        )
        # regresses the 2x3 affine matrix
        self.fc_loc = nn.Sequential(
            nn.Linear(10 * 3 * 3, 32),
            nn.ReLU(True),
            nn.Linear(32, 3 * 2),
        )
        # start from the identity transformation
        with torch.no_grad():
            self.fc_loc[2].weight.zero_()
            self.fc_loc[2].bias.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def stn(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 10 * 3 * 3)
        theta = self.fc_loc(xs)
        theta = theta.view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False), theta

    def forward(self, x):
        x, _ = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))                   # (N, 10, 12, 12)
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))  # (N, 20, 4, 4)
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


def stroke_figures(generator):
    """Ten (28, 28) figures of three strokes each, drawn inside the central 16x16 square."""
    figures = torch.zeros(10, 28, 28)
    t = torch.linspace(0, 1, 40)
    for k in range(10):
        ends = 8 + 12 * torch.rand(3, 2, 2, generator=generator)   # (stroke, end, (y, x))
        for start, stop in ends:
            points = start + t.unsqueeze(1) * (stop - start)        # (40, 2)
            rows, cols = points.round().long().unbind(1)
            figures[k, rows, cols] = 1.0
            figures[k, (rows + 1).clamp(max=27), cols] = 1.0        # two pixels thick
    return figures


def synthetic_digits(count, seed):
    """``count`` (1, 28, 28) images in 10 classes: a class's figure, rotated, scaled and
    shifted at random (by affine_grid + grid_sample), plus noise; normalised."""
    generator = torch.Generator().manual_seed(1234)      # the same figures for every split
    figures = stroke_figures(generator)
    generator.manual_seed(seed)
    labels = torch.randint(0, 10, (count,), generator=generator)
    angle = (torch.rand(count, generator=generator) * 2 - 1) * math.radians(30)
    scale = 0.9 + 0.2 * torch.rand(count, generator=generator)
    shift = (torch.rand(count, 2, generator=generator) * 2 - 1) * 0.15
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)    # (count, 2, 3)
    images = figures[labels].unsqueeze(1)
    with torch.no_grad():
        grid = F.affine_grid(theta, images.size(), align_corners=False)
        images = F.grid_sample(images, grid, align_corners=False)
    images = images + 0.15 * torch.randn(images.shape, generator=generator)
    return TensorDataset((images - 0.1) / 0.3, labels)


def train(model, loader, optimizer, epoch, args, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        if args.max_batches and batch_idx >= args.max_batches:
            break
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(loader.dataset)}]"
                  f"\tLoss: {loss.item():.6f}")


def test(model, loader):
    with torch.no_grad():
        model.eval()
        test_loss = 0.0
        correct = 0
        distance = 0.0
        identity = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
        for data, target in loader:
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.max(1, keepdim=True)[1]
            correct += pred.eq(target.view_as(pred)).sum().item()
            _, theta = model.stn(data)
            distance += (theta - identity).pow(2).sum(dim=(1, 2)).sqrt().sum().item()
        count = len(loader.dataset)
        test_loss /= count
        print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {correct}/{count} "
              f"({100.0 * correct / count:.0f}%)")
    return test_loss, correct / count, distance / count


def main():
    parser = argparse.ArgumentParser(description="Spatial transformer network")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=20)
    parser.add_argument("--data-root", default=None,
                        help="torchvision's MNIST root (root/MNIST/raw); without it, synthetic")
    parser.add_argument("--train-size", type=int, default=0,
                        help="the first N training images (0: all; synthetic: 4096)")
    parser.add_argument("--test-size", type=int, default=0,
                        help="the first N test images (0: all; synthetic: 1000)")
    parser.add_argument("--max-batches", type=int, default=0,
                        help="stop each epoch after this many batches (0: the whole epoch)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    if args.data_root:
        transform = transforms.Compose([transforms.ToTensor(),
                                        transforms.Normalize((0.1307,), (0.3081,))])
        train_set = datasets.MNIST(args.data_root, train=True, download=False,
                                   transform=transform)
        test_set = datasets.MNIST(args.data_root, train=False, transform=transform)
        if args.train_size:
            train_set = Subset(train_set, range(args.train_size))
        if args.test_size:
            test_set = Subset(test_set, range(args.test_size))
    else:
        train_set = synthetic_digits(args.train_size or 4096, seed=args.seed)
        test_set = synthetic_digits(args.test_size or 1000, seed=args.seed + 1000)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size)

    model = Net()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    losses = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train(model, train_loader, optimizer, epoch, args, losses)
        test_loss, accuracy, theta_distance = test(model, test_loader)
    seconds = time.perf_counter() - start

    first = sum(losses[:5]) / len(losses[:5])
    last = sum(losses[-5:]) / len(losses[-5:])
    print("RESULT " + json.dumps({
        "first_loss": round(first, 4), "last_loss": round(last, 4),
        "test_loss": round(test_loss, 4), "test_accuracy": round(accuracy, 4),
        "theta_distance": round(theta_distance, 4), "steps": len(losses),
        "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
