"""The cost of drawing torch's CPU streams (dlpy.Generator: torch's Mersenne Twister and
kernels' transforms, dlpy/random_streams.py) against numpy's PCG64 draws dlpy made before
(the same dlpy calls given ``generator=np.random.default_rng(0)``, which keep numpy's draws)
and against torch itself.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python benchmarks/random_streams.py [--repeats 7]

The three contenders alternate within each repeat (a busy machine slows them alike); prints
the best milliseconds of each and the ratios after/before and after/torch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy
from dlpy import functional as F
from dlpy import nn


def cases():
    """(label, after: torch's streams, before: numpy's PCG64, torch) for each measured call."""
    import torch

    x = dlpy.ones(256, 1024)
    tx = torch.ones(256, 1024)
    pcg = np.random.default_rng(0)

    def encoder(rng=None):
        layer = nn.TransformerEncoderLayer(256, 4, 1024, rng=rng)
        return nn.TransformerEncoder(layer, 12)

    def torch_encoder():
        layer = torch.nn.TransformerEncoderLayer(256, 4, 1024)
        return torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)

    # ResNet-18's convolution weights, initialised as torchvision's ResNet does
    convs = [(64, 3, 7, 7)] + [(64, 64, 3, 3)] * 4 + [
        shape for width in (128, 256, 512)
        for shape in [(width, width // 2, 3, 3)] + [(width, width, 3, 3)] * 3
        + [(width, width // 2, 1, 1)]]
    weights = [dlpy.empty(*shape) for shape in convs]
    torch_weights = [torch.empty(*shape) for shape in convs]

    def resnet18_init(generator=None):
        for weight in weights:
            nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu",
                                    generator=generator)

    def torch_resnet18_init():
        for weight in torch_weights:
            torch.nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")

    return [
        ("randn(1_000_000)", lambda: dlpy.randn(1_000_000),
         lambda: dlpy.randn(1_000_000, generator=pcg), lambda: torch.randn(1_000_000)),
        ("randn(100, 100)", lambda: dlpy.randn(100, 100),
         lambda: dlpy.randn(100, 100, generator=pcg), lambda: torch.randn(100, 100)),
        ("kaiming_normal_ ResNet-18 convs (11.2M)", resnet18_init, lambda: resnet18_init(pcg),
         torch_resnet18_init),
        ("rand(1_000_000)", lambda: dlpy.rand(1_000_000),
         lambda: dlpy.rand(1_000_000, generator=pcg), lambda: torch.rand(1_000_000)),
        ("randn(1_000_000, float64)", lambda: dlpy.randn(1_000_000, dtype=dlpy.float64),
         lambda: dlpy.randn(1_000_000, dtype=dlpy.float64, generator=pcg),
         lambda: torch.randn(1_000_000, dtype=torch.float64)),
        ("randint(0, 1000, (1_000_000,))", lambda: dlpy.randint(0, 1000, (1_000_000,)),
         lambda: dlpy.randint(0, 1000, (1_000_000,), generator=pcg),
         lambda: torch.randint(0, 1000, (1_000_000,))),
        ("randperm(60_000)", lambda: dlpy.randperm(60_000),
         lambda: dlpy.randperm(60_000, generator=pcg), lambda: torch.randperm(60_000)),
        ("dropout (256, 1024), p=0.1", lambda: F.dropout(x, 0.1),
         lambda: F.dropout(x, 0.1, rng=pcg), lambda: torch.nn.functional.dropout(tx, 0.1)),
        ("TransformerEncoder 12 x (256, 4, 1024)", encoder, lambda: encoder(pcg), torch_encoder),
    ]


def best_ms(function, times: dict, key) -> None:
    start = time.perf_counter()
    function()
    elapsed = (time.perf_counter() - start) * 1e3
    times[key] = min(times.get(key, float("inf")), elapsed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    dlpy.manual_seed(0)
    print(f"{'call':40s} {'after ms':>9s} {'before ms':>10s} {'torch ms':>9s} "
          f"{'after/before':>13s} {'after/torch':>12s}")
    for label, after, before, torch_call in cases():
        times: dict = {}
        for _ in range(args.repeats):
            for key, function in (("after", after), ("before", before), ("torch", torch_call)):
                best_ms(function, times, key)
        print(f"{label:40s} {times['after']:9.2f} {times['before']:10.2f} {times['torch']:9.2f} "
              f"{times['after'] / times['before']:13.2f} {times['after'] / times['torch']:12.2f}")


if __name__ == "__main__":
    main()
