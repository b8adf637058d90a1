"""Whole training steps (forward, backward, AdamW), float32, one thread, dlpy against PyTorch.

    OMP_NUM_THREADS=1 python benchmarks/training_step.py [--runs 9] [--only mlp lm ...]
        [--profile] [--top 12]

Four models, each built in dlpy and in PyTorch with the same weights (the losses before the
first step are compared), on the same batch:
- mlp:  784-512-256-10 ReLU MLP, batch 128 (MNIST-sized), cross-entropy;
- lm:   dlpy.lm.MaskedLM (pre-LN GELU encoder, tied vocabulary head at the masked positions),
        2 layers, d_model 128, 4 heads, feed-forward 512, vocabulary 8,000, batch 32 x 128,
        dropout 0.1 (dlpy's embedding dropout has no twin in lm_speed.py's PyTorch model);
- lstm: embedding (2,000 x 128) -> LSTM(128, 256) -> linear to the vocabulary, next-token
        cross-entropy, batch 16 x 64;
- bag:  embedding (20,000 x 64) -> mean over 200 tokens -> linear to 4 classes, batch 64.
One step = zero_grad, forward, loss, backward, AdamW(lr 1e-3, weight decay 0.01). The two
libraries alternate step by step (benchmarks/timing.py), the minimum of --runs steps each.
--profile also records one step of each with dlpy.profiler and torch.profiler and prints the
ops taking the most self time in each.
"""

from __future__ import annotations

import argparse
import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"  # read when numpy loads its BLAS

import numpy as np  # noqa: E402
from lm_speed import build_torch as build_torch_lm  # noqa: E402
from timing import best_of  # noqa: E402

import dlpy.functional as F  # noqa: E402
from dlpy import nn, optim  # noqa: E402


def copy_weights(torch, model, reference) -> None:
    """Load dlpy's state into the PyTorch twin (the same parameter names)."""
    reference.load_state_dict({k: torch.from_numpy(np.array(v, copy=True))
                               for k, v in model.state_dict().items()})


def mlp(torch, rng):
    sizes = (784, 512, 256, 10)
    model = nn.Sequential(nn.Linear(784, 512, rng=rng), nn.ReLU(), nn.Linear(512, 256, rng=rng),
                          nn.ReLU(), nn.Linear(256, 10, rng=rng))
    reference = torch.nn.Sequential(torch.nn.Linear(*sizes[:2]), torch.nn.ReLU(),
                                    torch.nn.Linear(*sizes[1:3]), torch.nn.ReLU(),
                                    torch.nn.Linear(*sizes[2:]))
    copy_weights(torch, model, reference)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    return (model, lambda: F.cross_entropy(model(x), y),
            reference, lambda: torch.nn.functional.cross_entropy(reference(tx), ty))


def lm(torch, rng):
    from dlpy.lm.model import LMConfig, MaskedLM, mask_tokens

    config = LMConfig(vocab_size=8000, d_model=128, num_layers=2, num_heads=4,
                      dim_feedforward=512, max_len=128, dropout=0.1)
    model = MaskedLM(config, rng=rng)
    reference = build_torch_lm(torch, config, model.state_dict())
    for module in reference.modules():  # lm_speed.py's twin has dropout 0
        if isinstance(module, torch.nn.Dropout):
            module.p = config.dropout
    ids = rng.integers(5, config.vocab_size, (32, config.max_len))
    inputs, positions, labels = mask_tokens(ids, rng, config.vocab_size)
    t_inputs, t_positions = torch.from_numpy(inputs), torch.from_numpy(positions)
    t_labels = torch.from_numpy(labels)
    return (model, lambda: F.cross_entropy(model(inputs, positions), labels),
            reference,
            lambda: torch.nn.functional.cross_entropy(reference(t_inputs, t_positions), t_labels))


VOCAB, EMBED, HIDDEN = 2000, 128, 256


class LSTMLM(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, EMBED, rng=rng)
        self.lstm = nn.LSTM(EMBED, HIDDEN, batch_first=True, rng=rng)
        self.out = nn.Linear(HIDDEN, VOCAB, rng=rng)

    def forward(self, ids):
        hidden, _ = self.lstm(self.embed(ids))
        return self.out(hidden).reshape(-1, VOCAB)


def lstm(torch, rng):
    tnn = torch.nn

    class TorchLSTMLM(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embed = tnn.Embedding(VOCAB, EMBED)
            self.lstm = tnn.LSTM(EMBED, HIDDEN, batch_first=True)
            self.out = tnn.Linear(HIDDEN, VOCAB)

        def forward(self, ids):
            hidden, _ = self.lstm(self.embed(ids))
            return self.out(hidden).reshape(-1, VOCAB)

    model, reference = LSTMLM(rng), TorchLSTMLM()
    copy_weights(torch, model, reference)
    tokens = rng.integers(0, VOCAB, (16, 65))
    ids, targets = tokens[:, :-1], tokens[:, 1:].reshape(-1)
    t_ids, t_targets = torch.from_numpy(ids), torch.from_numpy(targets)
    return (model, lambda: F.cross_entropy(model(ids), targets),
            reference, lambda: torch.nn.functional.cross_entropy(reference(t_ids), t_targets))


class BagClassifier(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.embed = nn.Embedding(20000, 64, rng=rng)
        self.out = nn.Linear(64, 4, rng=rng)

    def forward(self, ids):
        return self.out(self.embed(ids).mean(axis=1))


def bag(torch, rng):
    tnn = torch.nn

    class TorchBagClassifier(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embed = tnn.Embedding(20000, 64)
            self.out = tnn.Linear(64, 4)

        def forward(self, ids):
            return self.out(self.embed(ids).mean(dim=1))

    model, reference = BagClassifier(rng), TorchBagClassifier()
    copy_weights(torch, model, reference)
    ids = rng.integers(0, 20000, (64, 200))
    labels = rng.integers(0, 4, 64)
    t_ids, t_labels = torch.from_numpy(ids), torch.from_numpy(labels)
    return (model, lambda: F.cross_entropy(model(ids), labels),
            reference, lambda: torch.nn.functional.cross_entropy(reference(t_ids), t_labels))


MODELS = {"mlp": mlp, "lm": lm, "lstm": lstm, "bag": bag}


def steps(torch, model, loss_fn, reference, t_loss_fn):
    """One training step of each library (zero_grad, forward, backward, AdamW)."""
    opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    t_opt = torch.optim.AdamW(reference.parameters(), lr=1e-3, weight_decay=0.01)

    def dlpy_step():
        opt.zero_grad()
        loss_fn().backward()
        opt.step()

    def torch_step():
        t_opt.zero_grad()
        t_loss_fn().backward()
        t_opt.step()

    return dlpy_step, torch_step


def profile_tables(torch, dlpy_step, torch_step, top: int) -> None:
    from dlpy import profiler

    with profiler.profile() as prof:
        dlpy_step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as t_prof:
        torch_step()
    print(t_prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="steps timed per library")
    parser.add_argument("--only", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--profile", action="store_true", help="print per-op tables")
    parser.add_argument("--top", type=int, default=12, help="rows of each profile table")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch (CPU)") from None
    torch.set_num_threads(1)
    print(f"PyTorch {torch.__version__}, numpy {np.__version__}, one thread each; minima of "
          f"{args.runs} steps, alternating")
    print(f"{'model':6s} {'loss dlpy':>10s} {'loss torch':>10s} {'dlpy ms':>9s} "
          f"{'torch ms':>9s} {'ratio':>6s}")
    for name in args.only:
        torch.manual_seed(0)
        model, loss_fn, reference, t_loss_fn = MODELS[name](torch, np.random.default_rng(0))
        model.eval()
        reference.eval()  # dropout off: the two losses agree before any step
        loss, t_loss = float(loss_fn().data), float(t_loss_fn().detach())
        model.train()
        reference.train()
        dlpy_step, torch_step = steps(torch, model, loss_fn, reference, t_loss_fn)
        dlpy_step(), torch_step()  # warm up: optimiser state, allocator, caches
        ours, theirs = best_of(args.runs, dlpy_step, torch_step)
        print(f"{name:6s} {loss:10.5f} {t_loss:10.5f} {ours * 1e3:9.2f} {theirs * 1e3:9.2f} "
              f"{ours / theirs:5.2f}x", flush=True)
        if args.profile:
            profile_tables(torch, dlpy_step, torch_step, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
