"""Time one training step of the bundled masked-LM configuration, dlpy against PyTorch (CPU).

    python benchmarks/lm_speed.py [--repeats 10] [--threads 1] [--batch-size 16]

One step = masked-LM forward (encoder, then the tied vocabulary projection at the masked
positions only, softmax cross-entropy), backward, gradient clipping and AdamW, on the same
masked batch with the same weights in both libraries (d_model 256, 4 pre-LN GELU layers, 4
heads, feed-forward 1024, 128 tokens, vocabulary 16,000, dropout 0 as in the pretraining run).
The two alternate step by step, so background load hits both alike; the ratio uses the minimum
of each. Also prints tokens/s and dlpy's peak numpy memory in one step (tracemalloc).
Last line: `lm step time ratio dlpy/torch: X.XX` (goal <= 1.1).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc


def build_torch(torch, config, state):
    nn = torch.nn

    class Positions(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(config.max_len, config.d_model))

    class TorchMaskedLM(nn.Module):
        """The same network as dlpy.lm.MaskedLM, with the same parameter names."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(config.vocab_size, config.d_model)
            self.positions = Positions()
            layer = nn.TransformerEncoderLayer(
                config.d_model, config.num_heads, config.dim_feedforward, dropout=0.0,
                activation="gelu", norm_first=True, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, config.num_layers,
                                                 norm=nn.LayerNorm(config.d_model),
                                                 enable_nested_tensor=False)
            self.head_dense = nn.Linear(config.d_model, config.d_model)
            self.head_norm = nn.LayerNorm(config.d_model)
            self.head_bias = nn.Parameter(torch.zeros(config.vocab_size))

        def forward(self, ids, positions):
            x = self.embed(ids) + self.positions.weight[: ids.shape[1]]
            h = self.encoder(x).reshape(-1, config.d_model)[positions]
            h = self.head_norm(nn.functional.gelu(self.head_dense(h)))
            return nn.functional.linear(h, self.embed.weight, self.head_bias)

    model = TorchMaskedLM()
    model.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in state.items()})
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="default 10")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for PyTorch and numpy's BLAS (default 1: on cores shared "
                             "with other jobs numpy's OpenBLAS threads wait on each other; use 2 "
                             "on a quiet machine)")
    parser.add_argument("--batch-size", type=int, default=16,
                        help="sequences per step (default 16, the pretraining run's)")
    args = parser.parse_args()
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)  # read when numpy loads its BLAS
    import numpy as np

    import dlpy.functional as F
    from dlpy import optim
    from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens

    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch (CPU)") from None
    torch.set_num_threads(args.threads)

    config = LMConfig(dropout=0.0)
    model = MaskedLM(config, rng=np.random.default_rng(0))
    reference = build_torch(torch, config, model.state_dict())
    rng = np.random.default_rng(1)
    ids = rng.integers(5, config.vocab_size, (args.batch_size, config.max_len))
    inputs, positions, labels = mask_tokens(ids, rng, config.vocab_size)
    t_inputs, t_positions = torch.from_numpy(inputs), torch.from_numpy(positions)
    t_labels = torch.from_numpy(labels)

    # the same loss before any step
    loss = F.cross_entropy(model(inputs, positions), labels)
    t_loss = torch.nn.functional.cross_entropy(reference(t_inputs, t_positions), t_labels)
    print(f"PyTorch {torch.__version__}, numpy {np.__version__}, {args.threads} threads each; "
          f"batch {args.batch_size} x {config.max_len} tokens, {len(labels)} masked; "
          f"initial loss dlpy {float(loss.data):.6f}, torch {float(t_loss.detach()):.6f}")

    opt = optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=1e-4, weight_decay=0.01)

    def dlpy_step():
        loss = F.cross_entropy(model(inputs, positions), labels)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm(model.parameters(), 1.0)
        opt.step()

    def torch_step():
        loss = torch.nn.functional.cross_entropy(reference(t_inputs, t_positions), t_labels)
        t_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(reference.parameters(), 1.0)
        t_opt.step()

    for step in (dlpy_step, torch_step):  # warm up: optimiser state, allocator, caches
        step()
    times = {"dlpy": [], "torch": []}
    for _ in range(args.repeats):
        for name, step in (("dlpy", dlpy_step), ("torch", torch_step)):
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    tracemalloc.start()
    dlpy_step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    tokens = args.batch_size * config.max_len
    for name in ("dlpy", "torch"):
        best, median = min(times[name]), float(np.median(times[name]))
        print(f"{name:6s} step min {best * 1000:7.1f} ms, median {median * 1000:7.1f} ms: "
              f"{tokens / best:,.0f} tokens/s at best")
    print(f"dlpy peak numpy memory in one step: {peak / 2**20:.0f} MiB; process max RSS "
          f"(both libraries): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    ratio = min(times["dlpy"]) / min(times["torch"])
    print(f"lm step time ratio dlpy/torch: {ratio:.2f}")


if __name__ == "__main__":
    main()
