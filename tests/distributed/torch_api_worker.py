"""``mpirun -n 2 python torch_api_worker.py OUT.json``: torch.distributed's API (dlpy.distributed)
on 2 ranks. Every check runs on both ranks; an exception is recorded, not raised (the checks
after it still run), and rank 0 writes {check: {"0": "ok" or the error, "1": ...}} to OUT.json
for test_torch_api.py to read, one test per check.
"""

from __future__ import annotations

import datetime
import sys
import time
import warnings

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import distributed as dist
from dlpy.distributed import DistributedDataParallel
from dlpy.distributed.nn import functional as dnf
from dlpy.distributed.optim import ZeroRedundancyOptimizer

CHECKS = {}
WORLD_SIZE = 2  # the checks' expected values assume two ranks
R = dist.ReduceOp


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def expect_error(kind, fragments, fn, *args, **kwargs):
    """fn(*args, **kwargs) must raise ``kind`` with every fragment in its message."""
    try:
        fn(*args, **kwargs)
    except kind as error:
        missing = [f for f in fragments if f not in str(error)]
        assert not missing, (missing, str(error))
        return str(error)
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")


def inputs(rank: int, dtype: str, shape=(2, 3)) -> np.ndarray:
    """Rank ``rank``'s input: known on every rank, so each can compute the expected result."""
    if dtype == "bool":
        return (np.arange(6).reshape(shape) % (2 + rank)) == 0
    values = np.arange(6).reshape(shape) * (rank + 2) - 3 * rank + 1
    return values.astype(dtype)


def peers(dtype: str, shape=(2, 3)) -> list[np.ndarray]:
    return [inputs(r, dtype, shape) for r in range(dist.get_world_size())]


# ----------------------------------------------------------------- the process group
@check
def init_process_group():
    me = dist.get_rank()  # works before init: rank 0 of 1 would be dlpy's single process
    assert not dist.is_initialized()
    expect_error(ValueError, ["world_size=3", "started 2 process"], dist.init_process_group,
                 "gloo", world_size=3)
    expect_error(ValueError, [f"rank={1 - me}", f"rank {me}"], dist.init_process_group,
                 "nccl", rank=1 - me)
    expect_error(ValueError, ["unknown backend 'tcp'"], dist.init_process_group, "tcp")
    dist.init_process_group("gloo", world_size=2, rank=me,
                            timeout=datetime.timedelta(seconds=60))
    assert dist.is_initialized() and dist.is_available()
    assert dist.get_backend() == "gloo" and dist.get_world_size() == 2  # the name given
    assert dist.group.WORLD is dist.GroupMember.WORLD and dist.group.WORLD.ranks == [0, 1]
    expect_error(ValueError, ["twice"], dist.init_process_group, "mpi")


@check
def all_reduce_ops_and_dtypes():
    me, done = dist.get_rank(), 0
    numpy_ops = {R.SUM: np.add, R.PRODUCT: np.multiply, R.MIN: np.minimum, R.MAX: np.maximum,
                 R.BAND: np.bitwise_and, R.BOR: np.bitwise_or, R.BXOR: np.bitwise_xor}
    bool_ops = {R.SUM: np.logical_or, R.MAX: np.logical_or, R.BOR: np.logical_or,
                R.PRODUCT: np.logical_and, R.MIN: np.logical_and, R.BAND: np.logical_and,
                R.BXOR: np.logical_xor}
    for dtype in ("float32", "float64", "int32", "int64", "bool"):
        for op in R:
            theirs = peers(dtype)
            t = Tensor(inputs(me, dtype))
            integral = dtype != "float32" and dtype != "float64"
            if (op is R.AVG and integral) or (op in (R.BAND, R.BOR, R.BXOR) and not integral):
                expect_error(TypeError, ["all_reduce: ", op.name, dtype], dist.all_reduce, t, op)
                continue
            dist.all_reduce(t, op)
            if op is R.AVG:
                expected = (theirs[0] + theirs[1]) / 2
            else:
                expected = (bool_ops if dtype == "bool" else numpy_ops)[op](*theirs)
            assert t.data.dtype == np.dtype(dtype) and np.array_equal(t.data, expected), \
                (dtype, op, t.data, expected)
            done += 1
    assert done == 5 * 8 - 3 - 2 * 3, done  # not AVG on 3 integral, bitwise on 2 floats


@check
def all_reduce_in_place_on_views_arrays_and_grads():
    me = dist.get_rank()
    base = inputs(me, "float64", (3, 2))
    view = Tensor(base.copy().T)  # not contiguous: written back
    dist.all_reduce(view)
    assert np.array_equal(view.data, (peers("float64", (3, 2))[0]
                                      + peers("float64", (3, 2))[1]).T)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    t = Tensor(frozen)
    dist.all_reduce(t)
    assert np.array_equal(t.data, [2, 2, 2])
    for value, expected in ((np.array([1 + 2j, 3j]) * (me + 1), [3 + 6j, 9j]),
                            (np.array([200, 7], np.uint8) + me, [145, 15]),  # wraps, as uint8
                            (np.array(2.5 + me, np.float32), 6.0)):  # 0-d
        dist.all_reduce(value)
        assert np.array_equal(value, expected), (value, expected)
    grad = np.full(4, me + 1.0)  # a parameter's .grad is a numpy array
    dist.all_reduce(grad, op=R.AVG)
    assert np.array_equal(grad, [1.5] * 4)
    # as torch: not differentiable, no error on a leaf that requires grad; a gradient passes
    # through as through an identity
    leaf = Tensor(np.ones(2), requires_grad=True)
    dist.all_reduce(leaf)
    assert np.array_equal(leaf.data, [2, 2])
    x = Tensor(np.ones(3), requires_grad=True)
    y = x * 2
    dist.all_reduce(y)
    assert np.array_equal(y.data, [4, 4, 4])
    y.sum().backward()
    assert np.array_equal(x.grad, [2, 2, 2])
    # unlike torch (a silently wrong gradient): an op that saved the overwritten values refuses
    x = Tensor(np.ones(3), requires_grad=True)
    y = x.tanh()
    dist.all_reduce(y)
    expect_error(RuntimeError, [], y.sum().backward)
    expect_error(TypeError, ["all_reduce: tensor must be a dlpy Tensor or a numpy array, got "
                             "list"], dist.all_reduce, [1.0])
    expect_error(TypeError, ["float16"], dist.all_reduce, np.ones(2, np.float16))
    expect_error(TypeError, ["op must be a ReduceOp"], dist.all_reduce, np.ones(2), "sum")


@check
def async_work():
    me = dist.get_rank()
    t = Tensor(np.full(1000, me + 1.0))
    work = dist.all_reduce(t, op=R.AVG, async_op=True)
    assert isinstance(work, dist.Work)
    assert work.wait() is True and work.is_completed()
    assert np.array_equal(t.data, np.full(1000, 1.5)) and work.result()[0] is t
    parts = [np.zeros(2), np.zeros(2)]
    work = dist.all_gather(parts, np.full(2, float(me)), async_op=True)
    deadline = time.monotonic() + 10
    while not work.is_completed():
        assert time.monotonic() < deadline
    assert np.array_equal(np.stack(parts), [[0, 0], [1, 1]])
    for fn, args in ((dist.broadcast, (np.full(3, float(me)), 1)),
                     (dist.reduce, (np.full(3, float(me)), 0)),
                     (dist.barrier, ())):
        work = fn(*args, async_op=True)
        assert work.wait(timeout=datetime.timedelta(seconds=10))
    assert dist.all_reduce(np.ones(1)) is None


@check
def broadcast_and_reduce():
    me = dist.get_rank()
    t = Tensor(inputs(me, "int64"))
    dist.broadcast(t, src=1)
    assert np.array_equal(t.data, inputs(1, "int64"))
    t = Tensor(inputs(me, "float32"))
    dist.reduce(t, dst=1, op=R.MAX)
    expected = np.maximum(*peers("float32")) if me == 1 else inputs(me, "float32")
    assert np.array_equal(t.data, expected)
    t = Tensor(inputs(me, "float64"))
    dist.reduce(t, dst=0, op=R.AVG)
    expected = (peers("float64")[0] + peers("float64")[1]) / 2 if me == 0 else inputs(me,
                                                                                   "float64")
    assert np.array_equal(t.data, expected)
    expect_error(ValueError, ["broadcast: src=5 is not a rank of the group"], dist.broadcast,
                 np.ones(2), 5)


@check
def gathers_and_scatters():
    me, world = dist.get_rank(), 2
    mine, theirs = inputs(me, "float32"), peers("float32")
    out = [Tensor(np.zeros((2, 3), np.float32)) for _ in range(world)]
    dist.all_gather(out, Tensor(mine))
    assert all(np.array_equal(o.data, e) for o, e in zip(out, theirs))
    flat = Tensor(np.zeros((4, 3), np.float32))
    dist.all_gather_into_tensor(flat, Tensor(mine))
    assert np.array_equal(flat.data, np.concatenate(theirs))
    stacked = np.zeros((2, 2, 3), np.float32)
    dist.all_gather_into_tensor(stacked, mine)
    assert np.array_equal(stacked, np.stack(theirs))
    expect_error(ValueError, ["output_tensor is (5, 3) float32", "(4, 3) float32"],
                 dist.all_gather_into_tensor, np.zeros((5, 3), np.float32), mine)
    # reduce_scatter: rank r gets the sum over ranks of their input_list[r]
    lists = [[inputs(r, "int64") * (k + 1) for k in range(world)] for r in range(world)]
    out = np.zeros((2, 3), np.int64)
    dist.reduce_scatter(out, lists[me])
    assert np.array_equal(out, lists[0][me] + lists[1][me])
    out = Tensor(np.zeros((2, 3)))
    dist.reduce_scatter_tensor(out, np.concatenate([a.astype(float) for a in lists[me]]),
                               op=R.AVG)
    assert np.array_equal(out.data, (lists[0][me] + lists[1][me]) / 2)
    # gather to rank 1, scatter from rank 0
    gathered = [np.zeros((2, 3), np.float32) for _ in range(world)] if me == 1 else None
    dist.gather(Tensor(mine), gathered, dst=1)
    if me == 1:
        assert all(np.array_equal(g, e) for g, e in zip(gathered, theirs))
    piece = Tensor(np.zeros(3))
    dist.scatter(piece, [np.arange(3.0), 10 + np.arange(3.0)] if me == 0 else None, src=0)
    assert np.array_equal(piece.data, 10 * me + np.arange(3.0))
    expect_error(ValueError, ["gather: gather_list must hold 2 tensors", "got 1",
                              "(on rank 1)"], dist.gather, Tensor(mine),
                 [np.zeros((2, 3), np.float32)] if me == 1 else None, dst=1)


@check
def all_to_all_variants():
    me = dist.get_rank()
    # rank i sends rank j (i + 1) * (j + 1) values of 100 i + 10 j
    inputs_ = [np.full((me + 1) * (j + 1), 100.0 * me + 10 * j) for j in range(2)]
    outputs = [Tensor(np.zeros((i + 1) * (me + 1))) for i in range(2)]
    dist.all_to_all(outputs, inputs_)
    for i, out in enumerate(outputs):
        assert np.array_equal(out.data, np.full((i + 1) * (me + 1), 100.0 * i + 10 * me))
    source = np.arange(8, dtype=np.int32).reshape(4, 2) + 100 * me
    out = np.zeros((4, 2), np.int32)
    dist.all_to_all_single(out, source)
    assert np.array_equal(out[:2], np.arange(8, dtype=np.int32).reshape(4, 2)[2 * me:2 * me + 2])
    assert np.array_equal(out[2:], 100 + np.arange(8, dtype=np.int32).reshape(4, 2)[
        2 * me:2 * me + 2])
    # uneven splits: rank 0 sends 1 row to rank 0, 3 to rank 1; rank 1 sends 2 and 2
    splits = [[1, 3], [2, 2]]
    received = [splits[0][me], splits[1][me]]
    out = np.zeros((sum(received), 2), np.int32)
    dist.all_to_all_single(out, source, output_split_sizes=received,
                           input_split_sizes=splits[me])
    starts = [sum(splits[0][:me]), sum(splits[1][:me])]
    expected = np.concatenate([(np.arange(8, dtype=np.int32).reshape(4, 2) + 100 * i)[
        starts[i]:starts[i] + received[i]] for i in range(2)])
    assert np.array_equal(out, expected)
    # rank 1 expects 1 row from rank 0, which sends it 3: an error on both ranks
    expect_error(ValueError, ["all_to_all_single: rank 0 sends rank 1 6 elements",
                              "expects 2"], dist.all_to_all_single, np.zeros((3, 2), np.int32),
                 source, output_split_sizes=[1, 2], input_split_sizes=splits[me])


@check
def point_to_point():
    me = dist.get_rank()
    if me == 0:
        dist.send(Tensor(np.arange(4.0)), dst=1, tag=1)
        dist.send(np.arange(4.0) + 10, dst=1, tag=2)
        work = dist.isend(np.full(3, 7, np.int64), dst=1)
        work.wait()
        assert dist.recv(np.zeros(2)) == 1  # from any rank
        dist.send(np.zeros(5), dst=1, tag=9)  # the receiver holds 4: its error
    else:
        second, first = Tensor(np.zeros(4)), np.zeros(4)
        assert dist.recv(second, src=0, tag=2) == 0  # tags pick the message
        assert dist.recv(first, src=0, tag=1) == 0
        assert np.array_equal(first, np.arange(4.0)) and np.array_equal(second.data,
                                                                         np.arange(4.0) + 10)
        target = np.zeros(3, np.int64)
        work = dist.irecv(target, src=0)
        assert work.wait() and np.array_equal(target, [7, 7, 7])
        dist.send(np.ones(2), dst=0)
        expect_error(ValueError, ["recv: the message from rank 0"], dist.recv, np.zeros(4), 0,
                     tag=9)
    dist.barrier()


@check
def object_collectives():
    me = dist.get_rank()
    objects = [{"from": me}, None, "x"] if me == 1 else [None, None, None]
    dist.broadcast_object_list(objects, src=1)
    assert objects == [{"from": 1}, None, "x"]
    everyone = [None, None]
    dist.all_gather_object(everyone, (me, "hello"))
    assert everyone == [(0, "hello"), (1, "hello")]
    gathered = [None, None] if me == 1 else None
    result = dist.gather_object({"rank": me}, gathered, dst=1)
    if me == 1:
        assert gathered == [{"rank": 0}, {"rank": 1}] and result == gathered
    else:
        assert result is None
    out = [None]
    dist.scatter_object_list(out, ["a", "b"] if me == 0 else None, src=0)
    assert out == [["a", "b"][me]]
    expect_error(ValueError, ["all_gather_object: object_list must hold 2 items"],
                 dist.all_gather_object, [None], me)


@check
def groups():
    me = dist.get_rank()
    solo = dist.new_group([1])
    pair = dist.new_group([1, 0])  # sorted, as torch's
    assert dist.get_process_group_ranks(pair) == [0, 1] and dist.get_rank(pair) == me
    t = np.full(2, me + 1.0)
    dist.broadcast(t, src=1, group=pair)
    assert np.array_equal(t, [2, 2])
    if me == 0:
        assert solo is dist.GroupMember.NON_GROUP_MEMBER is dist.group.NON_GROUP_MEMBER
        assert dist.get_rank(solo) == -1 and dist.get_world_size(solo) == -1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t = np.ones(2)
            assert dist.all_reduce(t, group=solo) is None
        assert np.array_equal(t, [1, 1])
        assert "does not belong to the given group" in str(caught[0].message)
    else:
        assert dist.get_rank(solo) == 0 and dist.get_world_size(solo) == 1
        assert dist.get_global_rank(solo, 0) == 1 and dist.get_group_rank(solo, 1) == 0
        t = np.full(2, 5.0)
        dist.all_reduce(t, group=solo)
        assert np.array_equal(t, [5, 5])
        expect_error(ValueError, ["src=0 is not a rank of the group (global ranks [1])"],
                     dist.broadcast, t, 0, solo)
    expect_error(ValueError, ["new_group: ranks must be in 0..1, got [2]"], dist.new_group,
                 [0, 2])
    dist.destroy_process_group(pair)
    expect_error(ValueError, ["was destroyed"], dist.all_reduce, np.ones(1), group=pair)


@check
def mismatches_are_errors_on_every_rank():
    me = dist.get_rank()
    shape = (2, 3) if me == 0 else (3, 2)
    expect_error(ValueError, ["all_reduce: the ranks were called with different arguments",
                              "rank 0: ReduceOp.SUM (2, 3) float64",
                              "rank 1: ReduceOp.SUM (3, 2) float64"],
                 dist.all_reduce, np.ones(shape))
    expect_error(ValueError, ["float32", "float64"], dist.all_reduce,
                 np.ones(3, np.float32 if me else np.float64))
    expect_error(ValueError, ["different arguments", "MAX", "SUM"], dist.all_reduce,
                 np.ones(3), R.MAX if me else R.SUM)
    expect_error(ValueError, ["src 0", "src 1"], dist.broadcast, np.ones(3), me)
    # a collective another rank does not call: found, not a hang
    if me == 0:
        expect_error(ValueError, ["different arguments"], dist.all_reduce, np.ones(3))
    else:
        expect_error(ValueError, ["different arguments"], dist.broadcast, np.ones(3), 0)
    # an argument error on one rank only: the same error on both
    expect_error(ValueError, ["all_gather: tensor_list must hold 2 tensors", "(on rank 1)"],
                 dist.all_gather, [np.zeros(3)] * (2 if me == 0 else 3), np.ones(3))
    dist.barrier()


@check
def monitored_barrier():
    me = dist.get_rank()
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=10))
    # rank 1 comes late: only once rank 0's barrier has timed out without it (rank 0 says so on
    # a communicator of this check's own, rather than rank 1 sleeping longer than that takes)
    late = dist.group.WORLD.comm.Dup()
    if me == 1:
        late.recv(source=0)
        expect_error(RuntimeError, ["rank 1 was not released by rank 0"],
                     dist.monitored_barrier, timeout=datetime.timedelta(seconds=0.3))
    else:
        start = time.monotonic()
        expect_error(RuntimeError, ["rank(s) 1 did not reach the barrier within 0.3 s"],
                     dist.monitored_barrier, timeout=datetime.timedelta(seconds=0.3),
                     wait_all_ranks=True)
        assert time.monotonic() - start < 1.2
        late.send("timed out", dest=1)
    dist.barrier()
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=10))  # stale messages ignored
    late.Free()


@check
def differentiable_collectives():
    me = dist.get_rank()
    weights = [np.array([1.0, 2.0, 3.0]), np.array([-1.0, 0.5, 4.0])]
    x = Tensor(np.array([1.0, 2.0, 3.0]) * (me + 1), requires_grad=True)
    y = dnf.all_reduce(x)
    assert np.array_equal(y.data, [3, 6, 9])
    (y * weights[me]).sum().backward()  # the loss summed over ranks: sum_r w_r . sum_s x_s
    assert np.allclose(x.grad, weights[0] + weights[1]), x.grad
    x = Tensor(np.full(3, me + 1.0), requires_grad=True)
    y = dnf.all_reduce(x, op=R.AVG)
    (y * weights[me]).sum().backward()
    assert np.allclose(y.data, 1.5) and np.allclose(x.grad, (weights[0] + weights[1]) / 2)
    x = Tensor(np.full(3, me + 1.0), requires_grad=True)
    y = dnf.broadcast(x, src=1)
    (y * weights[me]).sum().backward()
    assert np.array_equal(y.data, [2, 2, 2])
    assert np.allclose(x.grad, weights[0] + weights[1] if me == 1 else 0)
    x = Tensor(np.full(3, me + 1.0), requires_grad=True)
    parts = dnf.all_gather(x)
    assert len(parts) == 2 and np.array_equal(parts[1].data, [2, 2, 2])
    # loss_r = sum_k (k + 1 + r) * parts[k]: d(sum_r loss_r)/d x_k = sum_r (k + 1 + r)
    sum(float(k + 1 + me) * p for k, p in enumerate(parts)).sum().backward()
    assert np.allclose(x.grad, 2 * (me + 1) + 1), x.grad
    expect_error(ValueError, ["ReduceOp.SUM or ReduceOp.AVG, got ReduceOp.MAX"],
                 dnf.all_reduce, x, R.MAX)


# ----------------------------------------------------------------- ZeroRedundancyOptimizer
class Net(nn.Module):
    def __init__(self, dtype, rng):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(10, 32, rng=rng), nn.Tanh(),
                                    nn.Linear(32, 16, rng=rng), nn.Tanh(),
                                    nn.Linear(16, 3, rng=rng))
        for p in self.parameters():
            p.data = p.data.astype(dtype)

    def forward(self, x):
        return self.layers(x)


def train_steps(model, optimizer, steps, rng, sync, record):
    """Each rank's batch differs; DDP averages the gradients, ``record`` sees them."""
    from dlpy import functional as F

    for _ in range(steps):
        x = rng.standard_normal((8, 10)).astype(next(model.parameters()).dtype)
        y = rng.integers(0, 3, 8)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        sync()
        record([p.grad.numpy().copy() for p in model.parameters()])
        optimizer.step()


def replay(net, optimizer, grads):
    for step_grads in grads:
        for p, g in zip(net.parameters(), step_grads):
            p.grad = g
        optimizer.step()


def zero_equivalence(dtype: str):
    """2-rank ZeRO Adam == one process's Adam on the same averaged gradients."""
    me = dist.get_rank()
    net = Net(dtype, np.random.default_rng(0))
    model = DistributedDataParallel(net)
    groups = [{"params": net.layers[0].parameters(), "lr": 3e-2},
              {"params": [*net.layers[2].parameters(), *net.layers[4].parameters()]}]
    zero = ZeroRedundancyOptimizer(groups, optim.Adam, lr=1e-2, weight_decay=1e-3)
    grads = []
    train_steps(model, zero, 6, np.random.default_rng(10 + me), model.average_gradients,
                grads.append)
    single = Net(dtype, np.random.default_rng(0))
    plain = optim.Adam([{"params": single.layers[0].parameters(), "lr": 3e-2},
                        {"params": [*single.layers[2].parameters(),
                                    *single.layers[4].parameters()]}], lr=1e-2, weight_decay=1e-3)
    replay(single, plain, grads)
    tolerance = 1e-6 if dtype == "float32" else 1e-13
    worst = max(float(np.abs(a.data - b.data).max())
                for a, b in zip(net.parameters(), single.parameters()))
    assert worst <= tolerance, worst
    everyone = [None, None]
    dist.all_gather_object(everyone, [p.data for p in net.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*everyone))  # the ranks agree exactly
    # the state: about half each, together all of it
    plain_bytes = sum(v.nbytes for s in plain.state for v in s.values())
    shares = [None, None]
    dist.all_gather_object(shares, zero.state_bytes())
    assert sum(shares) == plain_bytes and max(shares) <= 0.6 * plain_bytes, (shares, plain_bytes)
    # consolidated on rank 1: the plain optimiser's state
    zero.consolidate_state_dict(to=1)
    if me == 1:
        state = zero.state_dict()
        expected = plain.state_dict()
        assert list(state) == list(expected)
        for key, value in expected.items():
            assert np.allclose(state[key], value, rtol=1e-5, atol=tolerance), key
        nested = zero.state_dict(torch_layout=True)
        assert set(nested["state"]) == set(range(len(plain.params)))
    else:
        expect_error(RuntimeError, ["consolidate_state_dict(to=0)"], zero.state_dict)
    # a new ZeRO loads it (sent from rank 1), lowers lr like a scheduler, and steps on
    payload = [zero.state_dict() if me == 1 else None]
    dist.broadcast_object_list(payload, src=1)
    copy = Net(dtype, np.random.default_rng(0))
    for a, b in zip(copy.parameters(), net.parameters()):
        a.data[...] = b.data
    groups = [{"params": copy.layers[0].parameters()},
              {"params": [*copy.layers[2].parameters(), *copy.layers[4].parameters()]}]
    resumed = ZeroRedundancyOptimizer(groups, optim.Adam, lr=5.0)  # lr: from the state
    resumed.load_state_dict(payload[0])
    assert resumed.param_groups[0]["lr"] == 3e-2 and resumed.param_groups[1]["lr"] == 1e-2
    for group in resumed.param_groups:
        group["lr"] *= 0.5
    for group in plain.param_groups:
        group["lr"] *= 0.5
    more = []
    copy_model = DistributedDataParallel(copy)
    train_steps(copy_model, resumed, 3, np.random.default_rng(20 + me),
                copy_model.average_gradients, more.append)
    replay(single, plain, more)
    worst = max(float(np.abs(a.data - b.data).max())
                for a, b in zip(copy.parameters(), single.parameters()))
    assert worst <= tolerance, worst
    return f"max difference {worst:.1e}, state bytes per rank {shares} of {plain_bytes}"


@check
def zero_adam_float32():
    return zero_equivalence("float32")


@check
def zero_adam_float64():
    return zero_equivalence("float64")


@check
def zero_errors():
    expect_error(TypeError, ["optimizer_class must be a dlpy optimiser class"],
                 ZeroRedundancyOptimizer, [Tensor(np.ones(2), requires_grad=True)], object)
    expect_error(ValueError, ["overlap_with_ddp=True"], ZeroRedundancyOptimizer,
                 [Tensor(np.ones(2), requires_grad=True)], optim.SGD, overlap_with_ddp=True,
                 lr=0.1)


@check
def destroy_and_init_again():
    dist.destroy_process_group()
    assert not dist.is_initialized() and dist.group.WORLD is None
    dist.init_process_group()
    t = np.full(2, dist.get_rank() + 1.0)
    dist.all_reduce(t)
    assert np.array_equal(t, [3, 3]) and dist.is_initialized()


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "torch_api_worker", world_size=WORLD_SIZE)
