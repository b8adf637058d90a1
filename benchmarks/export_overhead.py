"""What deployment costs: a forward of the MNIST MLP eager, through ``dlpy.export``'s
``ep.module()`` (generated code + the input-shape check) and through a ``dlpy.jit.load``'ed
module; and saving/loading ResNet-18 as an export archive beside ``dlpy.save`` of its state
dict (the archive adds the graph and the layers' settings as JSON).

    .venv/bin/python benchmarks/export_overhead.py [--repeats 7]

Contenders alternate within each repeat; prints the best time of each and the ratio to the
first contender of its group.
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np

import dlpy
from dlpy import Tensor
from dlpy.data.mnist_train import MLP
from dlpy.vision.models import resnet18


def _best(contenders: dict, repeats: int, number: int) -> dict[str, float]:
    best = {name: float("inf") for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    return best


def _report(title: str, best: dict[str, float], unit: float, unit_name: str) -> None:
    first = next(iter(best.values()))
    print(title)
    for name, seconds in best.items():
        print(f"  {name:34s} {seconds / unit:10.1f} {unit_name}   x{seconds / first:.2f}")


def forward_overhead(repeats: int) -> None:
    rng = np.random.default_rng(0)
    model = MLP(rng=rng)
    x = Tensor(rng.standard_normal((50, 784)).astype(np.float32))
    ep = dlpy.export.export(model, (x,), dynamic_shapes={"x": {0: dlpy.export.Dim("batch")}})
    buffer = io.BytesIO()
    dlpy.jit.save(dlpy.jit.trace(model, x), buffer)
    buffer.seek(0)
    contenders = {"eager MLP": lambda: model(x), "ep.module() (shape check)": ep.module(),
                  "jit.load'ed": dlpy.jit.load(buffer)}
    module, loaded = contenders["ep.module() (shape check)"], contenders["jit.load'ed"]
    contenders["ep.module() (shape check)"] = lambda: module(x)
    contenders["jit.load'ed"] = lambda: loaded(x)
    with dlpy.no_grad():
        _report("MLP forward, batch 50 (no_grad)", _best(contenders, repeats, 200), 1e-6, "us")


def save_load(repeats: int) -> None:
    rng = np.random.default_rng(0)
    model = resnet18(num_classes=10).eval()
    x = Tensor(rng.standard_normal((1, 3, 32, 32)).astype(np.float32))
    ep = dlpy.export.export(model, (x,))
    sizes = {}

    def export_save():
        buffer = io.BytesIO()
        dlpy.export.save(ep, buffer)
        sizes["export archive"] = len(buffer.getvalue())
        return buffer

    def state_save():
        buffer = io.BytesIO()
        dlpy.save(model.state_dict(), buffer)
        sizes["dlpy.save state_dict"] = len(buffer.getvalue())
        return buffer

    archive, state = export_save(), state_save()
    contenders = {"dlpy.save(state_dict)": state_save, "dlpy.export.save": export_save,
                  "dlpy.load(state_dict)": lambda: dlpy.load(io.BytesIO(state.getvalue())),
                  "dlpy.export.load": lambda: dlpy.export.load(io.BytesIO(archive.getvalue()))}
    _report("ResNet-18 save / load (in memory)", _best(contenders, repeats, 1), 1e-3, "ms")
    print("  sizes: " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    forward_overhead(args.repeats)
    save_load(args.repeats)


if __name__ == "__main__":
    main()
