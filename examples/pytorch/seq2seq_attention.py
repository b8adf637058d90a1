"""Sequence to sequence with attention: a GRU encoder and a GRU decoder with Bahdanau
(additive) attention learn to reverse sequences of digits, trained with teacher forcing and
NLL loss over log-softmax outputs, evaluated by greedy decoding (exact-match accuracy).

    python examples/pytorch/seq2seq_attention.py --steps 600

The data are generated: random digit strings of length `--length`; the target is the string
reversed, then an end-of-sequence token.
"""

import argparse
import json
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

SOS_token = 10
EOS_token = 11
VOCAB = 12  # the digits 0-9, SOS and EOS


def make_batch(batch_size, length, generator):
    source = torch.randint(0, 10, (batch_size, length), generator=generator)
    target = torch.cat([source.flip(1), torch.full((batch_size, 1), EOS_token)], dim=1)
    return source, target


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size, dropout_p=0.1):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class BahdanauAttention(nn.Module):
    """score(q, k) = v^T tanh(W q + U k); the context is the weighted sum of the keys."""

    def __init__(self, hidden_size):
        super().__init__()
        self.Wa = nn.Linear(hidden_size, hidden_size)
        self.Ua = nn.Linear(hidden_size, hidden_size)
        self.Va = nn.Linear(hidden_size, 1)

    def forward(self, query, keys):
        scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))  # (batch, src_len, 1)
        scores = scores.squeeze(2).unsqueeze(1)  # (batch, 1, src_len)
        weights = F.softmax(scores, dim=-1)
        context = torch.bmm(weights, keys)  # (batch, 1, hidden)
        return context, weights


class AttnDecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size, max_length, dropout_p=0.1):
        super().__init__()
        self.max_length = max_length
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.attention = BahdanauAttention(hidden_size)
        self.gru = nn.GRU(2 * hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, encoder_outputs, encoder_hidden, target_tensor=None, teacher_forcing=False):
        batch_size = encoder_outputs.size(0)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        attentions = []

        for i in range(self.max_length):
            decoder_output, decoder_hidden, attn_weights = self.forward_step(
                decoder_input, decoder_hidden, encoder_outputs)
            decoder_outputs.append(decoder_output)
            attentions.append(attn_weights)
            if target_tensor is not None and teacher_forcing:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # the true token
            else:
                # the model's own best guess, cut from the graph
                topv, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()

        decoder_outputs = torch.cat(decoder_outputs, dim=1)
        decoder_outputs = F.log_softmax(decoder_outputs, dim=-1)
        attentions = torch.cat(attentions, dim=1)
        return decoder_outputs, decoder_hidden, attentions

    def forward_step(self, input, hidden, encoder_outputs):
        embedded = self.dropout(self.embedding(input))  # (batch, 1, hidden)
        query = hidden.permute(1, 0, 2)  # (batch, 1, hidden)
        context, attn_weights = self.attention(query, encoder_outputs)
        input_gru = torch.cat((embedded, context), dim=2)
        output, hidden = self.gru(input_gru, hidden)
        output = self.out(output)
        return output, hidden, attn_weights


def evaluate(encoder, decoder, source, target):
    encoder.eval()
    decoder.eval()
    with torch.no_grad():
        encoder_outputs, encoder_hidden = encoder(source)
        decoder_outputs, _, attentions = decoder(encoder_outputs, encoder_hidden)
        _, decoded_ids = decoder_outputs.topk(1)
        decoded_ids = decoded_ids.squeeze(-1)
    encoder.train()
    decoder.train()
    exact = (decoded_ids == target).all(dim=1).float().mean().item()
    tokens = (decoded_ids == target).float().mean().item()
    return exact, tokens, decoded_ids, attentions


def main():
    parser = argparse.ArgumentParser(description="GRU seq2seq with Bahdanau attention")
    parser.add_argument("--steps", type=int, default=400, help="training batches")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--length", type=int, default=6, help="digits per sequence")
    parser.add_argument("--hidden", type=int, default=64, help="GRU hidden size")
    parser.add_argument("--lr", type=float, default=0.003, help="Adam learning rate")
    parser.add_argument("--teacher-forcing", type=float, default=0.5,
                        help="probability of feeding the true previous token")
    parser.add_argument("--eval-size", type=int, default=500, help="held-out sequences")
    parser.add_argument("--log-interval", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    started = time.time()
    max_length = args.length + 1  # the reversed digits and EOS

    encoder = EncoderRNN(VOCAB, args.hidden)
    decoder = AttnDecoderRNN(args.hidden, VOCAB, max_length)
    encoder_optimizer = optim.Adam(encoder.parameters(), lr=args.lr)
    decoder_optimizer = optim.Adam(decoder.parameters(), lr=args.lr)
    criterion = nn.NLLLoss()
    test_source, test_target = make_batch(args.eval_size, args.length, generator)

    losses = []
    for step in range(1, args.steps + 1):
        source, target = make_batch(args.batch_size, args.length, generator)
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        teacher_forcing = random.random() < args.teacher_forcing
        encoder_outputs, encoder_hidden = encoder(source)
        decoder_outputs, _, _ = decoder(encoder_outputs, encoder_hidden, target, teacher_forcing)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)), target.view(-1))
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        losses.append(loss.item())
        if step % args.log_interval == 0:
            recent = sum(losses[-args.log_interval:]) / len(losses[-args.log_interval:])
            exact, tokens, _, _ = evaluate(encoder, decoder, test_source, test_target)
            print(f"step {step:5d}  loss {recent:.4f}  exact {exact:.3f}  tokens {tokens:.3f}")

    exact, tokens, decoded, attentions = evaluate(encoder, decoder, test_source, test_target)
    print("input  ", test_source[0].tolist())
    print("output ", decoded[0].tolist())
    # attention of the first output step should sit on the last input digit
    first_step_focus = attentions[:, 0].argmax(-1)
    focus = (first_step_focus == args.length - 1).float().mean().item()
    head = losses[:10]
    tail = losses[-10:]
    result = {"first_loss": round(sum(head) / len(head), 4),
              "last_loss": round(sum(tail) / len(tail), 4),
              "exact_match": round(exact, 4), "token_accuracy": round(tokens, 4),
              "first_step_attends_last_digit": round(focus, 4),
              "seconds": round(time.time() - started, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
