"""Polynomial regression with one linear layer and hand-written gradient descent.

A random polynomial of degree 4 is the target; the model is ``nn.Linear`` on the features
x, x^2, x^3, x^4, trained on fresh random batches with a manual SGD step until the loss falls
below 1e-3. Prints the learned and the actual function.

    python regression.py
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

parser = argparse.ArgumentParser(description="fit a random polynomial with nn.Linear")
parser.add_argument("--degree", type=int, default=4, help="polynomial degree (default 4)")
parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
parser.add_argument("--lr", type=float, default=0.1, help="SGD step size (default 0.1)")
parser.add_argument("--tolerance", type=float, default=1e-3,
                    help="stop when the batch loss is below this (default 1e-3)")
parser.add_argument("--steps", type=int, default=10000, help="most steps (default 10000)")
parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
args = parser.parse_args()

torch.manual_seed(args.seed)
POLY_DEGREE = args.degree
W_target = torch.randn(POLY_DEGREE, 1) * 5
b_target = torch.randn(1) * 5


def make_features(x):
    """The columns [x, x^2, ..., x^degree] of a (batch, 1) input."""
    x = x.unsqueeze(1)
    return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)


def f(x):
    """The target function."""
    return x.mm(W_target) + b_target.item()


def poly_desc(W, b):
    """The polynomial as a string, e.g. 'y = +1.20 x^1 -0.35 x^2 +2.00'."""
    result = "y = "
    for i, w in enumerate(W):
        result += f"{w:+.2f} x^{i + 1} "
    result += f"{b[0]:+.2f}"
    return result


def get_batch(batch_size=32):
    """A batch of (features, target) at random x."""
    random = torch.randn(batch_size)
    x = make_features(random)
    y = f(x)
    return x, y


def main():
    start = time.perf_counter()
    fc = torch.nn.Linear(W_target.size(0), 1)
    first_loss = None
    for batch_idx in range(1, args.steps + 1):  # noqa: B007 - read after the loop
        batch_x, batch_y = get_batch(args.batch_size)

        fc.zero_grad()
        output = F.smooth_l1_loss(fc(batch_x), batch_y)
        loss = output.item()
        if first_loss is None:
            first_loss = loss
        output.backward()

        # a plain gradient step, by hand
        with torch.no_grad():
            for param in fc.parameters():
                param.add_(-args.lr * param.grad)

        if loss < args.tolerance:
            break

    print(f"Loss: {loss:.6f} after {batch_idx} batches")
    print("==> Learned function:\t" + poly_desc(fc.weight.view(-1).tolist(), fc.bias.tolist()))
    print("==> Actual function:\t" + poly_desc(W_target.view(-1).tolist(), b_target.tolist()))
    max_error = (fc.weight.view(-1) - W_target.view(-1)).abs().max().item()
    result = {"loss_first": round(first_loss, 4), "loss_last": round(loss, 6),
              "batches": batch_idx, "converged": loss < args.tolerance,
              "max_weight_error": round(max_error, 4),
              "bias_error": round(abs(fc.bias.item() - b_target.item()), 4),
              "seconds": round(time.perf_counter() - start, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
