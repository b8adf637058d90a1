"""A worker whose check fails on the last rank only, before a collective that the other ranks
then wait in forever (test_tensor_parallel_more.py: the launch must end at once, with that
rank's message, instead of hanging until the test's timeout)."""

from __future__ import annotations

import numpy as np

from dlpy.distributed import torch_api as dist

GRACE = 0.2  # run_workers.py: how long the failed rank waits for the others


def fails_on_the_last_rank_only():
    if dist.get_rank() == dist.get_world_size() - 1:
        raise ValueError("the last rank stops early")
    dist.all_reduce(np.ones(1))  # the others wait here for it


CHECKS = {"fails_on_the_last_rank_only": fails_on_the_last_rank_only}
