"""Word-level language model: an LSTM/GRU/tanh-RNN or a Transformer encoder with a causal mask,
trained with truncated backpropagation through time and plain SGD on a text corpus.

    python examples/pytorch/word_language_model.py --data DIR      # DIR/{train,valid,test}.txt
    python examples/pytorch/word_language_model.py --model Transformer --epochs 2

Without --data the program writes a small corpus of generated sentences to a temporary
folder and reads it back as it would read real files. Prints validation perplexity per epoch,
saves the whole model with torch.save, reloads it and reports test perplexity.
"""

import argparse
import json
import math
import os
import random
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self):
        return len(self.idx2word)


class Corpus:
    """Reads train.txt, valid.txt and test.txt; each line ends with an <eos> token."""

    def __init__(self, path):
        self.dictionary = Dictionary()
        self.train = self.tokenize(os.path.join(path, "train.txt"))
        self.valid = self.tokenize(os.path.join(path, "valid.txt"))
        self.test = self.tokenize(os.path.join(path, "test.txt"))

    def tokenize(self, path):
        assert os.path.exists(path), path
        with open(path, encoding="utf8") as f:
            for line in f:
                for word in line.split() + ["<eos>"]:
                    self.dictionary.add_word(word)
        with open(path, encoding="utf8") as f:
            idss = []
            for line in f:
                ids = [self.dictionary.word2idx[w] for w in line.split() + ["<eos>"]]
                idss.append(torch.tensor(ids, dtype=torch.int64))
            ids = torch.cat(idss)
        return ids


def write_generated_corpus(folder, num_lines, seed):
    """A toy language with structure worth learning: subject-verb agreement, adjectives before
    nouns, and a sentence-final word that depends on the verb."""
    rng = random.Random(seed)
    subjects = {"sg": ["the cat", "a dog", "my friend", "the teacher", "this bird"],
                "pl": ["the cats", "two dogs", "my friends", "the teachers", "these birds"]}
    verbs = {"sg": ["sees", "likes", "follows", "finds"], "pl": ["see", "like", "follow", "find"]}
    adjectives = ["small", "red", "old", "quiet", "happy", "tall"]
    objects = ["house", "tree", "river", "ball", "garden", "road", "car"]
    endings = {"sees": "today", "see": "today", "likes": "a lot", "like": "a lot",
               "follows": "slowly", "follow": "slowly", "finds": "again", "find": "again"}

    def sentence():
        number = rng.choice(["sg", "pl"])
        verb = rng.choice(verbs[number])
        words = [rng.choice(subjects[number]), verb, "the"]
        if rng.random() < 0.5:
            words.append(rng.choice(adjectives))
        words += [rng.choice(objects), endings[verb], "."]
        return " ".join(words)

    for name, count in (("train", num_lines), ("valid", num_lines // 10 + 1),
                        ("test", num_lines // 10 + 1)):
        with open(os.path.join(folder, name + ".txt"), "w", encoding="utf8") as f:
            for _ in range(count):
                f.write(sentence() + "\n")


class RNNModel(nn.Module):
    """Encoder embedding, a recurrent module, a linear decoder back to the vocabulary."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        else:
            try:
                nonlinearity = {"RNN_TANH": "tanh", "RNN_RELU": "relu"}[rnn_type]
            except KeyError as e:
                raise ValueError("--model must be LSTM, GRU, RNN_TANH, RNN_RELU or "
                                 "Transformer") from e
            self.rnn = nn.RNN(ninp, nhid, nlayers, nonlinearity=nonlinearity, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                    weight.new_zeros(self.nlayers, bsz, self.nhid))
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


class PositionalEncoding(nn.Module):
    """Adds fixed sine/cosine position signals to (seq_len, batch, d_model) embeddings."""

    def __init__(self, d_model, dropout=0.1, max_len=5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x):
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    """Embedding * sqrt(d), positional encoding, a causal Transformer encoder, a decoder."""

    def __init__(self, ntoken, ninp, nhead, nhid, nlayers, dropout=0.5):
        super().__init__()
        self.model_type = "Transformer"
        self.src_mask = None
        self.pos_encoder = PositionalEncoding(ninp, dropout)
        encoder_layers = nn.TransformerEncoderLayer(ninp, nhead, nhid, dropout)
        self.transformer_encoder = nn.TransformerEncoder(encoder_layers, nlayers,
                                                         enable_nested_tensor=False)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        self.init_weights()

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.input_emb.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, src, has_mask=True):
        if has_mask:
            device = src.device
            if self.src_mask is None or self.src_mask.size(0) != len(src):
                mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(device)
                self.src_mask = mask
        else:
            self.src_mask = None
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.transformer_encoder(src, self.src_mask)
        output = self.decoder(output)
        return F.log_softmax(output, dim=-1)


def batchify(data, bsz, device):
    """Cut a 1-D token stream into bsz columns: (nbatch, bsz), dropping the remainder."""
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


def repackage_hidden(h):
    """Cut the hidden state loose from the graph of the previous chunk."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i, bptt):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def evaluate(model, data_source, args, ntokens, batch_size):
    model.eval()
    total_loss = 0.0
    if args.model != "Transformer":
        hidden = model.init_hidden(batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, args.bptt):
            data, targets = get_batch(data_source, i, args.bptt)
            if args.model == "Transformer":
                output = model(data)
                output = output.view(-1, ntokens)
            else:
                output, hidden = model(data, hidden)
                hidden = repackage_hidden(hidden)
            total_loss += len(data) * F.nll_loss(output, targets).item()
    return total_loss / (len(data_source) - 1)


def train_epoch(model, train_data, args, ntokens, lr, epoch):
    model.train()
    total_loss = 0.0
    losses = []
    start_time = time.time()
    if args.model != "Transformer":
        hidden = model.init_hidden(args.batch_size)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, args.bptt)):
        data, targets = get_batch(train_data, i, args.bptt)
        model.zero_grad()
        if args.model == "Transformer":
            output = model(data)
            output = output.view(-1, ntokens)
        else:
            hidden = repackage_hidden(hidden)
            output, hidden = model(data, hidden)
        loss = F.nll_loss(output, targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        for p in model.parameters():  # plain SGD, by hand
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
        losses.append(loss.item())
        if batch % args.log_interval == 0 and batch > 0:
            cur_loss = total_loss / args.log_interval
            elapsed = time.time() - start_time
            print(f"| epoch {epoch:3d} | {batch:5d}/{len(train_data) // args.bptt:5d} batches | "
                  f"lr {lr:02.2f} | ms/batch {elapsed * 1000 / args.log_interval:5.2f} | "
                  f"loss {cur_loss:5.2f} | ppl {math.exp(cur_loss):8.2f}")
            total_loss = 0.0
            start_time = time.time()
        if args.dry_run:
            break
    return losses


def main():
    parser = argparse.ArgumentParser(description="Word-level RNN/Transformer language model")
    parser.add_argument("--data", type=str, default=None,
                        help="folder with train.txt, valid.txt, test.txt (default: generated)")
    parser.add_argument("--gen-lines", type=int, default=3000,
                        help="sentences in the generated training file when --data is not given")
    parser.add_argument("--model", type=str, default="LSTM",
                        help="LSTM, GRU, RNN_TANH, RNN_RELU or Transformer")
    parser.add_argument("--emsize", type=int, default=64, help="size of word embeddings")
    parser.add_argument("--nhid", type=int, default=64, help="hidden units per layer")
    parser.add_argument("--nlayers", type=int, default=2, help="number of layers")
    parser.add_argument("--lr", type=float, default=20, help="initial learning rate")
    parser.add_argument("--clip", type=float, default=0.25, help="gradient clipping")
    parser.add_argument("--epochs", type=int, default=4, help="upper epoch limit")
    parser.add_argument("--batch-size", type=int, default=20, metavar="N", help="batch size")
    parser.add_argument("--eval-batch-size", type=int, default=10)
    parser.add_argument("--bptt", type=int, default=35, help="sequence length")
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--tied", action="store_true", help="tie the word embedding and softmax")
    parser.add_argument("--seed", type=int, default=1111, help="random seed")
    parser.add_argument("--log-interval", type=int, default=50, metavar="N")
    parser.add_argument("--save", type=str, default=None,
                        help="path to save the final model (default: a temporary file)")
    parser.add_argument("--nhead", type=int, default=2, help="heads of the Transformer encoder")
    parser.add_argument("--dry-run", action="store_true", help="one batch per epoch")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    started = time.time()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data
        if data_dir is None:
            data_dir = tmp
            write_generated_corpus(tmp, args.gen_lines, args.seed)
        corpus = Corpus(data_dir)
        save_path = args.save or os.path.join(tmp, "model.pt")

        train_data = batchify(corpus.train, args.batch_size, device)
        val_data = batchify(corpus.valid, args.eval_batch_size, device)
        test_data = batchify(corpus.test, 1, device)
        ntokens = len(corpus.dictionary)
        if args.model == "Transformer":
            model = TransformerModel(ntokens, args.emsize, args.nhead, args.nhid, args.nlayers,
                                     args.dropout).to(device)
        else:
            model = RNNModel(args.model, ntokens, args.emsize, args.nhid, args.nlayers,
                             args.dropout, args.tied).to(device)
        print(f"vocabulary {ntokens} words, {corpus.train.size(0)} training tokens, "
              f"{sum(p.numel() for p in model.parameters())} parameters")

        lr = args.lr
        best_val_loss = None
        first_loss = None
        last_loss = None
        val_losses = []
        for epoch in range(1, args.epochs + 1):
            epoch_start_time = time.time()
            losses = train_epoch(model, train_data, args, ntokens, lr, epoch)
            if first_loss is None:
                first_loss = losses[0]
            last_loss = sum(losses[-5:]) / len(losses[-5:])
            val_loss = evaluate(model, val_data, args, ntokens, args.eval_batch_size)
            val_losses.append(val_loss)
            print("-" * 89)
            print(f"| end of epoch {epoch:3d} | time: {time.time() - epoch_start_time:5.2f}s | "
                  f"valid loss {val_loss:5.2f} | valid ppl {math.exp(val_loss):8.2f}")
            print("-" * 89)
            if not best_val_loss or val_loss < best_val_loss:
                with open(save_path, "wb") as f:
                    torch.save(model, f)
                best_val_loss = val_loss
            else:
                # no improvement on the validation set: anneal the learning rate
                lr /= 4.0

        with open(save_path, "rb") as f:
            model = torch.load(f, weights_only=False)
            if args.model in ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]:
                model.rnn.flatten_parameters()
        test_loss = evaluate(model, test_data, args, ntokens, 1)
    print("=" * 89)
    print(f"| End of training | test loss {test_loss:5.2f} | test ppl {math.exp(test_loss):8.2f}")
    print("=" * 89)
    result = {"model": args.model, "vocab": ntokens, "first_loss": round(first_loss, 4),
              "last_loss": round(last_loss, 4),
              "first_ppl": round(math.exp(first_loss), 2),
              "val_ppl": [round(math.exp(v), 3) for v in val_losses],
              "test_loss": round(test_loss, 4), "test_ppl": round(math.exp(test_loss), 3),
              "seconds": round(time.time() - started, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
