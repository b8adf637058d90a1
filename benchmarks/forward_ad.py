"""jvp of an MLP and of a small CNN: dlpy's forward mode (dlpy.forward_ad) against its
double-vjp path and torch.func.jvp, float64, one thread.

    python benchmarks/forward_ad.py [--repeats 20]

Prints the best time of several alternating runs (ms) and the ratios.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy
import dlpy.functional as F
from dlpy.func import _jvp_by_vjp, jvp


def _models(rng):
    mlp = [rng.standard_normal(s) * 0.1 for s in [(256, 784), (256,), (10, 256), (10,)]]
    cnn = [rng.standard_normal(s) * 0.1 for s in [(8, 1, 3, 3), (8,), (16, 8, 3, 3), (16,),
                                                 (10, 16 * 7 * 7)]]
    inputs = {"mlp": rng.standard_normal((64, 784)), "cnn": rng.standard_normal((16, 1, 28, 28))}
    return {"mlp": mlp, "cnn": cnn}, inputs


def dlpy_function(name, weights):
    w = [dlpy.Tensor(a) for a in weights]
    if name == "mlp":
        return lambda x: F.log_softmax(F.linear(F.relu(F.linear(x, w[0], w[1])), w[2], w[3]), -1)

    def cnn(x):
        h = F.max_pool2d(F.relu(F.conv2d(x, w[0], w[1], padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w[2], w[3], padding=1)), 2)
        return F.log_softmax(F.linear(h.reshape(h.shape[0], -1), w[4]), -1)

    return cnn


def torch_function(name, weights):
    import torch
    import torch.nn.functional as TF  # noqa: N812

    w = [torch.from_numpy(a) for a in weights]
    if name == "mlp":
        return lambda x: TF.log_softmax(TF.linear(TF.relu(TF.linear(x, w[0], w[1])), w[2], w[3]),
                                        -1)

    def cnn(x):
        h = TF.max_pool2d(TF.relu(TF.conv2d(x, w[0], w[1], padding=1)), 2)
        h = TF.max_pool2d(TF.relu(TF.conv2d(h, w[2], w[3], padding=1)), 2)
        return TF.log_softmax(TF.linear(h.reshape(h.shape[0], -1), w[4]), -1)

    return cnn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="runs; the best is kept")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weights, inputs = _models(rng)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    for name in ("mlp", "cnn"):
        x = inputs[name]
        v = rng.standard_normal(x.shape)
        f = dlpy_function(name, weights[name])
        contenders = {
            "forward": lambda f=f, x=x, v=v: jvp(f, (dlpy.Tensor(x),), (dlpy.Tensor(v),)),
            "double-vjp": lambda f=f, x=x, v=v: _jvp_by_vjp(f, (dlpy.Tensor(x),),
                                                            (dlpy.Tensor(v),), False),
        }
        if torch is not None:
            g = torch_function(name, weights[name])
            tx, tv = torch.from_numpy(x), torch.from_numpy(v)
            contenders["torch.func"] = lambda g=g, tx=tx, tv=tv: torch.func.jvp(g, (tx,), (tv,))
        a = contenders["forward"]()[1].data
        b = contenders["double-vjp"]()[1].data
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
        best = dict.fromkeys(contenders, float("inf"))
        for _ in range(args.repeats):  # alternating, so a slow spell hits every contender
            for key, run in contenders.items():
                start = time.perf_counter()
                run()
                best[key] = min(best[key], time.perf_counter() - start)
        line = "  ".join(f"{k} {1e3 * s:.2f} ms" for k, s in best.items())
        ratios = f"double-vjp/forward {best['double-vjp'] / best['forward']:.2f}x"
        if "torch.func" in best:
            ratios += f", forward/torch {best['forward'] / best['torch.func']:.2f}x"
        print(f"{name}: {line}  ({ratios})")


if __name__ == "__main__":
    main()
