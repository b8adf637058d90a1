"""Muon on float16 and bfloat16 parameters: torch's single-tensor step (momentum buffer in the
parameter's dtype, each op rounded there, lerp as one fused multiply-add) bit for bit, 5 steps
(tests/fixtures/muon_low.npz, made by make_muon_low_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest

import dlpy
from dlpy import nn, optim

REF = np.load(Path(__file__).resolve().parents[1] / "fixtures" / "muon_low.npz")
CASES = [(case, dtype) for case in ("wide", "tall", "wide_plain")
         for dtype in ("bfloat16", "float16") if f"{case}/{dtype}" in REF.files]


def test_the_fixture_covers_both_dtypes_and_shapes():
    assert len(CASES) == 5


@pytest.mark.parametrize("case, dtype", CASES)
def test_low_precision_muon_steps_equal_torchs(case, dtype):
    low = np.dtype(dlpy.bfloat16) if dtype == "bfloat16" else np.dtype(np.float16)
    param = nn.Parameter(dlpy.tensor(REF[f"{case}/weight"]).to(dtype=low))
    opt = optim.Muon([param], lr=0.02, weight_decay=0.1, nesterov=case != "wide_plain")
    for k, (grad, want) in enumerate(zip(REF[f"{case}/grads"], REF[f"{case}/{dtype}"])):
        param.grad = dlpy.tensor(grad).to(dtype=low)
        opt.step()
        assert param.dtype == low and opt.state[0]["momentum_buffer"].dtype == low
        np.testing.assert_array_equal(param.data.view(np.int16), want, err_msg=f"step {k + 1}")
