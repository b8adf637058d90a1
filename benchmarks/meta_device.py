"""The meta device: building a large model and running it for its shapes, dlpy against torch.

    python benchmarks/meta_device.py [--layers 24] [--width 1024] [--runs 3]

A 24-layer Transformer encoder of width 1024 (about 300 M parameters, 1.2 GB of float32 on the
CPU) is built under ``with device("meta")`` and run forward and backward on a meta batch of
(8, 512, 1024); then a decoder-only language model written with the ops such models use
beyond the products (a 32,000-word embedding, attention written out with a causal
``masked_fill``, a top-2-of-8 router's ``topk`` and ``softmax``, a ``cat`` of the heads, the
loss's ``cross_entropy`` over every position) run the same way. dlpy and torch alternate, and
the minimum of ``--runs`` is reported with the ratio. dlpy's peak traced memory (tracemalloc)
during each first build and run shows that nothing of the tensors' size is drawn or allocated.
torch is optional (only dlpy's numbers without it).
"""

from __future__ import annotations

import argparse
import importlib
import time
import tracemalloc


def _build_and_run(lib, layers: int, width: int) -> tuple[float, float, tuple]:
    nn = lib.nn
    start = time.perf_counter()
    with lib.device("meta"):
        layer = nn.TransformerEncoderLayer(width, 16, 4 * width, batch_first=True)
        model = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
    built = time.perf_counter() - start
    x = lib.empty(8, 512, width, device="meta", requires_grad=True)
    start = time.perf_counter()
    out = model(x)
    out.sum().backward()
    ran = time.perf_counter() - start
    assert x.grad is not None and x.grad.is_meta
    return built, ran, tuple(out.shape)


def _decoder(lib, layers: int, width: int, vocab: int = 32000, heads: int = 16):
    """A decoder-only language model of ``lib``'s modules and functions (dlpy's or torch's)."""
    nn = lib.nn
    F = importlib.import_module("torch.nn.functional" if lib.__name__ == "torch"
                                else "dlpy.functional")

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
            self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
            self.router = nn.Linear(width, 8)
            self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

        def forward(self, x, causal):
            batch, seq, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).chunk(3, -1)
            outs = []
            for h in range(0, width, width // heads * 4):  # four heads at a time
                part = slice(h, h + width // heads * 4)
                scores = q[..., part] @ k[..., part].transpose(1, 2) / 16.0
                scores = scores.masked_fill(causal, float("-inf"))
                outs.append(scores.softmax(-1) @ v[..., part])
            x = x + self.out(lib.cat(outs, -1))
            h = self.norm2(x)
            weights, chosen = self.router(h).topk(2, -1)  # (the experts' mixing weights)
            mix = weights.softmax(-1).sum(-1, keepdim=True) + chosen.float().mean() * 0
            return x + self.down(F.gelu(self.up(h))) * mix

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, width)
            self.blocks = nn.ModuleList([Block() for _ in range(layers)])
            self.norm, self.head = nn.LayerNorm(width), nn.Linear(width, vocab, bias=False)

        def forward(self, ids, labels):
            seq = ids.shape[1]
            causal = lib.ones(seq, seq, dtype=lib.bool, device=ids.device).triu(1)
            x = self.embed(ids)
            for block in self.blocks:
                x = block(x, causal)
            logits = self.head(self.norm(x))
            return F.cross_entropy(logits.view(-1, vocab), labels.view(-1))

    return Decoder()


def _build_and_run_decoder(lib, layers: int, width: int) -> tuple[float, float, tuple]:
    start = time.perf_counter()
    with lib.device("meta"):
        model = _decoder(lib, layers, width)
    built = time.perf_counter() - start
    ids = lib.zeros(8, 512, dtype=lib.long, device="meta")
    start = time.perf_counter()
    loss = model(ids, ids)
    loss.backward()
    ran = time.perf_counter() - start
    assert model.embed.weight.grad is not None and model.embed.weight.grad.is_meta
    return built, ran, tuple(loss.shape)


def _compare(title: str, run, args, dlpy, torch) -> None:
    tracemalloc.start()
    run(dlpy, args.layers, args.width)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    best = {"dlpy": [float("inf")] * 2, "torch": [float("inf")] * 2}
    for _ in range(args.runs):  # the two alternate
        for name, lib in (("dlpy", dlpy), ("torch", torch)):
            if lib is None:
                continue
            built, ran, shape = run(lib, args.layers, args.width)
            best[name] = [min(best[name][0], built), min(best[name][1], ran)]
    print(f"{title}, output {shape}")
    print(f"  dlpy: build {best['dlpy'][0] * 1e3:.0f} ms, forward + backward "
          f"{best['dlpy'][1] * 1e3:.0f} ms (peak traced memory of the first build and run "
          f"{peak / 2**20:.1f} MiB)")
    if torch is not None:
        print(f"  torch: build {best['torch'][0] * 1e3:.0f} ms, forward + backward "
              f"{best['torch'][1] * 1e3:.0f} ms")
        print(f"  dlpy / torch: build {best['dlpy'][0] / best['torch'][0]:.2f}x, forward + "
              f"backward {best['dlpy'][1] / best['torch'][1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import dlpy

    try:
        import torch
    except ImportError:
        torch = None
    params = args.layers * (12 * args.width ** 2 + 13 * args.width)
    _compare(f"encoder: {args.layers} layers of width {args.width} ({params / 1e6:.0f} M "
             f"parameters, {params * 4 / 2**30:.2f} GiB of float32)", _build_and_run, args,
             dlpy, torch)
    _compare(f"decoder language model: {args.layers} layers of width {args.width}, "
             "32,000 words, batch (8, 512)", _build_and_run_decoder, args, dlpy, torch)


if __name__ == "__main__":
    main()
