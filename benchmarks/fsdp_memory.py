"""Peak parameter memory per rank with FullyShardedDataParallel, and peak activation memory per
pipeline stage with GPipe and 1F1B.

    python benchmarks/fsdp_memory.py [--ranks 1 2 3] [--layers 6] [--d-model 256]

Runs ``mpirun -n N`` of itself for each N. FSDP: a Transformer classifier (input projection,
``--layers`` encoder layers each wrapped as a unit, head; float32) takes one Adam step on each
sharding strategy; per rank: the bytes of the shards it keeps, the most bytes of gathered
(whole) units at once during forward and backward, and the total against the unsharded model
(dlpy.distributed.fsdp.parameter_memory, dlpy's accounting of its own buffers). Pipeline: the
same layers as a Sequential split into N stages, 8 micro-batches; per stage the most
micro-batches in flight and the bytes the recorded graphs hold at the worst moment.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from distributed_speed import run_workers  # noqa: E402


def build(args, seed: int = 0):
    from dlpy import nn

    class MeanOverSequence(nn.Module):
        def forward(self, x):
            return x.mean(axis=1)

    rng = np.random.default_rng(seed)
    layers = [nn.Linear(32, args.d_model, rng=rng)]
    layers += [nn.TransformerEncoderLayer(args.d_model, 4, 4 * args.d_model, dropout=0.0,
                                          batch_first=True, rng=rng)
               for _ in range(args.layers)]
    return nn.Sequential(*layers, MeanOverSequence(), nn.Linear(args.d_model, 10, rng=rng))


def batch(world: int) -> tuple[np.ndarray, np.ndarray]:
    """16 examples a rank (sequences of 16 x 32 features, 10 classes), the same on every rank."""
    rng = np.random.default_rng(1)
    return (rng.normal(size=(16 * world, 16, 32)).astype(np.float32),
            rng.integers(0, 10, 16 * world))


def worker(args) -> None:
    from dlpy import Tensor, nn, optim
    from dlpy import distributed as dist
    from dlpy import functional as F
    from dlpy.distributed import fsdp, pipelining

    dist.init(required=True)
    n, rank = dist.get_world_size(), dist.get_rank()
    x, y = batch(n)
    whole = sum(p.data.nbytes for p in build(args).parameters())
    rows = {}
    for strategy in (fsdp.ShardingStrategy.FULL_SHARD, fsdp.ShardingStrategy.SHARD_GRAD_OP,
                     fsdp.ShardingStrategy.NO_SHARD):  # hybrid = these on one machine
        before = fsdp.parameter_memory()["sharded"]
        model = fsdp.FullyShardedDataParallel(
            build(args), sharding_strategy=strategy,
            auto_wrap_policy=fsdp.ModuleWrapPolicy({nn.TransformerEncoderLayer}))
        opt = optim.Adam(model.parameters(), lr=1e-3)
        fsdp.reset_peak_parameter_memory()
        part = slice(rank * 16, (rank + 1) * 16)
        F.cross_entropy(model(Tensor(x[part])), y[part]).backward()
        opt.step()
        memory = fsdp.parameter_memory()
        units = sorted((m._handle.buffer.nbytes for m in model.modules()
                        if isinstance(m, fsdp.FullyShardedDataParallel)), reverse=True)
        rows[strategy.name] = {"sharded": memory["sharded"] - before,
                               "peak_gathered": memory["peak_gathered"],
                               "largest_unit": units[0], "second_unit": units[1]}
        del model, opt  # its shards leave the accounting now, not during the next model's
        gc.collect()  # construction (which made "before" count them and the next row short)
    stages = {}
    for schedule_class in (pipelining.ScheduleGPipe, pipelining.Schedule1F1B):
        size = len(build(args)._modules)
        starts = sorted({round(size * k / n) for k in range(1, n)})
        stage = pipelining.pipeline(build(args), starts).build_stage(rank)
        schedule = schedule_class(stage, 8, loss_fn=F.cross_entropy)
        if stage.is_first and stage.is_last:
            schedule.step(x, target=y, measure_memory=True)
        elif stage.is_first:
            schedule.step(x, measure_memory=True)
        elif stage.is_last:
            schedule.step(target=y, measure_memory=True)
        else:
            schedule.step(measure_memory=True)
        stages[schedule_class.__name__] = (stage.peak_live_microbatches,
                                           stage.peak_activation_bytes)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    gathered = dist.gather_object({"fsdp": rows, "pipeline": stages, "rss_kb": rss})
    if dist.is_main():
        print(json.dumps({"world": n, "whole": whole, "ranks": gathered}))


def arguments(doc: str) -> tuple[argparse.Namespace, list[str]]:
    """--ranks, --layers, --d-model (and --worker, for the ranks mpirun starts); the options
    to pass on to the workers."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    return args, ["--layers", str(args.layers), "--d-model", str(args.d_model)]


def main() -> None:
    args, options = arguments(__doc__)
    if args.worker:
        worker(args)
        return
    mb = 2.0**20
    print(f"Transformer: {args.layers} layers, d_model {args.d_model}, float32; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"{'ranks':>5} {'strategy':>14} {'shards MB':>10} {'gathered MB':>12} {'peak MB':>8} "
          f"{'of whole':>9}   (largest units MB)")
    results = [run_workers(__file__, n, options) for n in args.ranks]
    for r in results:
        for strategy in ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD"):
            worst = max(r["ranks"], key=lambda x: x["fsdp"][strategy]["sharded"]
                        + x["fsdp"][strategy]["peak_gathered"])["fsdp"][strategy]
            peak = worst["sharded"] + worst["peak_gathered"]
            print(f"{r['world']:>5} {strategy:>14} {worst['sharded'] / mb:10.2f} "
                  f"{worst['peak_gathered'] / mb:12.2f} {peak / mb:8.2f} "
                  f"{peak / r['whole']:9.0%}   ({worst['largest_unit'] / mb:.2f}, "
                  f"{worst['second_unit'] / mb:.2f})")
    print("\npipeline, 8 micro-batches of 2 x ranks examples; per stage: micro-batches in "
          "flight, MB of activations the recorded graphs hold at the worst moment")
    print(f"{'ranks':>5} {'stage':>5} {'GPipe':>16} {'1F1B':>16}")
    for r in results:
        for s, x in enumerate(r["ranks"]):
            g, o = x["pipeline"]["ScheduleGPipe"], x["pipeline"]["Schedule1F1B"]
            print(f"{r['world']:>5} {s:>5} {g[0]:>4} {g[1] / mb:8.2f} MB {o[0]:>4} "
                  f"{o[1] / mb:8.2f} MB")


if __name__ == "__main__":
    main()
