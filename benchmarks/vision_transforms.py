"""dlpy.vision.transforms against torchvision on one thread: the grid-sampling transforms
(rotate, affine, perspective, elastic), resize with antialias, the colour and filter ops, and
AutoAugment's ImageNet policy on a batch.

    OMP_NUM_THREADS=1 python benchmarks/vision_transforms.py [--runs 7] [--only rotate]

Images are 3 x 224 x 224 (float32 in [0, 1], or uint8), the batch 8 x 3 x 224 x 224 uint8.
AutoAugment: every operation of the 25 ImageNet sub-policies at its magnitude, in order, each
library's own apply_op (torchvision's _apply_op), nearest interpolation; the random choice is
left out so that both do the same work. dlpy and torchvision alternate run by run; the minimum
of the runs is printed, and dlpy / torchvision. Needs torch (`pip install torch==2.13.0`, the
CPU build) and torchvision 0.28 (`pip install torchvision==0.28.0 --no-deps`), for the
reference only; torchvision's C extension does not load with the CPU torch, so its two op
registration modules are stubbed, as in tests/fixtures/make_vision_fixtures.py.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy loads its BLAS

import argparse  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

from dlpy.vision.transforms import functional as F  # noqa: E402
from dlpy.vision.transforms.autoaugment import _POLICIES, AutoAugment, apply_op  # noqa: E402

START = [[0, 0], [223, 0], [223, 223], [0, 223]]
END = [[10, 5], [210, 12], [220, 215], [3, 200]]


def torchvision():
    """torchvision with its detection-op registrations stubbed (they need its C extension)."""
    for name in ("torchvision._meta_registrations", "torchvision._autograd_registrations"):
        sys.modules.setdefault(name, types.ModuleType(name))
    import torchvision as tv

    return tv


def cases(torch, rng) -> list[tuple[str, object, object]]:
    """(label, dlpy call, torchvision call) pairs."""
    from torchvision.transforms import InterpolationMode as Mode
    from torchvision.transforms import functional as TF
    from torchvision.transforms.autoaugment import _apply_op

    x = rng.uniform(size=(3, 224, 224)).astype(np.float32)
    u = (x * 255).astype(np.uint8)
    batch = rng.integers(0, 256, (8, 3, 224, 224), dtype=np.uint8)
    # a smooth displacement of a few pixels, in grid units
    ys, xs = np.meshgrid(np.linspace(0, 6, 224), np.linspace(0, 6, 224), indexing="ij")
    displacement = (0.03 * np.stack([np.sin(ys), np.cos(xs)], -1)[None]).astype(np.float32)
    xt, ut, bt = torch.from_numpy(x), torch.from_numpy(u), torch.from_numpy(batch)
    dt = torch.from_numpy(displacement)
    bilinear, nearest = Mode.BILINEAR, Mode.NEAREST
    augment = AutoAugment()
    space = augment._augmentation_space(10, (224, 224))
    ops = []
    for policy in _POLICIES[augment.policy]:
        for name, _, magnitude_id in policy:
            magnitude = float(space[name][0][magnitude_id]) if magnitude_id is not None else 0.0
            ops.append((name, magnitude))

    def ours_augment():
        for name, magnitude in ops:
            apply_op(batch, name, magnitude, "nearest")

    def theirs_augment():
        for name, magnitude in ops:
            _apply_op(bt, name, magnitude, nearest, None)

    return [
        ("rotate bilinear f32", lambda: F.rotate(x, 30.0, "bilinear"),
         lambda: TF.rotate(xt, 30.0, bilinear)),
        ("rotate nearest u8", lambda: F.rotate(u, 30.0, "nearest"),
         lambda: TF.rotate(ut, 30.0, nearest)),
        ("rotate bilinear expand fill", lambda: F.rotate(x, 30.0, "bilinear", True, None,
                                                         [0.5, 0.5, 0.5]),
         lambda: TF.rotate(xt, 30.0, bilinear, True, None, [0.5, 0.5, 0.5])),
        ("affine bilinear f32", lambda: F.affine(x, 10.0, [3, 2], 1.1, [5.0, 0.0], "bilinear"),
         lambda: TF.affine(xt, 10.0, [3, 2], 1.1, [5.0, 0.0], bilinear)),
        ("affine nearest u8", lambda: F.affine(u, 10.0, [3, 2], 1.1, [5.0, 0.0]),
         lambda: TF.affine(ut, 10.0, [3, 2], 1.1, [5.0, 0.0])),
        ("perspective bilinear f32", lambda: F.perspective(x, START, END),
         lambda: TF.perspective(xt, START, END)),
        ("elastic bilinear f32", lambda: F.elastic_transform(x, displacement),
         lambda: TF.elastic_transform(xt, dt)),
        ("resize antialias 224->112", lambda: F.resize(x, [112, 112]),
         lambda: TF.resize(xt, [112, 112], antialias=True)),
        ("resize bilinear 224->320", lambda: F.resize(x, [320, 320]),
         lambda: TF.resize(xt, [320, 320], antialias=True)),
        ("adjust_hue f32", lambda: F.adjust_hue(x, 0.2), lambda: TF.adjust_hue(xt, 0.2)),
        ("gaussian_blur 5 f32", lambda: F.gaussian_blur(x, 5, 1.0),
         lambda: TF.gaussian_blur(xt, 5, 1.0)),
        ("equalize u8", lambda: F.equalize(u), lambda: TF.equalize(ut)),
        (f"AutoAugment {len(ops)} ops (8,3,224,224)", ours_augment, theirs_augment),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    torchvision()
    print(f"{'case':34s} {'dlpy ms':>9s} {'tv ms':>9s} {'dlpy/tv':>8s}")
    for label, ours, theirs in cases(torch, np.random.default_rng(0)):
        if args.only not in label:
            continue
        dlpy_time, tv_time = (t * 1e3 for t in best_of(args.runs, ours, theirs))
        print(f"{label:34s} {dlpy_time:9.2f} {tv_time:9.2f} {dlpy_time / tv_time:7.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
