"""optim.LBFGS against torch.optim.LBFGS in float64 (tests/fixtures/optim/lbfgs.npz, written by
tests/fixtures/make_optim_rest_fixtures.py): every closure evaluation, every step, the state, with
and without the strong-Wolfe line search, on Rosenbrock, a logistic regression and least squares;
state_dict round trips; learning; errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from cases_optim import LBFGS_CASES as CASES

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.nn import Parameter, load_checkpoint, save_checkpoint
from dlpy.optim import LBFGS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "lbfgs.npz"
# torch sums, dots and adds (fused multiply-add) in another order than numpy, so the last bits
# differ; Rosenbrock's curvature magnifies them over dozens of evaluations (to ~1e-9 of the
# values' size), the convex problems stay at ~1e-15. The final state holds gradients near the
# optimum, small differences of large terms: compared to 1e-8 of their size.
TOL = {"rosenbrock": 1e-8, "logistic": 1e-12, "least_squares": 1e-12}
STATE_TOL = 1e-8


def _close(ours, theirs, tol, what):
    """|ours - theirs| <= tol * the largest |theirs|, element by element."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    scale = max(float(np.max(np.abs(theirs))), 1e-300) if theirs.size else 1.0
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol * scale, err_msg=what)


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


def _problem(name, reference):
    """(parameters, loss function): tests/fixtures/make_optim_rest_fixtures.py's torch_problem
    in dlpy."""
    def param(key):
        return Parameter(reference[f"data:{name}:{key}"], dtype=np.float64)

    def const(key):
        return dlpy.tensor(reference[f"data:{name}:{key}"])

    if name == "rosenbrock":
        x, y = param("x"), param("y")

        def loss():
            z = F.cat([x, y])
            return (100 * (z[1:] - z[:-1] ** 2) ** 2 + (1 - z[:-1]) ** 2).sum()
        return [x, y], loss
    if name == "logistic":
        features, labels, w, b = const("X"), const("y"), param("W"), param("b")

        def loss():
            logits = (features @ w.T + b).reshape(-1)
            return F.binary_cross_entropy_with_logits(logits, labels) + 0.005 * (w * w).sum()
        return [w, b], loss
    inputs, targets, w, b = const("X"), const("Y"), param("W"), param("b")

    def loss():
        return ((inputs @ w.T + b - targets) ** 2).mean()
    return [w, b], loss


def _flat(params):
    return np.concatenate([p.data.reshape(-1) for p in params])


def _setup(case, reference, **changes):
    name, kwargs, _ = CASES[case]
    params, loss_fn = _problem(name, reference)
    opt = LBFGS(params, **{**kwargs, **changes})
    evals, losses = [], []

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        evals.append(_flat(params))
        losses.append(loss.item())
        return loss
    return params, opt, closure, evals, losses


def test_the_cases_are_the_fixtures(reference):
    stored = {key.split(":")[0] for key in reference if not key.startswith("data:")}
    assert stored == set(CASES)
    for case, (name, kwargs, steps) in CASES.items():
        as_json = json.loads(json.dumps({"problem": name, "kwargs": kwargs, "steps": steps}))
        assert json.loads(reference[f"{case}:settings"].item()) == as_json, case


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_evaluation_matches_torch(case, reference):
    name, _, steps = CASES[case]
    tol = TOL[name]
    params, opt, closure, evals, losses = _setup(case, reference)
    for step in range(steps):
        returned = opt.step(closure)
        _close(returned.item(), reference[f"{case}:returned"][step], tol, f"step {step}")
        _close(_flat(params), reference[f"{case}:afters"][step], tol, f"step {step}")
    # the same closure calls, at the same points: the same path through the line search
    assert len(evals) == len(reference[f"{case}:evals"])
    for i, (point, loss) in enumerate(zip(evals, losses)):
        _close(point, reference[f"{case}:evals"][i], tol, f"evaluation {i}")
        _close(loss, reference[f"{case}:losses"][i], tol, f"evaluation {i}")
    state = opt.state[0]
    for key in ("func_evals", "n_iter"):
        assert state[key] == int(reference[f"{case}:state:{key}"]), key
    for key in ("d", "t", "H_diag", "prev_flat_grad", "prev_loss", "old_dirs", "old_stps", "ro"):
        _close(state[key], reference[f"{case}:state:{key}"], STATE_TOL, key)


def test_the_cases_take_every_branch(reference):
    # history full (pairs dropped), max_eval reached inside the line search, max_iter reached
    short = reference["rosenbrock_wolfe_short:state:old_dirs"]
    assert short.shape[0] == 2
    assert int(reference["rosenbrock_fixed:state:n_iter"]) == 4 * 8  # every step ran max_iter
    assert reference["least_squares_fixed:state:old_dirs"].shape[0] == 3


@pytest.mark.parametrize("case", ["rosenbrock_wolfe", "rosenbrock_wolfe_short",
                                  "least_squares_fixed", "logistic_fixed"])
def test_state_dict_resumes_bit_for_bit(case, reference, tmp_path):
    name, _, steps = CASES[case]
    params, opt, closure, _, _ = _setup(case, reference)
    for _ in range(steps):
        opt.step(closure)
    whole = _flat(params)

    params, opt, closure, _, _ = _setup(case, reference)
    opt.step(closure)
    model = nn.Module()
    for i, p in enumerate(params):
        setattr(model, f"p{i}", p)
    save_checkpoint(tmp_path / "c.npz", model, opt)  # arrays only: an .npz without pickle

    fresh, restored, fresh_closure, _, _ = _setup(case, reference, lr=123.0)
    other = nn.Module()
    for i, p in enumerate(fresh):
        setattr(other, f"p{i}", p)
    load_checkpoint(tmp_path / "c.npz", other, restored)
    assert restored.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert restored.step_count == 1
    for _ in range(steps - 1):
        restored.step(fresh_closure)
    np.testing.assert_array_equal(_flat(fresh), whole)


def test_state_dict_layout(reference):
    params, opt, closure, _, _ = _setup("rosenbrock_wolfe_short", reference)
    assert set(opt.state_dict()) == {
        "group.0.lr", "group.0.max_iter", "group.0.max_eval", "group.0.tolerance_grad",
        "group.0.tolerance_change", "group.0.history_size", "group.0.line_search_fn",
        "group.0.params", "step_count"}
    for _ in range(3):
        opt.step(closure)
    state = opt.state_dict()
    assert state["state.0.old_dirs"].shape == (2, 4) and state["state.0.ro"].shape == (2,)
    assert state["group.0.line_search_fn"].item() == "strong_wolfe"
    assert int(state["group.0.max_eval"]) == 9
    plain = LBFGS([Parameter(np.zeros(3))])
    assert plain.state_dict()["group.0.line_search_fn"].item() == ""
    assert plain.param_groups[0]["max_eval"] == 25  # max_iter * 5 // 4


def test_torch_layout_line_search_fn_none_round_trips():
    plain = LBFGS([Parameter(np.zeros(3))])
    nested = plain.state_dict(torch_layout=True)
    assert nested["param_groups"][0]["line_search_fn"] is None  # torch's, not the flat ""
    wolfe = LBFGS([Parameter(np.zeros(3))], line_search_fn="strong_wolfe")
    wolfe.load_state_dict(nested)
    assert wolfe.param_groups[0]["line_search_fn"] is None


def test_load_state_dict_errors(reference):
    params, opt, closure, _, _ = _setup("least_squares_fixed", reference)
    opt.step(closure)
    state = opt.state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys: \['state.0.bogus'\]"):
        LBFGS(params).load_state_dict({**state, "state.0.bogus": np.zeros(1)})
    with pytest.raises(ValueError, match=r"missing keys: \['group.0.lr'\]"):
        LBFGS(params).load_state_dict({k: v for k, v in state.items() if k != "group.0.lr"})
    other = [Parameter(np.zeros((2, 4))), Parameter(np.zeros(3))]
    with pytest.raises(ValueError, match=r"state.0.d has shape \(10,\), which does not fit 11"):
        LBFGS(other).load_state_dict(state)


def test_fits_a_logistic_regression_in_a_few_steps():
    """A learning test that can fail: L-BFGS with the line search drives the gradient of a
    strongly convex logistic loss to ~0 in two calls, where plain gradient descent with the
    same number of evaluations is still far off."""
    rng = np.random.default_rng(0)
    features = rng.standard_normal((200, 5))
    labels = (features @ rng.standard_normal(5) + 0.5 * rng.standard_normal(200) > 0) * 1.0
    model = nn.Linear(5, 1, rng=rng, dtype=np.float64)
    inputs, targets = dlpy.tensor(features), dlpy.tensor(labels)

    def loss_fn():
        logits = model(inputs).reshape(-1)
        return F.binary_cross_entropy_with_logits(logits, targets) \
            + 1e-3 * (model.weight * model.weight).sum()

    opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe", max_iter=50,
                tolerance_grad=1e-9, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    first = opt.step(closure).item()
    opt.step(closure)
    loss = closure().item()
    grad_norm = max(np.abs(p.grad).max() for p in model.parameters())
    assert loss < 0.6 * first and grad_norm < 1e-6
    assert opt.state[0]["func_evals"] < 80
    accuracy = ((model(inputs).data.reshape(-1) > 0) == (labels > 0)).mean()
    assert accuracy > 0.85


def test_float32_parameters_keep_their_dtype():
    x = Parameter(np.array([-1.2, 1.0], dtype=np.float32))
    opt = LBFGS([x], line_search_fn="strong_wolfe", max_iter=100)

    def closure():
        opt.zero_grad()
        loss = (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    assert x.data.dtype == np.float32 and opt.state[0]["d"].dtype == np.float32
    np.testing.assert_allclose(x.data, [1.0, 1.0], atol=1e-3)


def test_a_parameter_without_gradient_stays():
    used, unused = Parameter(np.array([3.0])), Parameter(np.array([5.0]))
    opt = LBFGS([used, unused])

    def closure():
        opt.zero_grad()
        loss = ((used - 1.0) ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    assert unused.data[0] == 5.0 and abs(used.data[0] - 1.0) < 1e-6


def test_already_optimal_returns_at_once():
    x = Parameter(np.zeros(2))
    opt = LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 0.0
    assert len(calls) == 1 and opt.state[0] == {"func_evals": 1, "n_iter": 0}


def test_the_closure_runs_with_gradients_on_under_no_grad():
    x = Parameter(np.array([2.0]))
    opt = LBFGS([x])

    def closure():
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss
    with dlpy.no_grad():
        opt.step(closure)
    assert abs(x.data[0]) < 1e-6


@pytest.mark.parametrize("make, error, match", [
    (lambda p: LBFGS(p, line_search_fn="armijo").step(lambda: 1.0), RuntimeError,
     "only 'strong_wolfe' is supported"),
    (lambda p: LBFGS(p, max_iter=0), ValueError, "max_iter must be a positive integer"),
    (lambda p: LBFGS(p, history_size=2.5), ValueError,
     "history_size must be a positive integer"),
    (lambda p: LBFGS(p, lr=-1.0), ValueError, "lr must be a finite number >= 0"),
    (lambda p: LBFGS(p, tolerance_grad=float("nan")), ValueError,
     "tolerance_grad must be a finite number >= 0"),
    (lambda p: LBFGS([{"params": p[:1]}, {"params": p[1:]}]), ValueError,
     "takes one parameter group only"),
    (lambda p: LBFGS(p).step(), TypeError, "missing 1 required positional argument"),
    (lambda p: LBFGS(p).step(None), TypeError, "needs a closure"),
    (lambda p: LBFGS(p).step(lambda: "loss"), TypeError,
     "the closure must return the loss"),
])
def test_errors(make, error, match):
    params = [Parameter(np.ones(2), dtype=np.float64), Parameter(np.ones(3), dtype=np.float64)]
    for p in params:
        p.grad = np.ones(p.shape)
    with pytest.raises(error, match=match):
        make(params)


def test_parameters_of_several_dtypes_join_in_the_promoted_one():
    # as torch's torch.cat of the gradients: float32 and float64 parameters make float64
    # flat vectors, each parameter updated in its own dtype
    a = Parameter(np.array([0.5, -1.2], np.float32))
    b = Parameter(np.array([0.3, 0.9]), dtype=np.float64)
    opt = LBFGS([a, b], lr=0.5, max_iter=3)

    def closure():
        opt.zero_grad()
        loss = ((a - 1.0) ** 2).sum() + ((b + 0.5) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert a.data.dtype == np.float32 and b.data.dtype == np.float64
    assert opt.state[a]["d"].dtype == np.float64
    assert float(closure()) < 2.0  # from 7.69


def test_older_checkpoint_without_al_loads(reference):
    """A flat state dict written before the state kept torch's ``al`` (and its numbers as
    float64) loads: the next steps land on the same bits, and the state is torch's again."""
    case = "rosenbrock_wolfe"
    params, opt, closure, _, _ = _setup(case, reference)
    opt.step(closure)
    saved = opt.state_dict(torch_layout=False)
    old = {k: v for k, v in saved.items() if k != "state.0.al"}
    for key in ("state.0.t", "state.0.H_diag"):
        old[key] = np.asarray(float(old[key]), dtype=np.float64)
    opt.step(closure)
    whole = _flat(params)

    fresh_params, restored, fresh_closure, _, _ = _setup(case, reference)
    restored.step(fresh_closure)  # to the saved point, then the old checkpoint over it
    restored.load_state_dict(old)
    state = restored.state[0]
    assert "al" not in state and isinstance(state["d"], dlpy.Tensor)
    assert isinstance(state["old_dirs"], list) and isinstance(state["ro"][0], dlpy.Tensor)
    restored.step(fresh_closure)
    np.testing.assert_array_equal(_flat(fresh_params), whole)
    assert len(restored.state[0]["al"]) == restored.param_groups[0]["history_size"]
