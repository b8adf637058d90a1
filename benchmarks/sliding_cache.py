"""Greedy decoding speed of a sliding-window model with two dlpy source trees: the cache as
it is in this checkout's src (or --new) against another tree's (by default /tmp/old/src, made
by ``git archive <commit> src | tar -x -C /tmp/old``), to measure a change to the cache.

    python benchmarks/sliding_cache.py [--old /tmp/old/src] [--new SRC] [--window 64] [--prompt 16]
                                       [--new-tokens 448] [--batch 1] [--layers 4] [--width 256]
                                       [--repeats 5] [--padded] [--mixed]

One random Mistral (dlpy's own init, seed 0; vocab 1000, --layers layers, width --width,
width / 64 query heads and half as many key/value heads, every layer sliding over --window
keys, or only the even ones with --mixed as Gemma 2; --window 0: none, LLaMA's path and its
StaticCache) generates --new-tokens tokens greedily after --prompt tokens (--padded: the
second row of a batch left-padded by 4). Each tree runs in its own worker process (one thread
each); the parent asks them in turn for one generation (timed inside the worker by this
thread's CPU time), checks they return the same tokens, and prints each tree's best of
--repeats in tokens/s and the ratio.
No torch needed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
import dlpy
from dlpy.models.llama import MistralConfig, MistralForCausalLM
args = json.loads(sys.argv[1])
width = args["width"]
config = MistralConfig(vocab_size=1000, hidden_size=width, intermediate_size=2 * width,
                       num_hidden_layers=args["layers"], num_attention_heads=width // 64,
                       num_key_value_heads=max(width // 128, 1),
                       sliding_window=args["window"] or None,
                       layer_types=["sliding_attention" if i % 2 == 0 or not args["mixed"]
                                    else "full_attention" for i in range(args["layers"])],
                       max_position_embeddings=4096, bos_token_id=None, eos_token_id=None)
lm = MistralForCausalLM(config, rng=np.random.default_rng(0)).eval()
rng = np.random.default_rng(1)
ids = rng.integers(0, 1000, (args["batch"], args["prompt"]))
mask = np.ones_like(ids)
if args["padded"] and args["batch"] > 1:
    mask[1, :4] = 0
for line in sys.stdin:
    start = time.thread_time()
    tokens = lm.generate(ids, attention_mask=mask, max_new_tokens=args["new"]).data
    seconds = time.thread_time() - start
    print(json.dumps({"seconds": seconds, "tokens": tokens.tolist()}), flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="/tmp/old/src")
    parser.add_argument("--new", dest="tree", default=None,
                        help="the new tree's src (default: this checkout's)")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--prompt", type=int, default=16)
    parser.add_argument("--new-tokens", dest="new", type=int, default=448)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--padded", action="store_true")
    parser.add_argument("--mixed", action="store_true",
                        help="odd layers full attention (as Gemma 2), even ones sliding")
    args = parser.parse_args()
    here = args.tree or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), "src")
    for path in (here, args.old):
        if not os.path.isdir(os.path.join(path, "dlpy")):
            raise SystemExit(f"sliding_cache: no dlpy package under {path}")
    settings = json.dumps({k: v for k, v in vars(args).items() if k not in ("old", "tree")})
    workers = {}
    for name, path in (("this tree", here), ("old tree", args.old)):
        env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        workers[name] = subprocess.Popen([sys.executable, "-c", WORKER, settings], env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
    best = {name: float("inf") for name in workers}
    try:
        for _ in range(args.repeats):
            tokens = []
            for name, worker in workers.items():
                worker.stdin.write("go\n")
                worker.stdin.flush()
                result = json.loads(worker.stdout.readline())
                best[name] = min(best[name], result["seconds"])
                tokens.append(result["tokens"])
            if tokens[0] != tokens[1]:
                raise SystemExit("sliding_cache: the two trees generated different tokens")
    finally:
        for worker in workers.values():
            worker.stdin.close()
            worker.wait()
    generated = args.new * args.batch
    print(f"Mistral {args.layers} x {args.width}, window {args.window}"
          f"{' (even layers)' if args.mixed else ''}, batch {args.batch}, "
          f"{args.prompt} + {args.new} tokens{' (padded)' if args.padded else ''}, best of "
          f"{args.repeats} (thread CPU time), same tokens")
    for name, seconds in best.items():
        print(f"  {name:10} {generated / seconds:8.1f} tokens/s")
    print(f"  old / this time: {best['old tree'] / best['this tree']:.2f}x")


if __name__ == "__main__":
    main()
