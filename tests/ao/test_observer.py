"""Observers (dlpy/ao/quantization/observer.py): the running statistics and calculate_qparams
against torch's, three batches each; the qconfig defaults."""

import warnings

import numpy as np
import pytest
from cases_quantization import OBSERVERS, observer_batches, observer_kwargs

import dlpy
from dlpy.ao import quantization as q

from .helpers import reference

REF = reference("observers")


@pytest.mark.parametrize("case", OBSERVERS)
def test_observer_equals_torch(case):
    class_name, kwargs = OBSERVERS[case]
    ref = REF[case]
    observer = getattr(q, class_name)(**observer_kwargs(q, kwargs))
    seed = list(OBSERVERS).index(case)
    for batch in observer_batches(seed):
        assert observer(dlpy.tensor(batch)) is not None
    np.testing.assert_array_equal(observer.min_val, ref["min_val"])
    np.testing.assert_array_equal(observer.max_val, ref["max_val"])
    scale, zero_point = observer.calculate_qparams()
    assert scale.dtype == np.float32 and zero_point.dtype == np.int64
    np.testing.assert_array_equal(scale.data, ref["scale"])
    np.testing.assert_array_equal(zero_point.data, ref["zero_point"])


def test_ranges():
    assert (q.MinMaxObserver(reduce_range=True).quant_min,
            q.MinMaxObserver(reduce_range=True).quant_max) == (0, 127)
    observer = q.MinMaxObserver(dtype=q.qint8, reduce_range=True)
    assert (observer.quant_min, observer.quant_max) == (-64, 63)
    observer = q.MinMaxObserver(quant_min=0, quant_max=255, reduce_range=True)
    assert (observer.quant_min, observer.quant_max) == (0, 127)


def test_affine_formula_by_hand():
    observer = q.MinMaxObserver()
    observer(dlpy.tensor(np.float32([-1.0, 3.0])))
    scale, zero_point = observer.calculate_qparams()
    assert scale.data[0] == np.float32(4.0) / np.float32(255)
    assert zero_point.data[0] == round(1.0 / (4.0 / 255))  # 64
    # all-zero input: the eps floor, not a zero scale
    observer = q.MinMaxObserver()
    observer(dlpy.tensor(np.zeros(3, np.float32)))
    assert observer.calculate_qparams()[0].data[0] == np.finfo(np.float32).eps


def test_unobserved_gives_defaults_with_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scale, zero_point = q.MinMaxObserver().calculate_qparams()
    assert scale.data.tolist() == [1.0] and zero_point.data.tolist() == [0]
    assert any("must run observer" in str(w.message) for w in caught)


def test_default_qconfigs():
    qconfig = q.get_default_qconfig("x86")
    assert isinstance(qconfig.activation(), q.HistogramObserver)
    assert qconfig.activation().reduce_range and qconfig.weight().qscheme is \
        q.per_channel_symmetric
    qat = q.get_default_qat_qconfig("fbgemm")
    fake = qat.activation()
    assert isinstance(fake, q.FakeQuantize) and (fake.quant_min, fake.quant_max) == (0, 127)
    assert qat.weight().is_per_channel


def test_errors():
    with pytest.raises(ValueError, match="get_default_qconfig: backend must be one of"):
        q.get_default_qconfig("qnnpack")
    with pytest.raises(ValueError, match="MinMaxObserver: qscheme must be one of"):
        q.MinMaxObserver(qscheme="affine")
    with pytest.raises(ValueError, match="use PerChannelMinMaxObserver"):
        q.MinMaxObserver(qscheme=q.per_channel_affine)
    with pytest.raises(ValueError, match=r"must contain 0.*got \[1, 5\]"):
        q.MinMaxObserver(quant_min=1, quant_max=5)
    with pytest.raises(TypeError, match="MinMaxObserver: dtype must be"):
        q.MinMaxObserver(dtype=np.int8)
    with pytest.raises(ValueError, match="ch_axis 3 is out of range"):
        q.PerChannelMinMaxObserver(ch_axis=3)(dlpy.tensor(np.ones((2, 2), np.float32)))
