"""PyTorch semantics checked against torch 2.13's answers (tests/fixtures/semantics_s29.npz, made
by tests/fixtures/make_semantics_s29_fixtures.py): autocast's float32 list, float8's refusals,
bfloat16 steps of the other optimisers, item(), pickled devices, device= checks, MaskedTensor's
comparisons and casts, sparse ==."""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from cases_semantics_s29 import AUTOCAST, OPTIMIZERS, inputs

import dlpy
from dlpy import functional as F
from dlpy import nn, optim

REF = np.load(Path(__file__).parent / "fixtures" / "semantics_s29.npz")
BF16 = np.dtype(dlpy.bfloat16)


def bits(array: np.ndarray) -> np.ndarray:
    return array.view({1: np.uint8, 2: np.int16, 4: np.int32}[array.dtype.itemsize])


# ------------------------------------------------------------------ autocast's float32 list
def test_autocast_output_dtypes_equal_torchs():
    expected = json.loads(str(REF["autocast/dtypes"]))
    assert sorted(expected) == sorted(AUTOCAST)
    values = inputs(dlpy)
    got = {}
    with dlpy.autocast("cpu", dtype=dlpy.bfloat16):
        for name, fn in AUTOCAST.items():
            got[name] = str(fn(dlpy, F, values).dtype)
    assert got == expected


def test_float32_list_op_gradient_reaches_a_bfloat16_leaf_in_bfloat16():
    x = dlpy.tensor(np.eye(3) * 2 + 0.5, dtype=dlpy.bfloat16, requires_grad=True)
    with dlpy.autocast("cpu"):
        y = dlpy.linalg.inv(x)
        assert y.dtype == np.float32
    y.sum().backward()
    assert x.grad.dtype == BF16
    inverse = np.linalg.inv(x.data.astype(np.float64))
    want = -inverse.sum(0)[:, None] * inverse.sum(1)[None, :]  # -A^-T 1 1^T A^-T
    np.testing.assert_allclose(x.grad.data.astype(np.float64), want, rtol=2e-2)


def test_outside_autocast_linalg_and_fft_still_refuse_bfloat16():
    x = dlpy.ones(2, 2, dtype=dlpy.bfloat16)
    with pytest.raises(TypeError, match="inv: expected a floating point tensor, got bfloat16"):
        dlpy.linalg.inv(x)
    with pytest.raises(TypeError, match="fft: expected a float or complex tensor"):
        dlpy.fft.fft(x)


# ------------------------------------------------------------------ bfloat16 optimiser steps
@pytest.mark.parametrize("prefix", ["optim", "optim16"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_low_precision_optimizer_steps_equal_torchs(name, prefix):
    """Six steps of torch's single-tensor step (the CPU default) on bfloat16 (float16)
    parameters, its state in that dtype, bit for bit (float16's eps underflows to 0: inf and
    nan where torch's are)."""
    cls, kwargs = OPTIMIZERS[name]
    dtype = BF16 if prefix == "optim" else np.dtype(np.float16)
    params = [nn.Parameter(dlpy.Tensor(REF[f"{prefix}/weight"].view(dtype))),
              nn.Parameter(dlpy.Tensor(REF[f"{prefix}/bias"].view(dtype)))]
    optimizer = getattr(optim, cls)(params, **kwargs)
    for k, want in enumerate(REF[f"{prefix}/{name}"]):
        params[0].grad = dlpy.Tensor(REF[f"{prefix}/grad_weight"][k].view(dtype))
        params[1].grad = dlpy.Tensor(REF[f"{prefix}/grad_bias"][k].view(dtype))
        optimizer.step()
        got = np.concatenate([bits(params[0].data).ravel(), bits(params[1].data)])
        np.testing.assert_array_equal(got, want, err_msg=f"step {k + 1}")


# ------------------------------------------------------------------ float8
def test_float8_arithmetic_is_refused_as_torch_refuses_it():
    e4m3 = dlpy.tensor([0.5, -1.25, 3.0]).to(dlpy.float8_e4m3fn)
    e5m2 = dlpy.tensor([0.5, -1.25, 3.0]).to(dlpy.float8_e5m2)
    refused = {
        "add_stub": [lambda: e4m3 + e4m3, lambda: e4m3 - e4m3, lambda: e4m3 + 1,
                     lambda: e4m3.clone().add_(e4m3)],
        "div_cpu": [lambda: e4m3 / e4m3], "neg_cpu": [lambda: -e4m3], "pow": [lambda: e4m3 ** 2],
        "sum_cpu": [lambda: e4m3.sum(), lambda: e4m3.mean()], "max_all": [lambda: e4m3.max()],
        "min_all": [lambda: e4m3.min()], "log_vml_cpu": [lambda: e4m3.log()],
        "exp_vml_cpu": [lambda: e4m3.exp()], "sqrt_vml_cpu": [lambda: e4m3.sqrt()],
        "dot": [lambda: e4m3 @ e4m3], "mul_cpu_reduced_float": [lambda: e4m3 * 2],
    }
    for kernel, calls in refused.items():
        for call in calls:
            with pytest.raises(NotImplementedError,
                               match=f"^\"{kernel}\" not implemented for 'Float8_e4m3fn'$"):
                call()
    with pytest.raises(NotImplementedError, match="for 'Float8_e5m2'"):
        e5m2 + e5m2
    for call, other in ((lambda: e4m3 + e5m2, "Float8_e5m2"),
                        (lambda: e4m3 * dlpy.ones(3), "Float"),
                        (lambda: e4m3[None] @ dlpy.ones(3, 1, dtype=dlpy.bfloat16), "BFloat16")):
        with pytest.raises(RuntimeError, match="^Promotion for Float8 Types is not supported, "
                                               f"attempted to promote Float8_e4m3fn and {other}$"):
            call()


def test_float8_order_rounding_and_activations_are_refused_as_torch_refuses_them():
    # torch 2.13's kernel names (its CPU build, checked by hand: these ops take no float8)
    x = dlpy.tensor([[0.5, -1.25], [3.0, 2.0]]).to(dlpy.float8_e4m3fn)
    refused = {
        "lt_cpu": [lambda: x < x, lambda: x < 1.0, lambda: x.lt(x), lambda: dlpy.lt(x, x)],
        "le_cpu": [lambda: x <= x], "gt_cpu": [lambda: x > 0], "ge_cpu": [lambda: x >= x],
        "clamp_min_scalar_cpu": [lambda: F.relu(x), lambda: x.clone().relu_(),
                                 lambda: x.clamp_min(0)],
        "clamp_scalar_cpu": [lambda: x.clamp(0, 1), lambda: F.hardtanh(x), lambda: F.relu6(x)],
        "clamp_max_scalar_cpu": [lambda: x.clamp_max(1)],
        "leaky_relu_cpu": [lambda: F.leaky_relu(x)],
        "sorting_kernel_method_name": [lambda: dlpy.sort(x), lambda: x.argsort(),
                                       lambda: dlpy.msort(x)],
        "topk_cpu": [lambda: x.topk(1)], "kthvalue_cpu": [lambda: x.kthvalue(1)],
        "argmax_cpu": [lambda: x.argmax(), lambda: dlpy.argmax(x)],
        "argmin_cpu": [lambda: x.argmin(1)], "max_cpu": [lambda: x.max(0)],
        "min_cpu": [lambda: x.min(1)], "max_values_cpu": [lambda: x.amax(0)],
        "min_values_cpu": [lambda: x.amin()],
        "maximum_cpu": [lambda: dlpy.maximum(x, x)], "minimum_cpu": [lambda: dlpy.minimum(x, x)],
        "sign_cpu": [lambda: x.sign()], "floor_vml_cpu": [lambda: x.floor()],
        "ceil_vml_cpu": [lambda: x.ceil()], "round_vml_cpu": [lambda: x.round()],
        "trunc_vml_cpu": [lambda: x.trunc()],
        "sigmoid_cpu_reduced_float": [lambda: x.sigmoid()], "tanh_vml_cpu": [lambda: x.tanh()],
        "GeluKernelImpl": [lambda: F.gelu(x), lambda: F.gelu(x, approximate="tanh")],
        "softplus_cpu": [lambda: F.softplus(x)], "cumsum_out_cpu": [lambda: x.cumsum(0)],
        "nonzero_count_cpu": [lambda: x.nonzero()], "masked_fill": [lambda: x.masked_fill(
            x == x, 0)], "unique": [lambda: dlpy.unique(x), lambda: dlpy.unique_consecutive(x)],
        "isin_default_cpu": [lambda: dlpy.isin(x, x)],
    }
    for kernel, calls in refused.items():
        for call in calls:
            with pytest.raises(NotImplementedError,
                               match=f"^\"{kernel}\" not implemented for 'Float8_e4m3fn'$"):
                call()
    with pytest.raises(RuntimeError, match="^Promotion for Float8 Types is not supported, "
                                           "attempted to promote Float8_e4m3fn and Float$"):
        _ = dlpy.ones(2) < x
    assert (x == x).data.all() and (x != 0).data.all()  # torch runs these
    small = dlpy.tensor([2, -1], dtype=dlpy.int8)  # one-byte integers are no float8
    assert (small < 0).data.tolist() == [False, True] and F.relu(small).data.tolist() == [2, 0]
    assert dlpy.sort(small).values.data.tolist() == [-1, 2] and small.argmax().item() == 0


def test_float8_casts_mul_abs_and_mm_run_as_torchs():
    a = dlpy.Tensor(REF["float8/a"].view(np.dtype(dlpy.float8_e4m3fn)))
    product = a @ a  # torch's mm on float8: float32 products rounded to float8
    assert product.dtype == np.dtype(dlpy.float8_e4m3fn)
    np.testing.assert_array_equal(bits(product.data), REF["float8/mm"])
    assert (a * a).dtype == a.dtype and a.abs().dtype == a.dtype
    assert (a == a).data.all() and a.float().dtype == np.float32
    assert dlpy.cat([a, a]).shape == (8, 4) and a.reshape(16)[3].dtype == a.dtype


def test_to_reads_a_string_as_a_device_as_torch():
    for target in (dlpy.ones(2), nn.Linear(2, 2)):
        for name in ("bfloat16", "float64"):
            with pytest.raises(RuntimeError, match=f"^Invalid device string: '{name}'$"):
                target.to(name)
        assert target.to("cpu") is target
    assert nn.Linear(2, 2).to("cpu", dlpy.bfloat16).weight.dtype == BF16
    with pytest.raises(RuntimeError, match="^Expected one of cpu, cuda"):
        dlpy.device("gpu")


# ------------------------------------------------------------------ item, devices
def test_item_of_several_elements_is_torchs_runtime_error():
    for shape, count in (((2,), 2), ((0,), 0), ((2, 3), 6)):
        with pytest.raises(RuntimeError,
                           match=f"^a Tensor with {count} elements cannot be converted to Scalar$"):
            dlpy.zeros(shape).item()
    assert dlpy.tensor([[2.5]]).item() == 2.5


def test_devices_pickle_and_save_load_as_devices():
    cpu, cuda1 = dlpy.device("cpu"), dlpy.device("cuda", 1)
    for device in (cpu, cuda1, dlpy.device("cpu", 0)):
        assert pickle.loads(pickle.dumps(device)) == device
    buffer = io.BytesIO()
    dlpy.save({"device": cpu, "other": cuda1, "t": dlpy.ones(2), "m": [cpu]}, buffer)
    buffer.seek(0)
    loaded = dlpy.load(buffer)
    assert loaded["device"] == cpu and isinstance(loaded["device"], dlpy.device)
    assert loaded["other"] == cuda1 and loaded["m"] == [cpu]
    tensor = pickle.loads(pickle.dumps(dlpy.ones(2)))
    assert tensor.device == cpu and np.array_equal(tensor.data, np.ones(2, np.float32))
    module = pickle.loads(pickle.dumps(nn.Linear(2, 3)))
    assert module.weight.shape == (3, 2) and module.weight.device == cpu


def test_device_arguments_are_checked(tmp_path):
    from dlpy.nn.attention.flex_attention import create_block_mask, create_mask
    from dlpy.utils.safetensors import load_file, safe_open, save_file

    def causal(b, h, q, k):
        return q >= k

    path = tmp_path / "x.safetensors"
    save_file({"x": dlpy.ones(2)}, path)
    calls = {"create_mask": lambda device: create_mask(causal, 1, 1, 4, 4, device=device),
             "create_block_mask": lambda device: create_block_mask(causal, 1, 1, 4, 4,
                                                                   device=device),
             "safe_open": lambda device: safe_open(path, "np", device=device),
             "load_file": lambda device: load_file(path, device=device)}
    for name, call in calls.items():
        with pytest.raises(RuntimeError, match=f"^{name}: device='cuda:0'.*no CUDA device"):
            call("cuda:0")
        with pytest.raises(RuntimeError, match="device type at start of device string: gpu"):
            call("gpu")
        call(dlpy.device("cpu"))
    assert np.array_equal(load_file(path, device="cpu")["x"].data, np.ones(2))


def test_pipeline_stage_checks_its_device():
    from dlpy.distributed.pipelining import PipelineStage

    with pytest.raises(RuntimeError, match="^PipelineStage: device='cuda'.*no CUDA device"):
        PipelineStage(nn.Linear(2, 2), 0, 1, device="cuda")


# ------------------------------------------------------------------ MaskedTensor, sparse ==
def test_masked_tensor_ordering_comparisons_and_casts():
    from dlpy.masked import masked_tensor

    data = dlpy.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    mask = dlpy.tensor([[True, False, True], [False, True, True]])
    mt, flipped = masked_tensor(data, mask), masked_tensor(data.flip(1), mask)
    expected = {  # torch.masked's answers (the data; the mask is mt's)
        "lt": [[1, 0, 0], [1, 0, 0]], "le": [[1, 1, 0], [1, 1, 0]],
        "gt": [[0, 0, 1], [0, 0, 1]], "ge": [[0, 1, 1], [0, 1, 1]],
    }
    for name, want in expected.items():
        for result in (getattr(mt, f"__{name}__")(flipped), getattr(mt, name)(flipped),
                       getattr(dlpy, name)(mt, flipped)):  # torch.lt(mt, other) too
            assert result.dtype == np.bool_
            np.testing.assert_array_equal(result.get_data().data, np.array(want, bool))
            np.testing.assert_array_equal(result.get_mask().data, mask.data)
    np.testing.assert_array_equal((3 > mt).get_data().data, [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal((data < mt).get_data().data, np.zeros((2, 3), bool))
    np.testing.assert_array_equal((mt >= data[0]).get_data().data, np.ones((2, 3), bool))
    with pytest.raises(ValueError, match="lt: the masks of the two MaskedTensors must match"):
        mt.lt(masked_tensor(data, ~mask.data))
    with pytest.raises(ValueError, match="lt: the masks of the two MaskedTensors must match"):
        dlpy.lt(mt, masked_tensor(data, ~mask.data))
    casts = {"float": np.float32, "double": np.float64, "half": np.float16, "int": np.int32,
             "long": np.int64, "bool": np.bool_}
    source = masked_tensor(data.double(), mask)
    for name, dtype in casts.items():
        cast = getattr(source, name)()
        assert cast.dtype == dtype and np.array_equal(cast.get_mask().data, mask.data)
    assert source.to(np.float32).dtype == np.float32 and mt.type_as(source).dtype == np.float64
    with pytest.raises(ValueError, match="data and mask must have the same shape"):
        masked_tensor(data, mask[0])  # torch: data.size() must equal mask.size()


def test_sparse_comparisons_are_refused_as_torch():
    dense = dlpy.tensor([[0.0, 2.0], [3.0, 0.0]])
    coo, csr = dense.to_sparse(), dense.to_sparse_csr()
    for call, overload in ((lambda: coo == coo, "eq.Tensor"), (lambda: dense == coo, "eq.Tensor"),
                           (lambda: coo != 2, "ne.Scalar"), (lambda: coo < coo, "lt.Tensor"),
                           (lambda: dense < coo, "gt.Tensor")):
        with pytest.raises(NotImplementedError,
                           match=f"^Could not run 'aten::{overload}' with arguments from the "
                                 "'SparseCPU' backend"):
            call()
    with pytest.raises(RuntimeError, match="unsupported tensor layout: SparseCsr"):
        csr.__eq__(csr)
    assert (coo == None) is False and coo in {coo} and coo in [coo]  # noqa: E711


# ------------------------------------------------------------------ one array helper
def test_as_array_reads_bfloat16_arrays_and_tensors():
    from dlpy.tensor import as_array

    array = np.array([1.5, -2.25], dtype=BF16)
    assert as_array(array) is array or np.array_equal(as_array(array), array)
    assert as_array(dlpy.Tensor(array)).dtype == BF16
    assert as_array([1, 2]).dtype.kind == "i" and as_array(np.float32(2)).shape == ()
    # a site that took np.asarray(x.data): a bfloat16 array's .data buffer cannot be read back
    from dlpy.nested import nested_tensor

    nested = nested_tensor([array, array[:1]])
    assert nested.dtype == BF16
    weight = dlpy.ones(4, 2, dtype=dlpy.bfloat16)  # and np.shape(x.data) of one, in linear
    assert F.linear(array.reshape(1, 2), weight).dtype == BF16


def test_bfloat16_lbfgs_steps_equal_torchs():
    """Three fixed-step L-BFGS steps (four iterations each) on a bfloat16 quadratic."""
    p = nn.Parameter(dlpy.Tensor(REF["optim/bias"].view(BF16)))
    a, c = (dlpy.Tensor(REF[f"optim/lbfgs_{k}"].view(BF16)) for k in "ac")
    optimizer = optim.LBFGS([p], lr=0.5, max_iter=4, history_size=3)

    def closure():
        optimizer.zero_grad()
        loss = (a * (p - c) ** 2).sum()
        loss.backward()
        return loss

    for k, want in enumerate(REF["optim/lbfgs"]):
        optimizer.step(closure)
        np.testing.assert_array_equal(bits(p.data), want, err_msg=f"step {k + 1}")
