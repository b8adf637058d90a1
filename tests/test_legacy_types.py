"""torch's legacy tensor types (dlpy/legacy_types.py): sizes or data to construct, dtype checks
for isinstance; the expected values are torch 2.13's behaviour, written out."""

import numpy as np
import pytest

import dlpy

TYPES = {"FloatTensor": np.float32, "DoubleTensor": np.float64, "HalfTensor": np.float16,
         "LongTensor": np.int64, "IntTensor": np.int32, "ShortTensor": np.int16,
         "CharTensor": np.int8, "ByteTensor": np.uint8, "BoolTensor": np.bool_}


@pytest.mark.parametrize("name", list(TYPES))
def test_sizes_give_a_tensor_of_that_shape_and_dtype(name):
    kind = getattr(dlpy, name)
    assert kind.dtype is TYPES[name]
    for args, shape in [((2, 3), (2, 3)), ((4,), (4,)), ((), (0,)), ((dlpy.Size([3, 1]),), (3, 1))]:
        t = kind(*args)
        assert isinstance(t, dlpy.Tensor) and t.shape == shape and t.dtype == TYPES[name]
        assert not t.requires_grad


def test_data_is_converted_to_the_type():
    assert dlpy.FloatTensor([1, 2]).data.tolist() == [1.0, 2.0]
    assert dlpy.FloatTensor((2, 3)).data.tolist() == [2.0, 3.0]  # a tuple is data, not a shape
    assert dlpy.LongTensor([1.7, 2]).data.tolist() == [1, 2]
    assert dlpy.FloatTensor([True, False]).data.tolist() == [1.0, 0.0]
    assert dlpy.FloatTensor(np.array([1, 2])).dtype == np.float32
    assert dlpy.BoolTensor([1, 0]).data.tolist() == [True, False]
    assert dlpy.FloatTensor([]).shape == (0,)


def test_a_tensor_of_the_type_is_aliased():
    t = dlpy.ones(3)
    alias = dlpy.FloatTensor(t)
    alias.add_(1)  # shares memory, as torch's
    assert t.data.tolist() == [2.0, 2.0, 2.0]
    p = dlpy.ones(2, requires_grad=True)
    dlpy.FloatTensor(p).sum().backward()  # still part of the graph
    assert p.grad.data.tolist() == [1.0, 1.0]


def test_isinstance_checks_the_dtype():
    assert isinstance(dlpy.ones(2), dlpy.FloatTensor)
    assert not isinstance(dlpy.ones(2), dlpy.DoubleTensor)
    assert isinstance(dlpy.ones(2).long(), dlpy.LongTensor)
    assert not isinstance(np.ones(2, dtype=np.float32), dlpy.FloatTensor)
    assert isinstance(dlpy.FloatTensor(2), dlpy.Tensor)


def test_usable_as_a_parameter_initialiser():
    """The GCN idiom: an uninitialised Parameter filled in reset_parameters."""
    weight = dlpy.nn.Parameter(dlpy.FloatTensor(5, 3))
    with dlpy.no_grad():
        weight.uniform_(-0.5, 0.5)
    assert weight.shape == (5, 3) and weight.dtype == np.float32
    assert np.all(np.abs(weight.data) <= 0.5) and weight.requires_grad


def test_errors():
    with pytest.raises(TypeError, match=r"data must be a sequence \(got float\)"):
        dlpy.FloatTensor(2.5)
    with pytest.raises(TypeError, match=r"expected a tensor of dtype float32 \(got int64\)"):
        dlpy.FloatTensor(dlpy.ones(2).long())
    with pytest.raises(TypeError, match="got 2 arguments of types list, int"):
        dlpy.FloatTensor([1], 2)
    with pytest.raises(TypeError):
        dlpy.FloatTensor(2, requires_grad=True)  # torch refuses it too
