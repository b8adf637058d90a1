"""The families, KL pairs and transforms added after the first set, against PyTorch
(tests/fixtures/distributions/{more,kl_more,transforms}.npz, float64, from
make_distributions_more_fixtures.py): values and the gradients of sum(result * w) with respect
to each parameter (and the value)."""

from __future__ import annotations

import numpy as np
import pytest
from cases_distributions import NO_LOG_DET, PROPERTIES, TRANSFORMS, build

import dlpy.distributions as D
import dlpy.functional as F
from dlpy import Tensor

from .test_against_torch import evaluate, load, method_cases, method_inputs, params_of

# trigamma (digamma's gradient) is accurate to about 5e-10 in PyTorch (see test_against_torch)
LOOSE = {"studentt", "chi2", "kumaraswamy", "fishersnedecor", "negative_binomial_probs",
         "negative_binomial_logits", "weibull", "multinomial", "studentt_small_df"}
RTOL = {"continuous_bernoulli": 1e-7}  # log1p(-2p) near p = 1/2 amplifies rounding


def _compare(actual, expected, rtol, what):
    finite = np.isfinite(expected)
    np.testing.assert_array_equal(np.isfinite(actual), finite, err_msg=f"{what}: non-finite")
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{what}: nan")
    np.testing.assert_allclose(np.where(finite, actual, 0), np.where(finite, expected, 0),
                               rtol=rtol, atol=1e-11, err_msg=what)


@pytest.mark.parametrize("case, method", method_cases("more"))
def test_distribution_matches_torch(case, method):
    record, grads, params = method_inputs("more", case, method)
    kwargs = {k[len("kwarg_"):]: v.item() for k, v in record.items() if k.startswith("kwarg_")}
    d = build(D, str(record["dist"]), params, kwargs)
    out, value = evaluate(d, method, record, grads, PROPERTIES)
    rtol = RTOL.get(case, 1e-8 if case in LOOSE else 1e-10)
    expected = record[method]
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    _compare(out.data, expected, rtol, "value")
    if not out.requires_grad:  # a constant (HalfNormal's mode): torch's gradients are 0
        assert not any(record[f"{method}:grad_{name}"].any() for name in grads)
        return
    (F.where(np.isfinite(out.data), out, 0.0) * record[f"{method}:w"]).sum().backward()
    for name in sorted(grads):
        tensor = value if name == "value" else params[name]
        grad = tensor.grad if tensor.grad is not None else np.zeros(tensor.shape)
        _compare(grad, record[f"{method}:grad_{name}"], rtol, f"gradient of {name}")


@pytest.mark.parametrize("case", sorted(load("kl_more")))
def test_kl_matches_torch(case):
    record = load("kl_more")[case]
    p_grads = {k[len("grad_p_"):] for k in record if k.startswith("grad_p_")}
    q_grads = {k[len("grad_q_"):] for k in record if k.startswith("grad_q_")}
    p_params, q_params = params_of(record, "p_", p_grads), params_of(record, "q_", q_grads)
    kl = D.kl_divergence(build(D, str(record["p"]), p_params),
                         build(D, str(record["q"]), q_params))
    rtol = 1e-8 if case == "chi2" else 1e-10
    _compare(kl.data, record["kl"], rtol, "kl")
    (F.where(np.isfinite(kl.data), kl, 0.0) * record["w"]).sum().backward()
    for side, params, names in (("p", p_params, p_grads), ("q", q_params, q_grads)):
        for name in sorted(names):
            grad = params[name].grad
            grad = grad if grad is not None else np.zeros(params[name].shape)
            _compare(grad, record[f"grad_{side}_{name}"], rtol, f"gradient of {side}.{name}")


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_transform_matches_torch(name):
    record = load("transforms")[name]
    outputs = ["y"] if name in NO_LOG_DET else ["y", "ladj"]
    for output in outputs:
        params = {k[len("param_"):]: Tensor(v, requires_grad=True) for k, v in record.items()
                  if k.startswith("param_")}
        x = Tensor(record["x"], requires_grad=True)
        t = TRANSFORMS[name](D, params)
        y = t(x)
        out = y if output == "y" else t.log_abs_det_jacobian(x, y)
        _compare(out.data, record[output], 1e-10, output)
        if output == "y":
            _compare(t.inv(y).data, record["x_back"], 1e-10, "inverse")
        if not out.requires_grad:
            continue
        (out * record[f"w_{output}"]).sum().backward()
        for key, tensor in {"x": x, **params}.items():
            expected = record.get(f"grad_{output}_{key}")
            if expected is None:
                continue
            grad = tensor.grad if tensor.grad is not None else np.zeros(tensor.shape)
            _compare(grad, expected, 1e-10, f"gradient of {output} w.r.t. {key}")


def test_every_new_family_has_a_fixture():
    kinds = {str(r["dist"]) for r in load("more").values()}
    for name in ("LogNormal", "HalfNormal", "HalfCauchy", "Cauchy", "StudentT", "Chi2", "Gumbel",
                 "Weibull", "Pareto", "LogisticNormal", "Kumaraswamy", "FisherSnedecor",
                 "VonMises", "ContinuousBernoulli", "RelaxedBernoulli",
                 "RelaxedOneHotCategorical", "LowRankMultivariateNormal", "Geometric",
                 "NegativeBinomial", "Multinomial"):
        assert name in kinds, name
    assert {"MixtureNormal", "MixtureIndependent", "AffineTanhFlow"} <= kinds
