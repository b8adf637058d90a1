"""Low precision all the way through, checked bit for bit against PyTorch 2.13
(tests/fixtures/make_bf16_more_fixtures.py): float8 casts, files keeping bfloat16/float16/float8
(torch.save and safetensors, and the float32 widening without ml_dtypes), reductions of
bfloat16/float16 outside autocast, autocast's state functions and op lists, bfloat16 SGD/Adam/AdamW
steps, and from_pretrained(dtype=...)."""

from __future__ import annotations

import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim
from dlpy.amp import dtypes as amp_dtypes
from dlpy.utils import safetensors

ml_dtypes = pytest.importorskip("ml_dtypes")  # the dev extra installs it (dlpy[amp])
BF16 = np.dtype(ml_dtypes.bfloat16)
E4M3, E5M2 = np.dtype(ml_dtypes.float8_e4m3fn), np.dtype(ml_dtypes.float8_e5m2)
FIXTURES = Path(__file__).parent / "fixtures" / "bf16_more"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return {k: data[k] for k in data.files}


def bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).view({1: np.uint8, 2: np.int16, 4: np.int32}[
        array.itemsize])


# ------------------------------------------------------------------ float8
def test_float8_dtypes_are_ml_dtypes_under_torchs_names():
    assert dlpy.amp.float8_e4m3fn is E4M3 and dlpy.amp.float8_e4m3fn == ml_dtypes.float8_e4m3fn
    assert dlpy.amp.float8_e5m2 is E5M2 and dlpy.amp.float8_e5m2 == ml_dtypes.float8_e5m2
    assert amp_dtypes.is_float8(E4M3) and not amp_dtypes.is_float8(BF16)


def test_every_float8_code_widens_as_torch(expected):
    codes = np.arange(256, dtype=np.uint8)
    for dtype in (E4M3, E5M2):
        want = expected[f"float8/{dtype.name}/decoded"]
        np.testing.assert_array_equal(codes.view(dtype).astype(np.float32), want)


def test_float32_to_float8_rounds_saturates_and_keeps_nan_as_torch(expected):
    x = expected["float8/x"]  # 2,000 random floats, ties, +-inf, +-nan, beyond the range
    for dtype in (E4M3, E5M2):
        got = amp_dtypes.to_float8(x, dtype)
        assert got.dtype == dtype
        np.testing.assert_array_equal(bits(got), expected[f"float8/{dtype.name}/encoded"])
    # e4m3fn saturates (ml_dtypes alone gives NaN), e5m2 overflows to inf
    assert amp_dtypes.to_float8(np.float32([1e6, -np.inf]), E4M3).astype(np.float32).tolist() \
        == [448.0, -448.0]
    assert np.isinf(amp_dtypes.to_float8(np.float64([1e6]), E5M2).astype(np.float32)).all()


# ------------------------------------------------------------------ files
def test_load_keeps_bfloat16_float16_and_float8_bits_and_views(expected):
    state = dlpy.load(FIXTURES / "low.pt")  # written by torch.save
    dtypes = {"bf16": BF16, "bf16_row": BF16, "bf16_t": BF16, "half": np.float16,
              "e4m3": E4M3, "e5m2": E5M2, "f32": np.float32}
    for key, dtype in dtypes.items():
        tensor = state[key]
        assert tensor.dtype == dtype, key
        np.testing.assert_array_equal(bits(tensor.data), bits(expected[f"file/{key}"]))
    assert np.shares_memory(state["bf16_row"].data, state["bf16"].data)
    assert np.shares_memory(state["bf16_t"].data, state["bf16"].data)


def test_save_writes_torchs_low_precision_storages_and_round_trips():
    state = dlpy.load(FIXTURES / "low.pt")
    buffer = io.BytesIO()
    dlpy.save(state, buffer)  # torch reads it back (checked by the fixture script)
    buffer.seek(0)
    back = dlpy.load(buffer)
    for key, tensor in state.items():
        assert back[key].dtype == tensor.dtype, key
        np.testing.assert_array_equal(bits(back[key].data), bits(tensor.data), err_msg=key)
    assert np.shares_memory(back["bf16_row"].data, back["bf16"].data)  # one storage still
    t = dlpy.tensor([1.5, 2.25, -3.0, 1e-3]).bfloat16()
    buffer = io.BytesIO()
    dlpy.save({"w": t, "view": t[1:3]}, buffer)
    buffer.seek(0)
    loaded = dlpy.load(buffer)
    assert loaded["w"].dtype == BF16 and loaded["view"].tolist() == [2.25, -3.0]


def test_safetensors_keep_bf16_and_float8_both_ways(tmp_path):
    data = (FIXTURES / "low.safetensors").read_bytes()  # safetensors.torch's bytes
    tensors = safetensors.load(data)
    assert {k: v.dtype for k, v in tensors.items()} == {
        "bf16": BF16, "bf16_t": BF16, "half": np.float16, "e4m3": E4M3, "e5m2": E5M2,
        "f32": np.float32}
    assert safetensors.save(tensors) == data  # the package's bytes, dtype names and order
    safetensors.save_file(tensors, tmp_path / "x.safetensors")
    with safetensors.safe_open(tmp_path / "x.safetensors") as f:
        assert f.get_tensor("e5m2").dtype == E5M2
        np.testing.assert_array_equal(bits(f.get_tensor("bf16").data), bits(tensors["bf16"].data))
    back = safetensors.load_file(tmp_path / "x.safetensors")
    assert back["e4m3"].tolist() == tensors["e4m3"].tolist()


def test_without_ml_dtypes_files_widen_to_float32_with_one_warning(monkeypatch, expected):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes now fails
    monkeypatch.setattr(amp_dtypes, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tensors = safetensors.load_file(FIXTURES / "low.safetensors")
    assert [str(w.message).split(" tensors")[0].split(": ")[1] for w in caught] == [
        "bfloat16", "float8_e4m3fn", "float8_e5m2"]
    assert "low.safetensors: bfloat16 tensors load as float32" in str(caught[0].message)
    assert "pip install 'dlpy[amp]'" in str(caught[0].message)
    want = expected["file/bf16"].view(BF16).astype(np.float32)
    assert tensors["bf16"].dtype == np.float32
    np.testing.assert_array_equal(tensors["bf16"].data, want)
    np.testing.assert_array_equal(tensors["e4m3"].data,
                                  expected["file/e4m3"].view(E4M3).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per dtype
        state = dlpy.load(FIXTURES / "low.pt")
    assert state["bf16"].dtype == np.float32 and state["e5m2"].dtype == np.float32
    np.testing.assert_array_equal(state["bf16"].data, want)
    np.testing.assert_array_equal(state["e5m2"].data,
                                  expected["file/e5m2"].view(E5M2).astype(np.float32))


# ------------------------------------------------------------------ reductions
REDUCTIONS = {
    "sum1": lambda x: x.sum(1), "mean0": lambda x: x.mean(0), "sum_all": lambda x: x.sum(),
    "cumsum1": lambda x: dlpy.cumsum(x, 1), "cumsum0": lambda x: dlpy.cumsum(x, 0),
    "cumprod1": lambda x: dlpy.cumprod(x / 4 + 1, 1), "prod0": lambda x: dlpy.prod(x / 4 + 1, 0),
    "logcumsumexp1": lambda x: dlpy.logcumsumexp(x, 1),
    "logsumexp1": lambda x: dlpy.logsumexp(x, 1),
    "var1": lambda x: x.var(1), "std0": lambda x: x.std(0), "norm1": lambda x: x.norm(dim=1),
    "vector_norm3": lambda x: dlpy.linalg.vector_norm(x, 3, dim=1),
    "nansum1": lambda x: dlpy.nansum(x, 1), "nanmean1": lambda x: dlpy.nanmean(x, 1),
    "einsum_ij_jk": lambda x: dlpy.einsum("ij,jk->ik", x, x.T),
    "einsum_ij_i": lambda x: dlpy.einsum("ij->i", x),
    "einsum_bij_bjk": lambda x: dlpy.einsum("bij,bjk->bik", x.reshape(2, 3, 70),
                                            x.reshape(2, 70, 3)),
    "mv": lambda x: dlpy.mv(x, x[0]), "dot": lambda x: dlpy.dot(x[0], x[1]),
}


def test_bfloat16_reductions_equal_torchs_bit_for_bit(expected):
    """float32 accumulation rounded once (cumsum, cumprod, einsum, ...), prod in bfloat16 and
    logsumexp rounded between its steps, as torch's CPU kernels."""
    x = expected["reduce/x"].view(BF16)  # (6, 70), one NaN
    with_nan = dlpy.Tensor(x)
    finite = dlpy.Tensor(np.nan_to_num(x.astype(np.float32)).astype(BF16))
    for name, function in REDUCTIONS.items():
        y = function(with_nan if name.startswith("nan") else finite)
        assert y.dtype == BF16, name
        np.testing.assert_array_equal(bits(y.data), expected[f"reduce/{name}"], err_msg=name)
    half = dlpy.Tensor(expected["reduce/half_x"])
    np.testing.assert_array_equal(dlpy.cumsum(half, 1).data, expected["reduce/half_cumsum1"])
    np.testing.assert_array_equal(dlpy.einsum("ij,jk->ik", half, half.T).data,
                                  expected["reduce/half_einsum_ij_jk"])


def test_low_precision_reductions_have_gradients_in_their_dtype():
    rng = np.random.default_rng(0)
    x64 = rng.standard_normal((3, 5))
    for function in (lambda x: dlpy.cumsum(x, 1), lambda x: dlpy.cumprod(x, 1),
                     lambda x: dlpy.logsumexp(x, 1), lambda x: dlpy.einsum("ij,kj->ik", x, x),
                     lambda x: dlpy.logcumsumexp(x, 1)):
        x = dlpy.tensor(x64.astype(BF16), requires_grad=True)
        function(x).sum().backward()
        reference = dlpy.tensor(x.data.astype(np.float64), requires_grad=True)
        function(reference).sum().backward()
        assert x.grad.dtype == BF16
        np.testing.assert_allclose(x.grad.data.astype(np.float64), reference.grad.data,
                                   rtol=0.05, atol=0.05)


# ------------------------------------------------------------------ autocast
AUTOCAST = {
    "mv": lambda a, v: dlpy.mv(a, v), "dot": lambda a, v: dlpy.dot(v, v),
    "matmul_vector": lambda a, v: a @ v,
    "einsum_ij_j": lambda a, v: dlpy.einsum("ij,j->i", a, v),
    "einsum_i_i": lambda a, v: dlpy.einsum("i,i->i", v, v),
    "einsum_i_j": lambda a, v: dlpy.einsum("i,j->ij", v, v),
    "einsum_ij": lambda a, v: dlpy.einsum("ij->i", a),
    "einsum_dot": lambda a, v: dlpy.einsum("i,i->", v, v),
    "einsum_chain": lambda a, v: dlpy.einsum("ij,jk,kl->il", a, a, a),
    "outer": lambda a, v: dlpy.outer(v, v), "cumsum": lambda a, v: dlpy.cumsum(a, 0),
    "prod": lambda a, v: dlpy.prod(a), "sum": lambda a, v: a.sum(),
    "tensordot0": lambda a, v: dlpy.tensordot(a, a, 0),
    "tensordot1": lambda a, v: dlpy.tensordot(a, a, 1),
    "tensordot2": lambda a, v: dlpy.tensordot(a, a, 2),
}


def test_autocast_output_dtypes_are_torchs(expected):
    a, v = dlpy.randn(3, 3), dlpy.randn(3)
    with dlpy.autocast("cpu"):
        got = {name: np.dtype(f(a, v).dtype).name for name, f in AUTOCAST.items()}
    assert got == json.loads(str(expected["autocast/dtypes"]))


def test_set_autocast_enabled_and_dtype_outside_a_block():
    amp = dlpy.amp
    a = dlpy.randn(2, 2)
    try:
        amp.set_autocast_enabled("cpu", True)
        assert amp.is_autocast_enabled("cpu") and (a @ a).dtype == BF16
        with dlpy.autocast("cpu", enabled=False):
            assert (a @ a).dtype == np.float32
        assert amp.is_autocast_enabled("cpu")  # a block restores what it found
        amp.set_autocast_enabled("cpu", False)
        assert (a @ a).dtype == np.float32
        amp.set_autocast_dtype("cpu", np.float16)
        assert amp.get_autocast_dtype("cpu") is dlpy.float16
        with dlpy.autocast("cpu"):
            assert (a @ a).dtype == np.float16
        with pytest.warns(DeprecationWarning, match=r"get_autocast_dtype\('cpu'\)"):
            assert amp.get_autocast_cpu_dtype() is dlpy.float16
        amp.set_autocast_dtype("cpu", np.float64)  # taken, as torch; a block then is off
        with pytest.warns(UserWarning, match="target dtype is not supported"), \
                dlpy.autocast("cpu"):
            assert not amp.is_autocast_enabled("cpu") and (a @ a).dtype == np.float32
    finally:
        amp.set_autocast_enabled("cpu", False)
        amp.set_autocast_dtype("cpu", BF16)
    assert amp.get_autocast_dtype("cpu") is dlpy.bfloat16
    assert amp.get_autocast_dtype("cuda") is dlpy.float16 and not amp.is_autocast_enabled("cuda")
    with pytest.raises(RuntimeError, match="device type at start of device string: cpux"):
        amp.set_autocast_enabled("cpux", True)
    with pytest.raises(TypeError, match="'enabled' must be bool, not int"):
        amp.set_autocast_enabled("cpu", 1)
    with pytest.raises(RuntimeError, match="CPU only"):
        amp.set_autocast_enabled("cuda", True)


def test_autocast_cache_functions():
    amp = dlpy.amp
    w = nn.Parameter(dlpy.randn(2, 2))
    assert amp.is_autocast_cache_enabled()
    cache = amp.state.thread_state().cache  # id(weight) -> (weight, its cast)
    with dlpy.autocast("cpu"):
        w @ w
        assert [entry[0] for entry in cache.values()] == [w]
        assert amp.autocast_increment_nesting() == 2 and amp.autocast_decrement_nesting() == 1
        amp.clear_autocast_cache()
        assert not cache
    amp.set_autocast_cache_enabled(False)
    try:
        assert not amp.is_autocast_cache_enabled()
    finally:
        amp.set_autocast_cache_enabled(True)


# ------------------------------------------------------------------ optimisers
OPTIMIZERS = {
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
    "sgd_nesterov": lambda p: optim.SGD(p, lr=0.05, momentum=0.8, nesterov=True),
    "sgd_dampening": lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.3),
    "sgd_plain": lambda p: optim.SGD(p, lr=0.1, weight_decay=0.1),
    "adam": lambda p: optim.Adam(p, lr=0.01, weight_decay=0.01),
    "adam_amsgrad": lambda p: optim.Adam(p, lr=0.02, amsgrad=True),
    "adamw": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bfloat16_optimizer_steps_equal_torchs(name, expected):
    """Five steps of torch's single-tensor (CPU default) step on bfloat16 parameters, state in
    bfloat16; parameters of whole vector widths (torch's scalar loop, on shorter ones, rounds
    add's product first)."""
    params = [nn.Parameter(dlpy.Tensor(expected["optim/weight"].view(BF16))),
              nn.Parameter(dlpy.Tensor(expected["optim/bias"].view(BF16)))]
    optimizer = OPTIMIZERS[name](params)
    for k, want in enumerate(expected[f"optim/{name}"]):
        params[0].grad = dlpy.Tensor(expected["optim/grad_weight"][k].view(BF16))
        params[1].grad = dlpy.Tensor(expected["optim/grad_bias"][k].view(BF16))
        optimizer.step()
        got = np.concatenate([bits(params[0].data).ravel(), bits(params[1].data)])
        np.testing.assert_array_equal(got, want, err_msg=f"step {k + 1}")
    assert all(v.dtype == BF16 for v in optimizer.state[0].values() if v.ndim)


# ------------------------------------------------------------------ models
def test_from_pretrained_keeps_bfloat16_when_asked(tmp_path):
    from dlpy.models.gpt2 import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=16, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    model = GPT2LMHeadModel(config, rng=np.random.default_rng(0)).bfloat16()
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["dtype"] == "bfloat16"
    weights = safetensors.load_file(tmp_path / "model.safetensors")
    assert {v.dtype for v in weights.values()} == {BF16}
    want = {k: bits(np.asarray(v)) for k, v in model.state_dict().items()}
    default = GPT2LMHeadModel.from_pretrained(tmp_path)
    assert {p.dtype for p in default.parameters()} == {np.dtype(np.float32)}
    for kwargs in ({"dtype": dlpy.bfloat16}, {"dtype": "auto"}, {"torch_dtype": "bfloat16"}):
        loaded = GPT2LMHeadModel.from_pretrained(tmp_path, **kwargs)
        assert {p.dtype for p in loaded.parameters()} == {BF16}, kwargs
        for key, value in loaded.state_dict().items():
            np.testing.assert_array_equal(bits(np.asarray(value)), want[key], err_msg=key)
    ids = np.array([[1, 5, 9, 2]])
    assert loaded(ids).logits.dtype == BF16
    with pytest.raises(ValueError, match="unknown dtype 'float17'"):
        GPT2LMHeadModel.from_pretrained(tmp_path, dtype="float17")


def test_float8_casts_finfo_and_top_level_names():
    assert dlpy.float8_e4m3fn is E4M3 and dlpy.float8_e4m3fn == ml_dtypes.float8_e4m3fn
    assert dlpy.float8_e5m2 is E5M2 and dlpy.float8_e5m2 == ml_dtypes.float8_e5m2
    assert dlpy.set_autocast_enabled is dlpy.amp.set_autocast_enabled
    t = dlpy.tensor([1.0, 500.0, -np.inf, np.nan])  # torch: saturated, NaN 0x7F
    assert t.to(dlpy.float8_e4m3fn).data.view(np.uint8).tolist() == [56, 126, 254, 127]
    info = dlpy.finfo(dlpy.float8_e4m3fn)
    assert (info.bits, info.eps, info.max, info.tiny, info.resolution) == (
        8, 0.125, 448.0, 0.015625, 1.0)
    assert (dlpy.finfo(dlpy.float8_e5m2).max, dlpy.finfo(dlpy.float8_e5m2).resolution) == (
        57344.0, 1.0)
    v = dlpy.randn(3)
    with dlpy.autocast("cpu"):
        assert np.dtype(dlpy.vdot(v, v).dtype) == np.float32  # off torch's list


def test_bfloat16_bert_with_a_padding_mask_runs_close_to_float32():
    from dlpy.models.bert import BertConfig, BertModel  # the mask reaches SDPA as a bf16 array
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                     intermediate_size=64)
    model = BertModel(cfg, rng=np.random.default_rng(0)).eval()
    ids, mask = np.array([[1, 2, 3, 0]]), np.array([[1, 1, 1, 0]])
    ref = model(input_ids=ids, attention_mask=mask).last_hidden_state.data
    model.to(dlpy.bfloat16)
    out = model(input_ids=ids, attention_mask=mask).last_hidden_state
    assert out.dtype == dlpy.bfloat16
    assert np.abs(out.data.astype(np.float32) - ref).max() < 0.05
