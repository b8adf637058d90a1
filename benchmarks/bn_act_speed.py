"""Time the ops that dominate MobileNet/EfficientNet training besides the depthwise convolutions:
BatchNorm in training (forward + backward), ReLU6 (hardtanh's Clamp), SiLU, sigmoid, hardswish,
hardsigmoid and the pointwise (1x1) convolution (forward + backward), dlpy's ops on numpy arrays
against torch's (float32, one thread each), at the shapes of MobileNetV2/EfficientNet-B0 with
batch 8 at 112x112.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bn_act_speed.py [--repeats 9]
        [--old OLD/src/dlpy/ops] [--models mobilenet_v2,efficientnet_b0,mobilenet_v3_large]

The contenders alternate round by round, each keeps its fastest round, timed by the thread's
CPU time (time.thread_time: the 2 cores are shared, and one thread does all the work on both
sides, BLAS and torch's autograd included); the ratio is dlpy / torch. --old takes the ops
folder of an older dlpy (``git archive HEAD src``): its norm.py, activation.py,
activation_more.py and conv_pointwise.py time beside the current ones (old ms, new / old).
--models also times one training step (forward + backward of the logits' sum) of those
dlpy.vision models (--size: 112) with the current ops and with --old's (the op classes swapped
in), new / old.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import time
from pathlib import Path

import numpy as np
import timing  # noqa: E402 - benchmarks/timing.py, beside this script
import torch
import torch.nn.functional as TF

from dlpy.ops import activation, activation_more, conv_pointwise, norm

# (N, C, H, W): MobileNetV2 / EfficientNet-B0 at batch 8, 112x112
BN_SHAPES = ((8, 32, 56, 56), (8, 96, 56, 56), (8, 144, 28, 28), (8, 240, 14, 14),
             (8, 1280, 4, 4))
ACT_SHAPES = ((8, 96, 56, 56), (8, 240, 14, 14))
# (N, C in, O out, H, W): MobileNetV2's pointwise convolutions at batch 8, 112x112
POINTWISE_SHAPES = ((8, 16, 96, 56, 56), (8, 144, 24, 28, 28), (8, 576, 96, 7, 7),
                    (8, 320, 1280, 4, 4))
# the op classes --old swaps in: module, class name, the module whose old copy defines it
# (activation_more imports Clamp, for relu6, from activation)
SWAPPED = ((norm, "BatchNorm", norm), (activation, "Sigmoid", activation),
           (activation, "SiLU", activation), (activation, "Clamp", activation),
           (activation_more, "Clamp", activation), (activation_more, "Hardswish", activation_more),
           (activation_more, "Hardsigmoid", activation_more))
# the activations timed: dlpy's op (module, class, arguments) and torch's function
ACTIVATIONS = {"relu6": (activation, "Clamp", (0.0, 6.0, True), TF.relu6),
               "silu": (activation, "SiLU", (), TF.silu),
               "sigmoid": (activation, "Sigmoid", (), torch.sigmoid),
               "hardswish": (activation_more, "Hardswish", (), TF.hardswish),
               "hardsigmoid": (activation_more, "Hardsigmoid", (), TF.hardsigmoid)}


def best_of(runs: int, *functions) -> list[float]:
    """timing.best_of with the thread's CPU time (the cores are shared)."""
    return timing.best_of(runs, *functions, clock=time.thread_time)


def load_old(folder: str) -> dict:
    """The old norm.py, activation.py and activation_more.py as modules of their own, by the
    current module each stands in for."""
    modules = {}
    for current in (norm, activation, activation_more, conv_pointwise):
        name = current.__name__.rsplit(".", 1)[1]
        spec = importlib.util.spec_from_file_location(f"old_{name}", Path(folder) / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        modules[current] = module
    return modules


def bn_case(ops, shape, rng):
    """dlpy's BatchNorm (training, with weight and bias) forward + backward on arrays."""
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w = rng.uniform(0.5, 1.5, shape[1]).astype(np.float32)
    b = rng.standard_normal(shape[1]).astype(np.float32)

    def ours(module):
        def run():
            op = module.BatchNorm(1e-5, True, True, True)
            return op.forward(x, w, b), *op.backward(g)
        return run

    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    gt = torch.from_numpy(g)

    def theirs():
        xt.grad = wt.grad = bt.grad = None
        y = TF.batch_norm(xt, None, None, wt, bt, training=True)
        y.backward(gt)
        return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()
    return [ours(module) for module in ops], theirs


def act_case(ops, name, shape, rng):
    """An activation's forward + backward on arrays (x ~ 3 N(0, 1): both sides of hardswish's
    and ReLU6's kinks)."""
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    _, cls, arguments, function = ACTIVATIONS[name]

    def ours(module):
        def run():
            op = getattr(module, cls)(*arguments)
            return op.forward(x), *op.backward(g)
        return run

    xt, gt = torch.tensor(x, requires_grad=True), torch.from_numpy(g)

    def theirs():
        xt.grad = None
        y = function(xt)
        y.backward(gt)
        return y.detach().numpy(), xt.grad.numpy()
    return [ours(module) for module in ops], theirs


def pointwise_case(ops, shape, rng):
    """A 1x1 convolution (stride 1, no padding, no bias) forward + backward on arrays."""
    n, channels, out_channels, height, width = shape
    x = rng.standard_normal((n, channels, height, width)).astype(np.float32)
    w = (rng.standard_normal((out_channels, channels, 1, 1)) / channels ** 0.5
         ).astype(np.float32)
    g = rng.standard_normal((n, out_channels, height, width)).astype(np.float32)

    def ours(module):
        def run():
            y = module.forward(x, w, (1, 1), (0, 0), (height, width))
            return y, *module.backward(x, w, g, (1, 1), (0, 0), True, True)
        return run

    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    gt = torch.from_numpy(g)

    def theirs():
        xt.grad = wt.grad = None
        y = TF.conv2d(xt, wt)
        y.backward(gt)
        return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()
    return [ours(module) for module in ops], theirs


def check(name, got, expected) -> None:
    for a, b in zip(got, expected):
        scale = max(float(np.abs(b).max()), 1.0)
        if np.abs(a - b).max() > 1e-4 * scale:
            raise AssertionError(f"{name}: dlpy and torch differ by {np.abs(a - b).max():.2e}")


@contextlib.contextmanager
def old_ops(old: dict):
    """The current modules' op classes replaced by the old modules' while inside."""
    saved = [getattr(module, name) for module, name, _ in SWAPPED]
    for module, name, source in SWAPPED:
        setattr(module, name, getattr(old[source], name))
    try:
        yield
    finally:
        for (module, name, _), cls in zip(SWAPPED, saved):
            setattr(module, name, cls)


def time_models(names, old, repeats: int, size: int = 112) -> None:
    from dlpy import Tensor
    from dlpy.vision import models

    x = np.random.default_rng(0).standard_normal((8, 3, size, size)).astype(np.float32)
    for name in names:
        model = getattr(models, name)()
        model.train()

        def step(model=model):
            model.zero_grad()
            model(Tensor(x)).sum().backward()

        def old_step(step=step):
            with old_ops(old):
                step()
        step(), old_step()  # warm
        new, previous = best_of(repeats, step, old_step)
        print(f"{name:22s} {size}x{size} train step new {new * 1e3:8.1f} ms  "
              f"old {previous * 1e3:8.1f} ms  new/old {new / previous:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--old", help="an older dlpy's src/dlpy/ops folder to time beside")
    parser.add_argument("--models", default="", help="comma-separated dlpy.vision.models to "
                        "time one training step of, new against --old")
    parser.add_argument("--size", type=int, default=112, help="the models' image size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    old = load_old(args.old) if args.old else None
    rng = np.random.default_rng(0)
    cases = [("batch_norm", norm, shape) for shape in BN_SHAPES]
    cases += [(name, ACTIVATIONS[name][0], shape) for name in ACTIVATIONS
              for shape in ACT_SHAPES]
    cases += [("pointwise", conv_pointwise, shape) for shape in POINTWISE_SHAPES]
    header = f"{'':34s}{'dlpy ms':>9}{'torch ms':>9}{'ratio':>7}"
    print(header + (f"{'old ms':>9}{'new/old':>9}" if old else ""))
    for name, module, shape in cases:
        modules = [module] + ([old[module]] if old else [])
        if name == "batch_norm":
            ours, theirs = bn_case(modules, shape, rng)
        elif name == "pointwise":
            ours, theirs = pointwise_case(modules, shape, rng)
        else:
            ours, theirs = act_case(modules, name, shape, rng)
        label = f"{name} {shape}"
        check(label, ours[0](), theirs())
        times = best_of(args.repeats, ours[0], theirs, *ours[1:])
        line = f"{label:34s}{times[0] * 1e3:9.2f}{times[1] * 1e3:9.2f}{times[0] / times[1]:7.2f}"
        if old:
            line += f"{times[2] * 1e3:9.2f}{times[0] / times[2]:9.2f}"
        print(line)
    if args.models:
        if old is None:
            parser.error("--models needs --old (it times new against old)")
        time_models(args.models.split(","), old, max(args.repeats // 3, 3), args.size)


if __name__ == "__main__":
    main()
