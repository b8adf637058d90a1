"""DistributedDataParallel as torch's: averaging in backward, no_sync, find_unused_parameters,
buffer broadcast (the checks are in ddp_hooks_worker.py, run under mpirun -n 2)."""

import numpy as np
import pytest

from dlpy import nn
from dlpy.distributed import DistributedDataParallel
from dlpy.nn.parallel import DataParallel


def test_ddp_averages_in_backward_under_mpirun(mpirun):
    done = mpirun("ddp_hooks_worker.py", n=2)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok ddp hooks" in done.stdout


def test_ddp_takes_torch_arguments_in_one_process():
    net = nn.Linear(3, 2, rng=np.random.default_rng(0))
    model = DistributedDataParallel(net, device_ids=None, broadcast_buffers=False,
                                    bucket_cap_mb=1, find_unused_parameters=True,
                                    gradient_as_bucket_view=True)
    assert list(model.state_dict()) == ["module.weight", "module.bias"]
    with model.no_sync():
        assert not model.require_backward_grad_sync
    assert model.require_backward_grad_sync
    with pytest.raises(ValueError, match="mixed_precision"):
        DistributedDataParallel(net, mixed_precision=object())


def test_data_parallel_calls_the_module():
    net = nn.Linear(3, 2, rng=np.random.default_rng(0))
    model = DataParallel(net)
    x = np.ones((4, 3))
    assert np.array_equal(model(x).data, net(x).data)
    assert list(model.state_dict()) == ["module.weight", "module.bias"]
