"""Modules added for torch's import paths (dlpy.types, dlpy.nn.common_types, the optimiser
modules, dlpy.distributions.utils, dlpy.utils.weak, dlpy.fx.immutable_collections,
dlpy.cuda.amp, dlpy._utils, dlpy.futures): behaviour the torch-recorded area does not show."""

import copy
import pickle
import warnings

import numpy as np
import pytest

import dlpy
from dlpy import compat


def test_torch_paths_import_under_compat():
    with compat.as_torch():
        import torch
        from torch.autograd.anomaly_mode import detect_anomaly
        from torch.cuda.amp import GradScaler
        from torch.export.graph_signature import InputKind
        from torch.nn.common_types import _size_2_t
        from torch.optim.adam import Adam
        from torch.optim.lr_scheduler import _LRScheduler
        from torch.quantization.stubs import QuantStub
        from torch.types import Number

        assert Adam is torch.optim.Adam and detect_anomaly is torch.autograd.detect_anomaly
        assert issubclass(_LRScheduler, torch.optim.lr_scheduler.LRScheduler)
        assert QuantStub is torch.ao.quantization.QuantStub
        assert Number.__args__ == (int, float, bool) and _size_2_t.__args__[0] is int
        assert issubclass(GradScaler, torch.amp.GradScaler) and InputKind.PARAMETER
        assert callable(torch.export.unflatten)  # the function, not its module
        from torch.nn.modules.module import _EXTRA_STATE_KEY_SUFFIX

        class Extra(torch.nn.Module):  # the suffix is that of get_extra_state's key
            def get_extra_state(self):
                return 1

            def set_extra_state(self, state):
                pass

        assert list(Extra().state_dict()) == [_EXTRA_STATE_KEY_SUFFIX]


def test_weak_id_key_dictionary_removal_during_iteration():
    from dlpy.utils.weak import WeakIdKeyDictionary

    keys = [dlpy.ones(1) for _ in range(3)]
    d = WeakIdKeyDictionary({k: i for i, k in enumerate(keys)})
    seen = []
    for k in d.keys():
        seen.append(k)
        if len(seen) == 1:
            keys.pop()  # a key dies while iterating: removed at the end
    del seen
    assert len(d) == 2 and sorted(d.values()) == [0, 1]
    assert len(copy.deepcopy(d)) == 2 and copy.copy(d)[keys[0]] == 0


def test_futures_eager_semantics():
    from dlpy.futures import Future, collect_all, wait_all

    f = Future()
    with pytest.raises(RuntimeError):
        f.wait()  # nothing could complete it: an error, not a hang
    chain = f.then(lambda x: x.wait() + 1).then(lambda x: x.wait() * 10)
    f.set_result(1)
    assert chain.wait() == 20
    assert collect_all([]).wait() == [] and wait_all([f]) == [1]
    assert isinstance(dlpy.jit.fork(lambda: 3), Future)


def test_immutable_collections_round_trip():
    from dlpy.fx.immutable_collections import immutable_dict, immutable_list

    lst, dct = immutable_list([1, (2, 3)]), immutable_dict(a=immutable_list([1]))
    assert pickle.loads(pickle.dumps(lst)) == lst and type(pickle.loads(pickle.dumps(dct))) \
        is immutable_dict
    assert hash(dct) == hash(immutable_dict(a=immutable_list([1])))
    with pytest.raises(TypeError, match="does not support mutation"):
        dct["b"] = 1


def test_flatten_dense_tensors_round_trip_and_sharing():
    from dlpy._utils import _flatten_dense_tensors, _unflatten_dense_tensors

    ts = [dlpy.randn(2, 3), dlpy.randn(4), dlpy.randn(1, 1, 2)]
    flat = _flatten_dense_tensors(ts)
    assert flat.shape == (12,)
    back = _unflatten_dense_tensors(flat, ts)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(ts, back))
    flat.data[...] = 0  # views of flat
    assert all(not b.data.any() for b in back)


def test_cuda_amp_warns_and_is_disabled():
    from dlpy.cuda import amp

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        scaler = amp.GradScaler()
    assert [x.category for x in w] == [FutureWarning, UserWarning]
    assert not scaler.is_enabled()


def test_required_and_lr_free_user_optimizer():
    from dlpy.optim.optimizer import Optimizer, required

    class Plain(Optimizer):
        def __init__(self, params, lr=required, beta=0.5):
            super().__init__(params, {"lr": lr, "beta": beta})

        def step(self, closure=None):
            pass

    p = dlpy.nn.Parameter(dlpy.ones(2))
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        Plain([p])
    assert Plain([{"params": [p], "lr": 0.1}]).param_groups[0]["lr"] == 0.1


def test_distributions_utils_lazy_property_and_broadcast():
    from dlpy.distributions.utils import broadcast_all, lazy_property

    class Thing:
        calls = 0

        @lazy_property
        def value(self):
            Thing.calls += 1
            return 3

    t = Thing()
    assert (t.value, t.value, Thing.calls) == (3, 3, 1)
    a, b = broadcast_all(dlpy.ones(2, 1, dtype=dlpy.float64), 2)
    assert a.shape == b.shape == (2, 1) and b.dtype == dlpy.float64
