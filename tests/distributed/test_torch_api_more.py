"""The rest of torch.distributed's API (dlpy.distributed): under ``mpirun -n 2`` and ``-n 3``
(torch_api_more_worker.py, in the launches the other workers share; compared with torch's
gloo answers in tests/fixtures/dist_api_more.json) and in one process (rank 0 of 1)."""

from __future__ import annotations

import datetime
import json
import warnings

import numpy as np
import pytest

from dlpy import Tensor
from dlpy import distributed as dist
from dlpy.distributed import torch_api

from .torch_api_more_worker import CHECKS, FIXTURE
from .worker_launch import mpirun_checks

R = dist.ReduceOp

results, test_under_mpirun = mpirun_checks("torch_api_more_worker.py", CHECKS)


@pytest.fixture
def initialized():
    dist.destroy_process_group()  # groups other tests made without init_process_group too
    dist.init_process_group("gloo")
    yield
    dist.destroy_process_group()


# ----------------------------------------------------------------- environment
def test_exceptions_have_torchs_hierarchy():
    assert dist.DistError.__mro__[1:] == RuntimeError.__mro__
    for kind in (dist.DistBackendError, dist.DistNetworkError, dist.DistStoreError):
        assert kind.__mro__[1:] == dist.DistError.__mro__
    assert dist.QueueEmptyError.__mro__[1:] == dist.DistStoreError.__mro__


def test_backend_availability_says_what_runs_here(monkeypatch):
    for name in torch_api.LOCAL_RANK_VARIABLES + ("PMI_RANK", "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert dist.is_gloo_available()  # gloo (the CPU backend) is MPI here, or one process
    assert not (dist.is_nccl_available() or dist.is_ucc_available() or dist.is_xccl_available())
    assert dist.is_backend_available("gloo") and dist.is_backend_available("GLOO")
    assert dist.is_backend_available("cpu:gloo")
    assert dist.is_backend_available("mpi") == dist.is_mpi_available()
    assert not dist.is_backend_available("cpu:gloo,cuda:nccl")  # every one must be there
    assert not dist.is_backend_available("tcp")
    monkeypatch.setattr(torch_api, "is_mpi_available", lambda: False)
    assert dist.is_gloo_available()  # one process needs no mpi4py
    monkeypatch.setenv("PMI_RANK", "0")  # an MPI launcher without mpi4py: no "gloo"
    assert not dist.is_gloo_available() and not dist.is_backend_available("gloo")


def test_node_local_rank_and_torchelastic_from_the_environment(monkeypatch):
    for name in torch_api.LOCAL_RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="pass fallback_rank"):
        dist.get_node_local_rank()
    assert dist.get_node_local_rank(fallback_rank=3) == 3
    monkeypatch.setenv("MPI_LOCALRANKID", "1")  # MPICH's mpirun
    assert dist.get_node_local_rank(fallback_rank=3) == 1
    monkeypatch.setenv("LOCAL_RANK", "5")  # torchrun's, which torch reads, comes first
    assert dist.get_node_local_rank() == 5
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    assert not dist.is_torchelastic_launched()
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    assert dist.is_torchelastic_launched()


def test_supports_complex_as_torch():
    assert [op.name for op in R if dist.supports_complex(op)] == ["SUM", "AVG"]


# ----------------------------------------------------------------- groups
def test_pg_count_counts_the_default_group_and_new_groups(initialized):
    torch_says = json.loads(FIXTURE.read_text())["2"]["0"]["pg_count_after_init"]
    assert dist.get_pg_count() == torch_says == 1
    dist.new_group([0])
    dist.new_group([0], use_local_synchronization=True)  # torch names these by hash: uncounted
    assert dist.get_pg_count() == 2
    current, subgroups = dist.new_subgroups(1)
    assert dist.get_pg_count() == 3 and subgroups == [current] and current.ranks == [0]
    dist.split_group(split_ranks=[[0]])  # uncounted too
    assert dist.get_pg_count() == 3
    dist.destroy_process_group()
    assert dist.get_pg_count() == 0
    dist.init_process_group("gloo")


def test_new_subgroups_errors_as_torch():
    with pytest.raises(ValueError, match="dlpy has none: give group_size"):
        dist.new_subgroups()
    with pytest.raises(ValueError, match=r"group_size \(0\) must be positive"):
        dist.new_subgroups(0)
    with pytest.raises(ValueError, match=r"group_size \(2\) must not exceed the world size "
                                         r"\(1\)"):
        dist.new_subgroups(2)
    with pytest.raises(ValueError, match="ranks_per_subgroup_list cannot be empty"):
        dist.new_subgroups_by_enumeration([])
    count = dist.get_pg_count()
    with pytest.raises(ValueError, match=r"rank 0 has appeared in both subgroup \[0\] and "
                                         r"\[0\]"):
        dist.new_subgroups_by_enumeration([[0], [0]])
    assert dist.get_pg_count() == count  # refused before making any group


def test_split_group_in_one_process_and_its_errors():
    group = dist.split_group(None, [[0]])
    assert group.ranks == [0] and dist.get_world_size(group) == 1
    t = np.array([2.0])
    dist.all_reduce(t, group=group)
    assert t.tolist() == [2.0]
    dist.destroy_process_group(group)
    for splits, message in (([], "split_ranks cannot be None or empty"),
                            ([[]], "the split group cannot be empty"),
                            ([[0, 0]], "cannot have duplicate ranks"),
                            ([[1]], r"group ranks of the parent, in 0..0; got \[1\]"),
                            ([[0], [0]], r"rank\(s\) \[0\] are in two splits")):
        with pytest.raises(ValueError, match=message):
            dist.split_group(split_ranks=splits)
    with pytest.raises(TypeError, match="timeout must be a datetime.timedelta, got int"):
        dist.split_group(split_ranks=[[0]], timeout=5)
    with pytest.raises(ValueError, match="not part of the parent group"):
        dist.split_group(dist.GroupMember.NON_GROUP_MEMBER, [[0]])
    with pytest.raises(ValueError, match="unknown backend 'tcp'"):
        dist.split_group(split_ranks=[[0]], backend="tcp")
    assert dist.split_group(split_ranks=[[0]], timeout=datetime.timedelta(seconds=9),
                            backend="gloo").ranks == [0]


# ----------------------------------------------------------------- point to point
def test_p2p_op_resolves_peers_and_batch_isend_irecv_checks_its_list():
    t = np.zeros(2)
    op = dist.P2POp(dist.isend, t, 0)
    assert (op.peer, op.group_peer, op.tag, op.group.ranks) == (0, 0, 0, [0])
    assert repr(op) == "P2POp(isend group_src=0, group_dst=0, (2,) float64)"
    assert dist.P2POp(dist.irecv, Tensor(t), group_peer=0, tag=4).peer == 0
    for args, kwargs, kind, message in (
            ((dist.send, t, 0), {}, ValueError, "op must be dlpy.distributed.isend or irecv"),
            ((dist.isend, [1.0], 0), {}, TypeError, "tensor must be a dlpy Tensor"),
            ((dist.isend, t, 0), {"group_peer": 0}, ValueError, "give peer=0 or group_peer=0"),
            ((dist.isend, t), {}, ValueError, r"give peer \(a global rank\) or group_peer"),
            ((dist.isend, t), {"group_peer": 1}, ValueError, "group_peer=1 is not a rank"),
            ((dist.isend, t, 2), {}, ValueError, "peer=2 is not a rank of the group")):
        with pytest.raises(kind, match=message):
            dist.P2POp(*args, **kwargs)
    for ops, message in (([], "p2p_op_list is empty"), ((op,), "must be a list of P2POp"),
                         ([op, 1], "must be a list of P2POp")):
        with pytest.raises(ValueError, match=message):
            dist.batch_isend_irecv(ops)
    with pytest.raises(ValueError, match="send: there is no other rank in one process"):
        dist.batch_isend_irecv([op])


def test_object_lists_need_another_rank():
    with pytest.raises(TypeError, match="send_object_list: object_list must be a list"):
        dist.send_object_list((1,), 0)
    with pytest.raises(ValueError, match="send_object_list: there is no other rank"):
        dist.send_object_list([1], 0)
    with pytest.raises(ValueError, match="recv_object_list: there is no other rank"):
        dist.recv_object_list([None], src=0)


# ----------------------------------------------------------------- collectives
def test_all_gather_single_and_reduce_scatter_single_in_one_process():
    stacked, flat = np.zeros((1, 2, 2)), Tensor(np.zeros((2, 2)))
    dist.all_gather_single(stacked, np.arange(4.0).reshape(2, 2))
    dist.all_gather_single(flat, np.arange(4.0).reshape(2, 2))
    assert stacked[0].tolist() == flat.data.tolist() == [[0, 1], [2, 3]]
    out = np.zeros(3)
    dist.reduce_scatter_single(out, np.arange(3.0).reshape(1, 3), op=R.AVG)
    assert out.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"all_gather_single: output_tensor is \(3,\) float64"):
        dist.all_gather_single(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="reduce_scatter_single: input is"):
        dist.reduce_scatter_single(np.zeros(3), np.zeros(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the older names still work, without a warning
        dist.all_gather_into_tensor(np.zeros(2), np.ones(2))
        dist.reduce_scatter_tensor(np.zeros(2), np.ones(2))


def test_coalesced_collectives_warn_and_keep_torchs_rules():
    real, pair = np.arange(2, dtype=np.float32), Tensor(np.array([1 + 2j], np.complex64))
    with pytest.warns(FutureWarning, match="all_reduce_coalesced` will be deprecated"):
        future = dist.all_reduce_coalesced([real, pair], op=R.AVG, async_op=True)
    assert future.wait() == [real, pair] and future.done() and future.value()[1] is pair
    assert pair.data.tolist() == [1 + 2j] and real.tolist() == [0, 1]
    with pytest.warns(FutureWarning):
        with pytest.raises(ValueError, match=r"dtypes \['float32', 'float64'\]; expected one"):
            dist.all_reduce_coalesced([real, np.zeros(1)])
        with pytest.raises(ValueError, match="ReduceOp.MAX is not supported on complex"):
            dist.all_reduce_coalesced([real, pair], op=R.MAX)
        with pytest.raises(TypeError, match="tensors must be a list of tensors, got tuple"):
            dist.all_reduce_coalesced((real,))
    outputs = [[np.zeros((2, 1)), np.zeros(1, np.complex128)]]
    with pytest.warns(FutureWarning, match="all_gather_coalesced` will be deprecated"):
        dist.all_gather_coalesced(outputs, [np.ones((2, 1)), np.array([3j])])
    assert outputs[0][0].tolist() == [[1], [1]] and outputs[0][1].tolist() == [3j]
    with pytest.warns(FutureWarning):
        with pytest.raises(ValueError, match=r"output_tensor_lists\[0\] is \['\(2,\) float64'"
                                             r"\], expected \['\(1,\) float64'\]"):
            dist.all_gather_coalesced([[np.zeros(2)]], [np.ones(1)])
        with pytest.raises(ValueError, match="must hold 1 lists"):
            dist.all_gather_coalesced([], [np.ones(1)])
        with pytest.raises(TypeError, match="output_tensor_lists must be a list"):
            dist.all_gather_coalesced(None, [np.ones(1)])
