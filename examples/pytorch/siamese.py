"""A Siamese embedding network trained with a triplet (or contrastive) loss.

The network maps an input to a 16-number embedding so that examples of the same class land
close together and examples of different classes far apart. It is then judged on pairs drawn
from classes it never saw in training: "same" when the embeddings' cosine similarity passes a
threshold chosen on training-class pairs.

The default data are synthetic: each class is a point in a small "identity" space, mixed with
large nuisance variation into a 32-number observation, so raw distances say little and the
network must learn which directions matter. With ``--mnist DIR`` (a folder with the four MNIST
.gz IDX files) it learns on digits 0-6 and is tested on pairs of 7, 8 and 9.

    python siamese.py --epochs 10
    python siamese.py --mnist /path/to/mnist --epochs 3
"""

import argparse
import gzip
import json
import os
import random
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, Dataset

parser = argparse.ArgumentParser(description="Siamese / triplet embedding network")
parser.add_argument("--loss", choices=["triplet", "contrastive"], default="triplet",
                    help="training loss (default triplet)")
parser.add_argument("--margin", type=float, default=1.0, help="loss margin (default 1.0)")
parser.add_argument("--classes", type=int, default=100,
                    help="synthetic classes; the last 30%% are held out (default 100)")
parser.add_argument("--per-class", type=int, default=20,
                    help="synthetic examples per class (default 20)")
parser.add_argument("--mnist", default=None, help="folder with the MNIST .gz IDX files")
parser.add_argument("--limit", type=int, default=6000, help="MNIST images to use (default 6000)")
parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
parser.add_argument("--step-size", type=int, default=4, help="StepLR period in epochs")
parser.add_argument("--gamma", type=float, default=0.5, help="StepLR decay (default 0.5)")
parser.add_argument("--pairs", type=int, default=1000, help="evaluation pairs (default 1000)")
parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
args = parser.parse_args()

random.seed(args.seed)
torch.manual_seed(args.seed)


def synthetic_data(num_classes, per_class, identity_dim=8, nuisance_dim=24, nuisance=1.5,
                   seed=0):
    """(inputs (N, 32) float32, labels (N,) int64): a fixed random mixing of a class code and
    larger per-example nuisance, squashed by tanh."""
    rng = np.random.default_rng(seed)
    codes = rng.normal(size=(num_classes, identity_dim))
    labels = np.repeat(np.arange(num_classes), per_class)
    variation = nuisance * rng.normal(size=(len(labels), nuisance_dim))
    hidden = np.concatenate([codes[labels], variation], axis=1)
    scale = np.sqrt(identity_dim + nuisance_dim * nuisance ** 2)
    mixing = rng.normal(size=(identity_dim + nuisance_dim, 32)) / scale
    inputs = np.tanh(hidden @ mixing) + 0.05 * rng.normal(size=(len(labels), 32))
    return torch.from_numpy(inputs.astype(np.float32)), torch.from_numpy(labels)


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist_data(root, limit):
    images = read_idx(os.path.join(root, "train-images-idx3-ubyte.gz"))[:limit]
    labels = read_idx(os.path.join(root, "train-labels-idx1-ubyte.gz"))[:limit]
    inputs = (images.reshape(len(images), -1).astype(np.float32) / 255.0 - 0.1307) / 0.3081
    return torch.from_numpy(inputs), torch.from_numpy(labels.astype(np.int64))


class TripletDataset(Dataset):
    """Item i: (anchor i, another example of its class, an example of another class)."""

    def __init__(self, inputs, labels):
        self.inputs = inputs
        self.labels = labels.tolist()
        self.by_class = {}
        for index, label in enumerate(self.labels):
            self.by_class.setdefault(label, []).append(index)
        self.classes = sorted(self.by_class)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        label = self.labels[index]
        positive = index
        while positive == index:
            positive = random.choice(self.by_class[label])
        other = random.choice([c for c in self.classes if c != label])
        negative = random.choice(self.by_class[other])
        return self.inputs[index], self.inputs[positive], self.inputs[negative]


class PairDataset(Dataset):
    """A fixed list of (x1, x2, 1.0 if same class else 0.0), half of each kind."""

    def __init__(self, inputs, labels, num_pairs, seed):
        rng = random.Random(seed)
        by_class = {}
        for index, label in enumerate(labels.tolist()):
            by_class.setdefault(label, []).append(index)
        classes = sorted(by_class)
        self.inputs = inputs
        self.pairs = []
        for k in range(num_pairs):
            first = rng.choice(classes)
            second = first if k % 2 == 0 else rng.choice([c for c in classes if c != first])
            i, j = rng.sample(by_class[first], 2) if first == second else (
                rng.choice(by_class[first]), rng.choice(by_class[second]))
            self.pairs.append((i, j, float(first == second)))

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, index):
        i, j, same = self.pairs[index]
        return self.inputs[i], self.inputs[j], torch.tensor(same)


class EmbeddingNet(nn.Module):
    def __init__(self, in_features, embedding_dim=16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_features, 128), nn.ReLU(),
            nn.Linear(128, 64), nn.ReLU(),
            nn.Linear(64, embedding_dim),
        )

    def forward(self, x):
        return self.net(x)


class SiameseNet(nn.Module):
    """One embedding network applied to every input (the weights are shared)."""

    def __init__(self, embedding_net):
        super().__init__()
        self.embedding_net = embedding_net

    def forward(self, *inputs):
        return tuple(self.embedding_net(x) for x in inputs)


def contrastive_loss(x1, x2, same, margin):
    """Pull same pairs together, push different pairs at least ``margin`` apart."""
    distance = F.pairwise_distance(x1, x2)
    losses = same * distance.pow(2) + (1 - same) * F.relu(margin - distance).pow(2)
    return losses.mean() / 2


def similarities(model, loader):
    if model is not None:
        model.eval()
    scores, targets = [], []
    with torch.no_grad():
        for x1, x2, same in loader:
            if model is None:
                e1, e2 = x1, x2
            else:
                e1, e2 = model(x1, x2)
            scores.append(F.cosine_similarity(e1, e2, dim=1))
            targets.append(same)
    return torch.cat(scores), torch.cat(targets)


def best_threshold(scores, targets):
    """The cosine threshold with the best accuracy on these pairs, and that accuracy."""
    best = (0.0, -1.0)
    for threshold in torch.linspace(-1, 1, 201).tolist():
        accuracy = ((scores > threshold).float() == targets).float().mean().item()
        if accuracy > best[1]:
            best = (threshold, accuracy)
    return best


def pair_accuracy(scores, targets, threshold):
    return ((scores > threshold).float() == targets).float().mean().item()


def raw_accuracy(train_pairs, test_pairs):
    """The same decision rule on the raw inputs: what there is to beat."""
    identity = None
    threshold, _ = best_threshold(*similarities(identity, train_pairs))
    return pair_accuracy(*similarities(identity, test_pairs), threshold)


def main():
    start = time.perf_counter()
    if args.mnist:
        inputs, labels = mnist_data(args.mnist, args.limit)
        held_out = labels >= 7
    else:
        inputs, labels = synthetic_data(args.classes, args.per_class, seed=args.seed)
        held_out = labels >= int(round(0.7 * args.classes))
    train_x, train_y = inputs[~held_out], labels[~held_out]
    test_x, test_y = inputs[held_out], labels[held_out]

    train_loader = DataLoader(TripletDataset(train_x, train_y), batch_size=args.batch_size,
                              shuffle=True, drop_last=True)
    train_pairs = DataLoader(PairDataset(train_x, train_y, args.pairs, seed=1),
                             batch_size=256)
    test_pairs = DataLoader(PairDataset(test_x, test_y, args.pairs, seed=2), batch_size=256)

    model = SiameseNet(EmbeddingNet(inputs.size(1)))
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=args.step_size, gamma=args.gamma)
    triplet_loss = nn.TripletMarginLoss(margin=args.margin, p=2)

    print(f"{len(train_x)} training examples of {len(set(train_y.tolist()))} classes, "
          f"{len(test_x)} test examples of {len(set(test_y.tolist()))} unseen classes")
    losses = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        total, batches = 0.0, 0
        for anchor, positive, negative in train_loader:
            optimizer.zero_grad()
            e_anchor, e_positive, e_negative = model(anchor, positive, negative)
            if args.loss == "triplet":
                loss = triplet_loss(e_anchor, e_positive, e_negative)
            else:
                ones = torch.ones(anchor.size(0))
                loss = (contrastive_loss(e_anchor, e_positive, ones, args.margin)
                        + contrastive_loss(e_anchor, e_negative, 0 * ones, args.margin))
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        scheduler.step()
        losses.append(total / batches)
        threshold, train_acc = best_threshold(*similarities(model, train_pairs))
        test_acc = pair_accuracy(*similarities(model, test_pairs), threshold)
        print(f"epoch {epoch}: loss {losses[-1]:.4f}  lr {scheduler.get_last_lr()[0]:.2e}  "
              f"pair accuracy seen classes {train_acc:.3f}, unseen classes {test_acc:.3f} "
              f"(cosine > {threshold:.2f})")

    baseline = raw_accuracy(train_pairs, test_pairs)
    print(f"raw-input cosine similarity on the unseen pairs: {baseline:.3f}")
    result = {"loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
              "pair_acc_seen": round(train_acc, 4), "pair_acc_unseen": round(test_acc, 4),
              "pair_acc_raw_inputs": round(baseline, 4),
              "seconds": round(time.perf_counter() - start, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
