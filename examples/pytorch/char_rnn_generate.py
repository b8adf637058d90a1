"""Character-level language model: an LSTM trained on a text with truncated backpropagation
through time, then sampled one character at a time (softmax with a temperature,
torch.multinomial).

    python examples/pytorch/char_rnn_generate.py --steps 300
    python examples/pytorch/char_rnn_generate.py --data corpus.txt --max-chars 200000

Without --data the text is generated here (short rhyming lines); a .gz file is read as gzip.
"""

import argparse
import gzip
import json
import math
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def generated_text(num_lines, seed):
    rng = random.Random(seed)
    animals = ["cat", "dog", "fox", "owl", "hen", "bee"]
    places = ["in the hat", "on the mat", "by the log", "in the fog", "on the hill", "at the mill"]
    verbs = ["sat", "ran", "slept", "sang", "hid", "danced"]
    return "".join(f"the {rng.choice(animals)} {rng.choice(verbs)} {rng.choice(places)}.\n"
                   for _ in range(num_lines))


def read_text(path, max_chars):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf8") as f:
        return f.read(max_chars)


class CharRNN(nn.Module):
    def __init__(self, vocab_size, embed_size, hidden_size, num_layers, dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, dropout=dropout,
                            batch_first=True)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x, state=None):
        output, state = self.lstm(self.embed(x), state)
        return self.head(output), state


@torch.no_grad()
def sample(model, stoi, itos, prime, length, temperature, generator):
    """Feed the prime, then draw each next character from softmax(logits / temperature)."""
    model.eval()
    ids = torch.tensor([[stoi[c] for c in prime]])
    logits, state = model(ids)
    out = list(prime)
    for _ in range(length):
        probs = F.softmax(logits[0, -1] / temperature, dim=-1)
        next_id = torch.multinomial(probs, 1, generator=generator)
        out.append(itos[next_id.item()])
        logits, state = model(next_id.view(1, 1), state)
    model.train()
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description="Character-level LSTM and sampling")
    parser.add_argument("--data", type=str, default=None, help="a text file (.txt or .txt.gz)")
    parser.add_argument("--max-chars", type=int, default=200_000, help="characters read")
    parser.add_argument("--gen-lines", type=int, default=2000, help="generated lines")
    parser.add_argument("--steps", type=int, default=300, help="training batches")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--embed", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--sample-length", type=int, default=200)
    parser.add_argument("--log-interval", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.time()
    text = read_text(args.data, args.max_chars) if args.data else generated_text(
        args.gen_lines, args.seed)
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    itos = dict(enumerate(chars))
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    print(f"{len(text)} characters, vocabulary {len(chars)}")

    model = CharRNN(len(chars), args.embed, args.hidden, args.layers, args.dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    def batch(source):
        starts = torch.randint(0, len(source) - args.seq_len - 1, (args.batch_size,),
                               generator=generator)
        x = torch.stack([source[s:s + args.seq_len] for s in starts.tolist()])
        y = torch.stack([source[s + 1:s + 1 + args.seq_len] for s in starts.tolist()])
        return x, y

    losses = []
    for step in range(1, args.steps + 1):
        x, y = batch(train_data)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if step % args.log_interval == 0:
            recent = sum(losses[-args.log_interval:]) / args.log_interval
            print(f"step {step:5d}  loss {recent:.4f}")

    model.eval()
    with torch.no_grad():
        x, y = batch(val_data)
        logits, _ = model(x)
        val_loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)).item()
    model.train()
    prime = text[:1]
    text_out = sample(model, stoi, itos, prime, args.sample_length, args.temperature, generator)
    print("-" * 40)
    print(text_out)
    print("-" * 40)
    head, tail = losses[:10], losses[-10:]
    result = {"vocab": len(chars), "first_loss": round(sum(head) / len(head), 4),
              "last_loss": round(sum(tail) / len(tail), 4), "val_loss": round(val_loss, 4),
              "val_bits_per_char": round(val_loss / math.log(2), 4),
              "sample_chars": len(text_out),
              "sample_in_vocab": all(c in stoi for c in text_out),
              "seconds": round(time.time() - started, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
