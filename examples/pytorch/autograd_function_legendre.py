"""Fit y = sin(x) on [-pi, pi] two ways, in the shape of the "Learning PyTorch with Examples"
tutorial:

1. a custom ``torch.autograd.Function`` for the Legendre polynomial P3(x) = (5x^3 - 3x) / 2,
   with its own forward and backward, in y = a + b * P3(c + d * x); the four scalars are
   updated by hand under ``torch.no_grad()``;
2. a cubic polynomial as ``nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))`` on the features
   (x, x^2, x^3), trained with RMSprop.

    python autograd_function_legendre.py --steps 2000 --poly-steps 2000
"""

import argparse
import json
import math
import time

import torch


class LegendrePolynomial3(torch.autograd.Function):
    """P3(x) = (5x^3 - 3x) / 2 and its derivative 1.5 * (5x^2 - 1)."""

    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def fit_legendre(x, y, steps, learning_rate, log_every):
    dtype = x.dtype
    # start close enough to the answer that plain gradient descent gets there
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
    losses = []
    for step in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        if step % log_every == log_every - 1:
            print(f"legendre step {step + 1}: loss {loss.item():.4f}")
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f"legendre result: y = {a.item():.4f} + {b.item():.4f} * "
          f"P3({c.item():.4f} + {d.item():.4f} x)")
    return losses, [a.item(), b.item(), c.item(), d.item()]


def fit_polynomial(x, y, steps, learning_rate, log_every):
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)                       # (2000, 3)
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1),                       # (2000, 1) -> (2000,)
    )
    loss_fn = torch.nn.MSELoss(reduction="sum")
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    losses = []
    for step in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        if step % log_every == log_every - 1:
            print(f"polynomial step {step + 1}: loss {loss.item():.4f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    linear_layer = model[0]
    bias = linear_layer.bias.item()
    w1, w2, w3 = (linear_layer.weight[:, i].item() for i in range(3))
    print(f"polynomial result: y = {bias:.4f} + {w1:.4f} x + {w2:.4f} x^2 + {w3:.4f} x^3")
    return losses, [bias, w1, w2, w3]


def main():
    parser = argparse.ArgumentParser(description="sin(x) by a custom autograd Function")
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=2000, help="Legendre fit steps")
    parser.add_argument("--lr", type=float, default=5e-6, help="Legendre fit learning rate")
    parser.add_argument("--poly-steps", type=int, default=2000, help="RMSprop fit steps")
    parser.add_argument("--poly-lr", type=float, default=1e-3)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    x = torch.linspace(-math.pi, math.pi, args.points, dtype=torch.float)
    y = torch.sin(x)

    start = time.perf_counter()
    legendre_losses, legendre_coefficients = fit_legendre(x, y, args.steps, args.lr,
                                                          args.log_every)
    poly_losses, poly_coefficients = fit_polynomial(x, y, args.poly_steps, args.poly_lr,
                                                    args.log_every)
    seconds = time.perf_counter() - start

    # check the hand-written backward against autograd through the same formula
    probe = torch.linspace(-1, 1, 7, dtype=torch.double, requires_grad=True)
    LegendrePolynomial3.apply(probe).sum().backward()
    custom_grad = probe.grad.clone()
    probe.grad = None
    (0.5 * (5 * probe ** 3 - 3 * probe)).sum().backward()
    grad_error = (custom_grad - probe.grad).abs().max().item()

    print("RESULT " + json.dumps({
        "legendre_first_loss": round(legendre_losses[0], 4),
        "legendre_last_loss": round(legendre_losses[-1], 4),
        "legendre_coefficients": [round(v, 4) for v in legendre_coefficients],
        "poly_first_loss": round(poly_losses[0], 4),
        "poly_last_loss": round(poly_losses[-1], 4),
        "poly_coefficients": [round(v, 4) for v in poly_coefficients],
        "grad_error": grad_error, "seconds": round(seconds, 2),
    }))


if __name__ == "__main__":
    main()
