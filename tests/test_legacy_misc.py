"""dlpy/legacy_misc.py: the legacy typed storages, from_file, as_strided_scatter,
set_default_tensor_type, the sym_* helpers, and the legacy Variable / assert_allclose /
NLLLoss2d names."""

import os
import tempfile
import warnings

import numpy as np
import pytest

import dlpy


def test_storage_round_trip():
    s = dlpy.DoubleStorage([1.5, -2.0, 3.0])
    assert isinstance(s, dlpy.DoubleStorage) and not isinstance(s, dlpy.FloatStorage)
    assert s.tolist() == [1.5, -2.0, 3.0] and len(s) == 3 and s[-1] == 3.0
    s[0] = 7.0
    assert s.float().tolist() == [7.0, -2.0, 3.0] and s.type() == "torch.DoubleStorage"
    t = dlpy.DoubleTensor(s)  # a tensor over the storage's memory
    t[1] = 9.0
    assert s[1] == 9.0
    assert dlpy.zeros(2, dtype=dlpy.int64).storage_type() is dlpy.LongStorage
    with pytest.raises(IndexError):
        s[3]
    with pytest.raises(RuntimeError):
        s[0:2]


def test_from_file_shared_and_private():
    path = os.path.join(tempfile.mkdtemp(), "f.bin")
    np.zeros(3, np.float32).tofile(path)
    private = dlpy.from_file(path, shared=False, size=3)
    private[0] = 1.0
    assert np.fromfile(path, np.float32).tolist() == [0.0, 0.0, 0.0]
    shared = dlpy.from_file(path, shared=True, size=3)
    shared[2] = 2.5
    assert np.fromfile(path, np.float32).tolist() == [0.0, 0.0, 2.5]
    with pytest.raises(RuntimeError):
        dlpy.from_file(path, size=10)


def test_as_strided_scatter_values_and_src_gradient():
    x = dlpy.zeros(2, 3, dtype=dlpy.float64, requires_grad=True)
    src = dlpy.ones(2, 2, dtype=dlpy.float64, requires_grad=True)
    y = x.as_strided_scatter(src, (2, 2), (3, 1), 1)
    assert y.tolist() == [[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    (y * dlpy.arange(6.0, dtype=dlpy.float64).view(2, 3)).sum().backward()
    assert src.grad.tolist() == [[1.0, 2.0], [4.0, 5.0]]
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    # a transposed input: the places follow its memory order
    t = dlpy.as_strided_scatter(dlpy.zeros(2, 3).t(), dlpy.ones(2), (2,), (1,))
    assert t.tolist() == [[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]


def test_set_default_tensor_type_restores():
    old = dlpy.get_default_dtype()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dlpy.set_default_tensor_type("torch.DoubleTensor")
        assert dlpy.zeros(1).dtype == dlpy.float64
        with pytest.raises(TypeError):
            dlpy.set_default_tensor_type(dlpy.LongTensor)
    finally:
        dlpy.set_default_dtype(old)


def test_sym_helpers_and_legacy_names():
    assert dlpy.sym_max(1, 2.5) == 2.5 and type(dlpy.sym_max(3, 2.0)) is float
    assert dlpy.sym_sum([1, 2, 3]) == 6 and dlpy.sym_ite(False, 1, 2) == 2
    assert not isinstance(3, dlpy.SymInt)
    assert isinstance(dlpy.zeros(1), dlpy.autograd.Variable)
    assert dlpy.autograd.variable.Variable is dlpy.autograd.Variable
    with pytest.raises(TypeError):
        dlpy.autograd.Variable(3)
    with pytest.warns(FutureWarning):
        dlpy.testing.assert_allclose(dlpy.ones(2), [1.0, 1.0])
    with pytest.warns(FutureWarning):
        assert isinstance(dlpy.nn.NLLLoss2d(), dlpy.nn.NLLLoss)
