"""Greedy generation speed of dlpy.models.gpt2 against transformers + PyTorch on the same CPU.

    python benchmarks/hf_decoder.py [--layers 4] [--width 256] [--prompt 16] [--new 64]
                                    [--batch 1] [--repeats 5] [--threads 1]

One small random GPT-2 (vocab 1000, n_embd --width, --layers layers, width / 64 heads) built by
transformers, its weights loaded into dlpy (so both generate the same tokens: checked), then
greedy ``generate(max_new_tokens=--new)`` timed alternately in dlpy (key/value cache), in
transformers + torch (its cache, eager attention) and in dlpy without the cache (every step
recomputes the whole sequence); the minimum of --repeats runs of each. Prints new tokens per
second and the ratios. torch and transformers are needed only here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_of  # noqa: E402


def parse_args(description: str, prompt: int, new: int) -> argparse.Namespace:
    """The options both generation benchmarks take (this one and hf_seq2seq.py)."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--prompt", type=int, default=prompt)
    parser.add_argument("--new", type=int, default=new)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def compare(args: argparse.Namespace, run_torch, run_dlpy, title: str) -> None:
    """Check that dlpy and transformers generate the same tokens, then time them alternately
    with dlpy without its cache (best of --repeats) and print tokens/s and the ratios."""
    if not np.array_equal(run_torch(), run_dlpy()):
        raise SystemExit("dlpy and transformers generated different tokens")
    names = ("dlpy", "torch", "dlpy, no cache")
    best = dict(zip(names, best_of(args.repeats, run_dlpy, run_torch, lambda: run_dlpy(False))))
    tokens = args.batch * args.new
    print(f"greedy generation, {title}; {args.threads} thread(s), best of {args.repeats}; "
          f"load average {os.getloadavg()[0]:.1f}")
    for name, seconds in best.items():
        print(f"  {name:<16} {tokens / seconds:8.1f} tokens/s  ({seconds:.3f} s)")
    print(f"  dlpy / torch speed: {best['torch'] / best['dlpy']:.2f}x; cache speed-up in dlpy: "
          f"{best['dlpy, no cache'] / best['dlpy']:.2f}x")


def main() -> None:
    args = parse_args(__doc__, prompt=16, new=64)

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from dlpy.models.gpt2 import GPT2LMHeadModel as DlpyGPT2

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=1000, n_positions=args.prompt + args.new, n_embd=args.width,
                        n_layer=args.layers, n_head=max(1, args.width // 64),
                        bos_token_id=None, eos_token_id=None, attn_implementation="eager")
    reference = GPT2LMHeadModel(config).eval()
    with tempfile.TemporaryDirectory() as directory:
        reference.save_pretrained(directory)
        model = DlpyGPT2.from_pretrained(directory)
    ids = np.random.default_rng(0).integers(0, 1000, (args.batch, args.prompt))
    ids_t = torch.tensor(ids)

    def run_torch():
        with torch.no_grad():
            return reference.generate(ids_t, attention_mask=torch.ones_like(ids_t),
                                      max_new_tokens=args.new, do_sample=False,
                                      min_new_tokens=args.new, pad_token_id=0).numpy()

    def run_dlpy(use_cache=True):
        return model.generate(ids, max_new_tokens=args.new, use_cache=use_cache).data

    compare(args, run_torch, run_dlpy,
            f"GPT-2 {args.layers} layers x {args.width} wide, batch {args.batch}, "
            f"prompt {args.prompt} + {args.new} new tokens")

if __name__ == "__main__":
    main()
