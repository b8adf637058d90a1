"""``mpirun -n N python dcp_worker.py OUT.json``: dlpy.distributed.checkpoint on N ranks (2 or 3).

Checkpoints are saved on one set of ranks (the world, or a new_group of some of them) and loaded
on another (the world, a smaller group, or rank 0 alone with ``no_dist=True``); training resumed
from them must equal uninterrupted one-process training, which every rank computes on the spot.
An exception is recorded, not raised; rank 0 writes {check: {"0": "ok" or the error, ...}}.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import distributed as dist
from dlpy import functional as F
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_state_dict,
)
from dlpy.distributed.fsdp import FullyShardedDataParallel as FSDP
from dlpy.distributed.fsdp import ModuleWrapPolicy
from dlpy.distributed.optim import ZeroRedundancyOptimizer

CHECKS = {}
BATCH = 12  # divisible by 1, 2 and 3 ranks
FULL = StateDictOptions(full_state_dict=True)


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def make_net() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 7, rng=np.random.default_rng(0), dtype=np.float64),
                         nn.Tanh(),
                         nn.Linear(7, 3, rng=np.random.default_rng(1), dtype=np.float64))


def make_adam(params):
    return optim.Adam(params, lr=0.05, weight_decay=0.01)


def data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return rng.normal(size=(BATCH, 5)), rng.integers(0, 3, size=BATCH)


def train(model, opt, steps: range, rank: int = 0, size: int = 1) -> None:
    """Each rank its 1/size of every batch (size 1: the whole batch)."""
    n = BATCH // size
    for step in steps:
        x, y = data(step)
        opt.zero_grad()
        F.cross_entropy(model(Tensor(x[rank * n:(rank + 1) * n])),
                        y[rank * n:(rank + 1) * n]).backward()
        opt.step()


def reference(steps: int) -> dict[str, np.ndarray]:
    model = make_net()
    train(model, make_adam(model.parameters()), range(steps))
    return model.state_dict()


def difference(state: dict, want: dict) -> float:
    assert list(state) == list(want), (list(state), list(want))
    return max(float(np.abs(np.asarray(state[k]) - want[k]).max()) for k in want)


def shared_dir() -> str:
    return dist.broadcast_object(tempfile.mkdtemp(prefix="dcp") if dist.rank() == 0 else None)


def members(ranks: list[int], fn) -> str:
    """``fn(pg)`` on the members of new_group(ranks), then a barrier of every rank; an error
    is raised after the barrier, so the other ranks are not left waiting."""
    pg = group_of(ranks)
    error, out = None, ""
    if pg is not None:
        try:
            out = fn(pg)
        except Exception as err:  # raised below, once every rank is past the barrier
            error = err
    dist.barrier()
    if error is not None:
        raise error
    return out or ""


def group_of(ranks: list[int]):
    """new_group(ranks) (every rank calls it), or None for a rank outside."""
    pg = dist.new_group(ranks)
    return None if pg is dist.GroupMember.NON_GROUP_MEMBER else pg


# ----------------------------------------------------------------- FSDP
def fsdp_model(pg, orig: bool = False):
    return FSDP(make_net(), process_group=pg, auto_wrap_policy=ModuleWrapPolicy({nn.Linear}),
                use_orig_params=orig)


def fsdp_save(pg, path: str, orig: bool = False) -> str:
    """Train 2 steps with FSDP on ``pg`` and save the sharded state (``orig``: an optimiser
    over use_orig_params pieces)."""
    model = fsdp_model(pg, orig)
    opt = make_adam(model.parameters())
    train(model, opt, range(2), pg.rank(), pg.size())
    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd, "step": 2}, checkpoint_id=path,
             process_group=pg)
    return ""


def fsdp_resume(pg, path: str, ref2: dict, ref4: dict, orig: bool = False) -> str:
    """Load on ``pg`` (FSDP), check, train 2 more steps, check."""
    model = fsdp_model(pg, orig)
    opt = make_adam(model.parameters())
    model_sd, optim_sd = get_state_dict(model, opt)
    state = {"model": model_sd, "optim": optim_sd, "step": 0}
    dcp.load(state, checkpoint_id=path, process_group=pg)
    set_state_dict(model, opt, model_state_dict=state["model"],
                   optim_state_dict=state["optim"])
    assert state["step"] == 2
    loaded = difference(get_model_state_dict(model, options=FULL), ref2)
    assert loaded < 1e-12, loaded  # (trained on other ranks: rounding)
    train(model, opt, range(2, 4), pg.rank(), pg.size())
    resumed = difference(get_model_state_dict(model, options=FULL), ref4)
    assert resumed < 1e-12, resumed
    return f"{pg.size()} ranks{' (use_orig_params)' if orig else ''}: resumed {resumed:.1e}"


def plain_resume(path: str, ref2: dict, ref4: dict) -> str:
    """Rank 0 alone (no_dist): a plain model and Adam, resumed."""

    def run(pg):
        model = make_net()
        opt = make_adam(model.parameters())
        model_sd, optim_sd = get_state_dict(model, opt)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=path, no_dist=True)
        set_state_dict(model, opt, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        assert difference(model.state_dict(), ref2) < 1e-12
        train(model, opt, range(2, 4))
        resumed = difference(model.state_dict(), ref4)
        assert resumed < 1e-12, resumed
        return f"1 process: resumed {resumed:.1e}"

    return members([0], run)


@check
def fsdp_save_on_some_ranks_load_on_others():
    """N=2: 2 -> 1 process, 1 -> 2; N=3: 2 -> 3, 2 -> 1 process, 3 -> 2; the first save
    and the second load with use_orig_params=True."""
    world = dist.get_world_size()
    ref2, ref4 = reference(2), reference(4)
    base = shared_dir()
    out = []
    try:
        pairs = [(list(range(world)), []), ([0], list(range(world)))] if world == 2 else \
            [([0, 1], list(range(world))), ([0, 1], []), (list(range(world)), [0, 1])]
        for i, (savers, loaders) in enumerate(pairs):
            path = os.path.join(base, f"ckpt{i}")
            members(savers, lambda pg, path=path, i=i: fsdp_save(pg, path, i == 0))
            files = sorted(f for f in os.listdir(path) if f.endswith(".distcp"))
            assert files == [f"__{r}_0.distcp" for r in range(len(savers))], files
            detail = plain_resume(path, ref2, ref4) if not loaders else members(
                loaders, lambda pg, path=path, i=i: fsdp_resume(pg, path, ref2, ref4, i == 1))
            out.append(f"{len(savers)} -> {detail}")
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return "; ".join(out)


@check
def a_full_checkpoint_rank_0_wrote_loads_sharded():
    """full_state_dict + cpu_offload: the whole state on rank 0 only, saved by it alone
    (no_dist); loaded into sharded FSDP state on every rank, it trains on as the original."""
    base = shared_dir()
    path = os.path.join(base, "full")

    def run(pg):
        model = fsdp_model(pg)
        opt = make_adam(model.parameters())
        train(model, opt, range(2), pg.rank(), pg.size())
        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        model_sd, optim_sd = get_state_dict(model, opt, options=options)
        assert (model_sd == {} and optim_sd == {}) == (pg.rank() != 0)
        if pg.rank() == 0:
            dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path, no_dist=True)
        dist.barrier()
        fresh = fsdp_model(pg)
        fresh_opt = make_adam(fresh.parameters())
        model_sd, optim_sd = get_state_dict(fresh, fresh_opt)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=path, process_group=pg)
        set_state_dict(fresh, fresh_opt, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        for m, o in ((model, opt), (fresh, fresh_opt)):
            train(m, o, range(2, 4), pg.rank(), pg.size())
        diff = difference(get_model_state_dict(fresh, options=FULL),
                          get_model_state_dict(model, options=FULL))
        assert diff == 0.0, diff
        return f"resumed: difference {diff}"

    try:
        return members(list(range(dist.get_world_size())), run)
    finally:
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)


# ----------------------------------------------------------------- ZeRO
def zero_run(pg, path: str, save: bool, ref2: dict | None = None, ref4: dict | None = None
             ) -> str:
    """ZeRO Adam over ``pg`` (the gradients of the whole batch on every rank, as after DDP's
    averaging): train 2 steps and save, or load and train 2 more."""
    model = make_net()
    opt = ZeroRedundancyOptimizer(model.parameters(), optim.Adam, process_group=pg, lr=0.05,
                                  weight_decay=0.01)
    if save:
        train(model, opt, range(2))
        model_sd, optim_sd = get_state_dict(model, opt)
        owned = sum(1 for fqn, slots in optim_sd["state"].items()
                    if slots["exp_avg"].local.size)
        assert owned == len(opt._owned), (owned, opt._owned)  # not gathered
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path, process_group=pg)
        return ""
    model_sd, optim_sd = get_state_dict(model, opt)
    state = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=path, process_group=pg)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
    full = get_state_dict(model, opt, options=FULL)[1]
    assert sorted(full["state"]) == sorted(n for n, _ in model.named_parameters())
    train(model, opt, range(2, 4))
    resumed = difference(model.state_dict(), ref4)
    assert resumed < 1e-12, resumed
    return f"{pg.size()} ranks: resumed {resumed:.1e}"


@check
def zero_save_on_some_ranks_load_on_others():
    world = dist.get_world_size()
    ref2, ref4 = reference(2), reference(4)
    base = shared_dir()
    out = []
    try:
        pairs = [(list(range(world)), [0]), ([0], list(range(world)))] if world == 2 else \
            [([0, 1], list(range(world))), (list(range(world)), [0, 1])]
        for i, (savers, loaders) in enumerate(pairs):
            path = os.path.join(base, f"zero{i}")
            members(savers, lambda pg, path=path: zero_run(pg, path, save=True))
            out.append(f"{len(savers)} -> " + members(
                loaders, lambda pg, path=path: zero_run(pg, path, False, ref2, ref4)))
        out.append(plain_resume(os.path.join(base, "zero0"), ref2, ref4))
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return "; ".join(out)


# ----------------------------------------------------------------- DDP, atomicity, errors
@check
def ddp_replicated_state_is_written_once():
    """By the rank with the fewest bytes so far (torch's default planner), or by rank 0
    (dedup_save_to_lowest_rank); each item once either way."""
    model = dist.DistributedDataParallel(make_net())
    opt = make_adam(model.parameters())
    train(model, opt, range(1))  # (no averaging: every rank the same batch)
    base = shared_dir()
    try:
        path = os.path.join(base, "ddp")
        model_sd, optim_sd = get_state_dict(model, opt)
        assert sorted(model_sd) == ["0.bias", "0.weight", "2.bias", "2.weight"]
        lowest = dcp.DefaultSavePlanner(dedup_save_to_lowest_rank=True)
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path, planner=lowest)
        sizes = [os.path.getsize(os.path.join(path, f"__{r}_0.distcp"))
                 for r in range(dist.get_world_size())]
        assert sizes[0] > 0 and not any(sizes[1:]), sizes
        metadata = dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=path)
        balanced = [os.path.getsize(os.path.join(path, f"__{r}_0.distcp"))
                    for r in range(dist.get_world_size())]
        assert all(balanced), balanced  # spread over the ranks
        assert len(metadata.storage_data) == len(dcp.flatten_state_dict(
            {"model": model_sd, "optim": optim_sd}))  # each item stored once
        assert all(len(m.chunks) == 1 for m in metadata.state_dict_metadata.values()
                   if isinstance(m, dcp.TensorStorageMetadata))
        fresh = dist.DistributedDataParallel(make_net())
        opt2 = make_adam(fresh.parameters())
        model_sd, optim_sd = get_state_dict(fresh, opt2)
        state = {"model": model_sd, "optim": optim_sd}
        dcp.load(state, checkpoint_id=path)
        set_state_dict(fresh, opt2, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        assert difference(fresh.module.state_dict(), model.module.state_dict()) == 0.0
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"file sizes {sizes} (lowest rank), {balanced} (balanced)"


@check
def a_failed_save_raises_on_every_rank_and_keeps_the_old_checkpoint():
    base = shared_dir()
    try:
        path = os.path.join(base, "ckpt")
        dcp.save({"w": np.arange(4.0), "note": "old"}, checkpoint_id=path)
        lowest = dcp.DefaultSavePlanner(dedup_save_to_lowest_rank=True)
        bad = object() if dist.rank() == 0 else 1  # rank 0 writes the plain values
        try:
            dcp.save({"w": np.zeros(4), "note": bad}, checkpoint_id=path, planner=lowest)
        except RuntimeError as error:
            assert "rank 0 could not write" in str(error), error
        else:
            raise AssertionError("the save of an object() did not raise")
        assert sorted(os.listdir(base)) == ["ckpt"], os.listdir(base)  # no partial left
        state = {"w": np.zeros(4), "note": ""}
        dcp.load(state, checkpoint_id=path)
        assert state["note"] == "old" and state["w"].tolist() == [0, 1, 2, 3]
        try:
            dcp.load({"w": np.zeros(4), "other": 1}, checkpoint_id=path)
        except ValueError as error:
            assert "other is not in the checkpoint" in str(error), error
        else:
            raise AssertionError("a missing key did not raise")
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)


@check
def async_save_while_training_on():
    """FSDP state saved in the background (over a duplicate communicator) while training
    goes on with its own collectives; the checkpoint holds the state at the call, equal to a
    plain save's, and a failing async save raises from result() on every rank."""
    pg = dist.new_group(list(range(dist.get_world_size())))
    base = shared_dir()
    try:
        model = fsdp_model(pg)
        opt = make_adam(model.parameters())
        train(model, opt, range(2), pg.rank(), pg.size())
        model_sd, optim_sd = get_state_dict(model, opt)
        state = {"model": model_sd, "optim": optim_sd, "step": 2}
        dcp.save(state, checkpoint_id=os.path.join(base, "sync"))
        future = dcp.async_save(state, checkpoint_id=os.path.join(base, "async"))
        train(model, opt, range(2, 4), pg.rank(), pg.size())  # meanwhile
        future.result(timeout=120)
        names = sorted(f for f in os.listdir(os.path.join(base, "sync")) if f != ".metadata")
        for name in names:
            with open(os.path.join(base, "sync", name), "rb") as a, \
                    open(os.path.join(base, "async", name), "rb") as b:
                assert a.read() == b.read(), name
        fresh = fsdp_model(pg)
        fresh_opt = make_adam(fresh.parameters())
        model_sd, optim_sd = get_state_dict(fresh, fresh_opt)
        loaded = {"model": model_sd, "optim": optim_sd, "step": 0}
        dcp.load(loaded, checkpoint_id=os.path.join(base, "async"))
        set_state_dict(fresh, fresh_opt, model_state_dict=loaded["model"],
                       optim_state_dict=loaded["optim"])
        train(fresh, fresh_opt, range(2, 4), pg.rank(), pg.size())
        diff = difference(get_model_state_dict(fresh, options=FULL),
                          get_model_state_dict(model, options=FULL))
        assert diff == 0.0, diff
        bad = dcp.async_save({"x": object()}, checkpoint_id=os.path.join(base, "bad"))
        try:
            bad.result(timeout=120)
        except RuntimeError as error:  # (one process: the TypeError itself)
            assert "could not write" in str(error), error
        else:
            raise AssertionError("the async save of an object() did not raise")
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"{len(names)} files equal to save's; resumed: difference {diff}"
