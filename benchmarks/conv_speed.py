"""Time dlpy's convolutions and pools (forward + backward, float32) against PyTorch's CPU ones,
in 1, 2 and 3 spatial dimensions: one N-d implementation in dlpy (ops/conv.py), which picks
im2col, channels-last blocked im2col, Winograd F(2x2, 3x3), depthwise (phase-split or, 2-d
with 5+ wide kernels or narrow outputs, banded products), pointwise or grouped kernels by shape
(conv.conv_path).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/conv_speed.py [--repeats 7] [--contender old.py]
        [--old-src /tmp/old/src] [--only conv2d] [--forward] [--clock cpu]

torch runs with one thread (torch.set_num_threads(1)); dlpy's matrix products use numpy's BLAS,
pinned to one thread by OMP_NUM_THREADS=1. The contenders alternate, repetition by repetition,
so background load hits them alike, in an order that turns each repetition; each line prints
the best times and their ratio.
--contender takes another copy of ops/conv.py (an older one, say), imported on its own, whose
functions of the same names join the alternation (its column: old ms, and new / old); to time
older kernels too, copy the conv*.py files together and point their `from dlpy.ops import
conv...` lines at the copies, or give --old-src: an older src/ tree (`git archive HEAD src | tar
-x -C /tmp/old`) whose ops/conv*.py files are imported together in place of --contender.
--forward times the forward pass alone (under no_grad) instead of forward + backward.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import time

import numpy as np
import torch
import torch.nn.functional as TF

import dlpy.functional as F
import dlpy.ops
from dlpy import Tensor, no_grad

# name -> (dlpy function, torch function, input shapes, keyword arguments)
CASES = {
    "conv1d (32, 16, 200) k5 p2": (F.conv1d, TF.conv1d, [(32, 16, 200), (32, 16, 5), (32,)],
                                   dict(padding=2)),
    "conv2d (64, 8, 14, 14) k5 p2": (F.conv2d, TF.conv2d, [(64, 8, 14, 14), (16, 8, 5, 5),
                                                           (16,)], dict(padding=2)),
    # the MNIST CNN's two layers (batch 50) and a ResNet block's
    "conv2d (50, 1, 28, 28) 16 k5 p2": (F.conv2d, TF.conv2d, [(50, 1, 28, 28), (16, 1, 5, 5),
                                                              (16,)], dict(padding=2)),
    "conv2d (50, 16, 14, 14) 32 k5 p2": (F.conv2d, TF.conv2d, [(50, 16, 14, 14),
                                                               (32, 16, 5, 5), (32,)],
                                         dict(padding=2)),
    "conv2d (16, 64, 32, 32) 64 k3 p1": (F.conv2d, TF.conv2d, [(16, 64, 32, 32),
                                                               (64, 64, 3, 3), (64,)],
                                         dict(padding=1)),
    "conv2d (8, 128, 16, 16) 128 k3 p1": (F.conv2d, TF.conv2d, [(8, 128, 16, 16),
                                                               (128, 128, 3, 3), (128,)],
                                         dict(padding=1)),
    "conv2d (16, 64, 32, 32) 64 k3 s2 p1": (F.conv2d, TF.conv2d, [(16, 64, 32, 32),
                                                                  (64, 64, 3, 3), (64,)],
                                            dict(stride=2, padding=1)),
    "conv3d (8, 8, 8, 16, 16) k3 p1": (F.conv3d, TF.conv3d, [(8, 8, 8, 16, 16), (16, 8, 3, 3, 3),
                                                             (16,)], dict(padding=1)),
    "conv_transpose2d (16, 16, 14, 14) k4 s2": (
        F.conv_transpose2d, TF.conv_transpose2d, [(16, 16, 14, 14), (16, 8, 4, 4)],
        dict(stride=2, padding=1)),
    "conv_transpose2d (16, 32, 14, 14) k3 p1": (
        F.conv_transpose2d, TF.conv_transpose2d, [(16, 32, 14, 14), (32, 16, 3, 3)],
        dict(padding=1)),
    "conv_transpose3d (4, 16, 4, 8, 8) k4 s2": (
        F.conv_transpose3d, TF.conv_transpose3d, [(4, 16, 4, 8, 8), (16, 8, 4, 4, 4)],
        dict(stride=2, padding=1)),
    # MobileNetV2 (batch 8, 112x112 input): depthwise 3x3 at stride 1 and 2, pointwise 1x1
    "dw conv2d (8, 96, 28, 28) k3 p1 g96": (F.conv2d, TF.conv2d, [(8, 96, 28, 28),
                                                                 (96, 1, 3, 3), (96,)],
                                            dict(padding=1, groups=96)),
    "dw conv2d (8, 144, 28, 28) k3 s2 p1 g144": (F.conv2d, TF.conv2d, [(8, 144, 28, 28),
                                                                      (144, 1, 3, 3)],
                                                 dict(stride=2, padding=1, groups=144)),
    "conv2d (8, 96, 28, 28) 24 k1": (F.conv2d, TF.conv2d, [(8, 96, 28, 28), (24, 96, 1, 1)],
                                     {}),
    # ConvNeXt's 7x7 depthwise (stages 1 and 3, and batch 32), MobileNetV3's / EfficientNet's
    # 5x5 at stride 1 and 2, a narrow 3x3 (conv_banded's banded products)
    "dw conv2d (8, 96, 28, 28) k7 p3 g96": (F.conv2d, TF.conv2d, [(8, 96, 28, 28),
                                                                 (96, 1, 7, 7), (96,)],
                                            dict(padding=3, groups=96)),
    "dw conv2d (8, 384, 7, 7) k7 p3 g384": (F.conv2d, TF.conv2d, [(8, 384, 7, 7),
                                                                 (384, 1, 7, 7), (384,)],
                                            dict(padding=3, groups=384)),
    "dw conv2d (32, 192, 14, 14) k7 p3 g192": (F.conv2d, TF.conv2d, [(32, 192, 14, 14),
                                                                    (192, 1, 7, 7), (192,)],
                                               dict(padding=3, groups=192)),
    "dw conv2d (8, 240, 14, 14) k5 p2 g240": (F.conv2d, TF.conv2d, [(8, 240, 14, 14),
                                                                   (240, 1, 5, 5), (240,)],
                                              dict(padding=2, groups=240)),
    "dw conv2d (8, 240, 28, 28) k5 s2 p2 g240": (F.conv2d, TF.conv2d, [(8, 240, 28, 28),
                                                                      (240, 1, 5, 5)],
                                                 dict(stride=2, padding=2, groups=240)),
    "dw conv2d (8, 576, 7, 7) k3 p1 g576": (F.conv2d, TF.conv2d, [(8, 576, 7, 7),
                                                                 (576, 1, 3, 3), (576,)],
                                            dict(padding=1, groups=576)),
    # ResNet's downsampling: a stride-2 3x3 and the 1x1 stride-2 shortcut; its 7x7 stem
    "conv2d (8, 64, 28, 28) 128 k3 s2 p1": (F.conv2d, TF.conv2d, [(8, 64, 28, 28),
                                                                  (128, 64, 3, 3)],
                                            dict(stride=2, padding=1)),
    "conv2d (8, 64, 28, 28) 128 k1 s2": (F.conv2d, TF.conv2d, [(8, 64, 28, 28),
                                                               (128, 64, 1, 1)],
                                         dict(stride=2)),
    "conv2d (8, 3, 112, 112) 64 k7 s2 p3": (F.conv2d, TF.conv2d, [(8, 3, 112, 112),
                                                                  (64, 3, 7, 7)],
                                            dict(stride=2, padding=3)),
    # MobileNetV2 / EfficientNet-B0 at 224x224, batch 8: depthwise 3x3 at stride 1 and 2 on each
    # stage's planes, ResNet's stride-2 3x3 at 56x56 and its 7x7/2 stem at 224x224
    **{f"dw conv2d (8, {c}, {h}, {h}) k3 s{s} p1 g{c}": (
        F.conv2d, TF.conv2d, [(8, c, h, h), (c, 1, 3, 3)], dict(stride=s, padding=1, groups=c))
       for c, h in ((32, 112), (96, 56), (144, 28), (576, 14)) for s in (1, 2)},
    "conv2d (8, 64, 56, 56) 128 k3 s2 p1": (F.conv2d, TF.conv2d, [(8, 64, 56, 56),
                                                                  (128, 64, 3, 3)],
                                            dict(stride=2, padding=1)),
    "conv2d (8, 3, 224, 224) 64 k7 s2 p3": (F.conv2d, TF.conv2d, [(8, 3, 224, 224),
                                                                  (64, 3, 7, 7)],
                                            dict(stride=2, padding=3)),
    # 1-d: a sequence layer, and depthwise (ConvNeXt / Mamba-style token mixing)
    "conv1d (32, 64, 256) 64 k3 p1": (F.conv1d, TF.conv1d, [(32, 64, 256), (64, 64, 3),
                                                            (64,)], dict(padding=1)),
    "conv1d (32, 64, 256) 64 k5 p2": (F.conv1d, TF.conv1d, [(32, 64, 256), (64, 64, 5),
                                                            (64,)], dict(padding=2)),
    "dw conv1d (32, 128, 256) k4 p3 g128": (F.conv1d, TF.conv1d, [(32, 128, 256),
                                                                  (128, 1, 4), (128,)],
                                            dict(padding=3, groups=128)),
    "dw conv1d (16, 256, 128) k7 p3 g256": (F.conv1d, TF.conv1d, [(16, 256, 128),
                                                                  (256, 1, 7), (256,)],
                                            dict(padding=3, groups=256)),
    # grouped (ResNeXt): 4 and 32 groups
    "conv2d (8, 128, 28, 28) 128 k3 p1 g4": (F.conv2d, TF.conv2d, [(8, 128, 28, 28),
                                                                   (128, 32, 3, 3)],
                                             dict(padding=1, groups=4)),
    "conv2d (8, 128, 28, 28) 128 k3 p1 g32": (F.conv2d, TF.conv2d, [(8, 128, 28, 28),
                                                                    (128, 4, 3, 3)],
                                              dict(padding=1, groups=32)),
    # a U-Net decoder's upsampling
    "conv_transpose2d (8, 64, 28, 28) 32 k2 s2": (
        F.conv_transpose2d, TF.conv_transpose2d, [(8, 64, 28, 28), (64, 32, 2, 2), (32,)],
        dict(stride=2)),
    "conv_transpose2d (8, 64, 28, 28) 32 k3 s2": (
        F.conv_transpose2d, TF.conv_transpose2d, [(8, 64, 28, 28), (64, 32, 3, 3), (32,)],
        dict(stride=2, padding=1, output_padding=1)),
    "conv_transpose1d (32, 64, 128) 32 k4 s2": (
        F.conv_transpose1d, TF.conv_transpose1d, [(32, 64, 128), (64, 32, 4), (32,)],
        dict(stride=2, padding=1)),
    # the DCGAN of examples/pytorch/dcgan.py (batch 64, 32x32, nz 32, ngf = ndf = 32): the
    # generator's transposed convolutions, the discriminator's convolutions
    **{f"dcgan G conv_transpose2d {x} {w[1]} k4 s{s}": (
        F.conv_transpose2d, TF.conv_transpose2d, [x, w], dict(stride=s, padding=p))
       for x, w, s, p in (((64, 32, 1, 1), (32, 128, 4, 4), 1, 0),
                          ((64, 128, 4, 4), (128, 64, 4, 4), 2, 1),
                          ((64, 64, 8, 8), (64, 32, 4, 4), 2, 1),
                          ((64, 32, 16, 16), (32, 3, 4, 4), 2, 1))},
    **{f"dcgan D conv2d {x} {w[0]} k4 s{s}": (
        F.conv2d, TF.conv2d, [x, w], dict(stride=s, padding=p))
       for x, w, s, p in (((64, 3, 32, 32), (32, 3, 4, 4), 2, 1),
                          ((64, 32, 16, 16), (64, 32, 4, 4), 2, 1),
                          ((64, 64, 8, 8), (128, 64, 4, 4), 2, 1),
                          ((64, 128, 4, 4), (1, 128, 4, 4), 1, 0))},
    # an MNIST DCGAN's one-channel ends (28x28), a 1-d one-channel 4 / 2
    "dcgan-mnist D conv2d (64, 1, 28, 28) 64 k4 s2": (
        F.conv2d, TF.conv2d, [(64, 1, 28, 28), (64, 1, 4, 4)], dict(stride=2, padding=1)),
    "dcgan-mnist G conv_transpose2d (64, 64, 14, 14) 1 k4 s2": (
        F.conv_transpose2d, TF.conv_transpose2d, [(64, 64, 14, 14), (64, 1, 4, 4)],
        dict(stride=2, padding=1)),
    "conv1d (32, 1, 1024) 16 k4 s2 p1": (F.conv1d, TF.conv1d, [(32, 1, 1024), (16, 1, 4)],
                                         dict(stride=2, padding=1)),
    "max_pool2d (64, 8, 28, 28) k2": (F.max_pool2d, TF.max_pool2d, [(64, 8, 28, 28)],
                                      dict(kernel_size=2)),
    "max_pool3d (8, 8, 8, 28, 28) k2": (F.max_pool3d, TF.max_pool3d, [(8, 8, 8, 28, 28)],
                                        dict(kernel_size=2)),
    "avg_pool3d (8, 8, 8, 28, 28) k3 s2 p1": (F.avg_pool3d, TF.avg_pool3d, [(8, 8, 8, 28, 28)],
                                              dict(kernel_size=3, stride=2, padding=1)),
}


# --clock: the wall clock, or this thread's CPU time (steadier on loaded shared cores; both
# contenders run in this one thread)
CLOCK = {"clock": time.perf_counter}


def time_dlpy(fn, arrays, kwargs, forward: bool = False) -> float:
    inputs = [Tensor(a, requires_grad=not forward) for a in arrays]
    clock = CLOCK["clock"]
    start = clock()
    if forward:
        with no_grad():
            fn(*inputs, **kwargs)
    else:
        fn(*inputs, **kwargs).sum().backward()
    return clock() - start


def time_torch(fn, arrays, kwargs, forward: bool = False) -> float:
    inputs = [torch.tensor(a, requires_grad=not forward) for a in arrays]
    clock = CLOCK["clock"]
    start = clock()
    if forward:
        with torch.no_grad():
            fn(*inputs, **kwargs)
    else:
        fn(*inputs, **kwargs).sum().backward()
    return clock() - start


def load_contender(path: str):
    """Another copy of ops/conv.py as a module of its own (it imports dlpy's other ops)."""
    spec = importlib.util.spec_from_file_location("conv_contender", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_old_src(src: str):
    """ops/conv.py of an older src/ tree, with the conv_*.py kernels it imports from the same
    tree (its other imports resolve to the current dlpy): dlpy.ops reads its conv* modules
    from there while they import, then the current ones are put back."""
    names = [name for name in sys.modules if name.startswith("dlpy.ops.conv")]
    saved = {name: sys.modules.pop(name) for name in names}
    attributes = {name: getattr(dlpy.ops, name.rsplit(".", 1)[1]) for name in names}
    for name in attributes:  # else `from dlpy.ops import conv_...` takes the current ones
        delattr(dlpy.ops, name.rsplit(".", 1)[1])
    path = list(dlpy.ops.__path__)
    dlpy.ops.__path__[:] = [f"{src}/dlpy/ops"]
    try:
        return importlib.import_module("dlpy.ops.conv")
    finally:
        dlpy.ops.__path__[:] = path
        for name in [name for name in sys.modules if name.startswith("dlpy.ops.conv")]:
            del sys.modules[name]
        sys.modules.update(saved)
        for name, module in attributes.items():
            setattr(dlpy.ops, name.rsplit(".", 1)[1], module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--contender", help="another ops/conv.py to time beside this one")
    parser.add_argument("--old-src", help="an older src/ tree whose ops/conv*.py to time beside")
    parser.add_argument("--only", default="", help="time only the cases whose name has this (or "
                        "one of these, split by |)")
    parser.add_argument("--forward", action="store_true", help="the forward pass alone")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this thread's CPU time (time.thread_time)")
    args = parser.parse_args()
    CLOCK["clock"] = time.thread_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)
    contender = load_contender(args.contender) if args.contender else None
    if args.old_src:
        contender = load_old_src(args.old_src)
    rng = np.random.default_rng(0)
    old_header = f" {'old ms':>9s} {'new/old':>7s}" if contender else ""
    mode = "forward" if args.forward else "forward + backward"
    print(f"{mode + ', float32':42s} {'dlpy ms':>9s} {'torch ms':>9s} "
          f"{'ratio':>6s}{old_header}")
    for name, (ours, theirs, shapes, kwargs) in CASES.items():
        if not any(part in name for part in args.only.split("|")):
            continue
        arrays = [rng.standard_normal(shape).astype(np.float32) for shape in shapes]
        old = getattr(contender, ours.__name__) if contender else None
        runs = [(time_dlpy, ours), (time_torch, theirs)] + ([(time_dlpy, old)] if old else [])
        best = [float("inf")] * len(runs)
        for repeat in range(args.repeats):
            # the order turns each repetition: run always after torch, the same code against
            # itself measured up to 15 % slower
            for i in np.roll(np.arange(len(runs)), -repeat):
                timer, fn = runs[i]
                best[i] = min(best[i], timer(fn, arrays, kwargs, args.forward))
        best_ours, best_theirs, best_old = best + [float("inf")] * (3 - len(best))
        line = (f"{name:42s} {best_ours * 1e3:9.2f} {best_theirs * 1e3:9.2f} "
                f"{best_ours / best_theirs:6.1f}")
        if old is not None:
            line += f" {best_old * 1e3:9.2f} {best_ours / best_old:7.2f}"
        print(line)


if __name__ == "__main__":
    main()
