"""Scenarios that test_mpi.py runs under ``mpirun -n 2 python mpi_worker.py SCENARIO ...``
(several, joined by ``+``, share one launch).

Each scenario checks its results on rank 0 and prints ``ok ...``; a failed check raises, which
(through dlpy.distributed's excepthook) prints ``rank k: ...`` and aborts every rank.
"""

from __future__ import annotations

import sys

import numpy as np

import dlpy
from dlpy import distributed, nn, optim
from dlpy import functional as F
from dlpy.distributed import DistributedDataParallel, DistributedSampler


class Net(nn.Module):
    """A small classifier with a parameter that forward never uses (its gradient stays None)."""

    def __init__(self, rng: np.random.Generator, dtype, hidden: int = 16):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(12, hidden, rng=rng), nn.Tanh(),
                                    nn.LayerNorm(hidden), nn.Linear(hidden, 5, rng=rng))
        self.unused = nn.Parameter(np.ones(3))
        for p in self.parameters():
            p.data = p.data.astype(dtype)

    def forward(self, x):
        return self.layers(x)


def make_data(n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(123)
    return rng.standard_normal((n, 12)).astype(dtype), rng.integers(0, 5, n)


def make_optimizer(name: str, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.Adam(params, lr=1e-2)


def train(model, optimizer, sampler, batch_size: int, x, y, epochs: int, sync) -> int:
    steps = 0
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        order = sampler.indices()
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            sync()
            optimizer.step()
            steps += 1
    return steps


def equivalence(dtype_name: str, optimizer_name: str) -> None:
    """N ranks x local batch b for two epochs == one process with batch N x b."""
    dtype = np.dtype(dtype_name)
    world, batch = distributed.world_size(), 8
    x, y = make_data(100, dtype)  # 50 per rank: six batches of 8 and one of 2
    # every rank starts from different values: the broadcast must make them rank 0's
    net = Net(np.random.default_rng(distributed.rank()), dtype)
    model = DistributedDataParallel(net, bucket_mb=0.001)  # several buckets
    assert len(model.buckets) >= 2, len(model.buckets)
    opt = make_optimizer(optimizer_name, model.parameters())
    sampler = DistributedSampler(len(y), seed=7)
    steps = train(model, opt, sampler, batch, x, y, 2, model.average_gradients)
    assert net.unused.grad is None
    if distributed.is_main():
        single = Net(np.random.default_rng(0), dtype)
        single_opt = make_optimizer(optimizer_name, single.parameters())
        single_sampler = DistributedSampler(len(y), num_replicas=1, rank=0, seed=7)
        single_steps = train(single, single_opt, single_sampler, world * batch, x, y, 2,
                             lambda: None)
        assert steps == single_steps, (steps, single_steps)
        worst = max(float(np.abs(a.data - b.data).max())
                    for a, b in zip(net.parameters(), single.parameters()))
        tolerance = 1e-10 if dtype == np.float64 else 1e-5
        moved = float(np.abs(net.layers[0].weight.data
                             - Net(np.random.default_rng(0), dtype).layers[0].weight.data).max())
        assert worst <= tolerance and moved > 1e-3, (worst, moved)
        print(f"ok equivalence {dtype_name} {optimizer_name}: {steps} steps, world {world}, "
              f"max difference {worst:.2e}", flush=True)
    gathered = distributed.gather_object([p.data.copy() for p in net.parameters()])
    if gathered is not None:
        assert all(np.array_equal(a, b) for a, b in zip(gathered[0], gathered[1]))


class UsedNet(nn.Module):
    """Net without the unused parameter: backward reaches every parameter, so the averaging
    happens inside it (bucket by bucket, overlapped with the rest of backward)."""

    def __init__(self, rng: np.random.Generator):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(12, 16, rng=rng), nn.Tanh(), nn.LayerNorm(16),
                                    nn.Linear(16, 16, rng=rng), nn.Tanh(),
                                    nn.Linear(16, 5, rng=rng))
        for p in self.parameters():
            p.data = p.data.astype(np.float64)

    def forward(self, x, detach_first_bias: bool = False):
        if not detach_first_bias:
            return self.layers(x)
        first = self.layers[0]  # the first bias then gets no gradient
        return self.layers[1:](dlpy.tensor(x) @ first.weight.T + first.bias.detach())


def overlap() -> None:
    """Averaging inside backward, overlapped (buckets sent as they fill) or not, with gradients
    set to None or zeroed in place (then they are views of the buckets): the same parameters,
    equal to one process with the global batch; then a backward that misses a parameter and
    a weighted average_gradients after it (the buckets it sent are dropped)."""
    x, y = make_data(64, np.float64)
    world, rank, batch = distributed.world_size(), distributed.rank(), 8
    results = {}
    for sends in (True, False):
        for set_to_none in (True, False):
            net = UsedNet(np.random.default_rng(rank))  # the broadcast makes them rank 0's
            model = DistributedDataParallel(net, bucket_mb=0.0005, overlap=sends)
            assert len(model.buckets) >= 3, len(model.buckets)
            opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for step in range(4):
                rows = slice(step * world * batch + rank * batch,
                             step * world * batch + (rank + 1) * batch)
                opt.zero_grad(set_to_none=set_to_none)
                F.cross_entropy(model(x[rows]), y[rows]).backward()
                assert model._synced and not model._requests
                opt.step()
            results[sends, set_to_none] = [p.data.copy() for p in net.parameters()]
    single = UsedNet(np.random.default_rng(0))
    opt = optim.SGD(single.parameters(), lr=0.1, momentum=0.9)
    for step in range(4):
        rows = slice(step * world * batch, (step + 1) * world * batch)
        opt.zero_grad()
        F.cross_entropy(single(x[rows]), y[rows]).backward()
        opt.step()
    for key, params in results.items():
        worst = max(float(np.abs(a - b.data).max()) for a, b in zip(params, single.parameters()))
        assert worst < 1e-12, (key, worst)
    # a backward that misses the first layer's bias sends the later buckets; the weighted
    # average after it starts again from the ranks' own gradients
    net = UsedNet(np.random.default_rng(0))
    model = DistributedDataParallel(net, bucket_mb=0.0005)
    mine = slice(0, 3) if rank == 0 else slice(3, 10)
    first = net.layers[0]
    for _ in range(2):  # the second time the gradients are views of the buckets, zeroed
        for p in net.parameters():
            if p.grad is not None:
                p.grad.data[...] = 0
        out = model(x[mine], detach_first_bias=True)
        F.cross_entropy(out, y[mine]).backward()
        assert model._requests, "nothing was sent during the incomplete backward"
        model.average_gradients(weight=len(y[mine]))
    reference = UsedNet(np.random.default_rng(0))
    F.cross_entropy(reference(x[:10], detach_first_bias=True), y[:10]).backward()
    worst = max(float(np.abs(a.grad.data - b.grad.data).max())
                for a, b in zip(net.parameters(), reference.parameters()) if b.grad is not None)
    assert worst < 1e-12 and first.bias.grad is None, worst
    if distributed.is_main():
        print(f"ok overlap: {len(results)} settings equal one process", flush=True)


def weighted() -> None:
    """Ranks with different numbers of examples, weighted by them: the mean over all examples."""
    x, y = make_data(10, np.float64)
    mine = slice(0, 3) if distributed.rank() == 0 else slice(3, 10)
    net = Net(np.random.default_rng(0), np.float64)
    model = DistributedDataParallel(net)
    F.cross_entropy(model(x[mine]), y[mine]).backward()
    model.average_gradients(weight=len(y[mine]))
    single = Net(np.random.default_rng(0), np.float64)
    F.cross_entropy(single(x), y).backward()
    worst = max(float(np.abs(a.grad - b.grad).max())
                for a, b in zip(net.parameters(), single.parameters()) if b.grad is not None)
    assert worst < 1e-12, worst
    if distributed.is_main():
        print(f"ok weighted: max difference {worst:.1e}", flush=True)


def broadcast() -> None:
    net = Net(np.random.default_rng(100 + distributed.rank()), np.float32)
    before = [p.data.copy() for p in net.parameters()]
    DistributedDataParallel(net)
    everyone = distributed.gather_object({"before": before,
                                          "after": [p.data for p in net.parameters()]})
    if everyone is not None:
        rank0 = everyone[0]["before"]
        assert not np.array_equal(rank0[1], everyone[1]["before"][1])  # [0] is the unused ones
        for other in everyone:
            assert all(np.array_equal(a, b) for a, b in zip(rank0, other["after"]))
        print(f"ok broadcast to {len(everyone)} ranks", flush=True)


def mismatch() -> None:
    """Different models on different ranks: every rank raises the same ValueError."""
    net = Net(np.random.default_rng(0), np.float32, hidden=16 + distributed.rank())
    try:
        DistributedDataParallel(net)
    except ValueError as err:
        print(f"ok mismatch on rank {distributed.rank()}: {err}", flush=True)
    else:
        raise AssertionError("DistributedDataParallel accepted different models")


def refused(command: str, folder: str) -> None:
    """`dlpy mnist train` or `dlpy essay cv` (dlpy.cli.main, as `python -m dlpy` runs it) on 2
    ranks without --distributed: a run-time error on every rank (exit status 1, where usage
    errors are 2) that names --distributed, and nothing written to ``folder``."""
    import contextlib
    import io
    import os

    from dlpy.cli import main

    words = {"mnist": ["mnist", "train", "--data-dir", folder, "--no-download", "--out",
                       os.path.join(folder, "run")],
             "essay": ["essay", "cv", "--data", folder, "--json",
                       os.path.join(folder, "cv.json")]}[command]
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(words)
    assert code == 1, (code, stderr.getvalue())
    assert "as 2 processes but without --distributed" in stderr.getvalue(), stderr.getvalue()
    assert os.listdir(folder) == [], os.listdir(folder)
    print(f"ok refused {command} on rank {distributed.rank()}", flush=True)


def sampler(total: str, drop_last: str) -> None:
    """The default shards (rank and world from MPI) cover the data for three epochs."""
    n, drop = int(total), drop_last == "drop"
    shards = []
    for epoch in range(3):
        s = DistributedSampler(n, seed=3, drop_last=drop)
        s.set_epoch(epoch)
        shards.append(distributed.gather_object(s.indices()))
    if distributed.is_main():
        world = distributed.world_size()
        for epoch_shards in shards:
            assert len({len(part) for part in epoch_shards}) == 1
            joined = np.concatenate(epoch_shards)
            expected = n - n % world if drop else -(-n // world) * world
            assert len(joined) == expected
            assert len(np.unique(joined)) == min(expected, n)
        assert not np.array_equal(shards[0][0], shards[1][0])  # reshuffled
        print(f"ok sampler n={n} {drop_last}", flush=True)


def abort(how: str) -> None:
    """Rank 1 raises while rank 0 waits in an allreduce: both must end, with rank 1's message."""
    if how == "context":
        with distributed.abort_on_error():
            if distributed.rank() == 1:
                raise ValueError("boom on rank 1")
            distributed.all_sum([1.0])
    else:  # uncaught: the excepthook that init() installs
        if distributed.rank() == 1:
            raise ValueError("boom on rank 1")
        distributed.all_sum([1.0])
    print("not reached", flush=True)


def map_gather() -> None:
    results = distributed.map_gather(lambda item: (item * item, distributed.rank()), range(7))
    draws = distributed.gather_object(distributed.rank_rng(0).random(3))
    if distributed.is_main():
        assert not np.array_equal(draws[0], draws[1])  # per-rank seeds differ
        assert distributed.broadcast_object({"from": distributed.rank()}) == {"from": 0}
        assert [r[0] for r in results] == [i * i for i in range(7)], results
        assert [r[1] for r in results] == [i % 2 for i in range(7)], results
        print("ok map_gather", flush=True)
    else:
        assert results is None and draws is None
        assert distributed.broadcast_object(None) == {"from": 0}


def lm(corpus: str, out: str, signal_at: str = "", tokenizer: str = "") -> None:
    """dlpy lm's train_distributed: rank 0 trains the tokenizer (or copies ``tokenizer``), the
    ranks end equal. With ``signal_at``, rank 1 alone gets a SIGTERM after that step: both must
    stop after it."""
    from dlpy.lm.model import LMConfig
    from dlpy.lm.train import CHECKPOINT, LMTrainer, TrainConfig, train_distributed

    steps = int(signal_at) + 50 if signal_at else 4
    # split "none": Kiwi's morpheme cuts (tests/lm) cost each launch seconds of model loading
    config = TrainConfig(data=[corpus], out=out, steps=steps, batch_size=4, lr=3e-3,
                         warmup_steps=1, heldout_every=10, eval_every=2, eval_batches=1,
                         checkpoint_every=100, shuffle_buffer=16, seed=0, split="none",
                         tokenizer=tokenizer)
    model_config = LMConfig(vocab_size=400, d_model=32, num_layers=1, num_heads=2,
                            dim_feedforward=64, max_len=16, dropout=0.1)
    if signal_at and distributed.rank() == 1:
        import os
        import signal

        apply_gradients = LMTrainer.apply_gradients

        def apply_then_signal(self):
            result = apply_gradients(self)
            if self.step == int(signal_at):
                os.kill(os.getpid(), signal.SIGTERM)
            return result

        LMTrainer.apply_gradients = apply_then_signal
    trainer = train_distributed(config, model_config, show_progress=False)
    if signal_at:
        steps = distributed.gather_object(trainer.step)
        if steps is not None:
            assert steps == [int(signal_at)] * 2, steps
            print(f"ok lm signal: both ranks stopped after step {steps[0]}", flush=True)
        return
    assert trainer.step == 4 and trainer.world_size == 2
    # tokens seen by all ranks together: steps x ranks x the batch each rank draws
    c = trainer.config
    assert trainer.tokens_seen == 4 * 2 * c.accumulate * c.batch_size * model_config.max_len
    gathered = distributed.gather_object([p.data for p in trainer.model.parameters()])
    if gathered is not None:
        assert all(np.array_equal(a, b) for a, b in zip(gathered[0], gathered[1]))
        saved = np.load(f"{out}/{CHECKPOINT}")
        first = next(k for k in saved.files if k.startswith("param/"))
        assert np.array_equal(saved[first], trainer.model.state_dict()[first[len("param/"):]])
        print(f"ok lm: {trainer.step} steps, {trainer.tokens_seen} tokens on both ranks, the ranks "
              f"agree", flush=True)


SCENARIOS = {"lm": lm, "equivalence": equivalence, "weighted": weighted, "broadcast": broadcast,
             "mismatch": mismatch, "sampler": sampler, "abort": abort, "map_gather": map_gather,
             "refused": refused, "overlap": overlap}

if __name__ == "__main__":
    distributed.init(required=True)
    if distributed.world_size() != 2:
        raise SystemExit(f"mpi_worker: expected 2 ranks, got {distributed.world_size()}")
    # SCENARIO ARGS... [+ SCENARIO ARGS...]: several scenarios one after the other in one
    # launch (test_mpi.py's shared launch saves an mpirun start per scenario)
    words = sys.argv[1:]
    while words:
        end = words.index("+") if "+" in words else len(words)
        SCENARIOS[words[0]](*words[1:end])
        words = words[end + 1:]
