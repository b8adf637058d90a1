"""Greedy generation speed of dlpy.models' decoders against transformers + PyTorch on the same CPU.

    python benchmarks/hf_decoder.py [--model gpt2|llama] [--layers 4] [--width 256]
                                    [--prompt 16] [--new 64] [--batch 1] [--repeats 5]
                                    [--threads 1] [--clock wall|thread] [--no-uncached]

One small random model built by transformers (vocab 1000, --layers layers, width --width,
width / 64 heads): GPT-2, or a LLaMA (SwiGLU MLP of 688, 2 key/value heads for 4 query heads,
rotary positions); its weights loaded into dlpy (so both generate the same tokens: checked),
then greedy ``generate(max_new_tokens=--new)`` timed alternately in dlpy (key/value cache), in
transformers + torch (its cache, eager attention) and in dlpy without the cache (every step
recomputes the whole sequence; left out with --no-uncached); the minimum of --repeats runs of
each, by wall time or (--clock thread) this thread's CPU time, steadier on shared cores. Prints
new tokens per second and the ratios. torch and transformers are needed only here.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import best_of  # noqa: E402


def parse_args(description: str, prompt: int, new: int,
               models: tuple[str, ...] = ()) -> argparse.Namespace:
    """The options both generation benchmarks take (this one and hf_seq2seq.py); ``models``:
    the choices of --model (none: no such option)."""
    parser = argparse.ArgumentParser(description=description.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--prompt", type=int, default=prompt)
    parser.add_argument("--new", type=int, default=new)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=("wall", "thread"), default="wall",
                        help="wall time, or this thread's CPU time (one thread only)")
    parser.add_argument("--no-uncached", action="store_true",
                        help="leave out dlpy without its cache (the slow contender)")
    if models:
        parser.add_argument("--model", choices=models, default=models[0])
    return parser.parse_args()


def compare(args: argparse.Namespace, run_torch, run_dlpy, title: str) -> None:
    """Check that dlpy and transformers generate the same tokens, then time them alternately
    with dlpy without its cache (best of --repeats) and print tokens/s and the ratios."""
    if not np.array_equal(run_torch(), run_dlpy()):
        raise SystemExit("dlpy and transformers generated different tokens")
    names = ("dlpy", "torch", "dlpy, no cache")
    contenders = [run_dlpy, run_torch, lambda: run_dlpy(False)]
    if getattr(args, "no_uncached", False):
        names, contenders = names[:2], contenders[:2]
    clock = time.thread_time if getattr(args, "clock", "wall") == "thread" else time.perf_counter
    best = dict(zip(names, best_of(args.repeats, *contenders, clock=clock)))
    tokens = args.batch * args.new
    print(f"greedy generation, {title}; {args.threads} thread(s), best of {args.repeats} "
          f"({getattr(args, 'clock', 'wall')} time); load average {os.getloadavg()[0]:.1f}")
    for name, seconds in best.items():
        print(f"  {name:<16} {tokens / seconds:8.1f} tokens/s  ({seconds:.3f} s)")
    line = f"  dlpy / torch speed: {best['torch'] / best['dlpy']:.2f}x"
    if "dlpy, no cache" in best:
        line += f"; cache speed-up in dlpy: {best['dlpy, no cache'] / best['dlpy']:.2f}x"
    print(line)


def build(args):
    """(transformers' model, dlpy's with the same weights, a title) for --model."""
    import torch

    torch.manual_seed(0)
    heads = max(1, args.width // 64)
    size = f"{args.layers} layers x {args.width} wide"
    if args.model == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        from dlpy.models.llama import LlamaForCausalLM as Dlpy

        config = LlamaConfig(vocab_size=1000, hidden_size=args.width,
                             intermediate_size=688 * args.width // 256,
                             num_hidden_layers=args.layers, num_attention_heads=heads,
                             num_key_value_heads=max(1, heads // 2),
                             max_position_embeddings=args.prompt + args.new,
                             bos_token_id=None, eos_token_id=None, attn_implementation="eager")
        reference, title = LlamaForCausalLM(config).eval(), f"LLaMA {size} (GQA)"
    else:
        from transformers import GPT2Config, GPT2LMHeadModel

        from dlpy.models.gpt2 import GPT2LMHeadModel as Dlpy

        config = GPT2Config(vocab_size=1000, n_positions=args.prompt + args.new,
                            n_embd=args.width, n_layer=args.layers, n_head=heads,
                            bos_token_id=None, eos_token_id=None, attn_implementation="eager")
        reference, title = GPT2LMHeadModel(config).eval(), f"GPT-2 {size}"
    with tempfile.TemporaryDirectory() as directory:
        reference.save_pretrained(directory)
        model = Dlpy.from_pretrained(directory)
    return reference, model, title


def main() -> None:
    args = parse_args(__doc__, prompt=16, new=64, models=("gpt2", "llama"))

    import torch

    torch.set_num_threads(args.threads)
    reference, model, title = build(args)
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
            f"{title}, batch {args.batch}, prompt {args.prompt} + {args.new} new tokens")


if __name__ == "__main__":
    main()
