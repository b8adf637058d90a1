"""Optimisers on complex parameters, as torch's (each complex number a pair of reals, the
view_as_real of the parameter, its gradient and its state): steps replayed against torch
(fixtures/complex_more/optim.npz, made by make_complex_more_fixtures.py), the optimisers torch
refuses them to, complex nn.Parameter, and a complex linear model fitted with Adam."""

import json
from pathlib import Path

import numpy as np
import pytest
from cases_complex_more import OPTIM_CASES, OPTIM_SHAPES, OPTIM_STEPS

import dlpy
from dlpy import nn, optim
from dlpy.nn import Parameter

from .replay import default_float64

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "complex_more" / "optim.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def test_the_file_holds_the_cases(ref):
    assert {key.split(":")[0] for key in ref} == set(OPTIM_CASES)
    for case, (name, kwargs) in OPTIM_CASES.items():
        stored = json.loads(ref[f"{case}:settings"].item())
        assert stored == json.loads(json.dumps({"class": name, "kwargs": kwargs})), case


@pytest.mark.parametrize("case", OPTIM_CASES)
def test_steps_match_torch(ref, case):
    name, kwargs = OPTIM_CASES[case]
    params = [Parameter(ref[f"{case}:param{i}"]) for i in range(len(OPTIM_SHAPES))]
    assert all(p.dtype == np.complex128 for p in params)
    opt = getattr(optim, name)(params, **kwargs)
    for t in range(OPTIM_STEPS):
        for i, p in enumerate(params):
            p.grad = ref[f"{case}:grads{i}"][t].copy()
        with default_float64():  # (torch's default dtype when recorded: NAdam's, ASGD's numbers)
            opt.step()
        for i, p in enumerate(params):
            np.testing.assert_allclose(p.data, ref[f"{case}:afters{i}"][t], rtol=1e-12,
                                       atol=1e-14, err_msg=f"{case}: step {t}, parameter {i}")
    assert p.dtype == np.complex128 and all(
        value.dtype.kind == "c" for key, value in opt.state[0].items()
        if key not in opt.scalar_slots and key != "step")


def test_state_survives_a_checkpoint(ref, tmp_path):
    case = "adam_amsgrad_decay"
    name, kwargs = OPTIM_CASES[case]

    def build():
        model = nn.Module()
        model.a = Parameter(ref[f"{case}:param0"])
        model.b = Parameter(ref[f"{case}:param1"])
        return model, getattr(optim, name)(model.parameters(), **kwargs)

    def run(model, opt, steps):
        for t in steps:
            model.a.grad, model.b.grad = (ref[f"{case}:grads{i}"][t].copy() for i in (0, 1))
            opt.step()

    model, opt = build()
    run(model, opt, range(3))
    nn.save_checkpoint(tmp_path / "c.npz", model, opt)
    fresh, restored = build()
    nn.load_checkpoint(tmp_path / "c.npz", fresh, restored)
    assert fresh.a.dtype == np.complex128 and restored.state[0]["exp_avg"].dtype == np.complex128
    run(fresh, restored, range(3, OPTIM_STEPS))
    np.testing.assert_allclose(fresh.a.data, ref[f"{case}:afters0"][OPTIM_STEPS - 1],
                               rtol=1e-12)


def test_optimisers_without_complex_support_refuse():
    # SparseAdam when it is given one (torch's ValueError); Adafactor and Muon at the step
    # (torch's RuntimeError), after the state of the group's parameters before it is made
    p = Parameter(np.ones((2, 2), np.complex64))
    with pytest.raises(ValueError, match="SparseAdam: parameter 0 is complex \\(complex64\\); "
                                         "SparseAdam does not support complex parameters"):
        optim.SparseAdam([p])
    for name in ("Adafactor", "Muon"):
        q = Parameter(np.ones((2, 2), np.float32))
        opt = getattr(optim, name)([q, p])
        q.grad, p.grad = np.ones((2, 2), np.float32), np.ones((2, 2), np.complex64)
        with pytest.raises(RuntimeError, match=f"{name} does not support complex parameters"):
            opt.step()
        np.testing.assert_array_equal(q.data, np.ones((2, 2)))
        assert len(opt.state[q]) and not len(opt.state[p])


def test_complex_parameter():
    p = Parameter(np.array([1 + 2j, 3j], np.complex64))
    assert isinstance(p, Parameter) and isinstance(p, dlpy.Tensor) and p.is_complex()
    assert p.dtype == np.complex64 and p.requires_grad
    assert Parameter(dlpy.tensor([1j])).dtype == np.complex64  # a tensor's dtype is kept
    assert Parameter(np.array([1.0]), dtype=np.complex128).dtype == np.complex128
    assert type(Parameter(np.ones(2))) is Parameter  # real data: a plain Parameter
    with pytest.raises(TypeError, match="Parameter: complex data cannot become float32 \\(the "
                                        "imaginary part would be lost\\)"):
        Parameter(np.array([1j]), dtype=np.float32)
    with pytest.raises(TypeError, match="relu: complex tensors are not supported"):
        p.relu()  # a complex parameter takes the complex path of every op
    (p * p).real.sum().backward()  # d Re(z^2) = 2 conj(z) ... as dL/dx + i dL/dy: 2 conj(z)
    np.testing.assert_allclose(p.grad, 2 * np.conj(p.data))


def test_a_complex_linear_model_fits_with_adam():
    """y = x @ W + b with complex W, b; the loss |y - target|^2 must fall to ~0."""
    rng = np.random.default_rng(0)
    x = dlpy.tensor(rng.standard_normal((32, 3)) + 1j * rng.standard_normal((32, 3)))
    true_w = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    target = x.numpy() @ true_w + (0.5 - 1j)
    w = Parameter(np.zeros((3, 2), np.complex128))
    b = Parameter(np.zeros(2, np.complex128))
    opt = optim.Adam([w, b], lr=0.05)
    losses = []
    for _ in range(400):
        opt.zero_grad()
        residual = x @ w + b - target
        loss = (residual * residual.conj()).real.mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 1e-4 * losses[0]
    np.testing.assert_allclose(w.data, true_w, atol=1e-2)
    np.testing.assert_allclose(b.data, [0.5 - 1j, 0.5 - 1j], atol=1e-2)


def test_float_and_double_leave_complex_parameters_alone_and_to_casts_them():
    """Module.double()/float() cast the real parameters only (as torch's): a complex parameter
    keeps its dtype and its imaginary part; to(real dtype) casts it too (torch's to() casts
    every floating or complex tensor: its real part, with torch's warning)."""
    from dlpy import nn

    model = nn.Linear(2, 2)
    model.z = Parameter(np.array([1 + 2j, 3j], np.complex64))
    model.double()
    assert model.weight.dtype == np.float64
    assert model.z.dtype == np.complex64
    np.testing.assert_array_equal(model.z.data, [1 + 2j, 3j])
    model.float()
    assert model.weight.dtype == np.float32 and model.z.dtype == np.complex64
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        dlpy.set_warn_always(True)
        try:
            model.to(np.float64)
        finally:
            dlpy.set_warn_always(False)
    assert model.weight.dtype == np.float64 and model.z.dtype == np.float64
    np.testing.assert_array_equal(model.z.data, [1, 0])
