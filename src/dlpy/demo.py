"""`make demo`: a short, real demonstration of the engine.

Fits a two-layer network to a noisy two-spirals dataset with plain gradient descent and prints the
loss falling and the accuracy rising.
"""

from __future__ import annotations

import numpy as np

import dlpy
import dlpy.functional as F
from dlpy import nn


def spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    labels = rng.integers(0, 2, n)
    angle = t + labels * np.pi
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) / (3 * np.pi)
    points += rng.normal(0, 0.02, points.shape)
    return points.astype(np.float32), labels


def main() -> None:
    rng = np.random.default_rng(0)
    x, y = spirals(400, rng)
    model = [nn.Linear(2, 64, rng=rng), nn.Linear(64, 64, rng=rng), nn.Linear(64, 2, rng=rng)]
    params = [p for layer in model for p in layer.parameters()]
    inputs = dlpy.Tensor(x)
    print("dlpy engine demo: a 2-64-64-2 MLP learns two spirals (400 points)")
    for step in range(1, 1501):
        hidden = F.relu(model[1](F.relu(model[0](inputs))))
        loss = F.cross_entropy(model[2](hidden), y)
        for p in params:
            p.grad = None
        loss.backward()
        with dlpy.no_grad():
            for p in params:
                p.data -= 0.5 * p.grad
        if step == 1 or step % 300 == 0:
            accuracy = (model[2](hidden).data.argmax(axis=1) == y).mean()
            print(f"step {step:5d}  loss {loss.item():.4f}  accuracy {accuracy:.1%}")


if __name__ == "__main__":
    main()
