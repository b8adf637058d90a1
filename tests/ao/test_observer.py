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
    # torch: int32 zero points for the affine schemes, int64 for the symmetric ones
    assert scale.dtype == np.float32 and zero_point.dtype == ref["zero_point"].dtype
    np.testing.assert_array_equal(scale.data, ref["scale"])
    np.testing.assert_array_equal(zero_point.data, ref["zero_point"])


@pytest.mark.parametrize("class_name", ["MinMaxObserver", "MovingAverageMinMaxObserver",
                                        "PerChannelMinMaxObserver", "HistogramObserver"])
def test_buffers_are_tensors_updated_in_place(class_name):
    # as torch's copy_ (resize_ first for a per-channel observer's empty start): a buffer a
    # user holds sees every batch; state_dict gives Tensors over the same arrays, as torch's
    observer = getattr(q, class_name)()
    held_min, held_max = observer.min_val, observer.max_val
    rng = np.random.default_rng(0)
    for _ in range(2):
        observer(dlpy.tensor(rng.standard_normal((3, 5)).astype(np.float32)))
        assert observer.min_val is held_min and observer.max_val is held_max
    assert isinstance(held_min, dlpy.Tensor) and held_min.dtype == np.float32
    assert np.all(held_min.data < held_max.data) and np.all(np.isfinite(held_min.data))
    state = observer.state_dict()
    assert all(isinstance(value, dlpy.Tensor) for value in state.values())
    np.testing.assert_array_equal(state["min_val"].numpy(), held_min.data)
    assert state["min_val"].data is held_min.data and state["min_val"] is not held_min


def test_reset_min_max_vals():
    observer = q.MinMaxObserver()
    held = observer.min_val
    observer(dlpy.tensor(np.float32([-1.0, 3.0])))
    observer.reset_min_max_vals()
    assert observer.min_val is held and held.item() == np.inf
    assert repr(observer) == "MinMaxObserver(min_val=inf, max_val=-inf)"  # torch's
    observer = q.PerChannelMinMaxObserver()
    observer(dlpy.tensor(np.ones((2, 3), np.float32)))
    observer.reset_min_max_vals()
    assert observer.min_val.shape == (0,) and isinstance(observer.min_val, dlpy.Tensor)


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
