"""Adversarial examples by the fast gradient sign method, in the shape of the PyTorch FGSM
tutorial: train a small CNN briefly, then for each test image take the gradient of the loss
with respect to the image and move every pixel by epsilon in the direction of its sign. The
accuracy on the perturbed images falls as epsilon grows.

    python fgsm_attack.py --epochs 2                       # synthetic digits
    python fgsm_attack.py --data-root ROOT --train-size 10000  # ROOT/MNIST/raw: the IDX files

Pixels are kept in [0, 1] (no normalisation), as the tutorial, so the attacked image is
clamped back into that range.
"""

import argparse
import json
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
        self.conv1 = nn.Conv2d(1, 16, 3, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(32 * 12 * 12, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))                  # (N, 16, 26, 26)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 32, 12, 12)
        x = self.dropout(torch.flatten(x, 1))
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


def synthetic_digits(count, seed):
    """``count`` (1, 28, 28) images in [0, 1] in 10 classes: a class's fixed pattern of
    strokes, shifted by up to a pixel, with a little noise."""
    generator = torch.Generator().manual_seed(1234)
    patterns = (torch.rand(10, 1, 28, 28, generator=generator) > 0.85).float()
    generator.manual_seed(seed)
    labels = torch.randint(0, 10, (count,), generator=generator)
    shifts = torch.randint(-1, 2, (count, 2), generator=generator)
    images = torch.stack([torch.roll(patterns[label], (int(dy), int(dx)), dims=(1, 2))
                          for label, (dy, dx) in zip(labels.tolist(), shifts.tolist())])
    images = images * 0.8 + 0.1 + 0.1 * torch.randn(images.shape, generator=generator)
    return TensorDataset(images.clamp(0, 1), labels)


def fgsm_attack(image, epsilon, data_grad):
    """The image moved by epsilon along the sign of the loss gradient, kept in [0, 1]."""
    sign_data_grad = data_grad.sign()
    perturbed_image = image + epsilon * sign_data_grad
    perturbed_image = torch.clamp(perturbed_image, 0, 1)
    return perturbed_image


def test(model, device, test_loader, epsilon):
    """Accuracy on attacked images, one image at a time as in the tutorial; an image the model
    already gets wrong is counted as wrong and not attacked."""
    correct = 0
    adversarial_examples = []
    for data, target in test_loader:
        data, target = data.to(device), target.to(device)
        data.requires_grad = True
        output = model(data)
        init_pred = output.max(1, keepdim=True)[1]
        if init_pred.item() != target.item():
            continue
        loss = F.nll_loss(output, target)
        model.zero_grad()
        loss.backward()
        data_grad = data.grad.detach()
        perturbed_data = fgsm_attack(data, epsilon, data_grad)
        output = model(perturbed_data)
        final_pred = output.max(1, keepdim=True)[1]
        if final_pred.item() == target.item():
            correct += 1
        elif len(adversarial_examples) < 5:
            adversarial_examples.append((init_pred.item(), final_pred.item(),
                                         perturbed_data.squeeze().detach().cpu().numpy()))
    final_acc = correct / float(len(test_loader))
    print(f"Epsilon: {epsilon}\tTest Accuracy = {correct} / {len(test_loader)} = {final_acc}")
    return final_acc, adversarial_examples


def main():
    parser = argparse.ArgumentParser(description="FGSM adversarial examples")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--epsilons", default="0,0.05,0.1,0.2,0.3")
    parser.add_argument("--data-root", default=None,
                        help="torchvision's MNIST root (root/MNIST/raw); without it, synthetic")
    parser.add_argument("--train-size", type=int, default=0,
                        help="the first N training images (0: all; synthetic: 2048)")
    parser.add_argument("--test-size", type=int, default=300,
                        help="images attacked per epsilon (one at a time)")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    epsilons = [float(e) for e in args.epsilons.split(",")]

    if args.data_root:
        transform = transforms.ToTensor()
        train_set = datasets.MNIST(args.data_root, train=True, download=False,
                                   transform=transform)
        test_set = datasets.MNIST(args.data_root, train=False, transform=transform)
        if args.train_size:
            train_set = Subset(train_set, range(args.train_size))
        test_set = Subset(test_set, range(args.test_size))
    else:
        train_set = synthetic_digits(args.train_size or 2048, seed=args.seed)
        test_set = synthetic_digits(args.test_size, seed=args.seed + 1000)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=1, shuffle=True)

    model = Net().to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    losses = []
    start = time.perf_counter()
    model.train()
    for epoch in range(1, args.epochs + 1):
        for data, target in train_loader:
            data, target = data.to(device), target.to(device)
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(f"epoch {epoch}: last loss {losses[-1]:.4f}")
    train_seconds = time.perf_counter() - start

    # the attack: the model in evaluation mode (no dropout), gradients wrt the input
    model.eval()
    accuracies = []
    examples = []
    for eps in epsilons:
        acc, ex = test(model, device, test_loader, eps)
        accuracies.append(acc)
        examples.append(ex)
    seconds = time.perf_counter() - start

    first = sum(losses[:5]) / len(losses[:5])
    last = sum(losses[-5:]) / len(losses[-5:])
    print("RESULT " + json.dumps({
        "first_loss": round(first, 4), "last_loss": round(last, 4), "steps": len(losses),
        "epsilons": epsilons, "accuracies": [round(a, 4) for a in accuracies],
        "adversarial_examples": [len(ex) for ex in examples],
        "train_seconds": round(train_seconds, 2), "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
