"""DataLoader(num_workers > 0): the batches of num_workers=0 from worker processes, seeding,
get_worker_info, errors from workers, dead workers, shutdown (no processes left), streams."""

import gc
import os
import time

import numpy as np
import pytest

import dlpy
from dlpy.data import (
    BatchSampler,
    DataLoader,
    RandomSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    get_worker_info,
)

from .worker_datasets import (
    Draws,
    Items,
    NeedsTwo,
    Stream,
    Uneven,
    WhoAmI,
    children,
    collate_to_function,
    gone,
    pairs_collate,
    raise_needs_two,
    tag_worker,
)


@pytest.fixture(autouse=True)
def no_processes_left():
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to count worker processes")
    before = children()
    yield
    if children() - before:  # a full collection costs ~0.3 s late in the suite: only if needed
        gc.collect()  # loaders kept by a reference cycle stop their workers when collected
    assert children() - before == set()


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dlpy.Tensor):
        a, b = a.data, b.data
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


ITEMS = Items()
ROWS = TensorDataset(dlpy.Tensor(np.arange(46, dtype=np.float64).reshape(23, 2)),
                     np.arange(23) % 4)
CASES = {  # name: loader given num_workers (a fresh, equally seeded generator each call)
    "sequential": lambda w: DataLoader(ITEMS, 4, num_workers=w),
    "shuffle": lambda w: DataLoader(ITEMS, 4, shuffle=True, rng=np.random.default_rng(0),
                                    num_workers=w),
    "drop_last": lambda w: DataLoader(ITEMS, 5, shuffle=True, drop_last=True,
                                      generator=np.random.default_rng(1), num_workers=w),
    "collate_fn": lambda w: DataLoader(ITEMS, 3, collate_fn=pairs_collate, num_workers=w),
    "batch_sampler": lambda w: DataLoader(
        ITEMS, batch_sampler=BatchSampler(RandomSampler(ITEMS, np.random.default_rng(2)), 6,
                                          False), num_workers=w),
    "subset_sampler": lambda w: DataLoader(
        ITEMS, 4, sampler=SubsetRandomSampler([1, 5, 7, 9, 11, 20], np.random.default_rng(3)),
        num_workers=w),
    "weighted_sampler": lambda w: DataLoader(
        ITEMS, 4, sampler=WeightedRandomSampler(np.arange(23) + 1.0, 30,
                                                generator=np.random.default_rng(4)),
        num_workers=w),
    "tensor_rows": lambda w: DataLoader(ROWS, 5, shuffle=True, rng=np.random.default_rng(5),
                                        num_workers=w, prefetch_factor=1 if w else None),
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_batches_and_order_as_the_main_process(name):
    single, workers = CASES[name](0), CASES[name](2)
    for _ in range(2):  # two epochs: shuffling goes on as with num_workers=0
        expected, got = list(single), list(workers)
        assert len(got) == len(expected) == len(workers)
        assert_same(got, expected)


def test_default_generator_shuffles_as_the_main_process():
    orders = []
    for num_workers in (0, 2):
        dlpy.manual_seed(7)  # the base seed is derived from the generator without drawing
        loader = DataLoader(ROWS, 6, shuffle=True, num_workers=num_workers)
        orders.append([b[1].tolist() for _ in range(2) for b in loader])
    assert orders[0] == orders[1]


def test_worker_init_fn_and_get_worker_info():
    assert get_worker_info() is None
    batches = list(DataLoader(WhoAmI(), 2, num_workers=2, worker_init_fn=tag_worker))
    index, worker, tag, seed, _ = (np.concatenate([b[k] for b in batches]) for k in range(5))
    np.testing.assert_array_equal(index, np.arange(8))
    np.testing.assert_array_equal(worker, [0, 0, 1, 1, 0, 0, 1, 1])  # round robin, in order
    np.testing.assert_array_equal(tag, 10 * worker)
    assert np.all(seed[worker == 1] == seed[worker == 0][0] + 1)  # base seed + worker id
    assert WhoAmI.tag == -1 and get_worker_info() is None


def test_worker_generators_are_seeded_reproducibly_and_differently():
    def draws(seed, epochs=1):  # (a function of the test: it runs here, not in the workers)
        dlpy.manual_seed(seed)
        loader = DataLoader(Draws(), 3, num_workers=2, persistent_workers=epochs > 1)
        return [np.concatenate(list(loader)) for _ in range(epochs)]

    first, again = draws(0)[0], draws(0)[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first[:3], first[3:])  # worker 0's draws differ from worker 1's
    assert not np.array_equal(first, draws(1)[0])
    one, two = draws(0, epochs=2)
    np.testing.assert_array_equal(one, first)
    assert not np.array_equal(one, two)  # the generators go on across epochs
    new_epoch = DataLoader(Draws(), 3, num_workers=2)
    dlpy.manual_seed(0)
    np.testing.assert_array_equal(np.concatenate(list(new_epoch)), first)
    assert not np.array_equal(np.concatenate(list(new_epoch)), first)  # nothing drew: new seed


def test_an_exception_in_a_worker_is_raised_with_the_worker_and_its_traceback():
    loader = DataLoader(Items(fail_at=5), 2, num_workers=2)  # indices 4, 5: task 2, worker 0
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0") \
            as caught:
        list(loader)
    assert "Original Traceback" in str(caught.value)
    assert "in __getitem__" in str(caught.value) and "bad item 5" in str(caught.value)


def test_an_exception_that_cannot_be_rebuilt_or_a_batch_that_cannot_be_pickled():
    assert NeedsTwo.__module__.endswith("worker_datasets")
    with pytest.raises(RuntimeError, match="(?s)Caught NeedsTwo in DataLoader worker process"):
        next(iter(DataLoader(ITEMS, 2, num_workers=1, worker_init_fn=raise_needs_two)))
    with pytest.raises(Exception, match="(?s)worker process 0.*pickle"):
        next(iter(DataLoader(ITEMS, 2, num_workers=1, collate_fn=collate_to_function)))


def test_a_killed_worker_is_an_error_not_a_hang():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"worker 1 \(pid \d+\) was killed by SIGKILL"):
        list(DataLoader(Items(kill_at=3), 1, num_workers=2, timeout=10))  # a hang: fails
    assert time.monotonic() - start < 5


def test_timeout(monkeypatch):
    # the sleeping worker outlives the shutdown's grace and is terminated: a shorter grace
    monkeypatch.setattr(dlpy.data.workers, "SHUTDOWN_GRACE_S", 0.2)
    loader = DataLoader(Items(sleep_at=0, sleep_s=30), 2, num_workers=1, timeout=0.2)
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        next(iter(loader))


def test_breaking_out_early_stops_the_workers():
    before = children()
    loader = DataLoader(WhoAmI(), 1, num_workers=2)
    for batch in loader:
        pid = int(batch[4][0])  # (the workers are children of a forkserver, if one starts them)
        assert os.path.exists(f"/proc/{pid}")
        break
    assert gone([pid])  # stopped and reaped when the iterator was dropped
    iterator = iter(loader)
    pids = {int(next(iterator)[4][0]), int(next(iterator)[4][0])}
    assert len(pids) == 2
    del iterator
    assert gone(pids)
    list(loader)  # a finished pass stops its workers itself
    assert children() - before == set()


def test_persistent_workers_serve_every_epoch():
    before = children()
    single = DataLoader(ITEMS, 4, shuffle=True, rng=np.random.default_rng(9))
    workers = DataLoader(ITEMS, 4, shuffle=True, rng=np.random.default_rng(9), num_workers=2,
                         persistent_workers=True)
    for _ in workers:  # abandoned half way: its batches in flight must not leak into the next
        break
    next(iter(single))
    pids = children() - before
    for _ in range(2):
        assert_same(list(workers), list(single))
        assert children() - before == pids  # the same two processes
    del workers
    gc.collect()
    assert children() - before == set()


def test_iterable_dataset_sharded_by_worker_info():
    assert [b.tolist() for b in DataLoader(Stream(), 2)] == [[0, 1], [2, 3], [4, 5], [6, 7],
                                                              [8, 9]]
    loader = DataLoader(Stream(), 2, num_workers=2, persistent_workers=True)
    for _ in range(2):  # worker 0 has 0, 2, 4, ...; worker 1 has 1, 3, ...: batches alternate
        assert [b.tolist() for b in loader] == [[0, 2], [1, 3], [4, 6], [5, 7], [8], [9]]
    dropped = DataLoader(Stream(), 2, num_workers=2, drop_last=True)
    assert [b.tolist() for b in dropped] == [[0, 2], [1, 3], [4, 6], [5, 7]]  # per worker
    twice = np.concatenate(list(DataLoader(Stream(5, shard=False), 2, num_workers=2)))
    assert sorted(twice.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]  # no sharding: every copy
    with pytest.raises(TypeError, match="Stream has no __len__"):
        len(loader)


@pytest.mark.parametrize("prefetch_factor", [1, 2, 3])
def test_iterable_streams_of_different_lengths(prefetch_factor):
    loader = DataLoader(Uneven(), 2, num_workers=2, prefetch_factor=prefetch_factor,
                        persistent_workers=True)
    for _ in range(2):
        assert [b.tolist() for b in loader] == [[0], [1, 2], [3, 4], [5, 6], [7]]


def test_in_order_false_hands_batches_over_as_they_come():
    ordered = DataLoader(Items(6, sleep_at=0, sleep_s=0.3), 1, num_workers=2)
    assert [int(b["label"][0]) for b in ordered] == [0, 1, 2, 0, 1, 2]
    unordered = DataLoader(Items(6, sleep_at=0, sleep_s=0.3), 1, num_workers=2, in_order=False)
    got = [int(b["x"][0, 0]) for b in unordered]
    assert sorted(got) == list(range(6)) and got[0] != 0


def test_pin_memory_is_accepted():
    loader = DataLoader(ROWS, 8, num_workers=1, pin_memory=True)
    assert_same(list(loader), list(DataLoader(ROWS, 8)))


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(num_workers=-1), ValueError,
     "num_workers option should be a non-negative integer .*got -1"),
    (dict(prefetch_factor=2), ValueError,
     "prefetch_factor option could only be specified in multiprocessing.*got prefetch_factor=2"),
    (dict(num_workers=2, prefetch_factor=0), ValueError,
     "prefetch_factor option should be a positive integer, got 0"),
    (dict(persistent_workers=True), ValueError,
     "persistent_workers option needs num_workers > 0"),
    (dict(timeout=-1), ValueError, "timeout option should be non-negative, got -1"),
    (dict(multiprocessing_context="fork"), ValueError,
     r"multiprocessing_context can only be used with multi-process loading \(num_workers > 0"),
    (dict(num_workers=1, multiprocessing_context="threads"), ValueError,
     "multiprocessing_context should be a start method in .*got 'threads'"),
    (dict(num_workers=1, multiprocessing_context=4), TypeError,
     "multiprocessing_context must be a start method name or a multiprocessing context, got int"),
    (dict(num_workers=1, worker_init_fn=4), TypeError, "worker_init_fn must be callable, got int"),
])
def test_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=f"DataLoader: {message}"):
        DataLoader(ITEMS, 2, **kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(shuffle=True), "shuffle"), (dict(sampler=[0, 1]), "sampler"),
    (dict(batch_size=1, batch_sampler=[[0]]), "batch_sampler"),
])
def test_an_iterable_dataset_takes_no_order(kwargs, name):
    with pytest.raises(ValueError, match=f"IterableDataset decides its own order; expected "
                                         f"unspecified {name} option"):
        DataLoader(Stream(), **kwargs)
