"""``mpirun -n N python fsdp2_worker.py OUT.json``: FSDP2's ``fully_shard`` on N ranks (2 or 3).

Every check trains a small model (uneven row counts: 7, 5 and 2 rows over 2 and 3 ranks, so
some shards are padded and one is empty on 3 ranks) with each rank on its share of every
batch, and compares with one process training on the whole batch, computed on the spot. An
exception is recorded, not raised; rank 0 writes {check: {"0": "ok" or the error, ...}}.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import distributed as dist
from dlpy import functional as F
from dlpy.distributed import checkpoint as dcp
from dlpy.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    get_state_dict,
    set_state_dict,
)
from dlpy.distributed.device_mesh import _sub_mesh, init_device_mesh
from dlpy.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from dlpy.distributed.tensor import DTensor, Replicate, Shard

CHECKS = {}
TORCH = Path(__file__).resolve().parents[1] / "fixtures" / "fsdp2_torch.npz"
BATCH = 12  # divisible by 1, 2 and 3 ranks
FULL = StateDictOptions(full_state_dict=True)


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


class Net(nn.Module):
    """embed (7 x 5), two blocks (Linear 5 -> 5, Tanh), head (2 x 5): rows 7, 5, 2."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.embed = nn.Linear(4, 7, rng=rng, dtype=np.float64)
        self.proj = nn.Linear(7, 5, rng=rng, dtype=np.float64)
        self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(5, 5, rng=rng, dtype=np.float64),
                                                   nn.Tanh()) for _ in range(2)])
        self.head = nn.Linear(5, 2, rng=rng, dtype=np.float64)

    def forward(self, x):
        h = self.proj(self.embed(x).tanh())
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def sharded(mesh=None, **kwargs) -> Net:
    """The blocks first, then the root (embed, proj, head), as torch's examples."""
    net = Net()
    for block in net.blocks:
        fully_shard(block, mesh=mesh, **kwargs)
    return fully_shard(net, mesh=mesh, **kwargs)


def make_adam(params):
    return optim.Adam(params, lr=0.05, weight_decay=0.01)


def make_sgd(params):
    return optim.SGD(params, lr=0.1, momentum=0.9)


def data(step: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + step)
    return rng.normal(size=(BATCH, 4)), rng.integers(0, 2, size=BATCH)


def train(model, opt, steps: range, rank: int = 0, size: int = 1, micro: int = 1) -> None:
    """Each rank its 1/size of every batch (size 1: the whole batch), in ``micro``
    micro-batches; gradient sync only on the last one (FSDPModule)."""
    n = BATCH // size
    for step in steps:
        x, y = data(step)
        x, y = x[rank * n:(rank + 1) * n], y[rank * n:(rank + 1) * n]
        opt.zero_grad()
        for i in range(micro):
            if isinstance(model, FSDPModule):
                model.set_requires_gradient_sync(i == micro - 1)
            part = slice(i * n // micro, (i + 1) * n // micro)
            share = (part.stop - part.start) / n  # the micro-batch's part of the rank's mean
            (F.cross_entropy(model(Tensor(x[part])), y[part]) * share).backward()
        opt.step()


def reference(steps: int, make_opt=make_adam) -> dict[str, np.ndarray]:
    model = Net()
    train(model, make_opt(model.parameters()), range(steps))
    return model.state_dict()


def whole(model) -> dict[str, np.ndarray]:
    return get_model_state_dict(model, options=FULL)


def difference(state: dict, want: dict) -> float:
    assert list(state) == list(want), (list(state), list(want))
    return max(float(np.abs(np.asarray(state[k]) - want[k]).max()) for k in want)


def shared_dir() -> str:
    return dist.broadcast_object(tempfile.mkdtemp(prefix="fsdp2") if dist.rank() == 0 else None)


# ----------------------------------------------------------------- training
@check
def train_equals_one_process():
    """3 steps of Adam, and of SGD with momentum keeping the gathered units until backward
    and accumulating two micro-batches (the first without gradient sync): the parameters of
    one process on the whole batch. Then unshard() / reshard() by hand."""
    rank, size = dist.rank(), dist.world_size()
    out = []
    for make_opt, keep, micro in ((make_adam, False, 1), (make_sgd, True, 2)):
        model = sharded(reshard_after_forward=not keep)
        assert type(model).__name__ == "FSDPNet" and isinstance(model.blocks[0], FSDPModule)
        weight = model.head.weight
        rows = len(range(2)[rank::size])  # 2 rows: 1 + 1, or 1 + 1 + 0 on 3 ranks
        assert weight.placements == (Shard(0),) and weight.shape == (2, 5)
        assert weight.to_local().shape == (rows, 5), weight.to_local().shape
        opt = make_opt(model.parameters())
        train(model, opt, range(3), rank, size, micro)
        assert model.proj.weight.grad.shape == model.proj.weight.to_local().shape
        want = reference(3, make_opt)
        diff = difference(whole(model), want)
        assert diff < 1e-10, diff
        out.append(f"{make_opt.__name__[5:]} {diff:.1e}")
    block = model.blocks[1]
    assert block.unshard(async_op=True).wait() is None
    weight = block[0].weight
    assert type(weight) is Tensor and weight.shape == (5, 5), type(weight)
    assert np.abs(weight.data - want["blocks.1.0.weight"]).max() < 1e-10
    block.reshard()
    assert isinstance(block[0].weight, DTensor)
    return ", ".join(out)


@check
def matches_torchs_fsdp2():
    """The per-step losses and final parameters of torch 2.13's fully_shard on 2 gloo
    processes (tests/fixtures/make_fsdp2_fixtures.py), from the same weights and batches."""
    rank, size = dist.rank(), dist.world_size()
    want = np.load(TORCH)
    model = Net()
    model.load_state_dict({k[len("init."):]: v for k, v in want.items() if k.startswith("init.")})
    for block in model.blocks:
        fully_shard(block)
    fully_shard(model)
    if size == 2 and rank == 1:  # torch's uneven rows on rank 1: 7 -> 3, 5 -> 2, 2 -> 1
        rows = {k: model.get_parameter(k).to_local().shape[0] for k in model.state_dict()}
        assert all(rows[k] == int(want[f"local_rows.{k}"]) for k in rows), rows
    opt = make_adam(model.parameters())
    n, losses = BATCH // size, []
    for step in range(len(want["loss"])):
        mine = slice(rank * n, (rank + 1) * n)
        x, y = want[f"x.{step}"][mine], want[f"y.{step}"][mine]
        opt.zero_grad()
        loss = F.cross_entropy(model(Tensor(x)), y)
        loss.backward()
        opt.step()
        losses.append(float(dist.all_sum([loss.item()])[0]) / size)
    loss_diff = float(np.abs(np.array(losses) - want["loss"]).max())
    final = {k[len("final."):]: v for k, v in want.items() if k.startswith("final.")}
    diff = difference(whole(model), final)
    assert loss_diff < 1e-12 and diff < 1e-12, (loss_diff, diff)
    return f"losses {loss_diff:.1e}, parameters {diff:.1e}"


@check
def mixed_precision_policy():
    """float32 compute on float64 parameters: float64 shards and gradients, outputs in
    output_dtype; close to one process under the same policy, not equal to float64."""
    rank, size = dist.rank(), dist.world_size()
    policy = MixedPrecisionPolicy(param_dtype=np.float32, reduce_dtype=np.float64,
                                  output_dtype=np.float64)
    inner = MixedPrecisionPolicy(param_dtype=np.float32, reduce_dtype=np.float64)  # (float32
    model = Net()  # outputs between the units: torch's linear takes one dtype)
    for block in model.blocks:
        fully_shard(block, mp_policy=inner)
    fully_shard(model, mp_policy=policy)
    opt = make_adam(model.parameters())
    out = model(Tensor(data(0)[0]))
    assert out.dtype == np.float64, out.dtype
    train(model, opt, range(3), rank, size)
    assert model.head.weight.dtype == np.float64 and model.head.weight.grad.dtype == np.float64
    one = Net()
    for block in one.blocks:
        fully_shard(block, mesh=_own_mesh(), mp_policy=inner)
    fully_shard(one, mesh=_own_mesh(), mp_policy=policy)
    train(one, make_adam(one.parameters()), range(3))
    same_policy = difference(whole(model), whole(one))
    against_float64 = difference(whole(model), reference(3))
    assert same_policy < 1e-5, same_policy
    assert 1e-9 < against_float64 < 1e-3, against_float64
    return f"against one process {same_policy:.1e}, against float64 {against_float64:.1e}"


def _own_mesh():
    """A 1-rank mesh of this rank alone (for a one-process run inside the launch)."""
    world = init_device_mesh("cpu", (dist.world_size(),))
    group = [dist.new_group([r]) for r in range(dist.world_size())][dist.rank()]
    return _sub_mesh(world, np.array([dist.rank()]), None, [group])


# ----------------------------------------------------------------- state dicts and DCP
@check
def state_dicts_full_and_sharded():
    """Sharded: DTensors of this rank's rows; full: one process's arrays (cpu_offload: rank
    0 only); the optimiser's moments too."""
    rank, size = dist.rank(), dist.world_size()
    model = sharded()
    opt = make_adam(model.parameters())
    train(model, opt, range(2), rank, size)
    model_sd, optim_sd = get_state_dict(model, opt)
    assert isinstance(model_sd["head.weight"], DTensor)
    assert isinstance(optim_sd["state"]["head.weight"]["exp_avg"], DTensor)
    one = Net()
    one_opt = make_adam(one.parameters())
    train(one, one_opt, range(2))
    want = get_optimizer_state_dict(one, one_opt)
    got = get_optimizer_state_dict(model, opt, options=FULL)
    assert got["param_groups"] == want["param_groups"], got["param_groups"]
    moments = max(float(np.abs(got["state"][k][s] - want["state"][k][s]).max())
                  for k in want["state"] for s in ("exp_avg", "exp_avg_sq"))
    assert moments < 1e-10, moments
    offload = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                   cpu_offload=True))
    assert (offload == {}) == (rank != 0)
    full = whole(model)
    assert all(type(v) is Tensor for v in full.values())  # DTensors gathered: Tensors (torch's)
    diff = difference(full, one.state_dict())
    assert diff < 1e-10, diff
    fresh = sharded()  # rank 0's one-process state, broadcast; resumed as one process
    fresh_opt = make_adam(fresh.parameters())
    set_state_dict(fresh, fresh_opt, model_state_dict=one.state_dict() if rank == 0 else {},
                   optim_state_dict=want if rank == 0 else {},
                   options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=True))
    train(fresh, fresh_opt, range(2, 4), rank, size)
    resumed = difference(whole(fresh), reference(4))
    assert resumed < 1e-10, resumed
    return f"parameters {diff:.1e}, moments {moments:.1e}, from rank 0 resumed {resumed:.1e}"


def _resume(model, opt, path: str, ref2: dict, ref4: dict, alone: bool = False) -> float:
    """Load the checkpoint (``alone``: in one process), check, train 2 more steps, check."""
    model_sd, optim_sd = get_state_dict(model, opt)
    state = {"model": model_sd, "optim": optim_sd, "step": 0}
    dcp.load(state, checkpoint_id=path, no_dist=alone)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"])
    assert state["step"] == 2
    loaded = difference(whole(model), ref2)
    assert loaded < 1e-10, loaded
    train(model, opt, range(2, 4), *((0, 1) if alone else (dist.rank(), dist.world_size())))
    resumed = difference(whole(model), ref4)
    assert resumed < 1e-10, resumed
    return resumed


def _save(model, opt, path: str, **save) -> None:
    model_sd, optim_sd = get_state_dict(model, opt)
    dcp.save({"model": model_sd, "optim": optim_sd, "step": 2}, checkpoint_id=path, **save)


@check
def dcp_saved_on_fewer_ranks_resumes():
    """Trained and saved on N - 1 ranks (a mesh of ranks 0..N-2), loaded on N (and in one
    process, into a plain model): resumed training equals uninterrupted one-process training."""
    size = dist.world_size()
    ref2, ref4 = reference(2), reference(4)
    base = shared_dir()
    try:
        path = os.path.join(base, "ckpt")
        ranks = list(range(size - 1))
        world = init_device_mesh("cpu", (size,))
        group = dist.new_group(ranks)
        error = None
        if dist.rank() in ranks:
            try:
                mesh = _sub_mesh(world, np.array(ranks), None, [group])
                model = sharded(mesh)
                opt = make_adam(model.parameters())
                train(model, opt, range(2), dist.rank(), len(ranks))
                _save(model, opt, path, process_group=group)
            except Exception as err:  # raised after the barrier
                error = err
        dist.barrier()
        if error is not None:
            raise error
        model = sharded()
        resumed = _resume(model, make_adam(model.parameters()), path, ref2, ref4)
        plain = -1.0
        if dist.rank() == 0:  # one process, a plain model and Adam
            try:
                one = Net()
                plain = _resume(one, make_adam(one.parameters()), path, ref2, ref4, alone=True)
            except Exception as err:  # raised after the barrier
                error = err
        dist.barrier()
        if error is not None:
            raise error
    finally:
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"{size - 1} -> {size} ranks: {resumed:.1e}; -> 1 plain: {plain:.1e}"


@check
def hsdp_replicated_checkpoint_resumes_sharded():
    """HSDP on the (N, 1) mesh (every rank holds everything: DDP) trains as one process and
    saves (each box written once); loaded into the (1, N) layout (FSDP), training resumes as
    one process."""
    size = dist.world_size()
    ref2, ref4 = reference(2), reference(4)
    base = shared_dir()
    try:
        path = os.path.join(base, "ckpt")
        model, opt = _fresh(init_device_mesh("cpu", (size, 1), mesh_dim_names=("dp", "shard")))
        assert model.embed.weight.placements == (Replicate(), Shard(0))
        train(model, opt, range(2), dist.rank(), size)
        trained = difference(whole(model), ref2)
        assert trained < 1e-10, trained
        _save(model, opt, path)
        resumed = _resume(*_fresh(init_device_mesh("cpu", (1, size))), path, ref2, ref4)
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"trained {trained:.1e}, resumed {resumed:.1e}"


@check
def clip_grad_norm_is_the_whole_models():
    """nn.utils.clip_grad_norm_ and optim.clip_grad_norm on sharded parameters: the norm of
    the whole model's gradient (2, inf and 3), the same on every rank, and the gradients
    clipped as one process's (an SGD step with lr 1 then gives its parameters), on the 1-D
    mesh and on HSDP's (N, 1) and (1, N) meshes."""
    from dlpy.nn.utils import clip_grad_norm_

    rank, size = dist.rank(), dist.world_size()
    meshes = {"1-D": None, "(N, 1)": (size, 1), "(1, N)": (1, size)}
    worst = 0.0
    for label, shape in meshes.items():
        for norm_type, clip in ((2.0, clip_grad_norm_), (np.inf, optim.clip_grad_norm),
                                (3.0, clip_grad_norm_)):
            mesh = None if shape is None else init_device_mesh("cpu", shape)
            model, ref = sharded(mesh), Net()
            got, want = [], []
            for net, r, n, out in ((model, rank, size, got), (ref, 0, 1, want)):
                x, y = data(0)
                part = slice(r * BATCH // n, (r + 1) * BATCH // n)
                x, y = x[part], y[part]
                F.cross_entropy(net(Tensor(x)), y).backward()
                total = clip(net.parameters(), 0.05, norm_type=norm_type)
                out.append(float(total.item() if isinstance(total, Tensor) else total))
                optim.SGD(net.parameters(), lr=1.0).step()
            assert abs(got[0] - want[0]) < 1e-12 * want[0], (label, norm_type, got, want)
            assert want[0] > 0.05  # so the gradients were clipped
            every = [None] * size
            dist.all_gather_object(every, got[0])
            assert len(set(every)) == 1, every
            worst = max(worst, difference(whole(model), ref.state_dict()))
    assert worst < 1e-12, worst
    return f"norms and steps as one process's to {worst:.1e}"


def _fresh(mesh):
    model = sharded(mesh)
    return model, make_adam(model.parameters())


@check
def tensor_parallel_checkpoint_round_trip():
    """get_state_dict / DCP / set_state_dict also take tensor-parallel DParameters (Colwise
    Shard(0), Rowwise Shard(1), a Replicate bias written once): the reloaded model and Adam
    take the same next step as the original."""
    from dlpy.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    mesh = init_device_mesh("cpu", (dist.world_size(),))
    x = Tensor(np.random.default_rng(1).normal(size=(5, 4)))

    def make():
        rng = np.random.default_rng(0)
        model = nn.Sequential(nn.Linear(4, 6, rng=rng, dtype=np.float64), nn.Tanh(),
                              nn.Linear(6, 3, rng=rng, dtype=np.float64))
        parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
        return model, make_adam(model.parameters())

    def step(model, opt):
        opt.zero_grad()
        F.mse_loss(model(x), Tensor(np.zeros((5, 3)))).backward()
        opt.step()

    base = shared_dir()
    try:
        model, opt = make()
        step(model, opt)
        _save(model, opt, os.path.join(base, "tp"))
        fresh, fresh_opt = make()
        model_sd, optim_sd = get_state_dict(fresh, fresh_opt)
        state = {"model": model_sd, "optim": optim_sd, "step": 0}
        dcp.load(state, checkpoint_id=os.path.join(base, "tp"))
        set_state_dict(fresh, fresh_opt, model_state_dict=state["model"],
                       optim_state_dict=state["optim"])
        step(model, opt)
        step(fresh, fresh_opt)
        diff = difference(whole(fresh), whole(model))
        assert diff == 0.0, diff
    finally:
        dist.barrier()
        if dist.rank() == 0:
            shutil.rmtree(base, ignore_errors=True)
    return f"difference {diff}"


if __name__ == "__main__":
    from worker_checks import run_checks  # noqa: I001

    run_checks(CHECKS, sys.argv[1], "fsdp2_worker")
