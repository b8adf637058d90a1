"""torch.distributed.algorithms.join on one process: Join runs no main hook (every rank has
joined at once), the post hooks with is_last_joiner, the first joinable's notification; and
the import path torch.distributed.fsdp.fully_sharded_data_parallel."""

import pytest

import dlpy
from dlpy import distributed as dist
from dlpy.distributed.algorithms import Join, Joinable, JoinHook


class _Hook(JoinHook):
    def __init__(self, log, name):
        self.log, self.name = log, name

    def main_hook(self):
        self.log.append((self.name, "main"))

    def post_hook(self, is_last_joiner):
        self.log.append((self.name, "post", is_last_joiner))


class _Joinable(Joinable):
    def __init__(self, log, name):
        super().__init__()
        self.log, self.name = log, name

    def join_hook(self, **kwargs):
        self.log.append((self.name, "kwargs", kwargs))
        return _Hook(self.log, self.name)

    @property
    def join_device(self):
        return dlpy.device("cpu")

    @property
    def join_process_group(self):
        return dist.group.WORLD


@pytest.fixture
def world():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_join_on_one_process_runs_the_post_hooks_only(world):
    log = []
    a, b = _Joinable(log, "a"), _Joinable(log, "b")
    with Join([a, b], flag=3):
        for _ in range(2):
            assert Join.notify_join_context(a) is not None  # the first one all-reduces
            assert Join.notify_join_context(b) is None
    assert log == [("a", "kwargs", {"flag": 3}), ("b", "kwargs", {"flag": 3}),
                   ("a", "post", True), ("b", "post", True)]
    assert a._join_config.is_first_joinable and not b._join_config.is_first_joinable


def test_join_disabled_or_raising_skips_the_hooks(world):
    log = []
    a = _Joinable(log, "a")
    with Join([a], enable=False):
        assert Join.notify_join_context(a) is None
    with pytest.raises(KeyError), Join([a]):
        raise KeyError("x")
    assert [entry[1] for entry in log] == ["kwargs", "kwargs"]


def test_join_refusals():
    with pytest.raises(ValueError, match="at least one joinable"):
        Join([])

    class NoInit(_Joinable):
        def __init__(self):  # never calls Joinable.__init__
            pass

    with pytest.raises(AssertionError, match="Joinable"):
        Join.notify_join_context(NoInit())


def test_fully_sharded_data_parallel_module_path():
    from dlpy.distributed.fsdp.fully_sharded_data_parallel import FullyShardedDataParallel

    assert FullyShardedDataParallel is dist.fsdp.FullyShardedDataParallel


def test_fsdp_wrap_module_path_and_policies():
    """torch.distributed.fsdp.wrap (where torch keeps the auto-wrap policies) under
    dlpy.compat: diffusers' training_utils imports transformer_auto_wrap_policy from it."""
    import functools

    from dlpy import compat, nn

    with compat.as_torch():
        from torch.distributed.fsdp.wrap import (
            always_wrap_policy,
            lambda_auto_wrap_policy,
            transformer_auto_wrap_policy,
        )
    assert transformer_auto_wrap_policy is dist.fsdp.transformer_auto_wrap_policy
    lin, seq = nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2))
    assert always_wrap_policy(lin, False, 6)
    pick = functools.partial(lambda_auto_wrap_policy, lambda_fn=lambda m: isinstance(m, nn.Linear))
    assert pick(module=seq, recurse=True, nonwrapped_numel=6)
    assert pick(module=lin, recurse=False, nonwrapped_numel=6)
    assert not pick(module=seq, recurse=False, nonwrapped_numel=6)
