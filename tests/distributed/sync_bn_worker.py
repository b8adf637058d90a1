"""``mpirun -n 2 python sync_bn_worker.py DTYPE MOMENTUM [+ DTYPE MOMENTUM ...]``: SyncBatchNorm
on 2 ranks with batches of b == BatchNorm in one process with a batch of 2 b
(test_sync_batch_norm.py runs every case in one launch).

Rank 0 checks, at every step, the outputs, the input gradient, the parameter gradients (after
DistributedDataParallel's averaging) and, after the steps, the parameters, the running
statistics and eval outputs, and prints ``ok sync_batch_norm ...``; a failed check raises, which
aborts both ranks with ``rank k: ...``.
"""

from __future__ import annotations

import sys

import numpy as np

from dlpy import Tensor, distributed, nn, optim
from dlpy import functional as F
from dlpy.distributed import DistributedDataParallel


def build(norm, dtype, momentum):
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Linear(4, 6, rng=rng), norm(5, momentum=momentum), nn.Tanh(),
                        nn.Flatten(), nn.Linear(30, 3, rng=rng))
    for p in net.parameters():
        p.data = p.data.astype(dtype)
    for name in ("running_mean", "running_var"):
        setattr(net[1], name, getattr(net[1], name).astype(dtype))
    net[1].weight.data[...] = np.linspace(0.5, 1.5, 5)
    net[1].bias.data[...] = np.linspace(-0.3, 0.3, 5)
    return net


def step(net, optimizer, x, y, sync):
    x = Tensor(x, requires_grad=True)
    out = net(x)
    loss = F.cross_entropy(out, y)  # the mean over this rank's batch
    optimizer.zero_grad()
    loss.backward()
    sync()
    grads = [p.grad.numpy().copy() for p in net.parameters()]
    optimizer.step()
    return out.data, x.grad, grads


def main(dtype_name: str, momentum_name: str) -> None:
    dtype, momentum = np.dtype(dtype_name), None if momentum_name == "none" else 0.1
    world, rank, batch, steps = distributed.world_size(), distributed.rank(), 4, 3
    rng = np.random.default_rng(5)
    x = rng.normal(1.0, 2.0, (steps, world * batch, 5, 4)).astype(dtype)
    y = rng.integers(0, 3, (steps, world * batch))
    net = build(nn.SyncBatchNorm, dtype, momentum)
    model = DistributedDataParallel(net)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mine = slice(rank * batch, (rank + 1) * batch)
    ranks = [step(model, opt, x[s, mine], y[s, mine], model.average_gradients)
             for s in range(steps)]
    net.eval()
    eval_out = net(x[0, mine]).data
    gathered = distributed.gather_object({"steps": ranks, "eval": eval_out,
                                          "state": net.state_dict()})
    if gathered is None:
        return
    single = build(nn.BatchNorm1d, dtype, momentum)
    single_opt = optim.SGD(single.parameters(), lr=0.1, momentum=0.9)
    tolerance = 1e-10 if dtype == np.float64 else 1e-5
    worst = 0.0

    def same(what, got, expected):
        nonlocal worst
        difference = float(np.abs(np.asarray(got) - np.asarray(expected)).max())
        assert difference <= tolerance * max(1.0, float(np.abs(expected).max())), \
            (what, difference)
        worst = max(worst, difference)

    for s in range(steps):
        out, x_grad, grads = step(single, single_opt, x[s], y[s], lambda: None)
        same(f"step {s} outputs", np.concatenate([g["steps"][s][0] for g in gathered]), out)
        # each rank's input gradient is that of the sum of the ranks' losses (as PyTorch's),
        # each a mean over b: world_size times the gradient of the mean over world * b
        same(f"step {s} input gradient",
             np.concatenate([g["steps"][s][1] for g in gathered]), world * x_grad)
        assert np.abs(x_grad).max() > 1e-4
        for rank_grads in gathered:
            for i, (got, expected) in enumerate(zip(rank_grads["steps"][s][2], grads)):
                same(f"step {s} gradient {i}", got, expected)
    single.eval()
    same("eval outputs", np.concatenate([g["eval"] for g in gathered]),
         single(x[0]).data)
    expected_state = single.state_dict()
    for state in (g["state"] for g in gathered):
        assert list(state) == list(expected_state)
        for key, value in expected_state.items():
            same(key, state[key], value)
    assert int(expected_state["1.num_batches_tracked"]) == steps
    assert np.abs(expected_state["1.running_mean"]).max() > 1e-2
    print(f"ok sync_batch_norm {dtype_name} momentum={momentum_name}: {steps} steps, world "
          f"{world}, max difference {worst:.2e}", flush=True)


if __name__ == "__main__":
    distributed.init(required=True)
    if distributed.world_size() != 2:
        raise SystemExit(f"sync_bn_worker: expected 2 ranks, got {distributed.world_size()}")
    # DTYPE MOMENTUM [+ DTYPE MOMENTUM ...]: several cases, one after the other, in one launch
    words = sys.argv[1:]
    while words:
        end = words.index("+") if "+" in words else len(words)
        main(*words[:end])
        words = words[end + 1:]
