"""dlpy.bfloat16 (ml_dtypes') and float16 tensors: creation, casts, modules, gradients, finfo."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn

ml_dtypes = pytest.importorskip("ml_dtypes")  # the dev extra installs it (dlpy[amp])
BF16 = np.dtype(ml_dtypes.bfloat16)


def test_dtype_names_are_numpy_dtypes():
    # the dtype objects themselves, so `t.dtype is dlpy.bfloat16` and dict keys work, as torch's
    assert dlpy.bfloat16 is BF16 and dlpy.bfloat16 == ml_dtypes.bfloat16
    assert dlpy.half is np.dtype(np.float16) and dlpy.float16 is dlpy.half
    assert dlpy.amp.bfloat16 is dlpy.bfloat16
    assert dlpy.ones(2, dtype=dlpy.bfloat16).dtype is dlpy.bfloat16
    assert {dlpy.bfloat16: "bf16"}[dlpy.ones(2).to(dlpy.bfloat16).dtype] == "bf16"


def test_bfloat16_without_ml_dtypes_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ml_dtypes", None)  # import ml_dtypes now fails
    with pytest.raises(ImportError, match=r"ml_dtypes.*pip install 'dlpy\[amp\]'"):
        dlpy.bfloat16  # noqa: B018


def test_creation_and_casts():
    t = dlpy.tensor([1.0, 2.5, 3.140625], dtype=dlpy.bfloat16)
    assert t.dtype == BF16 and t.is_floating_point() and t.type() == "dlpy.BFloat16Tensor"
    assert t.tolist() == [1.0, 2.5, 3.140625]
    assert dlpy.zeros(2, 3, dtype=dlpy.bfloat16).dtype == BF16
    x = dlpy.tensor([1.0, 1.00390625, 70000.0])  # 1 + 2^-8 is a tie: rounds to even
    assert x.bfloat16().float().tolist() == [1.0, 1.0, 70144.0]
    assert x.to(dlpy.bfloat16).dtype == BF16 and x.half().dtype == np.float16
    assert np.isinf(x.half().numpy()[2])  # past float16's 65504


def test_gradients_of_low_precision_tensors_are_in_their_dtype():
    x = dlpy.tensor([0.5, -1.25, 2.0], dtype=dlpy.bfloat16, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad.dtype == BF16 and x.grad.float().tolist() == [1.0, -2.5, 4.0]
    w = dlpy.tensor([0.5, 2.0], requires_grad=True)  # float32 through a cast
    (w.bfloat16() * 3).sum().backward()
    assert w.grad.dtype == np.float32 and w.grad.tolist() == [3.0, 3.0]
    h = dlpy.tensor([1.0, 2.0], dtype=dlpy.float16, requires_grad=True)
    dlpy.tanh(h).sum().backward()
    assert h.grad.dtype == np.float16


def test_reductions_accumulate_in_float32_as_torch():
    ones = dlpy.ones(4096, dtype=dlpy.bfloat16)
    # bfloat16 running sums stall at 256 (256 + 1 rounds back to 256); torch's do not
    assert ones.sum().dtype == BF16 and ones.sum().item() == 4096.0
    assert ones.mean().item() == 1.0
    p = dlpy.softmax(dlpy.zeros(3, 5, dtype=dlpy.bfloat16), -1)
    assert p.dtype == BF16 and np.allclose(p.float().numpy(), 0.2, rtol=2 ** -8)


def test_module_casts_keep_the_parameter_objects():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    weight = model[0].weight
    assert model.bfloat16() is model and model[0].weight is weight
    assert {p.dtype for p in model.parameters()} == {BF16}
    out = model(dlpy.randn(5, 3).bfloat16())
    assert out.dtype == BF16
    out.float().sum().backward()
    assert {p.grad.dtype for p in model.parameters()} == {BF16}
    assert {p.dtype for p in model.half().parameters()} == {np.dtype(np.float16)}
    assert {p.dtype for p in model.float().parameters()} == {np.dtype(np.float32)}


def test_finfo_of_bfloat16_is_torchs():
    info = dlpy.finfo(dlpy.bfloat16)
    assert (info.bits, info.eps, info.max, info.tiny, info.resolution, info.dtype) == (
        16, 0.0078125, 3.3895313892515355e+38, 1.1754943508222875e-38, 0.01, "bfloat16")
    assert dlpy.finfo(dlpy.half).eps == 0.0009765625


def test_save_writes_torchs_bfloat16_storage(tmp_path):
    t = dlpy.tensor([1.5, 2.25, -3.0, 1e-3]).bfloat16()
    dlpy.save({"w": t, "view": t[1:3]}, tmp_path / "w.pt")
    loaded = dlpy.load(tmp_path / "w.pt")  # torch's BFloat16Storage: read back as bfloat16
    assert loaded["w"].dtype == BF16
    assert loaded["w"].tolist() == t.float().tolist() and loaded["view"].tolist() == [2.25, -3.0]


def test_attention_masks_in_bfloat16():
    """A boolean or a bfloat16 additive mask on bfloat16 attention (the masked path of every
    decoder in dlpy.models), equal to the float32 result rounded."""
    rng = np.random.default_rng(0)
    q = dlpy.tensor(rng.standard_normal((1, 2, 3, 4)), dtype=dlpy.float32).bfloat16()
    hidden = np.triu(np.ones((3, 3), bool), 1)
    additive = dlpy.tensor(np.where(hidden, -np.inf, 0.0), dtype=dlpy.float32).bfloat16()
    wide = q.float()
    expected = F.scaled_dot_product_attention(wide, wide, wide, attn_mask=~hidden).numpy()
    for mask in (~hidden, additive):
        out = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
        assert out.dtype == dlpy.bfloat16
        np.testing.assert_allclose(out.float().numpy(), expected, rtol=2e-2, atol=2e-2)
