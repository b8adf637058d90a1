"""``mpirun -n N python pipelining_worker.py OUT.json``: pipeline parallelism on N ranks (2 or
3), one stage per rank. Every rank also runs the whole model in one process on the whole batch
(the reference); rank 0 writes {check: {"0": "ok" or the error, ...}} to OUT.json for
test_pipelining.py (one test per check).
"""

from __future__ import annotations

import sys

import numpy as np

from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.distributed import group
from dlpy.distributed.pipelining import (
    PipelineStage,
    Schedule1F1B,
    ScheduleGPipe,
    SplitPoint,
    pipeline,
)

CHECKS = {}
BATCH, MICRO = 24, 4


def check(fn):
    CHECKS[fn.__name__] = fn
    return fn


def make_model() -> nn.Sequential:
    rng = np.random.default_rng(0)
    layers = [nn.Linear(6, 16, rng=rng, dtype=np.float64), nn.Tanh()]
    for _ in range(2):
        layers += [nn.Linear(16, 16, rng=rng, dtype=np.float64), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(16, 4, rng=rng, dtype=np.float64))


def data(step: int = 0):
    rng = np.random.default_rng(50 + step)
    return rng.normal(size=(BATCH, 6)), rng.integers(0, 4, size=BATCH)


def split_points(n: int) -> list[int]:
    return {2: [4], 3: [2, 4]}[n]  # child indices where a stage begins (7 children)


def stage_of(model):
    n, r = group.world_size(), group.rank()
    pipe = pipeline(model, split_points(n))
    return pipe.build_stage(r)


def stage_params(model) -> list:
    """The reference model's parameters that this rank's stage holds, in order."""
    bounds = [0, *split_points(group.world_size()), 7]
    r = group.rank()
    children = list(model._modules.values())[bounds[r]:bounds[r + 1]]
    return [p for c in children for p in c.parameters()]


def run(schedule_class, steps: int = 1, lr: float | None = None):
    model = make_model()
    stage = stage_of(model)
    schedule = schedule_class(stage, MICRO, loss_fn=F.cross_entropy)
    opt = optim.SGD(stage.submodule.parameters(), lr=lr) if lr else None
    losses, output = [], None
    for step in range(steps):
        x, y = data(step)
        stage.submodule.zero_grad()
        losses.clear()
        if stage.is_first:
            schedule.step(x, measure_memory=True)
        elif stage.is_last:
            output = schedule.step(target=y, losses=losses, measure_memory=True)
        else:
            schedule.step(measure_memory=True)
        if opt:
            opt.step()
    return model, stage, losses, output


def run_reference(steps: int = 1, lr: float | None = None):
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=lr) if lr else None
    for step in range(steps):
        x, y = data(step)
        model.zero_grad()
        out = model(Tensor(x))
        loss = F.cross_entropy(out, y)
        loss.backward()
        if opt:
            opt.step()
    return model, out, loss


def gradients_match(schedule_class):
    model, stage, losses, output = run(schedule_class)
    ref, ref_out, ref_loss = run_reference()
    mine, want = list(stage.submodule.parameters()), stage_params(ref)
    assert len(mine) == len(want) > 0
    diff = max(float(np.abs(p.grad - q.grad).max()) for p, q in zip(mine, want))
    assert diff < 1e-12, diff
    if stage.is_last:
        assert len(losses) == MICRO
        assert abs(np.mean([float(v.item()) for v in losses]) - float(ref_loss.item())) < 1e-12
        assert np.abs(output.data - ref_out.data).max() < 1e-12
    return f"largest gradient difference {diff:.1e}"


@check
def gpipe_gradients_equal_one_process():
    return gradients_match(ScheduleGPipe)


@check
def one_f_one_b_gradients_equal_one_process():
    return gradients_match(Schedule1F1B)


@check
def training_steps_equal_one_process():
    out = []
    for schedule_class in (ScheduleGPipe, Schedule1F1B):
        model, stage, _, _ = run(schedule_class, steps=3, lr=0.1)
        ref, _, _ = run_reference(steps=3, lr=0.1)
        diff = max(float(np.abs(p.data - q.data).max())
                   for p, q in zip(stage.submodule.parameters(), stage_params(ref)))
        assert diff < 1e-12, (schedule_class.__name__, diff)
        out.append(f"{diff:.1e}")
    return ", ".join(out)


@check
def activations_in_flight():
    """GPipe keeps every micro-batch on every stage; 1F1B at most num_stages - stage."""
    n, r = group.world_size(), group.rank()
    _, gpipe, _, _ = run(ScheduleGPipe)
    _, one, _, _ = run(Schedule1F1B)
    assert gpipe.peak_live_microbatches == MICRO, gpipe.peak_live_microbatches
    assert one.peak_live_microbatches == min(MICRO, n - r), one.peak_live_microbatches
    assert one.peak_activation_bytes < gpipe.peak_activation_bytes or n - r >= MICRO
    return (f"stage {r}: GPipe {gpipe.peak_activation_bytes} B "
            f"({gpipe.peak_live_microbatches} micro-batches), 1F1B "
            f"{one.peak_activation_bytes} B ({one.peak_live_microbatches})")


@check
def split_spec_by_name():
    n = group.world_size()
    spec = {"4": SplitPoint.BEGINNING} if n == 2 else \
        {"1": SplitPoint.END, "4": SplitPoint.BEGINNING}
    pipe = pipeline(make_model(), spec)
    assert pipe.num_stages == n
    sizes = [len(m._modules) for m in pipe.split_gm]
    assert sizes == ([4, 3] if n == 2 else [2, 2, 3]), sizes
    return str(sizes)


@check
def errors():
    n, r = group.world_size(), group.rank()
    stage_module = nn.Sequential(nn.Tanh())
    for kwargs, fragment in (({"stage_index": (r + 1) % n, "num_stages": n}, "on group rank"),
                             ({"stage_index": r, "num_stages": n + 1}, "num_stages=")):
        try:
            PipelineStage(stage_module, **kwargs)
        except ValueError as error:
            assert fragment in str(error), str(error)
        else:
            raise AssertionError("no ValueError")
    stage = PipelineStage(stage_module, r, n)
    schedule = ScheduleGPipe(stage, 5, loss_fn=F.cross_entropy)
    if stage.is_first:
        try:
            schedule.step(np.zeros((12, 6)))
        except ValueError as error:
            assert "does not split into 5 equal micro-batches" in str(error), str(error)
        else:
            raise AssertionError("no ValueError")
    return "ok"


if __name__ == "__main__":
    from worker_checks import run_checks  # run as a script from this folder

    run_checks(CHECKS, sys.argv[1], "pipelining_worker")
