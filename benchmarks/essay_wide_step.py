"""One training step of EssayNet's wide part at the bundled model's size, with the ridge penalty
as one op (`F.sum_of_squares`, what EssayNet uses) against the same penalty composed of small
ops (`F.sum(w * w * scale)`, what it used before).

    OMP_NUM_THREADS=1 python benchmarks/essay_wide_step.py [--rows 1761418] [--steps 15]

Synthetic data of the bundled model's shape: 40,000 n-grams, 5 categories, 50 prompts with
their copies, `--rows` rows of n-gram weights (the bundled model of 20,000 + 20,000 n-grams
kept 1,761,418; today's 60,000 + 60,000 one keeps 3,718,640), batches of 64 essays with 600
n-grams each; AdamW, gradient clipping and the weight average (`--ema`) as in
training. The contenders alternate step by step; the minimum over the steps and the ratio are
printed (the two-core machine is shared: medians swing, minima are the comparable figure).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dlpy.functional as F
from dlpy import optim
from dlpy.essay.model import EssayNet
from dlpy.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

NGRAMS, CATEGORIES, PROMPTS, BATCH, PER_ESSAY = 40000, 5, 50, 64, 600


def composed_penalty(model: EssayNet, l2_shared: float, l2_group: float):
    w = model.wide_weight
    scale = np.full((w.shape[0], 1), l2_group, dtype=np.float32)
    scale[:model.num_ngrams] = l2_shared
    return F.sum(w * w * scale)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_761_418)
    parser.add_argument("--steps", type=int, default=15)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    copy_rows = args.rows - NGRAMS
    keys = np.sort(rng.choice(NGRAMS * (CATEGORIES + PROMPTS), copy_rows, replace=False))
    model = EssayNet(num_ngrams=NGRAMS, num_stats=57, num_prompts=PROMPTS,
                     num_categories=CATEGORIES, d_model=0, prompt_copies=True,
                     num_copy_rows=copy_rows)
    model.copy_keys = keys.astype(model.copy_keys.dtype)
    optimizer = optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.0)
    averaged = AveragedModel(model, get_ema_multi_avg_fn(0.99))

    def batch():
        rows = [(np.sort(rng.choice(NGRAMS, PER_ESSAY, replace=False)),
                 rng.random(PER_ESSAY).astype(np.float32)) for _ in range(BATCH)]
        return {"wide": F.SparseRows.from_rows(rows, NGRAMS),
                "stats": rng.standard_normal((BATCH, 57)).astype(np.float32),
                "category": rng.integers(0, CATEGORIES, BATCH),
                "prompt": rng.integers(0, PROMPTS, BATCH)}

    batches = [batch() for _ in range(args.steps)]
    penalties = {"one op (F.sum_of_squares)": model.wide_penalty,
                 "composed (F.sum(w * w * scale))": lambda a, b: composed_penalty(model, a, b)}
    times: dict[str, list[float]] = {name: [] for name in penalties}
    values: dict[str, float] = {}
    for step, data in enumerate([batches[0]] + batches):  # the first step warms up
        for name, penalty in penalties.items():
            start = time.perf_counter()
            optimizer.zero_grad()
            out = model(data)
            term = penalty(2.0 / 35000, 8.0 / 35000)
            loss = F.sum(out * out) * (1.0 / BATCH) + term
            loss.backward()
            optim.clip_grad_norm(optimizer.params, 5.0)
            optimizer.step()
            averaged.update_parameters(model)
            if step > 0:
                times[name].append(time.perf_counter() - start)
            values[name] = term.item()
    print(f"EssayNet wide part, {args.rows:,} weight rows x 3, batch {BATCH}: one training step "
          f"(forward, penalty, backward, clipping, AdamW, EMA); min over {args.steps} steps")
    for name, seconds in times.items():
        print(f"  {name:34s} {min(seconds) * 1e3:7.1f} ms  (median "
              f"{np.median(seconds) * 1e3:.1f} ms)")
    fused, composed = (min(t) for t in times.values())
    print(f"  composed / one op: {composed / fused:.2f}x")
    # the same penalty either way (same weights at the last step, so compare on them)
    a = model.wide_penalty(2.0 / 35000, 8.0 / 35000).item()
    b = composed_penalty(model, 2.0 / 35000, 8.0 / 35000).item()
    print(f"  penalty values agree: {a:.6g} vs {b:.6g} (relative difference "
          f"{abs(a - b) / max(abs(b), 1e-30):.1e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
