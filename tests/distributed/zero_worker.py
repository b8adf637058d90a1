"""``mpirun -n N python zero_worker.py OUT.json``: ZeroRedundancyOptimizer.add_param_group on N
ranks (2 or 3). Every check runs on every rank; an exception is recorded, not raised, and rank 0
writes {check: {"0": "ok" or the error, ...}} to OUT.json for test_zero_and_debug_level.py."""

from __future__ import annotations

import sys

import numpy as np

from dlpy import distributed as dist
from dlpy import nn, optim
from dlpy.distributed.optim import ZeroRedundancyOptimizer

CHECKS = {}


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def set_grads(params, step: int):
    """The same gradients on every rank (as DistributedDataParallel leaves them)."""
    rng = np.random.default_rng(100 + step)
    for p in params:
        p.grad = rng.standard_normal(p.data.shape)


# the owners of [w0 | b0, w2, b2 | w3, b3] (sizes 32 | 8, 16, 2 | 64, 8), torch's greedy
# partition (largest first, to the rank with the fewest elements so far, over all groups)
OWNERS = {2: [0, 1, 1, 1, 1, 0], 3: [0, 2, 1, 2, 2, 1]}


@check
def add_param_group_partitions_the_new_group():
    me, world = dist.get_rank(), dist.get_world_size()
    nets = [nn.Sequential(nn.Linear(4, 8, rng=np.random.default_rng(0)), nn.Tanh(),
                          nn.Linear(8, 2, rng=np.random.default_rng(1)))
            for _ in range(2)]
    extras = [nn.Linear(8, 8, rng=np.random.default_rng(2)) for _ in range(2)]
    groups = [[[net[0].weight], [net[0].bias, *net[2].parameters()], list(extra.parameters())]
              for net, extra in zip(nets, extras)]
    zero = ZeroRedundancyOptimizer([{"params": groups[0][0]}], optim.Adam, lr=0.01,
                                   bucket_mb=1e-4)  # small buckets: several broadcasts
    plain = optim.Adam([{"params": groups[1][0]}], lr=0.01)
    assert (zero.optim is None) == (me != 0)  # one parameter: rank 0 owns it
    for step in range(7):
        if step in (2, 4):  # the new groups, as torch: the local optimiser gets its share
            g = 1 if step == 2 else 2
            zero.add_param_group({"params": groups[0][g], "lr": 0.01 * (g + 1)})
            plain.add_param_group({"params": groups[1][g], "lr": 0.01 * (g + 1)})
        for params, opt in ((sum(groups[0], []), zero), (sum(groups[1], []), plain)):
            set_grads(params, step)
            opt.step()
    assert zero.owner == OWNERS[world], zero.owner
    assert [g["lr"] for g in zero.param_groups] == [0.01, 0.02, 0.03]
    mine = [i for i, owner in enumerate(OWNERS[world]) if owner == me]
    local = [] if zero.optim is None else zero.optim.params
    assert [id(p) for p in local] == [id(sum(groups[0], [])[i]) for i in mine]
    for a, b in zip(sum(groups[0], []), sum(groups[1], [])):
        assert np.array_equal(a.data, b.data)  # every rank: the plain optimiser's, exactly
    # the state: each parameter's on its owner only, together the plain optimiser's
    shares = [None] * world
    dist.all_gather_object(shares, zero.state_bytes())
    plain_bytes = sum(v.nbytes for s in plain.state for v in s.values())
    assert sum(shares) == plain_bytes, (shares, plain_bytes)
    zero.consolidate_state_dict(to=0)
    if me == 0:
        state, expected = zero.state_dict(), plain.state_dict()
        assert list(state) == list(expected)
        for key, value in expected.items():
            assert np.array_equal(state[key], value), key
    return f"owners {zero.owner}, state bytes per rank {shares}"


@check
def add_param_group_errors_name_zero():
    p = list(nn.Linear(2, 2, rng=np.random.default_rng(0)).parameters())
    zero = ZeroRedundancyOptimizer(p, optim.SGD, lr=0.1)
    try:
        zero.add_param_group({"params": p[:1]})
    except ValueError as error:
        assert "ZeroRedundancyOptimizer.add_param_group: " in str(error), str(error)
        assert "more than one parameter group" in str(error), str(error)
    else:
        raise AssertionError("a parameter added twice was accepted")
    assert len(zero.param_groups) == 1 and zero.owner == [0, 1 % dist.get_world_size()]


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "zero_worker")
