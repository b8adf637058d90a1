"""torch.distributed's API (dlpy.distributed): under ``mpirun -n 2`` (one launch of
torch_api_worker.py, one test per check it reports; skipped where MPI is not installed), and in
one process, where dlpy works without init_process_group as rank 0 of 1."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from dlpy import Tensor, nn, optim
from dlpy import distributed as dist
from dlpy.distributed.nn import functional as dnf
from dlpy.distributed.optim import ZeroRedundancyOptimizer
from dlpy.optim import lr_scheduler
from dlpy.testing import gradcheck

from .torch_api_worker import CHECKS
from .worker_launch import mpirun_checks

R = dist.ReduceOp


results, test_under_mpirun = mpirun_checks("torch_api_worker.py", CHECKS, ranks=(2,))


# ----------------------------------------------------------------- one process
@pytest.fixture
def initialized():
    dist.init_process_group("gloo")
    yield
    dist.destroy_process_group()


def test_one_process_is_rank_0_of_1_without_init_process_group():
    assert not dist.is_initialized() and dist.is_available()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1 and dist.get_backend() == "mpi"
    t = Tensor(np.arange(3.0))
    assert dist.all_reduce(t, op=R.AVG) is None and np.array_equal(t.data, [0, 1, 2])
    dist.broadcast(t, 0)
    dist.reduce(t, 0, op=R.PRODUCT)
    assert np.array_equal(t.data, [0, 1, 2])
    parts = [np.zeros(3)]
    dist.all_gather(parts, t)
    assert np.array_equal(parts[0], [0, 1, 2])
    out = np.zeros((1, 3))
    dist.all_gather_into_tensor(out, t)
    assert np.array_equal(out, [[0, 1, 2]])
    dist.reduce_scatter(out[0], [np.ones(3)])
    assert np.array_equal(out, [[1, 1, 1]])
    gathered = [np.zeros(3)]
    dist.gather(t, gathered)
    assert np.array_equal(gathered[0], [0, 1, 2])
    piece = np.zeros(2)
    dist.scatter(piece, [np.array([4.0, 5.0])])
    assert np.array_equal(piece, [4, 5])
    moved = [np.zeros(2)]
    dist.all_to_all(moved, [np.array([7.0, 8.0])])
    assert np.array_equal(moved[0], [7, 8])
    single = np.zeros((2, 2))
    dist.all_to_all_single(single, np.ones((2, 2)))
    assert np.array_equal(single, np.ones((2, 2)))
    work = dist.all_reduce(t, async_op=True)
    assert work.is_completed() and work.wait() and work.result() == [t]
    assert dist.barrier() is None and dist.barrier(async_op=True).is_completed()
    dist.monitored_barrier(timeout=datetime.timedelta(seconds=1))


def test_one_process_object_collectives():
    objects = [1, "a"]
    dist.broadcast_object_list(objects)
    assert objects == [1, "a"]
    everyone = [None]
    dist.all_gather_object(everyone, {"k": 1})
    assert everyone == [{"k": 1}]
    gathered = [None]
    assert dist.gather_object(3, gathered) == [3] and gathered == [3]
    assert dist.gather_object(4, root=0) == [4]  # dlpy's own signature still works
    out = [None]
    dist.scatter_object_list(out, ["x"])
    assert out == ["x"]


def test_init_process_group_checks_the_launcher_and_refuses_twice(initialized):
    assert dist.is_initialized() and dist.group.WORLD.ranks == [0]
    with pytest.raises(ValueError, match="trying to initialize the default process group "
                                         "twice"):
        dist.init_process_group("mpi")
    dist.destroy_process_group()
    assert not dist.is_initialized() and dist.group.WORLD is None
    with pytest.raises(ValueError, match=r"world_size=2 but the MPI launcher started 1 "
                                         r"process\(es\)"):
        dist.init_process_group("gloo", world_size=2)
    with pytest.raises(ValueError, match="rank=1 but the MPI launcher gave this process "
                                         "rank 0"):
        dist.init_process_group(rank=1)
    with pytest.raises(ValueError, match="unknown backend 'tcp'"):
        dist.init_process_group("tcp")
    with pytest.raises(TypeError, match="timeout must be a datetime.timedelta, got int"):
        dist.init_process_group(timeout=30)
    dist.init_process_group("cpu:gloo,cuda:nccl", world_size=1, rank=0)  # for the fixture


def test_bad_arguments_are_clear_errors():
    with pytest.raises(TypeError, match="all_reduce: tensor must be a dlpy Tensor or a numpy "
                                        "array, got list"):
        dist.all_reduce([1.0, 2.0])
    with pytest.raises(TypeError, match="all_reduce: tensor has dtype float16"):
        dist.all_reduce(np.ones(2, np.float16))
    with pytest.raises(TypeError, match="op must be a ReduceOp"):
        dist.all_reduce(np.ones(2), op="sum")
    with pytest.raises(TypeError, match="ReduceOp.AVG needs a floating-point tensor, got int64"):
        dist.all_reduce(np.ones(2, np.int64), op=R.AVG)
    with pytest.raises(TypeError, match="ReduceOp.BXOR needs an integer or bool tensor, got "
                                        "float32"):
        dist.all_reduce(np.ones(2, np.float32), op=R.BXOR)
    for op in (R.MAX, R.PRODUCT, R.BAND):  # torch's ValueError (before: PRODUCT computed)
        with pytest.raises(ValueError, match=f"^all_reduce does not support {op} on complex"):
            dist.all_reduce(np.ones(2, np.complex128), op=op)
    with pytest.raises(ValueError, match="all_gather: tensor_list must hold 1 tensors"):
        dist.all_gather([np.zeros(2), np.zeros(2)], np.ones(2))
    with pytest.raises(ValueError, match=r"all_gather: tensor_list\[0\] is \(3,\) float64, "
                                         r"expected \(2,\) float64"):
        dist.all_gather([np.zeros(3)], np.ones(2))
    with pytest.raises(ValueError, match=r"output_tensor is \(3, 2\) float64, "
                                         r"expected \(2, 2\)"):
        dist.all_gather_into_tensor(np.zeros((3, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="broadcast: src=1 is not a rank of the group"):
        dist.broadcast(np.ones(2), src=1)
    with pytest.raises(ValueError, match="send: there is no other rank"):
        dist.send(np.ones(2), dst=0)
    with pytest.raises(ValueError, match="recv: there is no other rank"):
        dist.recv(np.ones(2))
    with pytest.raises(ValueError, match=r"all_to_all_single: input_split_sizes \[2\] must be "
                                         r"1 sizes >= 0 summing to input's 3 rows"):
        dist.all_to_all_single(np.zeros(3), np.zeros(3), input_split_sizes=[2])
    with pytest.raises(ValueError, match=r"new_group: ranks must be in 0..0, got \[1\]"):
        dist.new_group([1])
    with pytest.raises(TypeError, match="group must be a ProcessGroup"):
        dist.all_reduce(np.ones(2), group="world")


def test_collectives_write_in_place_and_pass_gradients_through_as_torch():
    frozen = np.arange(4.0).reshape(2, 2)
    frozen.flags.writeable = False
    t = Tensor(frozen.T)  # read-only and not contiguous: the tensor gets an array of its own
    dist.all_reduce(t)
    assert np.array_equal(t.data, frozen.T) and t.data.flags.writeable
    x = Tensor(np.ones(3), requires_grad=True)
    dist.all_reduce(x)  # a leaf that requires grad: allowed, as torch
    y = x * 3
    version = y._version
    dist.all_reduce(y)
    assert y._version == version + 1 and y.op is not None
    y.sum().backward()  # through the collective as through an identity (torch's behaviour)
    assert np.array_equal(x.grad, [3, 3, 3])
    z = Tensor(np.ones(2), requires_grad=True).exp()  # exp saves its output
    dist.all_reduce(z)
    with pytest.raises(RuntimeError):  # torch silently computes a wrong gradient here
        z.sum().backward()


def test_groups_in_one_process():
    solo = dist.new_group([0])
    assert dist.get_rank(solo) == 0 and dist.get_process_group_ranks(solo) == [0]
    assert dist.get_global_rank(solo, 0) == 0 and dist.get_group_rank(solo, 0) == 0
    t = np.ones(2)
    dist.all_reduce(t, group=solo)
    with pytest.warns(UserWarning, match="does not belong to the given group"):
        assert dist.all_reduce(t, group=dist.GroupMember.NON_GROUP_MEMBER) is None
    assert dist.get_rank(dist.group.NON_GROUP_MEMBER) == -1
    dist.destroy_process_group(solo)
    with pytest.raises(ValueError, match="was destroyed"):
        dist.all_reduce(t, group=solo)


@pytest.mark.parametrize("shape", [(3,), (2, 1, 3), ()])
def test_differentiable_collectives_gradcheck_in_one_process(shape):
    x = Tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    assert gradcheck(dnf.all_reduce, x)
    assert gradcheck(lambda v: dnf.all_reduce(v, op=R.AVG), x)
    assert gradcheck(lambda v: dnf.broadcast(v, 0), x)
    assert gradcheck(lambda v: dnf.all_gather(v)[0] * 2, x)
    with pytest.raises(ValueError, match="ReduceOp.SUM or ReduceOp.AVG, got ReduceOp.MIN"):
        dnf.all_reduce(x, op=R.MIN)
    with pytest.raises(TypeError, match="expected a dlpy Tensor, got ndarray"):
        dnf.broadcast(np.ones(2), 0)


# ----------------------------------------------------------------- ZeroRedundancyOptimizer
def make_net(seed: int = 0):
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(4, 8, rng=rng), nn.Tanh(), nn.Linear(8, 2, rng=rng))


def set_grads(net, step: int):
    rng = np.random.default_rng(100 + step)
    for p in net.parameters():
        p.grad = rng.standard_normal(p.data.shape).astype(p.data.dtype)


def groups_of(net):
    return [{"params": net[0].parameters(), "lr": 0.05}, {"params": net[2].parameters()}]


def test_zero_in_one_process_is_the_plain_optimizer():
    net, reference = make_net(), make_net()
    zero = ZeroRedundancyOptimizer(groups_of(net), optim.Adam, lr=0.01, amsgrad=True)
    plain = optim.Adam(groups_of(reference), lr=0.01, amsgrad=True)
    schedules = [lr_scheduler.StepLR(zero, step_size=2, gamma=0.5),
                 lr_scheduler.StepLR(plain, step_size=2, gamma=0.5)]
    for step in range(5):
        for model, opt in ((net, zero), (reference, plain)):
            set_grads(model, step)
            opt.step()
        for schedule in schedules:
            schedule.step()
    assert zero.param_groups[0]["lr"] == plain.param_groups[0]["lr"] == 0.05 * 0.25
    for a, b in zip(net.parameters(), reference.parameters()):
        assert np.array_equal(a.data, b.data)
    assert zero.state_bytes() == sum(v.nbytes for s in plain.state for v in s.values())
    with pytest.raises(RuntimeError, match=r"has not been consolidated on this rank.*"
                                           r"consolidate_state_dict\(to=0\)"):
        zero.state_dict()
    zero.consolidate_state_dict()
    saved, expected = zero.state_dict(), plain.state_dict()
    assert list(saved) == list(expected)
    assert all(np.array_equal(saved[k], expected[k]) for k in expected)
    assert zero.state_dict(torch_layout=True)["param_groups"][0]["lr"] == 0.0125
    # a plain optimiser's state loads into ZeRO and back
    resumed = ZeroRedundancyOptimizer(groups_of(net), optim.Adam, amsgrad=True)
    resumed.load_state_dict(plain.state_dict())
    for model, opt in ((net, resumed), (reference, plain)):
        set_grads(model, 9)
        opt.step()
    for a, b in zip(net.parameters(), reference.parameters()):
        assert np.array_equal(a.data, b.data)
    resumed.consolidate_state_dict(to=0)
    again = optim.Adam(groups_of(make_net()), amsgrad=True)
    again.load_state_dict(resumed.state_dict())
    assert again.step_count == plain.step_count == 6


def test_zero_errors():
    net = make_net()
    with pytest.raises(TypeError, match="optimizer_class must be a dlpy optimiser class"):
        ZeroRedundancyOptimizer(net.parameters(), "Adam")
    with pytest.raises(ValueError, match="overlap_with_ddp=True needs DDP communication hooks"):
        ZeroRedundancyOptimizer(net.parameters(), optim.Adam, overlap_with_ddp=True)
    with pytest.raises(ValueError, match="bucket_mb must be > 0, got 0"):
        ZeroRedundancyOptimizer(net.parameters(), optim.Adam, bucket_mb=0)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        ZeroRedundancyOptimizer([], optim.Adam)
    zero = ZeroRedundancyOptimizer(net.parameters(), optim.Adam)
    with pytest.raises(ValueError, match="consolidate_state_dict: to=1 is not a rank"):
        zero.consolidate_state_dict(to=1)
    with pytest.raises(ValueError, match="Adam.load_state_dict: missing keys"):
        zero.load_state_dict({"step_count": np.asarray(0)})


def test_zero_partition_is_torch_greedy_largest_first():
    zero = ZeroRedundancyOptimizer(make_net().parameters(), optim.SGD, lr=0.1)
    zero.world_size = 2  # the partition alone, as two ranks would compute it
    # sizes: weight 8x4=32, bias 8, weight 2x8=16, bias 2 -> 32 to rank 0, 16, 8, 2 to rank 1
    assert zero._partition() == [0, 1, 1, 1]
