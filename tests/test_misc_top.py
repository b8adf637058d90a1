"""torch's remaining top-level machinery (dlpy/torch_misc.py, ops/segment.py): finfo/iinfo,
Size, threads, determinism and precision flags, as_strided, segment_reduce, frombuffer,
DLPack, cond/while_loop, nonzero_static, Tensor.new, the no-op memory and conj/neg flags.
Reference values: tests/fixtures/misc_top/misc.npz (make_misc_top_fixtures.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.compat
from dlpy.testing import gradcheck

FIXTURE = Path(__file__).parent / "fixtures" / "misc_top" / "misc.npz"
# repeated from tests/fixtures/make_misc_top_fixtures.py
STRIDED_CASES = [(10, (4, 3), (2, 1), 0), (12, (2, 3, 2), (5, 2, 1), 1), (6, (3, 3), (1, 1), 0),
                 (5, (2, 2), (0, 2), 1)]
SEGMENT_CASES = [((7, 2), [2, 0, 3, 2], 0, None), ((7, 2), [3, 1, 0, 3], 0, 0.5),
                 ((2, 5, 3), [[2, 0, 3], [1, 4, 0]], 1, None),
                 ((2, 5, 3), [[2, 0, 3], [1, 4, 0]], 1, 1.5)]
REDUCTIONS = ("sum", "mean", "max", "min", "prod")


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURE) as data:
        return dict(data)


# ----------------------------------------------------------------- finfo, iinfo, Size
@pytest.mark.parametrize("name", ["float16", "float32", "float64", "complex64", "complex128"])
def test_finfo_equals_torch(expected, name):
    info = dlpy.finfo(getattr(dlpy, name))
    got = [info.bits, info.eps, info.max, info.min, info.tiny, info.smallest_normal,
           info.resolution]
    np.testing.assert_array_equal(got, expected[f"finfo:{name}"])
    assert info.dtype == {"complex64": "float32", "complex128": "float64"}.get(name, name)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_equals_torch(expected, name):
    info = dlpy.iinfo(getattr(dlpy, name))
    assert [info.bits, info.max, info.min] == expected[f"iinfo:{name}"].tolist()
    assert info.dtype == name


def test_finfo_defaults_and_errors():
    assert dlpy.finfo().dtype == "float32" and "eps=1.19209e-07" in repr(dlpy.finfo())
    with pytest.raises(TypeError, match="finfo: expected a floating-point dtype, got int32"):
        dlpy.finfo(dlpy.int32)
    with pytest.raises(TypeError, match="iinfo: expected an integer dtype, got float32"):
        dlpy.iinfo(dlpy.float32)


def test_size():
    size = dlpy.Size([2, 3, 4])
    assert size == (2, 3, 4) and isinstance(size, tuple) and size.numel() == 24
    assert isinstance(size[1:], dlpy.Size) and size[1:] == (3, 4) and size[0] == 2
    assert isinstance(size + (5,), dlpy.Size) and size + (5,) == (2, 3, 4, 5)
    assert repr(size) == "dlpy.Size([2, 3, 4])" and dlpy.Size().numel() == 1
    x = dlpy.zeros(2, 3)
    assert type(x.shape) is dlpy.Size and type(x.size()) is dlpy.Size and x.shape == (2, 3)
    assert repr(x.shape) == "dlpy.Size([2, 3])" and f"{x.shape}" == str(x.shape) == "(2, 3)"
    assert pickle.loads(pickle.dumps(x.shape)) == (2, 3) and type(x.size(0)) is int
    assert x.new(x.shape).shape == (2, 3)  # a Size is sizes, as torch's new(size)
    with dlpy.compat.as_torch():
        import torch

        assert repr(torch.zeros(2).shape) == str(torch.zeros(2).shape) == "torch.Size([2])"
        assert f"{torch.zeros(2, 1).shape}" == "torch.Size([2, 1])"
        assert isinstance(torch.zeros(2).shape, torch.Size)
    with pytest.raises(TypeError, match=r"Size: expected a sequence of ints, got 2.5"):
        dlpy.Size([2.5])


# ----------------------------------------------------------------- settings
def test_threads():
    before = dlpy.get_num_threads()
    assert isinstance(before, int) and before >= 1
    dlpy.set_num_threads(1)
    assert dlpy.get_num_threads() == 1
    dlpy.set_num_threads(before)
    assert dlpy.get_num_interop_threads() >= 1
    dlpy.set_num_interop_threads(3)
    assert dlpy.get_num_interop_threads() == 3
    with pytest.raises(ValueError, match="set_num_threads: expected a positive number of "
                                         "threads, got 0"):
        dlpy.set_num_threads(0)


def test_determinism_flags():
    assert not dlpy.are_deterministic_algorithms_enabled()
    try:
        dlpy.use_deterministic_algorithms(True, warn_only=True)
        assert dlpy.are_deterministic_algorithms_enabled()
        assert dlpy.is_deterministic_algorithms_warn_only_enabled()
        assert dlpy.get_deterministic_debug_mode() == 1
        dlpy.set_deterministic_debug_mode("error")
        assert dlpy.get_deterministic_debug_mode() == 2
        assert not dlpy.is_deterministic_algorithms_warn_only_enabled()
        dlpy.set_deterministic_debug_mode(0)
        assert not dlpy.are_deterministic_algorithms_enabled()
    finally:
        dlpy.use_deterministic_algorithms(False)
    with pytest.raises(ValueError, match="set_deterministic_debug_mode: expected 'default'.*"
                                         "got 'loud'"):
        dlpy.set_deterministic_debug_mode("loud")
    with pytest.raises(TypeError, match="use_deterministic_algorithms: mode must be True or "
                                        "False, got 1"):
        dlpy.use_deterministic_algorithms(1)


def test_matmul_precision():
    assert dlpy.get_float32_matmul_precision() == "highest"
    try:
        dlpy.set_float32_matmul_precision("medium")
        assert dlpy.get_float32_matmul_precision() == "medium"
    finally:
        dlpy.set_float32_matmul_precision("highest")
    with pytest.warns(UserWarning, match="set_float32_matmul_precision: expected 'highest', "
                                         "'high' or 'medium', got 'low'"):
        dlpy.set_float32_matmul_precision("low")  # as torch: warned, and no change
    assert dlpy.get_float32_matmul_precision() == "highest"


# ----------------------------------------------------------------- as_strided
@pytest.mark.parametrize("case", range(len(STRIDED_CASES)))
def test_as_strided_equals_torch(expected, case):
    _, size, stride, offset = STRIDED_CASES[case]
    x = dlpy.Tensor(expected[f"strided{case}:in"], requires_grad=True)
    y = dlpy.as_strided(x, size, stride, offset)
    np.testing.assert_array_equal(y.data, expected[f"strided{case}:out"])
    y.backward(dlpy.Tensor(expected[f"strided{case}:grad_out"]))
    np.testing.assert_allclose(x.grad, expected[f"strided{case}:grad"], rtol=1e-14)
    z = dlpy.Tensor(expected[f"strided{case}:in"], requires_grad=True)
    gradcheck(lambda t: t.as_strided(size, stride, offset) ** 2, z)


def test_as_strided_errors():
    x = dlpy.arange(6.0)
    with pytest.raises(ValueError, match=r"as_strided: size \(4,\), stride \(2,\) and "
                                         r"storage_offset 0 reach element 6 of a tensor of 6"):
        x.as_strided((4,), (2,))
    with pytest.raises(ValueError, match=r"as_strided: size \(2, 2\) and stride \(1,\) must"):
        x.as_strided((2, 2), (1,))
    with pytest.raises(ValueError, match="as_strided: stride must be non-negative ints"):
        x.as_strided((2,), (-1,))


# ----------------------------------------------------------------- segment_reduce
@pytest.mark.parametrize("reduce", REDUCTIONS)
@pytest.mark.parametrize("case", range(len(SEGMENT_CASES)))
def test_segment_reduce_equals_torch(expected, case, reduce):
    _, lengths, axis, initial = SEGMENT_CASES[case]
    x = dlpy.Tensor(expected[f"segment{case}:in"], requires_grad=True)
    y = dlpy.segment_reduce(x, reduce, lengths=dlpy.tensor(lengths), axis=axis, initial=initial)
    np.testing.assert_allclose(y.data, expected[f"segment{case}:out:{reduce}"], rtol=1e-14)
    y.backward(dlpy.Tensor(expected[f"segment{case}:grad_out:{reduce}"]))
    np.testing.assert_allclose(x.grad, expected[f"segment{case}:grad:{reduce}"], rtol=1e-13,
                               atol=1e-15)


@pytest.mark.parametrize("reduce", REDUCTIONS)
def test_segment_reduce_gradcheck_and_offsets(reduce):
    rng = np.random.default_rng(0)
    x = dlpy.Tensor(rng.standard_normal((2, 6, 3)), requires_grad=True)
    lengths = np.array([[2, 1, 3], [1, 4, 1]])
    gradcheck(lambda t: dlpy.segment_reduce(t, reduce, lengths=lengths, axis=1), x)
    offsets = np.concatenate([np.zeros((2, 1), np.int64), lengths.cumsum(-1)], axis=-1)
    np.testing.assert_array_equal(
        dlpy.segment_reduce(x, reduce, offsets=offsets, axis=1).data,
        dlpy.segment_reduce(x, reduce, lengths=lengths, axis=1).data)


def test_segment_reduce_errors():
    x = dlpy.ones(5, 2)
    with pytest.raises(ValueError, match="segment_reduce: reduce must be one of"):
        dlpy.segment_reduce(x, "median", lengths=[5])
    with pytest.raises(ValueError, match=r"segment_reduce: the segment lengths must be "
                                         r"non-negative and add up to data.shape\[axis\] = 5, "
                                         r"got \[2, 2\]"):
        dlpy.segment_reduce(x, "sum", lengths=np.array([2, 2]))
    with pytest.raises(ValueError, match="give exactly one of lengths and offsets"):
        dlpy.segment_reduce(x, "sum")
    with pytest.raises(ValueError, match=r"lengths/offsets must be integers of shape "
                                         r"data.shape\[:axis\]"):
        dlpy.segment_reduce(x, "sum", lengths=np.array([5]), axis=1)
    with pytest.raises(TypeError, match="segment_reduce: expected a floating-point data tensor"):
        dlpy.segment_reduce(dlpy.tensor([1, 2]).long(), "sum", lengths=np.array([2]))


# ----------------------------------------------------------------- memory exchange
def test_frombuffer_shares_memory():
    buffer = bytearray(np.arange(4, dtype=np.float32).tobytes())
    t = dlpy.frombuffer(buffer, dtype=dlpy.float32, count=2, offset=4)
    np.testing.assert_array_equal(t.data, [1.0, 2.0])
    buffer[4:8] = np.float32(7).tobytes()
    assert t.data[0] == 7.0  # a view of the buffer, as torch's
    with pytest.raises(ValueError, match="frombuffer: .*dtype float32, count 3, offset 0"):
        dlpy.frombuffer(bytearray(10), dtype=dlpy.float32, count=3)


def test_dlpack_round_trips():
    x = dlpy.arange(4.0)
    y = dlpy.from_dlpack(dlpy.to_dlpack(x))
    z = dlpy.from_dlpack(np.arange(3))
    np.testing.assert_array_equal(y.data, x.data)
    assert np.shares_memory(y.data, x.data)
    assert z.dtype == np.int64 and dlpy.from_dlpack(x) is x
    w = np.from_dlpack(x)  # the protocol on Tensor itself
    assert np.shares_memory(w, x.data) and x.__dlpack_device__() == (1, 0)
    with pytest.raises(TypeError, match="from_dlpack: expected an object with __dlpack__"):
        dlpy.from_dlpack([1, 2])


# ----------------------------------------------------------------- control flow
def test_cond_differentiates_through_the_branch_taken():
    x = dlpy.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = dlpy.cond(x.sum() > 0, lambda t: (t * t).sum(), lambda t: t.sum(), (x,))
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    assert dlpy.cond(False, lambda: 1, lambda: 2) == 2
    with pytest.raises(ValueError, match=r"cond: the predicate must be a tensor of one element, "
                                         r"got shape \(2,\)"):
        dlpy.cond(x > 0, lambda t: t, lambda t: t, (x,))
    with pytest.raises(TypeError, match="cond: the predicate must be a bool"):
        dlpy.cond("yes", lambda: 1, lambda: 2)
    with pytest.raises(TypeError, match="cond: operands must be a tuple or list, got Tensor"):
        dlpy.cond(True, lambda t: t, lambda t: t, x)


def test_while_loop_carries_and_differentiates():
    x = dlpy.Tensor(np.array(1.5), requires_grad=True)
    i, y = dlpy.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, y * x),
                           (dlpy.tensor(0), dlpy.Tensor(np.array(1.0))))
    assert int(i.item()) == 3 and y.item() == pytest.approx(1.5 ** 3)
    y.backward()
    assert x.grad == pytest.approx(3 * 1.5 ** 2)
    with pytest.raises(ValueError, match=r"while_loop: body_fn must return as many values as "
                                         r"it takes \(2\), got 1"):
        dlpy.while_loop(lambda i, y: i < 3, lambda i, y: i + 1, (0, 1))
    with pytest.raises(TypeError, match="while_loop: carried_inputs must be a tuple or list"):
        dlpy.while_loop(lambda i: i < 3, lambda i: i + 1, 0)


# ----------------------------------------------------------------- small Tensor utilities
def test_nonzero_static_pads_and_cuts():
    x = dlpy.tensor([[0, 1], [1, 1]])
    np.testing.assert_array_equal(dlpy.nonzero_static(x, size=4).data,
                                  [[0, 1], [1, 0], [1, 1], [-1, -1]])
    np.testing.assert_array_equal(x.nonzero_static(size=1, fill_value=9).data, [[0, 1]])
    assert dlpy.nonzero_static(x, size=0).shape == (0, 2)


def test_tensor_new():
    x = dlpy.zeros(2, dtype=dlpy.float64)
    assert x.new().shape == (0,) and x.new().dtype == np.float64
    assert x.new(2, 3).shape == (2, 3) and x.new(dlpy.Size([4])).shape == (4,)
    np.testing.assert_array_equal(x.new([1, 2]).data, [1.0, 2.0])
    np.testing.assert_array_equal(x.new((2, 3)).data, [2.0, 3.0])  # a tuple is data, as torch
    with pytest.raises(TypeError, match="Tensor.new: expected sizes or one sequence of data"):
        x.new([1], [2])


def test_memory_and_bit_flags():
    x = dlpy.ones(2)
    assert not x.is_shared() and x.share_memory_() is x and x.is_shared()
    assert not x.is_pinned()
    with pytest.raises(RuntimeError, match="pin_memory: cannot access an accelerator"):
        x.pin_memory()  # as torch's without an accelerator
    assert x.resolve_conj() is x and x.resolve_neg() is x
    assert not dlpy.is_conj(x) and not x.is_neg() and not dlpy.is_inference(x)
    with dlpy.inference_mode():
        assert dlpy.ones(1).is_inference()  # an inference tensor, as torch's
    z = dlpy.tensor(np.array([1 + 2j]))
    np.testing.assert_array_equal(dlpy.conj_physical(z).data, [1 - 2j])
    r = dlpy.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    assert dlpy.conj_physical(r) is r  # a real tensor: itself, as torch's (no node)
    (dlpy.conj_physical(r) * 1).sum().backward()
    np.testing.assert_array_equal(r.grad, [1.0, 1.0])


def test_memory_layouts_and_dim_order_as_torchs():
    # torch 2.13's answers for the same calls (checked by hand)
    x = dlpy.ones(2, 3, 4)
    assert x.dim_order() == (0, 1, 2) and x.permute(2, 0, 1).dim_order() == (1, 2, 0)
    assert x.transpose(0, 1).dim_order() == (1, 0, 2) and dlpy.ones(3, 1).t().dim_order() == (0, 1)
    permuted = dlpy.empty_permuted((2, 3, 5), (0, 2, 1))
    assert permuted.shape == (2, 3, 5) and permuted.stride() == (15, 1, 3)
    strided = dlpy.empty_strided((2, 3), (1, 2), dtype=dlpy.float64)
    assert strided.stride() == (1, 2) and strided.dtype == np.float64
    assert not strided.data.any() and x.new_empty_strided((2, 2), (2, 1)).dtype == np.float32
    with pytest.raises(ValueError, match="physical_layout must be a permutation"):
        dlpy.empty_permuted((2, 3), (0, 0))
    assert x.cfloat().dtype == np.complex64 and x.cdouble().dtype == np.complex128
    assert x.output_nr == 0 and (x * 2).output_nr == 0


def test_inference_mode_flag_and_global_switches():
    assert not dlpy.is_inference_mode_enabled()
    with dlpy.inference_mode():
        assert dlpy.is_inference_mode_enabled() and not dlpy.is_grad_enabled()
        with dlpy.inference_mode(False):  # torch's: out of it, recording again
            assert not dlpy.is_inference_mode_enabled() and dlpy.is_grad_enabled()
        assert dlpy.is_inference_mode_enabled() and not dlpy.is_grad_enabled()
    assert not dlpy.is_inference_mode_enabled() and dlpy.is_grad_enabled()
    with dlpy.no_grad(), dlpy.inference_mode(False):
        assert dlpy.is_grad_enabled()

    @dlpy.inference_mode
    def bare():
        return dlpy.is_inference_mode_enabled()

    @dlpy.inference_mode()
    def called():
        return dlpy.is_inference_mode_enabled()

    assert bare() and called() and not dlpy.is_inference_mode_enabled()
    dlpy.set_warn_always(True)
    assert dlpy.is_warn_always_enabled()
    dlpy.set_warn_always(False)
    assert not dlpy.is_warn_always_enabled() and dlpy.set_flush_denormal(True) is False


def test_autograd_aliases_and_the_deprecated_clip_grad_norm():
    v = dlpy.ones(2)
    w = dlpy.autograd.Variable(v, requires_grad=True)  # torch's: new tensor, same data
    assert w is not v and w.requires_grad and not v.requires_grad
    assert np.shares_memory(w.data, v.data)
    assert dlpy.autograd.enable_grad is dlpy.enable_grad
    with dlpy.autograd.set_multithreading_enabled(False):
        assert not dlpy.autograd.is_multithreading_enabled()
    assert dlpy.autograd.is_multithreading_enabled()
    p = dlpy.nn.Parameter(dlpy.ones(4))
    p.grad = dlpy.ones(4) * 3
    with pytest.warns(FutureWarning, match="clip_grad_norm` is now deprecated"):
        total = dlpy.nn.utils.clip_grad_norm([p], 1.0)
    assert total.item() == pytest.approx(6.0) and np.linalg.norm(p.grad.data) < 1.0


def test_dense_tensor_flags_and_storage_identity_as_torchs():
    x = dlpy.ones(2, 3)
    assert x.is_set_to(x) and not x.is_set_to(x.view(6))  # torch: same storage, size, stride
    assert x.sparse_dim() == 0 and x.dense_dim() == 2 and x.const_data_ptr() == x.data_ptr()
    assert not any(getattr(x, flag) for flag in ("is_nested", "is_meta", "is_quantized",
                                                   "is_mkldnn", "is_xpu", "is_mps"))
    assert dlpy.ones(2, 2).to_sparse().sparse_dim() == 2


def test_private_assert_raises_assertion_error_with_the_message():
    # torch._assert (timm's PatchEmbed checks input sizes with it)
    dlpy._assert(True, "never shown")
    dlpy._assert(dlpy.tensor(1.0), "never shown")  # a one-element tensor by its truth
    with pytest.raises(AssertionError, match="height 8 != 12"):
        dlpy._assert(8 == 12, "height 8 != 12")
    with pytest.raises(AssertionError, match="zero"):
        dlpy._assert(dlpy.tensor(0), "zero")
    assert "_assert" in dir(dlpy)
