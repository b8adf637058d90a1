"""Time one Transformer encoder layer, forward + backward, dlpy against PyTorch (CPU) in one run.

    .venv/bin/python benchmarks/transformer_speed.py [--repeats 30] [--threads N]

d_model 200, 4 heads, feed-forward 200, float32, post-LN, dropout 0, train mode (PyTorch's
inference fast path is not used: there is a backward), at (batch 1, seq 300) and (batch 16,
seq 300). Both layers hold the same weights; the outputs are compared first. The two libraries
alternate, repetition by repetition, so background load hits both alike; the ratio uses the
medians (the minimums are printed beside them). Goals: <= 1.4x PyTorch at batch 1, <= 1.6x at 16.
"""

from __future__ import annotations

import argparse
import os
import time

D_MODEL, NUM_HEADS, FEEDFORWARD, SEQ_LEN = 200, 4, 200, 300
GOALS = {1: 1.4, 16: 1.6}


def dlpy_step(layer, x, grad_output):
    import dlpy

    x = dlpy.Tensor(x, requires_grad=True)
    layer(x).backward(grad_output)
    return x.grad


def torch_step(torch, layer, x, grad_output):
    x = torch.from_numpy(x).requires_grad_(True)
    layer(x).backward(torch.from_numpy(grad_output))
    return x.grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for PyTorch and for numpy's BLAS (default: every core)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    # the BLAS reads its thread count when numpy is first imported, hence the late imports
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)
    import numpy as np

    from dlpy.nn import TransformerEncoderLayer

    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch==2.13.0 (CPU)") from None
    torch.set_num_threads(args.threads)
    print(f"PyTorch {torch.__version__} and numpy {np.__version__} (BLAS) with "
          f"{torch.get_num_threads()} threads each; {args.repeats} repetitions of forward + "
          "backward of one layer")

    rng = np.random.default_rng(0)
    layer = TransformerEncoderLayer(D_MODEL, NUM_HEADS, FEEDFORWARD, dropout=0.0, batch_first=True,
                                    rng=rng)
    reference = torch.nn.TransformerEncoderLayer(D_MODEL, NUM_HEADS, FEEDFORWARD, dropout=0.0,
                                                 batch_first=True)
    reference.load_state_dict({k: torch.from_numpy(np.array(v))
                               for k, v in layer.state_dict().items()})
    reference.train()

    for batch in args.batches:
        x = rng.standard_normal((batch, SEQ_LEN, D_MODEL)).astype(np.float32)
        grad_output = rng.standard_normal(x.shape).astype(np.float32)
        ours = dlpy_step(layer, x, grad_output)
        theirs = torch_step(torch, reference, x, grad_output).numpy()
        assert ours.dtype == np.float32
        difference = np.abs(ours - theirs).max()
        times = {"dlpy": [], "torch": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            dlpy_step(layer, x, grad_output)
            middle = time.perf_counter()
            torch_step(torch, reference, x, grad_output)
            times["dlpy"].append(middle - start)
            times["torch"].append(time.perf_counter() - middle)
        median = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        best = {k: 1e3 * min(v) for k, v in times.items()}
        ratio = median["dlpy"] / median["torch"]
        print(f"batch {batch:2d}, seq {SEQ_LEN}: dlpy {median['dlpy']:7.1f} ms (min "
              f"{best['dlpy']:.1f}), PyTorch {median['torch']:7.1f} ms (min {best['torch']:.1f}),"
              f" ratio {ratio:.2f}x (min/min {best['dlpy'] / best['torch']:.2f}x, goal <= "
              f"{GOALS.get(batch, float('nan'))}x); input gradients differ by {difference:.1e}")


if __name__ == "__main__":
    main()
