"""Every distribution's log_prob, entropy, cdf, icdf and moments, and every KL pair, against
PyTorch (tests/fixtures/distributions/*.npz, float64): values and the gradients of
sum(result * w) with respect to each parameter (and the value)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from npz_reference import load_grouped

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "distributions"
MOMENTS = ("mean", "variance", "stddev")
VALUE_METHODS = ("log_prob", "cdf", "icdf")
# Gradients through digamma use trigamma, where PyTorch's is accurate to about 5e-10 (dlpy's to
# 1e-15, tests/ops/test_special.py): those cases compare at 1e-8 (and Dirichlet's entropy
# gradient, a sum of such terms that nearly cancels, at an absolute 1e-10).
LOOSE = {"gamma", "beta", "dirichlet", "dirichlet_broadcast"}
GRAD_ATOL = {"dirichlet": 1e-10}


@functools.cache
def load(name: str) -> dict[str, dict[str, np.ndarray]]:
    return load_grouped(FIXTURES / f"{name}.npz")


def params_of(record: dict, prefix: str, grads: set[str]) -> dict[str, Tensor]:
    return {key[len(prefix):]: Tensor(value, requires_grad=key[len(prefix):] in grads)
            for key, value in record.items() if key.startswith(prefix)}


def build(kind: str, params: dict, record: dict):
    if kind == "Independent":
        base = str(record.get("base", "Normal"))  # the KL fixtures' Independent wraps Normals
        return D.Independent(getattr(D, base)(**params), int(record["ndims"]))
    return getattr(D, kind)(**params)


def method_inputs(name: str, case: str, method: str) -> tuple[dict, set[str], dict]:
    """The case's record in the fixture file ``name``, the names whose gradients the method
    recorded, and the parameters (as Tensors, requiring grad where recorded)."""
    record = load(name)[case]
    prefix = f"{method}:grad_"
    grads = {k[len(prefix):] for k in record if k.startswith(prefix)}
    return record, grads, params_of(record, "param_", grads)


def method_cases(name: str) -> list[tuple[str, str]]:
    """(case, method) for every method recorded in the fixture file ``name``."""
    return [(case, method) for case, record in sorted(load(name).items())
            for method in sorted({k.split(":")[0] for k in record if k.endswith(":w")})]


def evaluate(d, method: str, record: dict, grads: set[str], properties) -> tuple:
    """(d's method at the record's value, or icdf_value, or one of its ``properties``; the
    value, a Tensor requiring grad if "value" is in ``grads``, or None)."""
    value = None
    if method in VALUE_METHODS:
        raw = record["icdf_value"] if method == "icdf" else record["value"]
        value = Tensor(raw, requires_grad="value" in grads) if raw.dtype.kind == "f" \
            else Tensor(raw)
        out = getattr(d, method)(value)
    elif method in properties:
        out = getattr(d, method)
    else:
        out = getattr(d, method)()
    return out, value


@pytest.mark.parametrize("case, method", method_cases("distributions"))
def test_distribution_matches_torch(case, method):
    record, grads, params = method_inputs("distributions", case, method)
    d = build(str(record["dist"]), params, record)
    out, value = evaluate(d, method, record, grads, MOMENTS)
    rtol = 1e-8 if case in LOOSE else 1e-10
    expected = record[method]
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=rtol, atol=1e-12, err_msg="value")
    if not grads:
        return
    (out * record[f"{method}:w"]).sum().backward()
    for name in sorted(grads):
        tensor = value if name == "value" else params[name]
        grad = tensor.grad if tensor.grad is not None else np.zeros(tensor.shape)
        np.testing.assert_allclose(grad, record[f"{method}:grad_{name}"], rtol=rtol,
                                   atol=GRAD_ATOL.get(case, 1e-12),
                                   err_msg=f"gradient of {name}")


@pytest.mark.parametrize("case", sorted(load("kl")))
def test_kl_matches_torch(case):
    record = load("kl")[case]
    p_grads = {k[len("grad_p_"):] for k in record if k.startswith("grad_p_")}
    q_grads = {k[len("grad_q_"):] for k in record if k.startswith("grad_q_")}
    p_params, q_params = params_of(record, "p_", p_grads), params_of(record, "q_", q_grads)
    p = build(str(record["p"]), p_params, record)
    q = build(str(record["q"]), q_params, record)
    kl = D.kl_divergence(p, q)
    rtol = 1e-8 if case in LOOSE else 1e-10
    np.testing.assert_allclose(kl.data, record["kl"], rtol=rtol, atol=1e-12)
    finite = np.isfinite(kl.data)
    (F.where(finite, kl, 0.0) * record["w"]).sum().backward()  # no gradient where KL is inf
    for side, params, names in (("p", p_params, p_grads), ("q", q_params, q_grads)):
        for name in sorted(names):
            grad = params[name].grad
            grad = grad if grad is not None else np.zeros(params[name].shape)
            np.testing.assert_allclose(grad, record[f"grad_{side}_{name}"], rtol=rtol, atol=1e-12,
                                       err_msg=f"gradient of {side}.{name}")


def test_every_family_has_a_fixture():
    kinds = {str(r["dist"]) for r in load("distributions").values()}
    kinds |= {str(r["base"]) for r in load("distributions").values() if "base" in r}
    assert kinds == {"Normal", "Uniform", "Laplace", "Exponential", "Gamma", "Beta", "Poisson",
                     "Bernoulli", "Binomial", "Categorical", "OneHotCategorical",
                     "MultivariateNormal", "Independent", "Dirichlet"}
