"""A variational autoencoder on 28x28 images, the shape of the classic PyTorch example: a
784-400-(20, 20) encoder giving the mean and log-variance of q(z|x), the reparameterisation
trick, a 20-400-784 decoder, and the loss = binary cross-entropy of the reconstruction + the
KL divergence from N(0, I).

    python vae.py --data-root ROOT --epochs 1     # ROOT/MNIST/raw/ holds the IDX files
    python vae.py --epochs 3 --results /tmp/vae   # synthetic strokes, with image grids

Without ``--data-root`` it trains on generated binary-ish images (two of eight fixed bars
and diagonals each). ``--results`` receives reconstructions (originals above, decoded
below) and decoded samples of z ~ N(0, I) after each epoch.
"""

import argparse
import json
import os
import time

import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F
from torchvision import datasets, transforms
from torchvision.utils import save_image


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)   # mean of q(z|x)
        self.fc22 = nn.Linear(400, 20)   # log variance of q(z|x)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    """Reconstruction + KL divergence, summed over the batch (Kingma and Welling, appendix B:
    KLD = -0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2))."""
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def synthetic_strokes(count, seed):
    """``count`` (1, 28, 28) images in [0, 1]: each the union of two of eight fixed strokes
    (three rows, three columns, two diagonals) with a little noise; label = the first."""
    grid = torch.arange(28, dtype=torch.float32)
    ys, xs = grid.view(-1, 1), grid.view(1, -1)
    bars = [((ys - (5 + 6 * k)).abs() < 1.5).expand(28, 28) for k in range(3)]      # rows
    bars += [((xs - (5 + 6 * k)).abs() < 1.5).expand(28, 28) for k in range(3)]     # columns
    bars += [(ys - xs).abs() < 1.5, (ys + xs - 27).abs() < 1.5]                     # diagonals
    templates = torch.stack(bars).float()                                          # (8, 28, 28)
    generator = torch.Generator().manual_seed(seed)
    first = torch.randint(0, 8, (count,), generator=generator)
    second = torch.randint(0, 8, (count,), generator=generator)
    images = torch.clamp(templates[first] + templates[second], 0, 1)
    noise = torch.rand(images.shape, generator=generator) * 0.1
    images = (images * 0.9 + noise).unsqueeze(1)
    return torch.utils.data.TensorDataset(images, first)


def main():
    parser = argparse.ArgumentParser(description="VAE on 28x28 images")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-interval", type=int, default=20)
    parser.add_argument("--data-root", default=None,
                        help="torchvision's MNIST root (root/MNIST/raw holds the IDX files); "
                             "without it, synthetic strokes")
    parser.add_argument("--train-size", type=int, default=0,
                        help="use only the first N training images (0: all; synthetic: 4096)")
    parser.add_argument("--test-size", type=int, default=0,
                        help="use only the first N test images (0: all; synthetic: 512)")
    parser.add_argument("--results", default=None, help="folder for the image grids")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    if args.data_root:
        train_set = datasets.MNIST(args.data_root, train=True, download=False,
                                   transform=transforms.ToTensor())
        test_set = datasets.MNIST(args.data_root, train=False, transform=transforms.ToTensor())
        if args.train_size:
            train_set = torch.utils.data.Subset(train_set, range(args.train_size))
        if args.test_size:
            test_set = torch.utils.data.Subset(test_set, range(args.test_size))
    else:
        train_set = synthetic_strokes(args.train_size or 4096, seed=args.seed)
        test_set = synthetic_strokes(args.test_size or 512, seed=args.seed + 1000)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size,
                                               shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=args.batch_size)
    if args.results:
        os.makedirs(args.results, exist_ok=True)

    model = VAE().to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    def train(epoch):
        model.train()
        train_loss = 0
        for batch_idx, (data, _) in enumerate(train_loader):
            data = data.to(device)
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            losses.append(loss.item() / len(data))
            if batch_idx % args.log_interval == 0:
                print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/"
                      f"{len(train_loader.dataset)}]\tLoss: {loss.item() / len(data):.6f}")
        print(f"====> Epoch: {epoch} Average loss: "
              f"{train_loss / len(train_loader.dataset):.4f}")

    def test(epoch):
        model.eval()
        test_loss = 0
        with torch.no_grad():
            for i, (data, _) in enumerate(test_loader):
                data = data.to(device)
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
                if i == 0 and args.results:
                    n = min(data.size(0), 8)
                    comparison = torch.cat([data[:n],
                                            recon_batch.view(data.size(0), 1, 28, 28)[:n]])
                    save_image(comparison.cpu(),
                               os.path.join(args.results, f"reconstruction_{epoch}.png"),
                               nrow=n)
        test_loss /= len(test_loader.dataset)
        print(f"====> Test set loss: {test_loss:.4f}")
        return test_loss

    losses = []
    test_losses = []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        train(epoch)
        test_losses.append(test(epoch))
        with torch.no_grad():
            sample = torch.randn(64, 20).to(device)
            sample = model.decode(sample).cpu()
            if args.results:
                save_image(sample.view(64, 1, 28, 28),
                           os.path.join(args.results, f"sample_{epoch}.png"))
    seconds = time.perf_counter() - start

    window = max(1, min(5, len(losses) // 2))
    print("RESULT " + json.dumps({
        "first_loss": round(sum(losses[:window]) / window, 3),
        "last_loss": round(sum(losses[-window:]) / window, 3),
        "test_loss": round(test_losses[-1], 3), "steps": len(losses),
        "sample_mean": round(sample.mean().item(), 4), "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
