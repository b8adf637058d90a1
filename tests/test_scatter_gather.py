"""torch.nn.parallel.scatter_gather (dlpy/nn/parallel/scatter_gather.py) and torch.Future as a
generic class: what libraries import for their multi-GPU and asynchronous paths (captum's
layer attributions, its FeatureAblation), checked without GPUs."""

import collections

import pytest

import dlpy
from dlpy.futures import Future
from dlpy.nn.parallel.scatter_gather import gather, scatter, scatter_kwargs


def test_scatter_walks_structures_as_torch():
    Pair = collections.namedtuple("Pair", "a b")
    assert scatter(3, [0, 1]) == [3, 3]
    assert scatter((1, "x"), [0, 1]) == [(1, "x"), (1, "x")]
    assert scatter([1, 2], [0]) == [[1, 2]]
    assert scatter({"k": 1}, [0, 1]) == [{"k": 1}, {"k": 1}]
    assert scatter(Pair(1, 2), [0, 1]) == [Pair(1, 2), Pair(1, 2)]
    assert scatter((), [0, 1]) == [(), ()]


def test_scatter_kwargs_pads():
    assert scatter_kwargs((1,), {"a": 2}, [0, 1]) == (((1,), (1,)), ({"a": 2}, {"a": 2}))
    assert scatter_kwargs((), {"a": 2}, [0]) == (((),), ({"a": 2},))
    assert scatter_kwargs((1,), None, [0]) == (((1,),), ({},))


def test_tensors_need_gpus():
    with pytest.raises(RuntimeError, match="only the CPU"):
        scatter((dlpy.ones(2),), [0])
    with pytest.raises(AssertionError):
        gather([dlpy.ones(2), dlpy.ones(2)], "cpu")
    assert gather([None, None], "cpu") is None
    with pytest.raises(ValueError, match="same number of keys"):
        gather([{"a": None}, {"a": None, "b": None}], "cpu")


def test_future_is_generic_and_a_torch_name():
    assert Future[int].__origin__ is Future
    assert dlpy.Future is Future
    future = dlpy.futures.Future()
    future.set_result(3)
    assert future.wait() == 3
