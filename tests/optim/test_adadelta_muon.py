"""Adadelta and Muon against PyTorch step for step in float64 (tests/fixtures/optim/last.npz,
written by tests/fixtures/make_optim_last_fixtures.py), one group and two; Muon's bfloat16
Newton-Schulz iteration; torch state dicts load and continue; resuming from a checkpoint bit
for bit; blocks; learning; errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from cases_optim_last import ADADELTA_CASES, MUON_CASES, SD_GROUPS

from dlpy import nn, optim
from dlpy.optim import Adadelta, Muon
from dlpy.optim.muon import bfloat16_round, zeropower_via_newtonschulz

from . import replay
from .replay import STEPS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "last.npz"
CASES = {**ADADELTA_CASES, **MUON_CASES}


@pytest.fixture(scope="module")
def reference():
    data = replay.load(FIXTURE)
    return {k: v for k, v in data.items() if not k.startswith(("sd:", "ns:"))}, \
        {k: v for k, v in data.items() if k.startswith(("sd:", "ns:"))}


def test_the_cases_are_the_fixtures(reference):
    replay.check_cases_are_the_fixtures(CASES, reference[0])
    assert [reference[0][f"muon:param{i}"].shape for i in range(3)] == [(3, 5), (6, 2), (4, 4)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_steps_match_torch(case, reference):
    replay.check_steps_match_torch(CASES, case, reference[0])


@pytest.mark.parametrize("case", ["adadelta_groups", "adadelta_weight_decay", "muon_groups",
                                  "muon_match_rms_adamw"])
def test_resuming_continues_bit_for_bit(case, reference, tmp_path):
    replay.check_resuming_continues_bit_for_bit(CASES, case, reference[0],
                                                tmp_path / "ckpt.npz")


def test_newton_schulz_is_torchs_bfloat16_iteration(reference):
    ns = reference[1]
    shapes = sorted({key.split(":")[1] for key in ns if key.startswith("ns:")})
    assert shapes == ["24x16", "2x3", "5x3", "8x8"]
    for shape in shapes:
        ortho = zeropower_via_newtonschulz(ns[f"ns:{shape}:grad"])
        expected = ns[f"ns:{shape}:ortho"]
        assert ortho.dtype == np.float32 and ortho.shape == expected.shape
        np.testing.assert_array_equal(ortho, expected, err_msg=shape)
    # roughly orthogonal: the singular values land in about (0.5, 1.5), not at 1
    singular = np.linalg.svd(zeropower_via_newtonschulz(ns["ns:24x16:grad"]), compute_uv=False)
    assert 0.4 < singular.min() and singular.max() < 1.6 and singular.std() > 0.01


def test_bfloat16_rounding_keeps_eight_bits_ties_to_even():
    values = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -7, -2.5, 1 + 2 ** -9, np.inf,
                       -np.inf, np.nan, 3.4e38], dtype=np.float32)
    out = bfloat16_round(values)
    # 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even (1); 1 + 3 * 2^-8 up to 1 + 2^-6
    np.testing.assert_array_equal(out[:7], np.array([1.0, 1.0, 1 + 2 ** -6, 1 + 2 ** -7, -2.5,
                                                     1.0, np.inf], dtype=np.float32))
    # above bfloat16's largest (3.39e38) by more than half an ulp: inf, as torch's
    assert out[7] == -np.inf and np.isnan(out[8]) and out[9] == np.inf
    assert (out.view(np.uint32)[np.isfinite(out)] & 0xFFFF == 0).all()
    signalling = np.array([0x7F800001], dtype=np.uint32).view(np.float32)
    assert np.isnan(bfloat16_round(signalling)).all()


def _sd_build(cls, sd, start=None):
    return replay.state_dict_build(getattr(optim, cls), sd, f"sd:{cls}:", SD_GROUPS[cls], start)


def _torch_state(cls, sd):
    return replay.torch_state(sd, f"sd:{cls}:")


@pytest.mark.parametrize("cls", ["Adadelta", "Muon"])
def test_torch_state_dict_loads_and_continues_as_torch(cls, reference):
    sd = reference[1]
    params, opt = _sd_build(cls, sd, start=[sd[f"sd:{cls}:after3_{i}"] for i in range(2)])
    torch_state = _torch_state(cls, sd)
    assert sorted(torch_state["state"][0]) == (["acc_delta", "square_avg", "step"]
                                               if cls == "Adadelta" else ["momentum_buffer"])
    opt.load_state_dict(torch_state)
    # torch's Muon keeps no step: a parameter with state has taken steps (as SGD's)
    assert opt.step_count == (3 if cls == "Adadelta" else 1)
    replay.run(f"sd:{cls}", sd, params, opt, [3])
    for i, p in enumerate(params):
        np.testing.assert_allclose(p.data, sd[f"sd:{cls}:after4_{i}"], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", ["Adadelta", "Muon"])
def test_own_state_dicts_round_trip_in_either_layout(cls, reference):
    sd = reference[1]
    params, opt = _sd_build(cls, sd)
    replay.run(f"sd:{cls}", sd, params, opt, range(3))
    nested = opt.state_dict(torch_layout=True)
    torch_groups = json.loads(sd[f"sd:{cls}:groups"].item())
    for mine, theirs in zip(nested["param_groups"], torch_groups):  # foreach... too
        assert {k: list(v) if isinstance(v, tuple) else v for k, v in mine.items()} == theirs
    flat = opt.state_dict()
    if cls == "Muon":
        assert nested["param_groups"][0]["adjust_lr_fn"] is None
        assert nested["param_groups"][0]["ns_coefficients"] == (3.4445, -4.775, 2.0315)
        assert flat["group.0.adjust_lr_fn"].item() == ""
        assert flat["group.1.adjust_lr_fn"].item() == "match_rms_adamw"
    for layout in (nested, flat):
        _, other = _sd_build(cls, sd)
        other.load_state_dict(layout)
        replay.check_same_state(opt, other, torch_layout=layout is nested)
        assert isinstance(other.param_groups[0]["ns_steps" if cls == "Muon" else "rho"],
                          int if cls == "Muon" else float)


def test_muon_state_without_adjust_lr_fn_is_refused(reference):
    _, opt = _sd_build("Muon", reference[1])
    flat = {k: v for k, v in opt.state_dict().items() if k != "group.1.adjust_lr_fn"}
    with pytest.raises(ValueError, match=r"Muon.load_state_dict: missing keys: "
                                         r"\['group.1.adjust_lr_fn'\]"):
        opt.load_state_dict(flat)


def test_state_slots_have_torchs_names():
    adadelta = replay.state_slots(Adadelta)
    assert set(adadelta) == {"step", "square_avg", "acc_delta"}
    assert adadelta["acc_delta"].dtype == np.float32
    p = nn.Parameter(np.ones((2, 3), dtype=np.float32))
    opt = Muon([p])
    p.grad = np.ones((2, 3), dtype=np.float32)
    opt.step()
    assert set(opt.state[0]) == {"step", "momentum_buffer"}
    assert opt.state[0]["momentum_buffer"].dtype == np.float32 and p.dtype == np.float32


def test_adadelta_many_blocks_match_one():
    def run(block_bytes):
        rng = np.random.default_rng(0)
        params = [nn.Parameter(rng.standard_normal((9, 5)), dtype=np.float64),
                  nn.Parameter(rng.standard_normal((7, 4)), dtype=np.float64)]
        params[1].data = np.asfortranarray(params[1].data)
        opt = Adadelta(params, lr=0.5, weight_decay=0.1, maximize=True)
        opt.block_bytes = block_bytes
        for _ in range(6):
            for p in params:
                p.grad = rng.standard_normal(p.shape)
            opt.step()
        return params

    for a, b in zip(run(1 << 20), run(16)):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("make", [Adadelta, Muon])
def test_steps_reuse_their_buffers(make):
    replay.check_steps_reuse_their_buffers(make if make is Adadelta else
                                           lambda ps: Muon([p for p in ps if p.ndim == 2]))


@pytest.mark.parametrize("maximize", [False, True])
def test_adadelta_learns_linear_regression(maximize):
    replay.fit_linear_regression("Adadelta", lambda ps: Adadelta(ps, lr=1.0, eps=1e-2),
                                 maximize)


def test_muon_learns_a_matrix():
    # min |W x - y|^2 over W: Muon's orthogonalised steps with a decaying lr get there, to
    # about bfloat16's precision
    rng = np.random.default_rng(0)
    target = rng.standard_normal((4, 6))
    x = rng.standard_normal((6, 64))
    weight = nn.Parameter(np.zeros((4, 6)), dtype=np.float64)
    opt = Muon([weight], lr=0.1, weight_decay=0.0)
    first = None
    for t in range(150):
        residual = weight.data @ x - target @ x
        loss = float((residual ** 2).mean())
        first = loss if first is None else first
        weight.grad = 2 * residual @ x.T / residual.size
        opt.lr = 0.1 * 0.97 ** t
        opt.step()
    assert loss < 3e-3 * first, (first, loss)


def test_muon_lr_adjustments():
    from dlpy.optim.muon import adjusted_lr
    assert adjusted_lr(0.1, None, (8, 2)) == pytest.approx(0.2)
    assert adjusted_lr(0.1, "original", (2, 8)) == 0.1
    assert adjusted_lr(0.1, "match_rms_adamw", (2, 8)) == pytest.approx(0.1 * 0.2 * 8 ** 0.5)


def test_adadelta_takes_torchs_flags_and_positional_foreach():
    p = nn.Parameter(np.ones(3))
    Adadelta([p], 1.0, 0.9, 1e-6, 0.0, True, capturable=False)
    with pytest.raises(TypeError, match="unexpected keyword argument 'fused'"):
        Adadelta([p], fused=True)
    p.grad = nn.Parameter(np.ones(3)).detach()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        Adadelta([p], differentiable=True).step()  # torch's in-place update under autograd
    with pytest.raises(TypeError, match="unexpected keyword argument 'foreach'"):
        Muon([nn.Parameter(np.ones((2, 2)))], foreach=True)  # as torch's Muon


def _matrix():
    return [nn.Parameter(np.zeros((2, 3)))]


@pytest.mark.parametrize("make, match", [
    (lambda: Adadelta(_matrix(), lr=-1.0), "Adadelta: lr must be a finite number >= 0, got -1.0"),
    (lambda: Adadelta(_matrix(), rho=1.5), r"Adadelta: rho must lie in \[0, 1\], got 1.5"),
    (lambda: Adadelta(_matrix(), eps=-1e-6), "Adadelta: eps must be a finite number >= 0"),
    (lambda: Adadelta(_matrix(), weight_decay=float("nan")),
     "Adadelta: weight_decay must be a finite number >= 0, got nan"),
    (lambda: Adadelta(_matrix(), maximize="yes"), "Adadelta: maximize must be True or False"),
    (lambda: Muon([nn.Parameter(np.zeros(3))]),
     r"Muon: parameter 0 has shape \(3,\); Muon takes 2-d parameters only"),
    (lambda: Muon([{"params": _matrix()}, {"params": [nn.Parameter(np.zeros((2, 2, 2)))]}]),
     r"Muon: parameter 0 of group 1 has shape \(2, 2, 2\)"),
    (lambda: Muon(_matrix(), lr=-0.1), "Muon: lr must be a finite number >= 0, got -0.1"),
    (lambda: Muon(_matrix(), momentum=-0.9), "Muon: momentum must be a finite number >= 0"),
    (lambda: Muon(_matrix(), weight_decay=-1.0), "Muon: weight_decay must be a finite"),
    (lambda: Muon(_matrix(), nesterov=1), "Muon: nesterov must be True or False, got 1"),
    (lambda: Muon(_matrix(), adjust_lr_fn="rms"),
     "Muon: adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got 'rms'"),
    (lambda: Muon(_matrix(), ns_steps=100),
     r"Muon: ns_steps must be an integer in \[0, 100\) \(PyTorch's limit\), got 100"),
    (lambda: Muon(_matrix(), ns_steps=2.5), "ns_steps must be an integer"),
    (lambda: Muon(_matrix(), ns_coefficients=(1.0, 2.0)),
     r"Muon: ns_coefficients must be three finite numbers \(a, b, c\), got \(1.0, 2.0\)"),
])
def test_bad_settings_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_muon_refuses_sparse_gradients():
    emb = nn.Embedding(5, 2, sparse=True, rng=np.random.default_rng(0))
    import dlpy.functional as F
    F.sum(emb(np.array([1, 3]))).backward()
    with pytest.raises(TypeError, match="Muon: parameter 0 has a sparse gradient"):
        Muon(emb.parameters()).step()


def test_exported():
    assert optim.Adadelta is Adadelta and optim.Muon is Muon
    assert {"Adadelta", "Muon"} <= set(optim.__all__) and STEPS == 10
