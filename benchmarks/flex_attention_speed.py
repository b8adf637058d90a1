"""Causal attention through dlpy's flex_attention against dlpy's SDPA with is_causal and
torch's flex_attention (eager, CPU) on one thread.

    OMP_NUM_THREADS=1 python benchmarks/flex_attention_speed.py [--runs 7] [--seq 512]

float32 q, k, v (4, 8, seq, 64); loss = sum(out * weights), the gradients for q, k and v. The
block mask is made once, outside the timing, as torch's examples do. torch's flex_attention
has no backward on the CPU (it raises for inputs that require grad), so it is timed forward
only, against dlpy's forward; torch's SDPA with is_causal gives its forward + backward. All
contenders alternate round by round; the minimum of the rounds is printed. Needs torch
(`pip install torch==2.13.0`, the CPU build), for the reference only.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from timing import best_of

import dlpy
import dlpy.functional as F
from dlpy import Tensor
from dlpy.nn.attention.flex_attention import create_block_mask, flex_attention


def causal(b, h, q_idx, kv_idx):
    return q_idx >= kv_idx


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds; the fastest is kept")
    parser.add_argument("--seq", type=int, default=512, help="query and key length")
    args = parser.parse_args(argv)
    import torch
    from torch.nn.attention import flex_attention as torch_flex

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")  # torch's "flex_attention called without torch.compile"
    rng = np.random.default_rng(0)
    shape = (4, 8, args.seq, 64)
    q, k, v, weights = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    slopes = Tensor(2.0 ** (-np.arange(1, 9, dtype=np.float32)))
    block_mask = create_block_mask(causal, None, None, args.seq, args.seq)
    torch_mask = torch_flex.create_block_mask(causal, None, None, args.seq, args.seq,
                                              device="cpu")

    def ours(attend, backward=True):
        def run():
            tensors = [Tensor(x, requires_grad=backward) for x in (q, k, v)]
            if not backward:
                with dlpy.no_grad():
                    return attend(*tensors).data
            (attend(*tensors) * weights).sum().backward()
            return tensors[0].grad
        return run

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    def flex(*t):
        return flex_attention(*t, block_mask=block_mask)

    def flex_alibi(*t):
        return flex_attention(*t, alibi, block_mask)

    def sdpa(*t):
        return F.scaled_dot_product_attention(*t, is_causal=True)

    def torch_sdpa():
        tensors = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
        out = torch.nn.functional.scaled_dot_product_attention(*tensors, is_causal=True)
        (out * torch.from_numpy(weights)).sum().backward()
        return tensors[0].grad.numpy()

    def torch_flex_forward():
        with torch.no_grad():
            return torch_flex.flex_attention(*(torch.from_numpy(x) for x in (q, k, v)),
                                             block_mask=torch_mask).numpy()

    contenders = {
        "dlpy flex_attention, causal BlockMask": ours(flex),
        "dlpy flex_attention, causal + ALiBi score_mod": ours(flex_alibi),
        "dlpy SDPA is_causal": ours(sdpa),
        "torch SDPA is_causal": torch_sdpa,
        "dlpy flex_attention, forward only": ours(flex, backward=False),
        "dlpy SDPA is_causal, forward only": ours(sdpa, backward=False),
        "torch flex_attention eager, forward only": torch_flex_forward,
    }
    # the same values: dlpy's gradient and forward against torch's
    np.testing.assert_allclose(ours(flex)(), torch_sdpa(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ours(flex, backward=False)(), torch_flex_forward(), rtol=1e-4,
                               atol=1e-4)
    times = dict(zip(contenders, best_of(args.runs, *contenders.values()), strict=True))
    print(f"causal attention {shape} float32, best of {args.runs}, one thread")
    print(f"{'':46}{'ms':>9}{'/ dlpy SDPA':>13}")
    for name, seconds in times.items():
        base = times["dlpy SDPA is_causal" + (", forward only" if "forward" in name else "")]
        print(f"{name:46}{seconds * 1e3:9.1f}{seconds / base:13.2f}")


if __name__ == "__main__":
    main()
