"""DataLoader workers under each start method (fork, forkserver, spawn): the same batches, the
same seeding, worker_init_fn and get_worker_info, streams, shutdown, and clear errors for what
spawn and forkserver cannot send. Starting spawn workers costs a Python start each, so one
persistent loader per start method serves most tests."""

import gc
import multiprocessing
import os
import random

import numpy as np
import pytest

import dlpy
from dlpy.data import DataLoader

from .worker_datasets import (
    BreaksInWorkers,
    Items,
    Probe,
    Stream,
    WhoAmI,
    children,
    gone,
    probe_init,
)

METHODS = [m for m in ("fork", "forkserver", "spawn")
           if m in multiprocessing.get_all_start_methods()]
NOT_FORK = [m for m in METHODS if m != "fork"]

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")


def probe_loader(method, **kwargs) -> DataLoader:
    options = dict(num_workers=2, worker_init_fn=probe_init, multiprocessing_context=method)
    options.update(kwargs)
    return DataLoader(Probe(), 3, shuffle=True, generator=np.random.default_rng(5), **options)


@pytest.fixture(scope="module", params=METHODS)
def shared(request):
    """A persistent 2-worker loader of this start method (a name, or a context for spawn):
    {"method": name, "loader": loader}; its workers must be gone once it is dropped."""
    method = request.param
    context = multiprocessing.get_context(method) if method == "spawn" else method
    before = children()
    held = {"method": method, "loader": probe_loader(context, persistent_workers=True)}
    yield held
    pids = {int(pid) for batch in held["loader"] for pid in batch[4]}
    del held["loader"]  # the last reference: its workers are stopped and reaped
    gc.collect()
    assert gone(pids) and children() - before == set()


def test_same_batches_and_order_as_the_main_process(shared):
    single = probe_loader(None, num_workers=0, worker_init_fn=None)
    for _ in range(2):  # the shuffle goes on as with num_workers=0
        for got, expected in zip(shared["loader"], single, strict=True):
            np.testing.assert_array_equal(got[0], expected[0])
            np.testing.assert_array_equal(got[1], expected[1])


def test_seeding_worker_init_fn_and_worker_info_as_under_fork(shared):
    """Every worker: seed = base seed + worker id, the base seed a function of the loader's
    generator only; random, numpy.random and dlpy's generator seeded from it before
    worker_init_fn, whatever the start method."""
    base = probe_loader(None, num_workers=0, worker_init_fn=None)._base_seed()  # equally seeded
    batches = list(shared["loader"])
    worker = np.concatenate([b[2] for b in batches])
    seed, tag, first = (np.concatenate([b[k] for b in batches]) for k in (3, 5, 6))
    assert sorted(set(worker.tolist())) == [0, 1]
    np.testing.assert_array_equal(seed, base + worker)
    np.testing.assert_array_equal(tag, 10 * worker)
    for worker_id in (0, 1):
        expected = [random.Random(base + worker_id).random(),
                    np.random.RandomState(np.random.SeedSequence([base, worker_id])
                                          .generate_state(4)).random_sample(),
                    dlpy.Generator().manual_seed(base + worker_id).random()]
        np.testing.assert_array_equal(first[worker == worker_id][0], expected)
    assert Probe.tag == -1 and dlpy.data.get_worker_info() is None


@pytest.mark.parametrize("method", METHODS)
def test_stream_sharded_and_workers_stopped_when_left(method):
    before = children()
    loader = DataLoader(Stream(), 2, num_workers=2, multiprocessing_context=method)
    assert [b.tolist() for b in loader] == [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    iterator = iter(DataLoader(WhoAmI(), 1, num_workers=2, multiprocessing_context=method))
    pid = int(next(iterator)[4][0])
    del iterator  # abandoned: its workers are stopped and reaped
    gc.collect()
    assert gone([pid]) and children() - before == set()


def local_function_for(what):
    def made_inside(x):
        return x

    return {"dataset": Items(), "collate_fn": made_inside, "worker_init_fn": made_inside,
            "lambda": lambda x: x}[what]


@pytest.mark.parametrize("method", NOT_FORK)
@pytest.mark.parametrize("kwargs, name, shown", [
    (dict(collate_fn=lambda items: items), "collate_fn", "<lambda>"),
    (dict(worker_init_fn=local_function_for("worker_init_fn")), "worker_init_fn",
     "local_function_for.<locals>.made_inside"),
])
def test_what_cannot_be_pickled_is_named(method, kwargs, name, shown):
    before = children()
    loader = DataLoader(Items(), 2, num_workers=2, multiprocessing_context=method, **kwargs)
    with pytest.raises(TypeError, match=f"DataLoader: the {name} .*{shown} cannot be pickled "
                                        f".*the '{method}' start method sends it to every "
                                        f"worker process: define it at module level .*"
                                        f"multiprocessing_context='fork'"):
        next(iter(loader))
    assert children() - before == set()


@pytest.mark.parametrize("method", NOT_FORK)
def test_a_dataset_holding_a_lambda_is_named(method):
    dataset = Items()
    dataset.transform = lambda x: x
    with pytest.raises(TypeError, match="DataLoader: the dataset Items cannot be pickled"):
        next(iter(DataLoader(dataset, 2, num_workers=1, multiprocessing_context=method)))


def test_fork_sends_nothing_through_pickle():
    if "fork" not in METHODS:
        pytest.skip("no fork on this platform")
    loader = DataLoader(Items(4), 2, num_workers=1, multiprocessing_context="fork",
                        collate_fn=lambda items: len(items))
    assert list(loader) == [2, 2]


@pytest.mark.parametrize("method", NOT_FORK)
def test_a_dataset_the_workers_cannot_unpickle(method):
    loader = DataLoader(BreaksInWorkers(), 2, num_workers=1, multiprocessing_context=method)
    with pytest.raises(ImportError, match="(?s)Caught ImportError in DataLoader worker process "
                                          "0. It could not unpickle the dataset.*module the "
                                          "workers can import.*cannot rebuild this object"):
        next(iter(loader))


def test_a_worker_that_exits_under_spawn_points_at_the_main_guard():
    method = NOT_FORK[-1]
    loader = DataLoader(Items(exit_at=0), 2, num_workers=1, multiprocessing_context=method)
    with pytest.raises(RuntimeError, match=f"worker 0 .* exited with code 1; .*the '{method}' "
                                           "start method a worker imports the main script"):
        next(iter(loader))
