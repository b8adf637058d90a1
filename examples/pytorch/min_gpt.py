"""A small character-level GPT: trained on a text file (or a generated one), then sampled.

A decoder-only Transformer: token and learned position embeddings, pre-norm blocks of causal
self-attention (the lower-triangular mask kept as a buffer and sliced to the context, or
``F.scaled_dot_product_attention(is_causal=True)`` with ``--sdpa``) and a GELU MLP, the output
layer tied to the token embedding. AdamW with weight decay on the matrices only, a linear
warm-up then cosine decay (LambdaLR), gradient clipping. Every ``--eval-interval`` steps it
prints the train and validation loss; at the end it saves a checkpoint, loads it into a fresh
model, and samples text (temperature, top-k).

    python min_gpt.py --text input.txt --steps 2000 --block-size 64
"""

import argparse
import json
import math
import random
import time

import torch
import torch.nn as nn
from torch.nn import functional as F

parser = argparse.ArgumentParser(description="train a small character-level GPT")
parser.add_argument("--text", default=None,
                    help="a UTF-8 text file (default: sentences of a small generated grammar)")
parser.add_argument("--block-size", type=int, default=32, help="context length (default 32)")
parser.add_argument("--batch-size", type=int, default=16, help="batch size (default 16)")
parser.add_argument("--n-layer", type=int, default=2, help="Transformer blocks (default 2)")
parser.add_argument("--n-head", type=int, default=4, help="attention heads (default 4)")
parser.add_argument("--n-embd", type=int, default=64, help="embedding width (default 64)")
parser.add_argument("--dropout", type=float, default=0.0, help="dropout (default 0)")
parser.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (default 3e-3)")
parser.add_argument("--warmup", type=int, default=40, help="warm-up steps (default 40)")
parser.add_argument("--weight-decay", type=float, default=0.1, help="AdamW decay (default 0.1)")
parser.add_argument("--eval-interval", type=int, default=100,
                    help="steps between evaluations (default 100)")
parser.add_argument("--eval-iters", type=int, default=10,
                    help="batches per evaluation (default 10)")
parser.add_argument("--sdpa", action="store_true",
                    help="attention through F.scaled_dot_product_attention")
parser.add_argument("--sample-len", type=int, default=120, help="characters to sample")
parser.add_argument("--top-k", type=int, default=5, help="sample from the k likeliest")
parser.add_argument("--checkpoint", default="min_gpt.pt", help="where to save the model")
parser.add_argument("--seed", type=int, default=1337, help="random seed (default 1337)")
args = parser.parse_args()
torch.manual_seed(args.seed)


def generated_text(sentences: int = 4000) -> str:
    """Sentences of a small grammar: a learnable structure for a quick run."""
    rng = random.Random(args.seed)
    subjects = ["the cat", "a dog", "my friend", "the old man", "a bird"]
    verbs = ["sees", "likes", "finds", "follows", "hears"]
    objects = ["the ball", "a red tree", "the river", "a small house", "the moon"]
    return " ".join(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}."
                    for _ in range(sentences))


if args.text is not None:
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
else:
    text = generated_text()
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]


def get_batch(which: str):
    """(inputs, next-character targets), each (batch, block)."""
    source = train_data if which == "train" else val_data
    starts = torch.randint(len(source) - args.block_size - 1, (args.batch_size,))
    x = torch.stack([source[i:i + args.block_size] for i in starts])
    y = torch.stack([source[i + 1:i + 1 + args.block_size] for i in starts])
    return x, y


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float, sdpa: bool):
        super().__init__()
        assert n_embd % n_head == 0
        self.n_head, self.n_embd, self.dropout, self.sdpa = n_head, n_embd, dropout, sdpa
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # query, key and value in one product
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        mask = torch.tril(torch.ones(block_size, block_size))
        self.register_buffer("mask", mask.view(1, 1, block_size, block_size))

    def forward(self, x):
        B, T, C = x.size()  # noqa: N806 - batch, time, channels
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.sdpa:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
            att = self.attn_dropout(F.softmax(att, dim=-1))
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float, sdpa: bool):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size, dropout, sdpa)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd), nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int,
                 n_embd: int, dropout: float, sdpa: bool):
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            [Block(n_embd, n_head, block_size, dropout, sdpa) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied: one matrix in and out
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # residual projections scaled by depth
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.size()  # noqa: N806
        assert T <= self.block_size, f"a context of {T} is longer than {self.block_size}"
        pos = torch.arange(0, T, dtype=torch.long, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.blocks:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss

    def configure_optimizer(self, weight_decay: float, lr: float):
        """AdamW: weight decay on matrices (the embeddings and linear weights), none on biases
        and LayerNorm parameters."""
        params = {name: p for name, p in self.named_parameters() if p.requires_grad}
        groups = [
            {"params": [p for p in params.values() if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params.values() if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))

    @torch.no_grad()
    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, top_k=None):
        for _ in range(max_new_tokens):
            context = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits, _ = self(context)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


@torch.no_grad()
def estimate_loss(model):
    """The mean loss over ``--eval-iters`` batches of each split."""
    out = {}
    model.eval()
    for which in ("train", "val"):
        losses = torch.zeros(args.eval_iters)
        for k in range(args.eval_iters):
            _, loss = model(*get_batch(which))
            losses[k] = loss.item()
        out[which] = losses.mean().item()
    model.train()
    return out


def lr_factor(step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < args.warmup:
        return (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def build():
    return GPT(len(chars), args.block_size, args.n_layer, args.n_head, args.n_embd,
               args.dropout, args.sdpa)


def main():
    start = time.perf_counter()
    model = build()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{n_params / 1e3:.1f}K parameters, vocabulary {len(chars)}, {len(data)} characters")
    optimizer = model.configure_optimizer(args.weight_decay, args.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    history = []
    for step in range(args.steps + 1):
        if step % args.eval_interval == 0 or step == args.steps:
            losses = estimate_loss(model)
            history.append(losses)
            print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}"
                  f", lr {scheduler.get_last_lr()[0]:.2e}")
        if step == args.steps:
            break
        xb, yb = get_batch("train")
        _, loss = model(xb, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()

    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "chars": chars, "args": vars(args)}, args.checkpoint)
    checkpoint = torch.load(args.checkpoint)
    restored = build()
    restored.load_state_dict(checkpoint["model"])
    restored.eval()
    model.eval()
    xb, yb = get_batch("val")
    same = torch.allclose(model(xb, yb)[1], restored(xb, yb)[1])
    context = torch.tensor([[stoi[text[0]]]], dtype=torch.long)
    sample = restored.generate(context, args.sample_len, temperature=0.8, top_k=args.top_k)
    sample_text = "".join(checkpoint["chars"][i] for i in sample[0].tolist())
    print(sample_text)
    print("RESULT " + json.dumps({
        "params": n_params, "first_val": round(history[0]["val"], 4),
        "last_val": round(history[-1]["val"], 4), "last_train": round(history[-1]["train"], 4),
        "reload_equal": bool(same), "sample": sample_text[:60],
        "seconds": round(time.perf_counter() - start, 2)}))


if __name__ == "__main__":
    main()
