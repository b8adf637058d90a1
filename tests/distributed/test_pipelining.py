"""Pipeline parallelism: under ``mpirun -n 2`` and ``-n 3`` (one launch of
pipelining_worker.py each, one test per check; skipped where MPI is not installed), and in one
process, where a one-stage pipeline is plain training with micro-batches."""

from __future__ import annotations

import numpy as np
import pytest

from dlpy import Tensor, nn
from dlpy import functional as F
from dlpy.distributed.pipelining import (
    PipelineStage,
    Schedule1F1B,
    ScheduleGPipe,
    SplitPoint,
    pipeline,
    split_sequential,
)

from .pipelining_worker import CHECKS, data, make_model
from .worker_launch import mpirun_checks

results, test_under_mpirun = mpirun_checks("pipelining_worker.py", CHECKS)


# ----------------------------------------------------------------- one process
@pytest.mark.parametrize("schedule_class", [ScheduleGPipe, Schedule1F1B])
def test_one_stage_equals_the_whole_batch(schedule_class):
    x, y = data()
    ref = make_model()
    ref_loss = F.cross_entropy(ref(Tensor(x)), y)
    ref_loss.backward()
    model = make_model()
    stage = PipelineStage(model, 0, 1)
    losses = []
    out = schedule_class(stage, 4, loss_fn=F.cross_entropy).step(x, target=y, losses=losses)
    assert out.shape == (24, 4) and len(losses) == 4
    assert abs(np.mean([v.item() for v in losses]) - ref_loss.item()) < 1e-14
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=0, atol=1e-15)


def test_split_sequential():
    stages = split_sequential(make_model(), {"2": SplitPoint.BEGINNING, "4": SplitPoint.END})
    assert [len(s._modules) for s in stages] == [2, 3, 2]
    assert [len(s._modules) for s in split_sequential(make_model(), [3])] == [3, 4]
    pipe = pipeline([nn.Tanh(), nn.ReLU()])
    assert pipe.num_stages == 2 and isinstance(pipe.get_stage_module(1), nn.ReLU)


def test_errors():
    with pytest.raises(TypeError, match="pipeline: expected an nn.Sequential"):
        split_sequential(nn.Tanh(), [1])
    with pytest.raises(ValueError, match="split_spec names '9', which is not a child"):
        pipeline(make_model(), {"9": SplitPoint.BEGINNING})
    with pytest.raises(ValueError, match="a split at position 7 leaves an empty stage"):
        pipeline(make_model(), {"6": SplitPoint.END})
    with pytest.raises(TypeError, match="split_spec\\['2'\\] must be a SplitPoint"):
        pipeline(make_model(), {"2": "beginning"})
    with pytest.raises(TypeError, match="does not trace pipe_split"):
        pipeline(make_model())
    with pytest.raises(ValueError, match="num_stages=2, but the group has 1 ranks"):
        PipelineStage(make_model(), 0, 2)
    stage = PipelineStage(make_model(), 0, 1)
    with pytest.raises(ValueError, match="the last stage needs loss_fn"):
        ScheduleGPipe(stage, 2)
    with pytest.raises(ValueError, match="n_microbatches must be an int >= 1, got 0"):
        Schedule1F1B(stage, 0, loss_fn=F.cross_entropy)
    schedule = ScheduleGPipe(stage, 5, loss_fn=F.cross_entropy)
    x, y = data()
    with pytest.raises(ValueError, match="args of shape \\(24, 6\\) does not split into 5"):
        schedule.step(x, target=y)
    with pytest.raises(ValueError, match="the last stage needs target="):
        schedule.step(x)
    with pytest.raises(TypeError, match="a stage must return one Tensor"):
        ScheduleGPipe(PipelineStage(_Pair(), 0, 1), 1, loss_fn=F.cross_entropy).step(
            x, target=y)


class _Pair(nn.Module):
    def forward(self, x):
        return x, x
