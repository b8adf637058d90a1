"""A small convolutional network for MNIST digits, in the shape of the classic PyTorch example:
two convolutions, max pooling, dropout and two linear layers, trained with Adadelta and a
StepLR schedule on log-softmax / negative log-likelihood.

    python mnist_cnn.py --data-root ROOT --epochs 1     # ROOT/MNIST/raw/ holds the IDX files
    python mnist_cnn.py --train-size 512 --epochs 2     # no data: synthetic digits

Without ``--data-root`` it trains on generated 28x28 images: each class is a fixed random
stroke pattern, seen through noise and a small random shift, so the task is learnable.
"""

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import datasets, transforms


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))            # (N, 32, 26, 26)
        x = F.relu(self.conv2(x))            # (N, 64, 24, 24)
        x = F.max_pool2d(x, 2)               # (N, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)              # (N, 9216)
        x = F.relu(self.fc1(x))
        x = self.dropout2(x)
        return F.log_softmax(self.fc2(x), dim=1)


def train(args, model, device, loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(loader):
        if args.max_batches and batch_idx >= args.max_batches:
            break
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % args.log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/{len(loader.dataset)}]"
                  f"\tLoss: {loss.item():.6f}")


def test(model, device, loader):
    model.eval()
    test_loss = 0.0
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    count = len(loader.dataset)
    test_loss /= count
    print(f"Test set: Average loss: {test_loss:.4f}, "
          f"Accuracy: {correct}/{count} ({100.0 * correct / count:.1f}%)")
    return test_loss, correct / count


def synthetic_digits(count, seed):
    """``count`` (1, 28, 28) images in 10 classes: a class's fixed pattern of bright strokes,
    shifted by up to a pixel, plus noise; already normalised to about zero mean."""
    generator = torch.Generator().manual_seed(1234)      # the same patterns for every split
    patterns = (torch.rand(10, 1, 28, 28, generator=generator) > 0.85).float()
    generator.manual_seed(seed)
    labels = torch.randint(0, 10, (count,), generator=generator)
    images = patterns[labels]
    shifts = torch.randint(-1, 2, (count, 2), generator=generator)
    images = torch.stack([torch.roll(image, (int(dy), int(dx)), dims=(1, 2))
                          for image, (dy, dx) in zip(images, shifts.tolist())])
    images = images + 0.3 * torch.randn(images.shape, generator=generator)
    return TensorDataset((images - 0.15) / 0.45, labels)


def main():
    parser = argparse.ArgumentParser(description="MNIST convolutional network")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--test-batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--gamma", type=float, default=0.7, help="StepLR's decay per epoch")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=50)
    parser.add_argument("--data-root", default=None,
                        help="torchvision's MNIST root (root/MNIST/raw holds the four IDX "
                             "files); without it, synthetic digits")
    parser.add_argument("--train-size", type=int, default=0,
                        help="use only the first N training images (0: all; synthetic: 2048)")
    parser.add_argument("--test-size", type=int, default=0,
                        help="use only the first N test images (0: all; synthetic: 512)")
    parser.add_argument("--max-batches", type=int, default=0,
                        help="stop each epoch after this many batches (0: the whole epoch)")
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: as is)")
    parser.add_argument("--save-model", default=None, help="save the state dict to this file")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    if args.data_root:
        transform = transforms.Compose([
            transforms.ToTensor(),
            transforms.Normalize((0.1307,), (0.3081,)),
        ])
        train_set = datasets.MNIST(args.data_root, train=True, download=False,
                                   transform=transform)
        test_set = datasets.MNIST(args.data_root, train=False, transform=transform)
        if args.train_size:
            train_set = Subset(train_set, range(args.train_size))
        if args.test_size:
            test_set = Subset(test_set, range(args.test_size))
    else:
        train_set = synthetic_digits(args.train_size or 2048, seed=args.seed)
        test_set = synthetic_digits(args.test_size or 512, seed=args.seed + 1000)

    loader_kwargs = {"num_workers": 0, "pin_memory": device.type == "cuda"}
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                              **loader_kwargs)
    test_loader = DataLoader(test_set, batch_size=args.test_batch_size, **loader_kwargs)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)

    losses = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train(args, model, device, train_loader, optimizer, epoch, losses)
        test_loss, accuracy = test(model, device, test_loader)
        scheduler.step()
    seconds = time.perf_counter() - start

    if args.save_model:
        torch.save(model.state_dict(), args.save_model)

    first = sum(losses[:5]) / len(losses[:5])
    last = sum(losses[-5:]) / len(losses[-5:])
    print("RESULT " + json.dumps({
        "first_loss": round(first, 4), "last_loss": round(last, 4),
        "test_loss": round(test_loss, 4), "test_accuracy": round(accuracy, 4),
        "steps": len(losses), "lr": scheduler.get_last_lr()[0], "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
