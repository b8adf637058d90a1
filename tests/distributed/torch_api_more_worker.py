"""``mpirun -n N python torch_api_more_worker.py OUT.json`` (N = 2 or 3): the rest of
torch.distributed's API (dlpy.distributed): batch_isend_irecv, send/recv_object_list,
new_subgroups(_by_enumeration), split_group, get_pg_count, all_gather_single,
reduce_scatter_single, the coalesced collectives, get_node_local_rank and DistBackendError.
Where torch (gloo, N processes) could run the same calls, each rank compares with its answers
in ../fixtures/dist_api_more.json (make_dist_api_more.py); split_group (torch splits only
NCCL/XCCL groups) and the rest are checked against torch's documented results. The worker
never calls init_process_group (the launch's other workers expect none) and destroys the
groups it makes. Rank 0 writes {check: {rank: outcome}} for test_torch_api_more.py."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from dlpy import Tensor
from dlpy import distributed as dist

CHECKS = {}
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dist_api_more.json"
ENUMERATIONS = {2: [[1], [0]], 3: [[2, 0]]}  # as make_dist_api_more.py's
_made: list = []  # the groups the checks made, destroyed by the last check


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def torch_says(key: str):
    """torch's answer on this rank and number of ranks."""
    table = json.loads(FIXTURE.read_text())
    return table[str(dist.get_world_size())][str(dist.get_rank())][key]


def same(key: str, got) -> None:
    got = json.loads(json.dumps(got))  # tuples as lists, as the fixture holds them
    want = torch_says(key)
    assert got == want, (key, got, want)


def values(array) -> list:
    array = array.data if isinstance(array, Tensor) else array
    return np.stack([array.real, array.imag], -1).tolist() if array.dtype.kind == "c" \
        else array.tolist()


def expect_error(kind, fragment, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except kind as error:
        assert fragment in str(error), (fragment, str(error))
        return
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")


def subgroup_summary(current, subgroups, rank: int) -> dict:
    _made.extend(s for s in subgroups if s is not dist.GroupMember.NON_GROUP_MEMBER)
    summary = {"member_of": [s is not dist.GroupMember.NON_GROUP_MEMBER for s in subgroups]}
    if current is None:
        return {**summary, "current": None}
    total = np.array([rank + 1])
    dist.all_reduce(total, group=current)
    return {**summary, "current": {"rank": dist.get_rank(current),
                                   "size": dist.get_world_size(current),
                                   "ranks": dist.get_process_group_ranks(current),
                                   "sum": int(total[0])}}


# ----------------------------------------------------------------- point to point
@check
def batch_isend_irecv_ring():
    """Receives posted before the sends, two messages each way: no deadlock, and the two
    sends to the same rank match the receives in order (torch's rule)."""
    rank, n = dist.get_rank(), dist.get_world_size()
    nxt, prev = (rank + 1) % n, (rank - 1) % n
    first, second = Tensor(np.zeros(2, np.float32)), np.zeros(3, np.int64)
    ops = [dist.P2POp(dist.irecv, first, prev),
           dist.P2POp(dist.isend, np.arange(2.0, dtype=np.float32) + 2 * rank, nxt),
           dist.P2POp(dist.irecv, second, group_peer=prev),
           dist.P2POp(dist.isend, np.arange(3) * 10 + rank, group_peer=nxt)]
    works = dist.batch_isend_irecv(ops)
    for work in works:
        work.wait()
    same("ring", {"works": len(works), "first": values(first), "second": values(second)})


@check
def batch_isend_irecv_in_a_subgroup_and_to_itself():
    """On a group of the last two ranks, group_peer is a rank in the group and peer the
    global one; isend/irecv may name this rank itself (unlike send)."""
    rank, n = dist.get_rank(), dist.get_world_size()
    pair = dist.new_group([n - 2, n - 1])
    _made.append(pair)
    if pair is dist.GroupMember.NON_GROUP_MEMBER:
        return
    me = dist.get_rank(pair)
    op = dist.P2POp(dist.isend, np.zeros(1), group_peer=1 - me, group=pair)
    assert op.peer == n - 1 - me and op.group_peer == 1 - me, (op.peer, op.group_peer)
    from_peer, from_self = np.zeros(2), np.zeros(1)
    works = dist.batch_isend_irecv([
        dist.P2POp(dist.irecv, from_peer, group=pair, group_peer=1 - me, tag=3),
        dist.P2POp(dist.irecv, from_self, rank, group=pair),
        dist.P2POp(dist.isend, np.array([rank + 0.5]), rank, group=pair),
        dist.P2POp(dist.isend, np.full(2, rank, float), group=pair, group_peer=1 - me, tag=3)])
    for work in works:
        work.wait()
    assert from_self.tolist() == [rank + 0.5], from_self
    assert from_peer.tolist() == [2 * n - 3 - rank] * 2, from_peer
    expect_error(ValueError, "same group", dist.batch_isend_irecv,
                 [dist.P2POp(dist.isend, np.zeros(1), rank, group=pair),
                  dist.P2POp(dist.isend, np.zeros(1), rank)])
    expect_error(ValueError, "not both", dist.P2POp, dist.isend, np.zeros(1), rank, pair,
                 group_peer=me)
    expect_error(ValueError, "own rank", dist.send, np.zeros(1), rank)


@check
def object_lists():
    rank, n = dist.get_rank(), dist.get_world_size()
    if rank == 0:
        for dst in range(1, n):
            dist.send_object_list([f"to {dst}", dst, [1.5, None]], dst=dst)
        same("objects", None)
    else:
        objects = [None, None, None]
        sender = dist.recv_object_list(objects, src=0)
        same("objects", {"sender": sender, "objects": objects})
    # a receiver's list of another length is an error there (the message is consumed)
    if rank == 0:
        dist.send_object_list([1, 2], group_dst=1)
    elif rank == 1:
        expect_error(ValueError, "sent 2 objects, object_list holds 3", dist.recv_object_list,
                     [None] * 3, group_src=0)
    expect_error(ValueError, "own rank", dist.send_object_list, [1], rank)
    expect_error(ValueError, "give src", dist.recv_object_list, [None])


# ----------------------------------------------------------------- groups
@check
def subgroups_and_pg_count():
    rank, n = dist.get_rank(), dist.get_world_size()
    start = dist.get_pg_count()
    _made.append(dist.new_group([0, n - 1]))
    after_group = dist.get_pg_count()
    # dlpy's new_group is a collective of the world even so (torch: of the members only)
    _made.append(dist.new_group([0], use_local_synchronization=True))
    after_local = dist.get_pg_count()
    for size in (1, n):
        same(f"subgroups_{size}", subgroup_summary(*dist.new_subgroups(size), rank))
    same("pg_count", [torch_says("pg_count")[0], after_group - start, after_local - start,
                      dist.get_pg_count() - start])
    same("enumeration", subgroup_summary(
        *dist.new_subgroups_by_enumeration(ENUMERATIONS[n]), rank))
    if n == 3:
        expect_error(ValueError, "world size (3) must be divisible by group_size=2",
                     dist.new_subgroups, 2)


@check
def split_group_of_the_world_and_of_a_split():
    """torch's documented semantics (gloo cannot split): ranks are group ranks of the parent,
    a rank in no split gets None, and splits are not counted by get_pg_count."""
    rank, n = dist.get_rank(), dist.get_world_size()
    count = dist.get_pg_count()
    outer = dist.split_group(split_ranks=[[n - 1, 0]])
    assert dist.get_pg_count() == count
    if rank not in (0, n - 1):
        assert outer is None, outer
        return
    _made.append(outer)
    assert dist.get_process_group_ranks(outer) == [0, n - 1]
    total = np.array([rank + 1])
    dist.all_reduce(total, group=outer)
    assert total[0] == n + 1, total
    inner = dist.split_group(outer, [[1]])  # group rank 1 of outer: global rank n - 1
    if rank == 0:
        assert inner is None, inner
    else:
        _made.append(inner)
        assert dist.get_process_group_ranks(inner) == [n - 1] and dist.get_rank(inner) == 0


# ----------------------------------------------------------------- collectives
@check
def all_gather_single_and_reduce_scatter_single():
    rank, n = dist.get_rank(), dist.get_world_size()
    block = np.arange(4, dtype=np.int64).reshape(2, 2) + 10 * rank
    concatenated, stacked = np.zeros((2 * n, 2), np.int64), Tensor(np.zeros((n, 2, 2)))
    dist.all_gather_single(concatenated, block)
    dist.all_gather_single(stacked, block.astype(float))  # NCCL's stacked form too
    same("all_gather_single", values(concatenated))
    assert stacked.data.reshape(2 * n, 2).tolist() == concatenated.tolist()
    source = np.arange(2 * n * 3, dtype=np.float64).reshape(2 * n, 3) * (rank + 1)
    summed, largest = np.zeros((2, 3)), np.zeros((1, 3), np.int64)
    dist.reduce_scatter_single(summed, source)
    dist.reduce_scatter_single(largest, (source[:n] - 4 * rank).astype(np.int64),
                               op=dist.ReduceOp.MAX)
    same("reduce_scatter_single", [values(summed), values(largest)])


@check
def coalesced_collectives():
    rank, n = dist.get_rank(), dist.get_world_size()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        real = np.arange(3, dtype=np.float32) + rank
        pair = Tensor(np.array([1 + 2j, 3 - rank * 1j], np.complex64) * (rank + 1))
        integers = np.array([[rank + 1, 2], [3, -rank]])
        future = dist.all_reduce_coalesced([real, pair], async_op=True)
        assert future.wait()[1] is pair and future.done()
        dist.all_reduce_coalesced(integers, op=dist.ReduceOp.PRODUCT)
        same("all_reduce_coalesced", [values(real), values(pair), values(integers)])
        inputs = [np.full((2, 2), rank + 1), np.array([5 * rank])]
        outputs = [[np.zeros((2, 2), np.int64), np.zeros(1, np.int64)] for _ in range(n)]
        dist.all_gather_coalesced(outputs, inputs)
        same("all_gather_coalesced", [[values(t) for t in row] for row in outputs])
    assert [w.category for w in caught] == [FutureWarning] * 3, [str(w.message) for w in caught]


# ----------------------------------------------------------------- environment and errors
@check
def node_local_rank_from_the_mpi_launcher():
    assert dist.get_node_local_rank() == dist.get_rank()  # one node: mpirun's MPI_LOCALRANKID
    assert not dist.is_torchelastic_launched()


@check
def transport_error_is_dist_backend_error():
    """Without the argument check (DebugLevel.OFF), a broadcast into a smaller tensor is
    MPI's truncation error on the receivers: a DistBackendError (a RuntimeError) there."""
    rank = dist.get_rank()
    group = dist.new_group()
    _made.append(group)
    level = dist.get_debug_level()
    dist.set_debug_level(dist.DebugLevel.OFF)
    try:
        dist.broadcast(np.zeros(4 if rank == 0 else 2), 0, group=group)
        assert rank == 0
    except dist.DistBackendError as error:
        assert rank != 0 and "truncated" in str(error), (rank, str(error))
        assert isinstance(error, dist.DistError) and isinstance(error, RuntimeError)
    finally:
        dist.set_debug_level(level)


@check
def destroy_the_groups_made():
    for group in _made:
        if isinstance(group, dist.ProcessGroup):
            dist.destroy_process_group(group)
    assert all(g.destroyed for g in _made if isinstance(g, dist.ProcessGroup))
    _made.clear()


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "torch_api_more_worker")
