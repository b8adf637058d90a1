"""ZeroRedundancyOptimizer as an ``optim.Optimizer`` (isinstance, schedulers that check it,
step hooks), and the debug level that turns the collectives' cross-rank argument check off."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dlpy import optim
from dlpy.distributed import torch_api
from dlpy.distributed.optim import ZeroRedundancyOptimizer
from dlpy.optim import lr_scheduler
from dlpy.optim.optimizer import Optimizer

from .conftest import SRC
from .test_torch_api import groups_of, make_net, set_grads
from .worker_launch import mpirun_checks
from .zero_worker import CHECKS

# add_param_group on 2 and 3 ranks (zero_worker.py)
results, test_under_mpirun = mpirun_checks("zero_worker.py", CHECKS, ranks=(2, 3))


def test_zero_is_an_optimizer_a_scheduler_drives():
    net, reference = make_net(), make_net()
    zero = ZeroRedundancyOptimizer(groups_of(net), optim.SGD, lr=0.1, momentum=0.9)
    plain = optim.SGD(groups_of(reference), lr=0.1, momentum=0.9)
    assert isinstance(zero, Optimizer)
    schedules = [lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.001)
                 for opt in (zero, plain)]
    calls = []
    zero.register_step_post_hook(lambda opt, args, kwargs: calls.append(opt.step_count))
    lrs = []
    for step in range(4):
        for model, opt in ((net, zero), (reference, plain)):
            set_grads(model, step)
            opt.step()
        for schedule in schedules:
            schedule.step()
        lrs.append([g["lr"] for g in zero.param_groups])
        assert lrs[-1] == [g["lr"] for g in plain.param_groups]
    assert lrs[0] != lrs[1]  # the schedule moved the rates ZeRO's steps use
    assert calls == [1, 2, 3, 4]
    for a, b in zip(net.parameters(), reference.parameters()):
        assert np.array_equal(a.data, b.data)


def test_zero_add_param_group_in_one_process_is_the_plain_optimizers():
    net, reference = make_net(), make_net()
    extra, extra_reference = make_net(1), make_net(1)
    zero = ZeroRedundancyOptimizer(groups_of(net), optim.Adam, lr=0.01)
    plain = optim.Adam(groups_of(reference), lr=0.01)
    for step in range(5):
        if step == 2:
            zero.add_param_group({"params": extra.parameters(), "lr": 0.02})
            plain.add_param_group({"params": extra_reference.parameters(), "lr": 0.02})
        for model, more, opt in ((net, extra, zero), (reference, extra_reference, plain)):
            set_grads(model, step)
            set_grads(more, step + 50)
            opt.step()
    assert [g["lr"] for g in zero.param_groups] == [0.05, 0.01, 0.02]
    assert len(zero.optim.param_groups) == 3 and zero.owner == [0] * 8
    for a, b in zip([*net.parameters(), *extra.parameters()],
                    [*reference.parameters(), *extra_reference.parameters()]):
        assert np.array_equal(a.data, b.data)
    assert zero.state_bytes() == sum(v.nbytes for s in plain.state for v in s.values())
    with pytest.raises(ValueError, match=r"ZeroRedundancyOptimizer.add_param_group: Adam: "
                                         r"parameter 0 of group 3 appears in more than one"):
        zero.add_param_group({"params": list(extra.parameters())[:1]})
    with pytest.raises(TypeError, match="ZeroRedundancyOptimizer.add_param_group: .*a dict "
                                        "with a 'params' entry"):
        zero.add_param_group({"lr": 0.1})
    assert len(zero.param_groups) == 3 and len(zero.params) == 8


class _CountingComm:
    """Stands in for a 2-rank communicator: counts the argument checks' Allgathers."""

    def __init__(self):
        self.allgathers = 0

    def Allgather(self, send, receive):  # noqa: N802 - mpi4py's name
        self.allgathers += 1
        receive[...] = send[0]


@pytest.fixture
def debug_level():
    before = torch_api.get_debug_level()
    yield
    torch_api.set_debug_level(before)


def test_debug_level_off_skips_the_cross_rank_check(debug_level):
    comm = _CountingComm()
    pg = torch_api.ProcessGroup(None, [0, 1])
    pg.comm = comm

    def check():
        return "value", "fingerprint"

    assert torch_api.get_debug_level() is torch_api.DebugLevel.INFO  # the default
    assert torch_api._checked(pg, "all_reduce", check) == "value" and comm.allgathers == 1
    torch_api.set_debug_level("detail")
    torch_api._checked(pg, "all_reduce", check)
    assert comm.allgathers == 2
    torch_api.set_debug_level(torch_api.DebugLevel.OFF)
    assert torch_api._checked(pg, "all_reduce", check) == "value" and comm.allgathers == 2

    def bad():
        raise ValueError("all_reduce: bad tensor")

    with pytest.raises(ValueError, match="all_reduce: bad tensor"):  # still raised locally
        torch_api._checked(pg, "all_reduce", bad)
    with pytest.raises(ValueError, match="expected OFF, INFO or DETAIL, got 'LOUD'"):
        torch_api.set_debug_level("LOUD")


@pytest.mark.parametrize("value, expected", [("OFF", "DebugLevel.OFF"),
                                             ("detail", "DebugLevel.DETAIL"),
                                             ("LOUD", "DebugLevel.INFO")])
def test_debug_level_from_the_environment(value, expected):
    env = {**os.environ, "DLPY_DISTRIBUTED_DEBUG": value, "PYTHONPATH": str(SRC)}
    result = subprocess.run(
        [sys.executable, "-W", "always", "-c",
         "from dlpy import distributed as d; print(d.get_debug_level())"],
        capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    if value == "LOUD":
        assert "DLPY_DISTRIBUTED_DEBUG='LOUD', expected OFF, INFO or DETAIL" in result.stderr
