"""What libraries written for torch probe as they import (PyG's torch_geometric.typing and
friends): torch.__config__, torch._dynamo, torch.distributed.rpc, torch.jit._overload and
jit.script of a class, torch._segment_reduce, the COO/CSR index conversions,
Tensor._coalesced_, torch._tensor_str._tensor_str, np.asarray of a subclass with its own
numpy(), and the aten calls a __torch_dispatch__ subclass sees for flip and advanced indexing.
The third_party_pyg area runs PyG itself; these are the pieces on their own."""

import numpy as np
import pytest

import dlpy
from dlpy import compat


def test_config_show_reads_as_torch_build_settings():
    text = dlpy.__config__.show()
    assert "USE_MKL=OFF" in text and "USE_CUDA=0" in text and "numpy" in text
    assert "get_num_threads" in dlpy.__config__.parallel_info()
    with compat.as_torch():
        import torch.__config__ as config

        assert config.show() == text


def test_dynamo_names():
    with compat.as_torch():
        import torch
        import torch._dynamo

        model = torch.compile(torch.nn.Linear(2, 2))
        assert isinstance(model, torch._dynamo.OptimizedModule)
        assert not torch._dynamo.is_compiling()
        assert torch._dynamo.config.cache_size_limit == 8
        torch._dynamo.config.suppress_errors = True  # settable, as torch's
        torch._dynamo.config.suppress_errors = False

        def f(x):
            return x

        assert torch._dynamo.disable(f) is f and torch._dynamo.allow_in_graph(f) is f
        torch._dynamo.mark_dynamic(torch.ones(2), 0)


def test_rpc_is_unavailable():
    with compat.as_torch():
        from torch.distributed import rpc

        assert rpc.is_available() is False
        with pytest.raises(RuntimeError, match="no RPC"):
            rpc.init_rpc("worker0", rank=0, world_size=1)


def test_jit_overload_and_script_of_a_class():
    from dlpy import jit

    @jit._overload
    def f(x: int) -> int:
        ...

    def f(x):  # noqa: F811 - the implementation after its declaration, as TorchScript's
        return x + 1

    assert f(1) == 2 and any(k.endswith(".f") for k in jit._overloaded_fns)

    class Point:
        def __init__(self, x: int):
            self.x = x

    assert jit.script(Point) is Point


def test_segment_reduce_private_name_and_amax():
    data = dlpy.tensor([1.0, 5.0, 3.0, 2.0], requires_grad=True)
    out = dlpy._segment_reduce(data, "amax", offsets=dlpy.tensor([0, 2, 4, 4]))
    np.testing.assert_array_equal(out.data, [5.0, 3.0, -np.inf])
    out[:2].sum().backward()
    np.testing.assert_array_equal(data.grad.data, [0.0, 1.0, 1.0, 0.0])
    low = dlpy.segment_reduce(data.detach(), "amin", lengths=dlpy.tensor([1, 3]))
    np.testing.assert_array_equal(low.data, [1.0, 2.0])


def test_coo_csr_index_conversions_round_trip():
    rows = dlpy.tensor([0, 1, 1, 3])
    crow = dlpy._convert_indices_from_coo_to_csr(rows, 4)
    assert crow.tolist() == [0, 1, 3, 3, 4] and crow.dtype == dlpy.int64
    assert dlpy._convert_indices_from_coo_to_csr(rows, 4, out_int32=True).dtype == dlpy.int32
    cols = dlpy.tensor([2, 0, 1, 3])
    coo = dlpy._convert_indices_from_csr_to_coo(crow, cols)
    assert coo.tolist() == [[0, 1, 1, 3], [2, 0, 1, 3]]
    assert dlpy._convert_indices_from_csr_to_coo(crow, cols, transpose=True).tolist() == \
        [[2, 0, 1, 3], [0, 1, 1, 3]]
    with pytest.raises(NotImplementedError):
        dlpy._convert_indices_from_coo_to_csr(dlpy.tensor([0.0, 1.0]), 2)
    with pytest.raises(RuntimeError):
        dlpy._convert_indices_from_coo_to_csr(dlpy.tensor([[0, 1]]), 2)


def test_coalesced_flag_set_in_place():
    s = dlpy.sparse_coo_tensor(dlpy.tensor([[1, 0], [0, 1]]), dlpy.tensor([1.0, 2.0]), (2, 2))
    assert not s.is_coalesced()
    assert s._coalesced_(True) is s and s.is_coalesced()
    with pytest.raises(NotImplementedError):
        s.to_sparse_csr()._coalesced_(True)


def test_tensor_str_values_only():
    from dlpy._tensor_str import _tensor_str

    assert _tensor_str(dlpy.tensor([[1.0, 2.5], [3.0, 4.0]]), 0) == \
        "[[1.0000, 2.5000],\n [3.0000, 4.0000]]"
    assert _tensor_str(dlpy.tensor([], dtype=dlpy.float32), 4) == "[]"


def test_asarray_of_a_subclass_uses_its_numpy():
    class Holder(dlpy.Tensor):
        def numpy(self, *, force=False):
            return np.arange(3)

    h = Holder(np.zeros(3))
    np.testing.assert_array_equal(np.asarray(h), [0, 1, 2])
    assert np.asarray(h, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(dlpy.ones(2)), [1.0, 1.0])


def test_dispatch_sees_flip_and_advanced_indexing_as_torch():
    from dlpy.utils._python_dispatch import TorchDispatchMode

    seen = []

    class Log(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append((str(func), [None if a is None else type(a).__name__ for a in args[1]]
                         if str(func) == "aten.index.Tensor" else None))
            return func(*args, **(kwargs or {}))

    x = dlpy.arange(12).reshape(2, 6)
    mask = dlpy.tensor([True, False, True, True, False, True])
    with Log():
        a = x[:, mask]
        b = x[1:, dlpy.tensor([1, 2])]
        c = x.flip(0)
    assert ("aten.index.Tensor", [None, "Tensor"]) in seen
    assert ("aten.slice.Tensor", None) in seen and ("aten.flip.default", None) in seen
    assert a.tolist() == [[0, 2, 3, 5], [6, 8, 9, 11]] and b.tolist() == [[7, 8]]
    assert c.tolist() == [[6, 7, 8, 9, 10, 11], [0, 1, 2, 3, 4, 5]]


def test_data_sampler_submodule_as_attribute():
    with compat.as_torch():
        import torch

        assert torch.utils.data.sampler.Sampler is torch.utils.data.Sampler
        assert torch.utils.data.dataloader.DataLoader is torch.utils.data.DataLoader


def test_index_argument_read_through_its_numpy():
    class Wrapped(dlpy.Tensor):  # values kept elsewhere, as a dispatch wrapper's
        def numpy(self, *, force=False):
            return np.array([0, 2, 2, 1])

    index = Wrapped(np.zeros(4, dtype=np.int64))
    v = dlpy.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = v[index]
    y.sum().backward()
    assert y.tolist() == [1.0, 3.0, 3.0, 2.0] and v.grad.tolist() == [1.0, 1.0, 2.0]
    assert dlpy.zeros(3).scatter_add_(0, index, dlpy.ones(4)).tolist() == [1.0, 1.0, 2.0]
    assert dlpy.zeros(3).index_add_(0, index, dlpy.ones(4)).tolist() == [1.0, 1.0, 2.0]
