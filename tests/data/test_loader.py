"""DataLoader: batches, shuffling with a seeded generator, drop_last, errors."""

import numpy as np
import pytest

from dlpy.data import DataLoader


def test_batches_in_order_with_a_short_last_batch():
    x, y = np.arange(10).reshape(5, 2), np.arange(5)
    loader = DataLoader((x, y), batch_size=2)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    np.testing.assert_array_equal(batches[0][0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(batches[-1][1], [4])


def test_drop_last():
    loader = DataLoader(np.arange(5), batch_size=2, drop_last=True)
    assert len(loader) == 2
    assert [b[0].tolist() for b in loader] == [[0, 1], [2, 3]]


def test_shuffle_is_seeded_aligned_and_new_each_epoch():
    x = np.arange(20)
    y = x * 10
    first = list(DataLoader((x, y), 6, shuffle=True, rng=np.random.default_rng(3)))
    again = list(DataLoader((x, y), 6, shuffle=True, rng=np.random.default_rng(3)))
    for (a, b), (c, _) in zip(first, again):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, a * 10)  # rows stay aligned across arrays
    epochs = DataLoader(x, 20, shuffle=True, rng=np.random.default_rng(0))
    one, two = next(iter(epochs))[0], next(iter(epochs))[0]
    assert sorted(one) == list(range(20)) and not np.array_equal(one, two)


def test_keeps_dtype():
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    assert next(iter(DataLoader(images, 2)))[0].dtype == np.uint8


@pytest.mark.parametrize("arrays, size, message", [
    ((np.zeros(3), np.zeros(4)), 2, r"the same length, got \[3, 4\]"),
    ((np.zeros(3),), 0, "batch_size must be a positive integer, got 0"),
    ((), 1, "needs at least one array"),
])
def test_errors(arrays, size, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(arrays, size)
