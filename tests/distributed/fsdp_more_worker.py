"""``mpirun -n 4 python fsdp_more_worker.py OUT.json``: FSDP's HYBRID_SHARD and
_HYBRID_SHARD_ZERO2 on 4 ranks as 2 x 2 (shard within {0, 1} and {2, 3}, replicate across
{0, 2} and {1, 3}), against one process training on the whole batch (test_fsdp_more.py, one
test per check). An exception is recorded, not raised."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np

from dlpy import distributed as dist
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed import fsdp
from dlpy.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from dlpy.distributed.device_mesh import init_device_mesh
from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP
from dlpy.distributed.fsdp import ShardingStrategy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fsdp_worker import (  # noqa: E402  (run as a script from this folder)
    data,
    emulate_mixed_precision,
    largest_difference,
    loss_of,
    make_optimizer,
    mine,
    mixed_precision_cases,
    reference,
    train,
    train_mixed_precision,
    wrap,
)

CHECKS = {}
WORLD_SIZE = 4
HYBRID = (ShardingStrategy.HYBRID_SHARD, ShardingStrategy._HYBRID_SHARD_ZERO2)


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def groups():
    """This rank's (intra, inter) groups of the 2 x 2 split (every rank makes all four)."""
    rank, found = dist.get_rank(), {}
    for ranks in ([0, 1], [2, 3]):
        pg = dist.new_group(ranks)
        if rank in ranks:
            found["intra"] = pg
    for ranks in ([0, 2], [1, 3]):
        pg = dist.new_group(ranks)
        if rank in ranks:
            found["inter"] = pg
    return found["intra"], found["inter"]


@check
def hybrid_trains_as_one_process():
    """2 Adam steps, both hybrid strategies on the explicit 2 x 2 groups and on a 2 x 2
    DeviceMesh (replicate, shard), HYBRID_SHARD on the default groups (one machine: all 4
    ranks shard, no replicas), FULL_SHARD on a 1-D mesh: the plain model's parameters; each
    rank keeps half of every unit (a quarter with the default and the 1-D mesh)."""
    pair = groups()
    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("replicate", "shard"))
    ref, _ = reference(2, "adam")
    total = sum(p.data.size for p in ref.parameters())
    out = []
    for strategy, label, where, parts in (
            (HYBRID[0], "2 x 2", {"process_group": pair}, 2),
            (HYBRID[1], "2 x 2", {"process_group": pair}, 2),
            (HYBRID[0], "mesh 2 x 2", {"device_mesh": mesh}, 2),
            (HYBRID[1], "mesh 2 x 2", {"device_mesh": mesh}, 2),
            (ShardingStrategy.FULL_SHARD, "mesh 4", {"device_mesh": init_device_mesh(
                "cpu", (4,))}, 4),
            (HYBRID[0], "default", {}, 4)):
        model = wrap(strategy, **where)
        kept = sum(p.data.size for p in model.parameters())
        assert total / parts <= kept < total / parts + 3 * parts, (label, kept, total)
        train(model, 2, "adam")
        diff = largest_difference(model, ref)
        assert diff < 1e-12, (strategy, label, diff)
        out.append(f"{strategy.name} {label}: {diff:.1e}")
    return ", ".join(out)


@check
def hybrid_clip_norm_and_state_dicts():
    """clip_grad_norm_ over the shards of one replica; the optimiser state and a SHARDED
    state dict round trip; a DCP save writes each replicated piece once (to the lowest rank:
    ranks 2 and 3 write nothing), and 4 ranks of FULL_SHARD load it."""
    pair = groups()
    ref, _ = reference(2, "sgd", clip=0.05)
    model = wrap(ShardingStrategy.HYBRID_SHARD, process_group=pair)
    train(model, 2, "sgd", clip=0.05)
    diff = largest_difference(model, ref)
    assert diff < 1e-12, diff
    x, y = data(7)
    opt = make_optimizer("adam", model.parameters())
    loss_of(model, mine(x), mine(y)).backward()
    opt.step()
    saved = FSDP.optim_state_dict(model, opt)
    fresh = wrap(ShardingStrategy.HYBRID_SHARD, process_group=pair)
    with FSDP.state_dict_type(model, fsdp.StateDictType.SHARDED_STATE_DICT):
        sharded = model.state_dict()
    with FSDP.state_dict_type(fresh, fsdp.StateDictType.SHARDED_STATE_DICT):
        fresh.load_state_dict(sharded)
    fresh_opt = make_optimizer("adam", fresh.parameters())
    FSDP.optim_state_dict_to_load(fresh, fresh_opt, saved)
    again = FSDP.optim_state_dict(fresh, fresh_opt)
    assert all(np.array_equal(again["state"][k][s], v) for k, slots in saved["state"].items()
               for s, v in slots.items())
    assert largest_difference(fresh, model) == 0.0
    base = dist.broadcast_object(__import__("tempfile").mkdtemp() if dist.get_rank() == 0
                                 else None)
    try:
        path = os.path.join(base, "hybrid")
        model_sd, optim_sd = get_state_dict(model, opt)
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path,
                 planner=dcp.DefaultSavePlanner(dedup_save_to_lowest_rank=True))
        sizes = [os.path.getsize(os.path.join(path, f"__{r}_0.distcp")) for r in range(4)]
        assert sizes[0] and sizes[1] and not sizes[2] and not sizes[3], sizes
        other = wrap(ShardingStrategy.FULL_SHARD)  # loads on 4 ranks of plain FSDP
        other_opt = make_optimizer("adam", other.parameters())
        model_sd, optim_sd = get_state_dict(other, other_opt)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=path)
        set_state_dict(other, other_opt, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        full = StateDictOptions(full_state_dict=True)
        diff = largest_difference(other, model)
        assert diff == 0.0, diff
        assert get_model_state_dict(other, options=full).keys() == model.state_dict().keys()
    finally:
        dist.barrier()
        if dist.get_rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"file sizes {sizes}"


@check
def hybrid_mixed_precision_equals_the_emulation():
    """float16: reduce-scattered within {0, 1} and {2, 3} and rounded, then all-reduced across
    and rounded, bit for bit."""
    pair = groups()
    out = []
    for precision, label in mixed_precision_cases()[:2]:
        want = emulate_mixed_precision(2, precision, 4, rounds=[[0, 1], [2, 3]])
        for strategy in HYBRID:
            got, _ = train_mixed_precision(2, precision, strategy, process_group=pair)
            diff = max(float(np.abs(got[k] - want[k]).max()) for k in want)
            assert diff == 0.0, (label, strategy, diff)
        out.append(label)
    return "equal: " + ", ".join(out)


if __name__ == "__main__":
    from worker_checks import run_checks  # noqa: I001

    run_checks(CHECKS, sys.argv[1], "fsdp_more_worker", world_size=WORLD_SIZE)
