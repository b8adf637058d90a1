"""Time dlpy.vision.models.resnet18 and mobilenet_v2 against torchvision's (float32, batch 8,
112x112, one thread each): the forward pass in eval mode, and forward + backward (a sum of the
logits) in training mode. The same weights are loaded into both (the torchvision state dict,
unchanged).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/vision_models.py [--repeats 5]
        [--models resnet18,mobilenet_v2 | more | round2 | convs] [--contender old_conv.py]
        [--old-src /tmp/old/src]

torch runs with torch.set_num_threads(1); dlpy's matrix products use numpy's BLAS, pinned to one
thread by OMP_NUM_THREADS=1. The contenders alternate round by round (timing.best_of), each
keeps its fastest round; the ratio is dlpy / torch. --contender takes another copy of
ops/conv.py (an older one, with its kernels importable as it names them), whose conv_path,
conv_forward and conv_backward stand in for the current ones in a third contender: it prints
that one's time, its ratio to torch and new / old. --old-src takes an older src/ tree instead
(`git archive HEAD src | tar -x -C /tmp/old`): its ops/conv.py with its own conv_*.py kernels
(conv_speed.load_old_src).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
import types

import numpy as np
import torch
from timing import best_of

from dlpy import Tensor
from dlpy.ops import conv
from dlpy.vision import models

# the PyPI torchvision wheel is built for CUDA torch: with the CPU torch its C extension (the
# detection ops) does not load; the models are pure Python (make_vision_fixtures.py, likewise)
for _name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
    sys.modules.setdefault(_name, types.ModuleType(_name))
import torchvision  # noqa: E402

# the newer families (vision/models/alexnet.py ... convnext.py): ``--models more``
MORE_MODELS = ("alexnet", "squeezenet1_1", "densenet121", "mobilenet_v3_small",
               "mobilenet_v3_large", "efficientnet_b0", "shufflenet_v2_x1_0", "resnext50_32x4d",
               "regnet_y_400mf", "convnext_tiny")
# round two (googlenet.py ... swin_transformer.py): ``--models round2``; the auxiliary
# classifiers off, so that training mode returns the logits
ROUND2_MODELS = ("googlenet", "inception_v3", "mnasnet1_0", "swin_t", "swin_v2_t")
# the families whose convolutions trail PyTorch most (depthwise, strided): ``--models convs``
CONV_MODELS = ("convnext_tiny", "mobilenet_v3_large", "efficientnet_b0", "mnasnet1_0")
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
CONSTRUCTOR_KWARGS = {"googlenet": {"aux_logits": False, "init_weights": True},
                      "inception_v3": {"aux_logits": False, "init_weights": True}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--models", default="resnet18,mobilenet_v2",
                        help="comma-separated names, among them 'more' for MORE_MODELS, "
                        "'round2' for ROUND2_MODELS, 'convs' for CONV_MODELS")
    parser.add_argument("--contender", help="another ops/conv.py to time beside this one")
    parser.add_argument("--old-src", help="an older src/ tree whose ops/conv*.py to time beside")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this thread's CPU time (time.thread_time), steadier on "
                        "loaded cores")
    args = parser.parse_args()
    torch.set_num_threads(1)
    groups = {"more": MORE_MODELS, "round2": ROUND2_MODELS, "convs": CONV_MODELS}
    names = [name for item in args.models.split(",") for name in groups.get(item, (item,))]
    contender = load_contender(args.contender) if args.contender else None
    if args.old_src:
        from conv_speed import load_old_src

        contender = load_old_src(args.old_src)
    for name in names:
        compare(name, args, contender)


def load_contender(path: str):
    """Another copy of ops/conv.py as a module of its own."""
    spec = importlib.util.spec_from_file_location("conv_contender", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def conv_functions(module):
    """ConvNd and ConvTransposeNd compute by module's conv_path, conv_forward and
    conv_backward while inside (they look these up in ops.conv at each call)."""
    names = ("conv_path", "conv_forward", "conv_backward")
    saved = [getattr(conv, name) for name in names]
    for name in names:
        setattr(conv, name, getattr(module, name))
    try:
        yield
    finally:
        for name, function in zip(names, saved):
            setattr(conv, name, function)


def _report(label: str, times, contender) -> None:
    dlpy_time, torch_time = times[:2]
    line = (f"{label:28s}dlpy {dlpy_time * 1e3:8.1f} ms  torch {torch_time * 1e3:8.1f} ms  "
            f"ratio {dlpy_time / torch_time:5.2f}")
    if contender is not None:
        line += (f"  old {times[2] * 1e3:8.1f} ms  ratio {times[2] / torch_time:5.2f}  "
                 f"new/old {dlpy_time / times[2]:5.2f}")
    print(line)


def compare(name: str, args, contender=None) -> None:
    torch.manual_seed(0)
    kwargs = CONSTRUCTOR_KWARGS.get(name, {})
    reference = getattr(torchvision.models, name)(**kwargs)
    model = getattr(models, name)(**kwargs)
    model.load_state_dict(reference.state_dict())
    x = np.random.default_rng(0).standard_normal((args.batch, 3, args.size, args.size)
                                                 ).astype(np.float32)
    x_torch = torch.from_numpy(x)
    with torch.no_grad():
        expected = reference.eval()(x_torch).numpy()
    got = model.eval()(Tensor(x)).data
    print(f"{name} batch {args.batch}, {args.size}x{args.size}, float32; max |dlpy - torch| "
          f"of the logits: {np.abs(got - expected).max():.2e}")

    def torch_forward():
        with torch.no_grad():
            reference(x_torch)

    def dlpy_forward():
        from dlpy import no_grad

        with no_grad():
            model(Tensor(x))

    def torch_step():
        reference.zero_grad()
        reference(x_torch).sum().backward()

    def dlpy_step():
        model.zero_grad()
        model(Tensor(x)).sum().backward()

    def with_contender(function):
        def run():
            with conv_functions(contender):
                function()
        return run

    reference.eval(), model.eval()
    old = [with_contender(dlpy_forward)] if contender else []
    clock = CLOCKS[args.clock]
    _report("forward (eval):",
            best_of(args.repeats, dlpy_forward, torch_forward, *old, clock=clock), contender)
    reference.train(), model.train()
    old = [with_contender(dlpy_step)] if contender else []
    _report("forward + backward (train):",
            best_of(args.repeats, dlpy_step, torch_step, *old, clock=clock), contender)


if __name__ == "__main__":
    main()
