"""The fixed cost of ``dlpy.fx.symbolic_trace`` and ``dlpy.export.export`` on small modules
(a Linear+ReLU MLP, a conv block, a tiny transformer layer), beside torch.fx.symbolic_trace and
torch.export.export on the same modules written in torch.

    PYTHONPATH=src python benchmarks/fx_trace_overhead.py [--repeats 7] [--no-torch]

Each trace or export is a fixed cost (swapping in the recording call sites, building the graph,
generating its code) paid once a model, and thousands of times by a test suite. Contenders
alternate within each repeat (timing.best_of, on this thread's CPU time: steadier on shared
cores); prints the best time a call of each, in ms, and dlpy's time over torch's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from timing import best_of

import dlpy
import dlpy.fx


def _modules(nn, functional):
    """The three small modules, built from ``nn`` and ``functional`` (dlpy's or torch's)."""

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(32, 64), nn.Linear(64, 10)

        def forward(self, x):
            return self.fc2(functional.relu(self.fc1(x)))

    class ConvBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.norm = nn.BatchNorm2d(8)

        def forward(self, x):
            return functional.max_pool2d(functional.relu(self.norm(self.conv(x))), 2)

    class TinyTransformerLayer(nn.Module):
        def __init__(self, d_model: int = 16, num_heads: int = 2):
            super().__init__()
            self.attn = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
            self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
            self.ff1, self.ff2 = nn.Linear(d_model, 4 * d_model), nn.Linear(4 * d_model, d_model)

        def forward(self, x):
            x = self.norm1(x + self.attn(x, x, x, need_weights=False)[0])
            return self.norm2(x + self.ff2(functional.gelu(self.ff1(x))))

    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(shape).astype(np.float32)
              for shape in ((4, 32), (2, 3, 8, 8), (2, 5, 16))]
    return [(name, module().eval(), x) for (name, module), x in zip(
        [("MLP (Linear+ReLU)", MLP), ("conv block", ConvBlock),
         ("tiny transformer layer", TinyTransformerLayer)], inputs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-torch", action="store_true", help="time dlpy alone")
    args = parser.parse_args()
    ours = _modules(dlpy.nn, dlpy.functional)
    theirs = [None] * len(ours)
    if not args.no_torch:
        try:
            import torch
            import torch.fx

            torch.set_num_threads(1)
            theirs = _modules(torch.nn, torch.nn.functional)
        except ImportError:
            print("(torch is not installed: dlpy alone)")
    print(f"{'':40}{'dlpy ms':>10}{'torch ms':>10}{'dlpy/torch':>12}")
    for kind, number in (("symbolic_trace", 50), ("export", 10)):
        for (name, module, x), other in zip(ours, theirs):
            x_ours = dlpy.Tensor(x)
            if kind == "symbolic_trace":
                contenders = [lambda m=module: dlpy.fx.symbolic_trace(m)]
            else:
                contenders = [lambda m=module, x=x_ours: dlpy.export.export(m, (x,))]
            if other is not None:
                module_t, x_t = other[1], torch.from_numpy(other[2])
                if kind == "symbolic_trace":
                    contenders.append(lambda m=module_t: torch.fx.symbolic_trace(m))
                else:  # torch.export's own cost is large: fewer calls a round
                    contenders.append(lambda m=module_t, x=x_t: torch.export.export(m, (x,)))
            for contender in contenders:
                contender()  # warm: first-call caches on both sides
            calls = [number, number if kind == "symbolic_trace" else 1]
            timed = [lambda f=f, n=n: [f() for _ in range(n)] for f, n in zip(contenders, calls)]
            best = [t / n for t, n in zip(best_of(args.repeats, *timed,
                                                         clock=time.thread_time), calls)]
            line = f"{kind + ': ' + name:40}{best[0] * 1e3:10.2f}"
            if len(best) > 1:
                line += f"{best[1] * 1e3:10.2f}{best[0] / best[1]:12.2f}"
            print(line)


if __name__ == "__main__":
    main()
