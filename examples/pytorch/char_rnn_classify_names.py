"""Classify names by language with a character-level RNN, in the shape of the PyTorch tutorial
"NLP from scratch: classifying names with a character-level RNN": each name, normalised to
ASCII letters by ``unicodedata``, is a sequence of one-hot letters (seq_len, 1, n_letters) read
one letter at a time by a hand-written RNN cell (``nn.Linear`` on ``torch.cat((input,
hidden))``) whose last output is a log-softmax over the languages; trained one name at a time
with NLLLoss and plain SGD, then scored with a confusion matrix.

    python char_rnn_classify_names.py --iters 5000
    python char_rnn_classify_names.py --data-dir DIR    # DIR/<Language>.txt, one name a line

Without ``--data-dir`` the "languages" are generated: each is a letter Markov chain with its
own preferred letters, bigrams and endings (and some accented letters, to normalise away).
"""

import argparse
import glob
import json
import math
import os
import random
import string
import time
import unicodedata

import torch
import torch.nn as nn

all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)


def unicode_to_ascii(s):
    """Drop accents and anything outside ``all_letters``: 'Ślusàrski' -> 'Slusarski'."""
    return "".join(c for c in unicodedata.normalize("NFD", s)
                   if unicodedata.category(c) != "Mn" and c in all_letters)


def letter_to_index(letter):
    return all_letters.find(letter)


def line_to_tensor(line):
    """A name as (len(name), 1, n_letters) one-hot rows (a batch of one)."""
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letter_to_index(letter)] = 1
    return tensor


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = torch.tanh(self.i2h(combined))
        output = self.softmax(self.h2o(hidden))
        return output, hidden

    def init_hidden(self):
        return torch.zeros(1, self.hidden_size)


def generated_languages(num_languages, names_per_language, rng):
    """{language: [names]}: each language a first-order letter chain over its own favourite
    letters, with its own endings and a few accented letters."""
    vowels, consonants = "aeiouy", "bcdfghjklmnpqrstvwxz"
    accents = {"a": "àáâä", "e": "èéêë", "o": "òóôö", "u": "ùúûü", "c": "ç", "n": "ñ",
               "s": "śš", "z": "žź"}
    endings = ["ov", "ski", "ez", "elli", "son", "aki", "escu", "berg", "ini", "ian", "ou",
               "sen", "ic", "ama"]
    rng.shuffle(endings)
    languages = {}
    for k in range(num_languages):
        letters = rng.sample(vowels, 3) + rng.sample(consonants, 6)
        chain = {}
        for a in letters + ["^"]:
            weights = [rng.random() ** 3 for _ in letters]
            chain[a] = weights
        names = []
        for _ in range(names_per_language):
            length = rng.randint(3, 7)
            previous, name = "^", ""
            for _ in range(length):
                previous = rng.choices(letters, weights=chain[previous])[0]
                if previous in accents and rng.random() < 0.1:
                    name += rng.choice(accents[previous])
                else:
                    name += previous
            name += endings[k % len(endings)] if rng.random() < 0.7 else ""
            names.append(name.capitalize())
        languages[f"Lang{k}"] = names
    return languages


def read_languages(data_dir):
    languages = {}
    for filename in sorted(glob.glob(os.path.join(data_dir, "*.txt"))):
        category = os.path.splitext(os.path.basename(filename))[0]
        with open(filename, encoding="utf-8") as f:
            languages[category] = [unicode_to_ascii(line.strip()) for line in f if line.strip()]
    return languages


def category_from_output(output, all_categories):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


def main():
    parser = argparse.ArgumentParser(description="Name classification with a char RNN")
    parser.add_argument("--iters", type=int, default=5000, help="training names (one a step)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.005)
    parser.add_argument("--languages", type=int, default=6)
    parser.add_argument("--names", type=int, default=400, help="generated names per language")
    parser.add_argument("--data-dir", default=None, help="DIR/<Language>.txt files")
    parser.add_argument("--eval", type=int, default=2000, help="names for the confusion matrix")
    parser.add_argument("--print-every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    if args.data_dir:
        category_lines = read_languages(args.data_dir)
    else:
        raw = generated_languages(args.languages, args.names, rng)
        category_lines = {k: [unicode_to_ascii(name) for name in v] for k, v in raw.items()}
        accented = sum(name != unicode_to_ascii(name) for v in raw.values() for name in v)
        print(f"{accented} generated names had accents, e.g. {unicode_to_ascii('Ślusàrski')}")
    all_categories = list(category_lines)
    n_categories = len(all_categories)
    # a held-out tenth of each language for the confusion matrix
    train_lines, test_lines = {}, {}
    for category, lines in category_lines.items():
        cut = max(1, len(lines) // 10)
        test_lines[category], train_lines[category] = lines[:cut], lines[cut:]

    def random_example(lines):
        category = rng.choice(all_categories)
        line = rng.choice(lines[category])
        category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
        return category, line, category_tensor, line_to_tensor(line)

    rnn = RNN(n_letters, args.hidden, n_categories)
    criterion = nn.NLLLoss()

    def train(category_tensor, line_tensor):
        hidden = rnn.init_hidden()
        rnn.zero_grad()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        # plain SGD: add the parameters' gradients times -learning_rate
        with torch.no_grad():
            for p in rnn.parameters():
                p.add_(p.grad, alpha=-args.lr)
        return output, loss.item()

    def evaluate(line_tensor):
        hidden = rnn.init_hidden()
        for i in range(line_tensor.size()[0]):
            output, hidden = rnn(line_tensor[i], hidden)
        return output

    start = time.perf_counter()
    current_loss, all_losses = 0.0, []
    window = max(1, args.print_every // 2)
    for it in range(1, args.iters + 1):
        category, line, category_tensor, line_tensor = random_example(train_lines)
        output, loss = train(category_tensor, line_tensor)
        current_loss += loss
        if it % args.print_every == 0:
            guess, _ = category_from_output(output, all_categories)
            mark = "ok" if guess == category else f"wrong ({category})"
            print(f"{it} {it / args.iters * 100:.0f}% ({time.perf_counter() - start:.1f}s) "
                  f"{loss:.4f} {line} / {guess} {mark}")
        if it % window == 0:
            all_losses.append(current_loss / window)
            current_loss = 0.0
    train_seconds = time.perf_counter() - start

    confusion = torch.zeros(n_categories, n_categories)
    with torch.no_grad():
        for _ in range(args.eval):
            category, line, category_tensor, line_tensor = random_example(test_lines)
            output = evaluate(line_tensor)
            _, guess_i = category_from_output(output, all_categories)
            confusion[all_categories.index(category)][guess_i] += 1
    accuracy = (confusion.diag().sum() / confusion.sum()).item()
    for i in range(n_categories):
        confusion[i] = confusion[i] / confusion[i].sum()
    print("confusion (rows: true language, columns: guess):")
    for category, row in zip(all_categories, confusion.tolist()):
        print(f"  {category:>8} " + " ".join(f"{v:.2f}" for v in row))

    print("RESULT " + json.dumps({
        "first_loss": round(all_losses[0], 4), "last_loss": round(all_losses[-1], 4),
        "accuracy": round(accuracy, 4), "chance": round(1 / n_categories, 4),
        "categories": n_categories, "iters": args.iters,
        "train_seconds": round(train_seconds, 2),
        "seconds": round(time.perf_counter() - start, 2),
        "uniform_loss": round(math.log(n_categories), 4),
    }))


if __name__ == "__main__":
    main()
