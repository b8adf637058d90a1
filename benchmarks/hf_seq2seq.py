"""Greedy generation speed of dlpy.models.t5 against transformers + PyTorch on the same CPU.

    python benchmarks/hf_seq2seq.py [--layers 4] [--width 256] [--prompt 32] [--new 32]
                                    [--batch 1] [--repeats 5] [--threads 1]

One small random T5 (vocab 1000, d_model --width, --layers encoder and --layers decoder blocks,
width / 64 heads of 64, d_ff 4 * width) built by transformers, its weights loaded into dlpy (so
both generate the same tokens: checked), then greedy ``generate(max_new_tokens=--new)`` timed
alternately in dlpy (encoder once, self- and cross-attention cache), in transformers + torch
(its cache, eager attention) and in dlpy without the cache (every step reruns the decoder over
the whole sequence); the minimum of --repeats runs of each. Prints new tokens per second and
the ratios. torch and transformers are needed only here.
"""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_decoder import compare, parse_args  # noqa: E402


def main() -> None:
    args = parse_args(__doc__, prompt=32, new=32)

    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from dlpy.models.t5 import T5ForConditionalGeneration as DlpyT5

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    heads = max(1, args.width // 64)
    config = T5Config(vocab_size=1000, d_model=args.width, d_kv=args.width // heads,
                      d_ff=4 * args.width, num_layers=args.layers, num_heads=heads,
                      decoder_start_token_id=0, eos_token_id=None, attn_implementation="eager")
    reference = T5ForConditionalGeneration(config).eval()
    with tempfile.TemporaryDirectory() as directory:
        reference.save_pretrained(directory)
        model = DlpyT5.from_pretrained(directory)
    ids = np.random.default_rng(0).integers(2, 1000, (args.batch, args.prompt))
    ids_t = torch.tensor(ids)

    def run_torch():
        with torch.no_grad():
            return reference.generate(ids_t, attention_mask=torch.ones_like(ids_t),
                                      max_new_tokens=args.new, do_sample=False).numpy()

    def run_dlpy(use_cache=True):
        return model.generate(ids, max_new_tokens=args.new, use_cache=use_cache,
                              eos_token_id=None).data

    compare(args, run_torch, run_dlpy,
            f"T5 {args.layers}+{args.layers} layers x {args.width} wide, batch {args.batch}, "
            f"source {args.prompt} tokens, {args.new} new tokens")

if __name__ == "__main__":
    main()
