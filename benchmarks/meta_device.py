"""The meta device: building a large model and running it for its shapes, dlpy against torch.

    python benchmarks/meta_device.py [--layers 24] [--width 1024] [--runs 3]

A 24-layer Transformer encoder of width 1024 (about 300 M parameters, 1.2 GB of float32 on the
CPU) is built under ``with device("meta")`` and run forward and backward on a meta batch of
(8, 512, 1024); dlpy and torch alternate, and the minimum of ``--runs`` is reported with the
ratio. dlpy's peak traced memory (tracemalloc) during the build shows that nothing is drawn
or allocated. torch is optional (only dlpy's numbers without it).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc


def _build_and_run(lib, layers: int, width: int) -> tuple[float, float, tuple]:
    nn = lib.nn
    start = time.perf_counter()
    with lib.device("meta"):
        layer = nn.TransformerEncoderLayer(width, 16, 4 * width, batch_first=True)
        model = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    built = time.perf_counter() - start
    x = lib.empty(8, 512, width, device="meta", requires_grad=True)
    start = time.perf_counter()
    out = model(x)
    out.sum().backward()
    ran = time.perf_counter() - start
    assert x.grad is not None and x.grad.is_meta
    return built, ran, tuple(out.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import dlpy

    try:
        import torch
    except ImportError:
        torch = None
    tracemalloc.start()
    _build_and_run(dlpy, args.layers, args.width)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = {"dlpy": [float("inf")] * 2, "torch": [float("inf")] * 2}
    for _ in range(args.runs):  # the two alternate
        for name, lib in (("dlpy", dlpy), ("torch", torch)):
            if lib is None:
                continue
            built, ran, shape = _build_and_run(lib, args.layers, args.width)
            best[name] = [min(best[name][0], built), min(best[name][1], ran)]
    params = args.layers * (12 * args.width ** 2 + 13 * args.width)
    print(f"{args.layers} layers of width {args.width} ({params / 1e6:.0f} M parameters, "
          f"{params * 4 / 2**30:.2f} GiB of float32), output {shape}")
    print(f"dlpy: build {best['dlpy'][0] * 1e3:.0f} ms (peak traced memory "
          f"{peak / 2**20:.1f} MiB), forward + backward {best['dlpy'][1] * 1e3:.0f} ms")
    if torch is not None:
        print(f"torch: build {best['torch'][0] * 1e3:.0f} ms, forward + backward "
              f"{best['torch'][1] * 1e3:.0f} ms")
        print(f"dlpy / torch: build {best['dlpy'][0] / best['torch'][0]:.2f}x, forward + "
              f"backward {best['dlpy'][1] / best['torch'][1]:.2f}x")


if __name__ == "__main__":
    main()
