"""Time-sequence prediction: two stacked LSTM cells in double precision learn to continue sine
waves, trained full-batch with L-BFGS; after training they predict `--future` steps beyond
the input by feeding their own outputs back in.

    python examples/pytorch/time_sequence_prediction.py --steps 8 --waves 100 --length 1000

The data (generated here): `--waves` sine waves of length `--length`, each shifted by a random
offset, sin(x / 20); the model sees values 0..T-2 and predicts values 1..T-1.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def make_waves(num_waves, length, seed):
    rng = np.random.RandomState(seed)
    x = np.empty((num_waves, length), dtype="int64")
    x[:] = np.arange(length) + rng.randint(-4 * 20, 4 * 20, num_waves).reshape(num_waves, 1)
    return np.sin(x / 1.0 / 20).astype("float64")


class Sequence(nn.Module):
    def __init__(self, hidden=51):
        super().__init__()
        self.hidden = hidden
        self.lstm1 = nn.LSTMCell(1, hidden)
        self.lstm2 = nn.LSTMCell(hidden, hidden)
        self.linear = nn.Linear(hidden, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), self.hidden, dtype=torch.double)

        for input_t in input.split(1, dim=1):  # one time step: (batch, 1)
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # continue from the model's own last output
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.stack(outputs, 1).squeeze(2)
        return outputs


def main():
    parser = argparse.ArgumentParser(description="LSTM cells continue sine waves (L-BFGS)")
    parser.add_argument("--steps", type=int, default=3, help="L-BFGS steps")
    parser.add_argument("--waves", type=int, default=20, help="number of sine waves")
    parser.add_argument("--length", type=int, default=200, help="length of each wave")
    parser.add_argument("--test-waves", type=int, default=3, help="waves held out for testing")
    parser.add_argument("--hidden", type=int, default=51, help="hidden units of each cell")
    parser.add_argument("--future", type=int, default=200, help="steps predicted beyond")
    parser.add_argument("--lr", type=float, default=0.8, help="L-BFGS learning rate")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    args = parser.parse_args()

    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    started = time.time()
    data = make_waves(args.waves, args.length, args.seed)
    input = torch.from_numpy(data[args.test_waves:, :-1])
    target = torch.from_numpy(data[args.test_waves:, 1:])
    test_input = torch.from_numpy(data[:args.test_waves, :-1])
    test_target = torch.from_numpy(data[:args.test_waves, 1:])

    seq = Sequence(args.hidden)
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=args.lr)

    losses = []  # every closure evaluation (L-BFGS evaluates several per step)
    test_losses = []
    for i in range(args.steps):
        print("STEP: ", i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            print("loss:", loss.item())
            losses.append(loss.item())
            loss.backward()
            return loss

        optimizer.step(closure)
        # predict without tracking gradients
        with torch.no_grad():
            future = args.future
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print("test loss:", loss.item())
            test_losses.append(loss.item())
            y = pred.detach().numpy()
    future_spread = float(np.abs(y[:, -args.future:]).max()) if args.future else 0.0
    result = {"first_loss": losses[0], "last_loss": losses[-1], "evaluations": len(losses),
              "first_test_loss": test_losses[0], "last_test_loss": test_losses[-1],
              "future_max_abs": round(future_spread, 4), "seconds": round(time.time() - started, 2)}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
