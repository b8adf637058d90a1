"""Time a BERT-small-like encoder, dlpy's BertModel against transformers' (PyTorch, CPU, eager
attention): forward alone (inference, no graph) and forward + backward (train mode, dropout 0).

    .venv/bin/python benchmarks/hf_encoder.py [--runs 5] [--threads N]

hidden 256, 4 layers, 4 heads, intermediate 1024, vocab 30522, batch 8 x seq 128 with padding
in half of the rows; both models hold the same weights (transformers' written with
save_pretrained, read with dlpy's from_pretrained) and the outputs are compared first. The two
alternate run by run (benchmarks/timing.py) and each keeps its fastest; the ratio is dlpy's
time over transformers'.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

SIZES = dict(vocab_size=30522, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
             intermediate_size=1024, max_position_embeddings=512, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0)
BATCH, SEQ_LEN = 8, 128


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for PyTorch and for numpy's BLAS (default: every core)")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # read when numpy is first imported
    import numpy as np

    import dlpy
    from dlpy.models.bert import BertModel

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from timing import best_of

    try:
        import torch
        import transformers
    except ImportError:
        raise SystemExit("needs torch and transformers: pip install torch transformers") from None
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    theirs = transformers.BertModel(transformers.BertConfig(attn_implementation="eager",
                                                            **SIZES))
    with tempfile.TemporaryDirectory() as directory:
        theirs.save_pretrained(directory)
        ours = BertModel.from_pretrained(directory)

    rng = np.random.default_rng(0)
    ids = rng.integers(1, SIZES["vocab_size"], size=(BATCH, SEQ_LEN))
    mask = np.ones((BATCH, SEQ_LEN), dtype=np.int64)
    mask[BATCH // 2:, SEQ_LEN // 2:] = 0  # half the rows padded after half their length
    ids = np.where(mask == 1, ids, 0)
    feed = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}

    def ours_forward():
        with dlpy.no_grad():
            return ours(ids, mask).last_hidden_state.numpy()

    def theirs_forward():
        with torch.no_grad():
            return theirs(**feed).last_hidden_state.numpy()

    def ours_train():
        ours.zero_grad()
        out = ours(ids, mask)
        (out.last_hidden_state.sum() + out.pooler_output.sum()).backward()
        return ours.encoder.layer[0].attention.self.query.weight.grad

    def theirs_train():
        theirs.zero_grad()
        out = theirs(**feed)
        (out.last_hidden_state.sum() + out.pooler_output.sum()).backward()
        return theirs.encoder.layer[0].attention.self.query.weight.grad.numpy()

    theirs.eval()
    ours.eval()
    np.testing.assert_allclose(ours_forward(), theirs_forward(), rtol=1e-4, atol=1e-4)
    theirs.train()
    ours.train()
    np.testing.assert_allclose(ours_train(), theirs_train(), rtol=1e-3, atol=1e-4)

    print(f"BertModel hidden {SIZES['hidden_size']}, {SIZES['num_hidden_layers']} layers, batch "
          f"{BATCH} x seq {SEQ_LEN}; PyTorch {torch.__version__}, transformers "
          f"{transformers.__version__}, {args.threads} threads; best of {args.runs}")
    print(f"{'':20}{'dlpy ms':>10}{'torch ms':>10}{'dlpy/torch':>12}")
    theirs.eval()
    ours.eval()
    for name, pair in (("forward", (ours_forward, theirs_forward)),
                       ("forward + backward", (ours_train, theirs_train))):
        if name != "forward":
            theirs.train()
            ours.train()
        mine, reference = best_of(args.runs, *pair)
        print(f"{name:20}{mine * 1e3:10.1f}{reference * 1e3:10.1f}{mine / reference:12.2f}")


if __name__ == "__main__":
    main()
