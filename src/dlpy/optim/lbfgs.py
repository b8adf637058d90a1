"""L-BFGS, as torch.optim.LBFGS: ``step(closure)`` runs up to ``max_iter`` quasi-Newton
iterations, re-evaluating the loss through the closure::

    opt = optim.LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    opt.step(closure)

A port of PyTorch's algorithm (minFunc's, by way of torch7's optim): the same directions (the
two-loop recursion over the last ``history_size`` pairs), the same step lengths (a fixed
``lr``, the first one scaled by ``min(1, 1 / |g|_1)``, or the strong-Wolfe line search with
cubic interpolation) and the same stopping tests, in the same order of operations, so
trajectories match PyTorch's step for step in float64. Every parameter is one flat vector in
the computation (all parameters must share a dtype); a complex parameter is its (real,
imaginary) pairs there, as torch's view_as_real.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from dlpy.amp.dtypes import is_low_precision
from dlpy.ops import ArgError
from dlpy.optim.optimizer import _F32, Optimizer, _add, _check_hyper
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor, enable_grad, increment_version

# state (PyTorch's names) -> kind: "count" (an int), "number" (one number of the parameters'
# dtype, saved in float64), "loss" (a float), "vector" (n,), "history" (entries, n), "numbers"
# (entries,), "al" (the two-loop recursion's coefficients: history_size entries, those not yet
# computed None; saved as the computed ones). The step keeps them as torch's: Python numbers
# for the counts, the loss and a number torch holds as one (t = lr, H_diag = 1), else Tensors
# (0-d for the numbers) and lists of Tensors, which in-place writes and held references share
_STATE = {"func_evals": "count", "n_iter": "count", "al": "al", "d": "vector", "t": "number",
          "old_dirs": "history", "old_stps": "history", "ro": "numbers", "H_diag": "number",
          "prev_flat_grad": "vector", "prev_loss": "loss"}


# float16/bfloat16 parameters: torch's ops on its low-precision tensors: dot products and sums
# in float32 rounded to the dtype (0-d tensors, _Low below), x.add_(y, alpha) one rounding of
# the float32 x + alpha y (alpha rounded to the dtype), x.mul(number) a float32 product rounded
def _low(a: np.ndarray) -> bool:
    return a.dtype.itemsize == 2 and is_low_precision(a.dtype)


class _Low:
    """A 0-d float16/bfloat16 tensor of torch's (a dot product, a sum, a step length) in the
    scalar arithmetic of the line search: each op computes in float32 and rounds to the dtype;
    a Python number goes to float32 then the dtype in + - and comparisons, to float32 in * and
    /; ``number / tensor`` is the rounded reciprocal times the number, as torch's."""

    __slots__ = ("value", "dtype")
    __array_ufunc__ = None  # numpy defers to the reflected operators

    def __init__(self, value, dtype: np.dtype):
        with np.errstate(all="ignore"):
            self.value, self.dtype = float(np.asarray(value, _F32).astype(dtype)), dtype

    def _number(self, other) -> float:
        """``other`` (a _Low or a Python number) as the dtype rounds it."""
        return other.value if isinstance(other, _Low) else _Low(other, self.dtype).value

    def _op(self, op, a, b) -> _Low:
        """op(a, b) in float32, rounded to the dtype (inf and NaN without warnings)."""
        with np.errstate(all="ignore"):
            return _Low(op(_F32(a), _F32(b)), self.dtype)

    def __float__(self) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"_Low({self.value}, {np.dtype(self.dtype).name})"

    def __neg__(self) -> _Low:
        return _Low(-self.value, self.dtype)

    def __abs__(self) -> _Low:
        return _Low(abs(self.value), self.dtype)

    def __add__(self, other) -> _Low:
        return self._op(np.add, self.value, self._number(other))

    __radd__ = __add__

    def __sub__(self, other) -> _Low:
        return self._op(np.subtract, self.value, self._number(other))

    def __rsub__(self, other) -> _Low:
        return self._op(np.subtract, self._number(other), self.value)

    def __mul__(self, other) -> _Low:
        return self._op(np.multiply, self.value, float(other))

    __rmul__ = __mul__

    def __truediv__(self, other) -> _Low:
        return self._op(np.divide, self.value, float(other))

    def __rtruediv__(self, other) -> _Low:
        return self._op(np.divide, 1.0, self.value) * other

    def __pow__(self, exponent) -> _Low:
        if exponent != 2:
            raise NotImplementedError("_Low: only squares")
        return self * self

    def sqrt(self) -> _Low:
        return self._op(lambda a, _: np.sqrt(a), self.value, 0.0)

    def __lt__(self, other) -> bool:
        return self.value < self._number(other)

    def __le__(self, other) -> bool:
        return self.value <= self._number(other)

    def __gt__(self, other) -> bool:
        return self.value > self._number(other)

    def __ge__(self, other) -> bool:
        return self.value >= self._number(other)

    def __eq__(self, other) -> bool:
        return self.value == self._number(other)

    __hash__ = None


def _state_number(value, dtype: np.dtype):
    """A saved number as the step holds it: one of the parameters' dtype; for float16/bfloat16
    a _Low where the dtype holds it exactly, else the Python float it was (t = lr)."""
    if not _low(np.empty(0, dtype)):
        return np.asarray(value).astype(dtype).reshape(())[()]
    low = _Low(float(value), dtype)
    return low if low.value == float(value) else float(value)


def _value(x):
    """A state's number as the step computes with it: a 0-d Tensor's value (a numpy scalar
    of its dtype; a _Low for float16/bfloat16), a Python number as it is."""
    if isinstance(x, Tensor):
        array = x.data
        if _low(array):
            return _Low(np.asarray(array, _F32).reshape(()), array.dtype)
        return array.reshape(())[()]
    return x


def _wrap(x):
    """A number or array the step computed as the state holds it: a numpy scalar or a _Low
    (torch's 0-d Tensor) and an array as Tensors, a Python number as it is."""
    if isinstance(x, _Low):
        return Tensor(np.asarray(x.value, _F32).astype(x.dtype))
    if isinstance(x, (np.generic, np.ndarray)):
        return Tensor(np.asarray(x))
    return x


def _array(x) -> np.ndarray:
    """A state's vector (a Tensor, or an array) as the array the step reads and writes."""
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _dot(a: np.ndarray, b: np.ndarray):
    if _low(a):
        with np.errstate(all="ignore"):  # torch's inf and NaN, without warnings
            return _Low(np.dot(a.astype(_F32), b.astype(_F32)), a.dtype)
    return np.dot(a, b)


def _real_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of a complex dtype's parts (a real dtype itself)."""
    return np.empty(0, dtype).real.dtype


def _axpy(x: np.ndarray, alpha, y: np.ndarray) -> None:
    """x += alpha * y, in place."""
    if _low(x):
        with np.errstate(all="ignore"):
            x[...] = _add(x.astype(_F32), y.astype(_F32), float(alpha), x.dtype)
    else:
        x += alpha * y


def _scaled(a: np.ndarray, number) -> np.ndarray:
    """a * number (a Python number or one of the parameters' dtype)."""
    if _low(a):
        with np.errstate(all="ignore"):
            return (a.astype(_F32) * _F32(float(number))).astype(a.dtype)
    return a * number


def _abs_sum(a: np.ndarray):
    if _low(a):
        return _Low(np.sum(np.abs(a.astype(_F32))), a.dtype)
    return np.sum(np.abs(a))


def _max_abs(a: np.ndarray):
    if not a.size:  # parameters with no elements: torch's max() of an empty tensor refuses
        raise RuntimeError("max(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    if _low(a):
        return _Low(np.max(np.abs(a.astype(_F32))), a.dtype)
    return np.max(np.abs(a))


def _sqrt(x):
    return x.sqrt() if isinstance(x, _Low) else np.sqrt(x)


def _as_float(loss: Any) -> float:
    """The closure's loss (a one-element Tensor, array or number) as a float."""
    value = loss.item() if hasattr(loss, "item") else loss
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"LBFGS.step: the closure must return the loss (a one-element Tensor "
                        f"or a number), got {type(loss).__name__}")
    return float(value)


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    ``bounds`` (default: between x1 and x2); their midpoint when the cubic has no minimum."""
    if bounds is not None:
        xmin_bound, xmax_bound = bounds
    else:
        xmin_bound, xmax_bound = (x1, x2) if x1 <= x2 else (x2, x1)
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = _sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9,
                  max_ls=25):
    """A step length t along d meeting the strong Wolfe conditions (sufficient decrease c1,
    curvature c2): bracket, then zoom by cubic interpolation. Returns (loss, flat gradient, t,
    number of evaluations)."""
    d_norm = _max_abs(d)
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = _dot(g_new, d)

    # bracket an interval holding a point that meets the conditions
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # extrapolate
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = _cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                               bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new.copy(), gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:  # out of evaluations
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point meets the conditions
    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(bracket[0], bracket_f[0], bracket_gtd[0],
                               bracket[1], bracket_f[1], bracket_gtd[1])
        # a trial too close to an end of the bracket twice in a row (or at an end) moves to
        # 0.1 of the bracket's length away from it
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insuf_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # no sufficient decrease, or not below the low end: the new high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new.copy(), gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the old high end becomes the new low end
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new.copy(), gtd_new
    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


def _count(name: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: {key} must be a positive integer, got {value!r}")
    return int(value)


class LBFGS(Optimizer):
    """Limited-memory BFGS over one parameter group (PyTorch allows no other): each
    ``step(closure)`` runs at most ``max_iter`` iterations and ``max_eval`` closure calls
    (default ``max_iter * 5 // 4``), stopping early when the largest gradient element is at
    most ``tolerance_grad`` or a step, or the change in loss, falls under ``tolerance_change``.
    ``line_search_fn``: None (fixed step ``lr``) or ``"strong_wolfe"``. Returns the closure's
    first loss.

    State (``opt.state[first parameter]``, PyTorch's names and types): ``func_evals`` and
    ``n_iter`` (ints), the two-loop coefficients ``al`` (a list), the last direction ``d`` and
    step ``t``, the history ``old_dirs`` (gradient changes y), ``old_stps`` (steps s), ``ro``
    (1 / y.s; lists of Tensors), ``H_diag``, ``prev_flat_grad``, ``prev_loss`` (a float)."""

    accepts_complex = True  # as torch's: the flat vector holds their view_as_real pairs
    # its opt.state[p] is the step's own dict (torch's objects: numbers, Tensors, lists)
    torch_state_tensors = False

    def __init__(self, params: Iterable[Tensor] | Iterable[dict], lr: float = 1,
                 max_iter: int = 20, max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None):
        if max_eval is None:
            max_eval = _count("LBFGS", "max_iter", max_iter) * 5 // 4
        super().__init__(params, {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                                  "tolerance_grad": tolerance_grad,
                                  "tolerance_change": tolerance_change,
                                  "history_size": history_size,
                                  "line_search_fn": line_search_fn})
        self._params = self.param_groups[0]["params"]
        # a complex parameter is its (real, imaginary) pairs in the flat vectors; parameters
        # of several dtypes join in their promoted one, as torch's torch.cat of the views
        self._dtype = np.result_type(*(_real_dtype(p.data.dtype) for p in self._params)) \
            if self._params else np.dtype(np.float32)
        self._numel = sum(p.data.size * (2 if p.data.dtype.kind == "c" else 1)
                          for p in self._params)

    def add_param_group(self, group: dict[str, Any]) -> None:
        if self.param_groups:
            raise ValueError("LBFGS: takes one parameter group only (no per-parameter "
                             "settings), as PyTorch's")
        super().add_param_group(group)

    def _check_group(self, settings):
        name = "LBFGS"
        settings = super()._check_group(settings)
        _check_hyper(name, tolerance_grad=settings["tolerance_grad"],
                     tolerance_change=settings["tolerance_change"])
        line_search_fn = settings["line_search_fn"]
        # another name is torch's error at the step, where a line search would start
        if line_search_fn is not None and not isinstance(line_search_fn, str):
            raise ArgError(f"LBFGS: line_search_fn must be None or 'strong_wolfe', got "
                           f"{line_search_fn!r}")
        return {**settings, "max_iter": _count(name, "max_iter", settings["max_iter"]),
                "max_eval": _count(name, "max_eval", settings["max_eval"]),
                "history_size": _count(name, "history_size", settings["history_size"]),
                "tolerance_grad": float(settings["tolerance_grad"]),
                "tolerance_change": float(settings["tolerance_change"])}

    # ----------------------------------------------------------------- flat vectors
    def _gather_flat_grad(self) -> np.ndarray:
        """Every parameter's gradient, flattened and joined (zeros for one without)."""
        views = []
        for p in self._params:
            grad, dtype = p.grad, p.data.dtype
            if grad is None:
                view = np.zeros(p.data.size, dtype)
            else:
                grad = grad.dense() if isinstance(grad, SparseGrad) else grad.data
                view = np.ascontiguousarray(grad, dtype=dtype).reshape(-1)
            views.append(view.view(_real_dtype(dtype)))
        return np.concatenate(views, dtype=self._dtype)

    def _add_grad(self, step_size, update: np.ndarray) -> None:
        """p += step_size * update (the slice of the flat ``update`` that is p's), in place."""
        offset = 0
        for p in self._params:
            size = p.data.size * (2 if p.data.dtype.kind == "c" else 1)
            part = update[offset:offset + size]
            if p.data.dtype.kind == "c":  # (real, imaginary) pairs as complex numbers
                part = part.astype(_real_dtype(p.data.dtype), copy=False).view(p.data.dtype)
            _axpy(p.data, step_size, part.reshape(p.data.shape))
            increment_version(p)
            offset += size

    def _clone_param(self) -> list[np.ndarray]:
        return [p.data.copy() for p in self._params]

    def _set_param(self, values: list[np.ndarray]) -> None:
        for p, value in zip(self._params, values):
            np.copyto(p.data, value)
            increment_version(p)

    def _directional_evaluate(self, closure, x, t, d):
        """(loss, flat gradient) at x + t d; the parameters go back to x."""
        self._add_grad(t, d)
        loss = _as_float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ----------------------------------------------------------------- step
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Up to ``max_iter`` iterations; ``closure`` clears the gradients, computes the loss,
        calls ``backward()`` and returns the loss. Returns the first loss."""
        if not callable(closure):
            raise TypeError("LBFGS.step: needs a closure that re-evaluates the model and "
                            "returns the loss (opt.step(closure))")
        group = self.param_groups[0]
        lr = group["lr"]
        if isinstance(lr, Tensor) and lr.data.size == 1:  # torch takes a one-element Tensor
            lr = float(lr.data.reshape(()))
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.number)) \
                or not math.isfinite(lr) or lr < 0:
            raise ValueError(f"LBFGS.step: lr must be finite and >= 0, got {lr}")
        max_iter, max_eval = group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        line_search_fn, history_size = group["line_search_fn"], group["history_size"]

        def evaluate():
            with enable_grad():  # the closure records its graph even under no_grad
                return closure()

        self.step_count += 1
        # one state for the whole problem, kept as PyTorch's: the first parameter's entry of
        # opt.state (torch's defaultdict: reading it makes the entry)
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = evaluate()
        loss = _as_float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if _max_abs(flat_grad) <= tolerance_grad:  # already optimal
            return orig_loss

        # the state's Tensors are read as arrays and numbers; those the step replaces are
        # stored back as new Tensors, those it keeps (H_diag without a new pair, the
        # prev_flat_grad it copies into, the history lists it appends to) stay the same objects
        d, t = state.get("d"), _value(state.get("t"))
        d = None if d is None else _array(d)
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")  # noqa: N806 - PyTorch's name
        kept_H_diag, H_diag = H_diag, _value(H_diag)  # noqa: N806
        prev_flat_grad = state.get("prev_flat_grad")
        kept_prev = prev_flat_grad
        prev_flat_grad = None if prev_flat_grad is None else _array(prev_flat_grad)
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # the direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = kept_H_diag = 1  # noqa: N806
            else:
                y = flat_grad - prev_flat_grad
                s = _scaled(d, t)
                ys = _dot(y, s)
                if ys > 1e-10:  # keep the pair (curvature is positive)
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(Tensor(y))
                    old_stps.append(Tensor(s))
                    ro.append(_wrap(1.0 / ys))
                    H_diag = ys / _dot(y, y)  # noqa: N806 - the initial Hessian's scale
                    kept_H_diag = None
                # the two-loop recursion: d = -H g (its coefficients kept in the state, as
                # torch's: a list of history_size entries made once)
                num_old = len(old_dirs)
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                coefficients = [None] * num_old
                q = -flat_grad
                for i in range(num_old - 1, -1, -1):
                    coefficients[i] = _dot(_array(old_stps[i]), q) * _value(ro[i])
                    al[i] = _wrap(coefficients[i])
                    _axpy(q, -coefficients[i], _array(old_dirs[i]))
                d = r = _scaled(q, H_diag)
                for i in range(num_old):
                    be_i = _dot(_array(old_dirs[i]), r) * _value(ro[i])
                    _axpy(r, coefficients[i] - be_i, _array(old_stps[i]))

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                np.copyto(prev_flat_grad, flat_grad)
            prev_loss = loss

            # the step length
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / _abs_sum(flat_grad)) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)  # the directional derivative
            if gtd > -tolerance_change:
                break

            ls_func_evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(x, t, d):
                    return self._directional_evaluate(evaluate, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_grad(t, d)
                opt_cond = _max_abs(flat_grad) <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # re-evaluated except after the last iteration (in a stochastic setting
                    # that evaluation would be of no use)
                    loss = _as_float(evaluate())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = _max_abs(flat_grad) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # the stopping tests
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if _max_abs(_scaled(d, t)) <= tolerance_change:  # no progress
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = Tensor(d)
        state["t"] = _wrap(t)
        state["old_dirs"], state["old_stps"], state["ro"] = old_dirs, old_stps, ro
        state["H_diag"] = kept_H_diag if kept_H_diag is not None else _wrap(H_diag)
        state["prev_flat_grad"] = kept_prev if isinstance(kept_prev, Tensor) \
            and kept_prev.data is prev_flat_grad else Tensor(prev_flat_grad)
        state["prev_loss"] = prev_loss
        return orig_loss

    # ----------------------------------------------------------------- state
    def _torch_state(self, flat: dict[str, np.ndarray]) -> dict[str, Any]:
        """PyTorch's layout: ``line_search_fn`` None again (the flat layout's ""), the state
        opt.state's own dicts, as torch's (``sd["state"][0] is opt.state[p]``: its Tensors
        and lists are the step's)."""
        out = super()._torch_state(flat)
        for group in out["param_groups"]:
            if group.get("line_search_fn") == "":
                group["line_search_fn"] = None
        out["state"] = {i: list.__getitem__(self.state, i) for i in self._state.entries()}
        return out

    def _flat_value(self, slot: str, value: Any) -> Any:
        """One state entry (the step's Tensors, lists and numbers, an older state's arrays, or
        a torch state's tensors) as the flat layout's array; an unknown name as it is."""
        kind, dtype = _STATE.get(slot), self._dtype
        if kind is None or value is None:
            return value
        if kind == "count":
            return np.asarray(int(_value(value)), dtype=np.int64)
        if kind in ("number", "loss"):
            return np.array(float(_value(value)), dtype=np.float64)
        if kind == "vector":
            return np.array(_array(value), dtype=dtype)
        if isinstance(value, (np.ndarray, Tensor)) and _array(value).ndim == 0:
            value = [value]  # (one number: an entry)
        entries = list(value)
        if kind == "history":
            return np.array([_array(v) for v in entries], dtype=dtype).reshape(
                len(entries), self._numel)
        if kind == "al":  # the computed coefficients: the entries before the first None
            entries = entries[:next((i for i, v in enumerate(entries) if v is None),
                                    len(entries))]
        return np.array([float(_value(v)) for v in entries], dtype=dtype).reshape(len(entries))

    def _flat_state_dict(self) -> dict[str, np.ndarray]:
        """``group.0.<setting>`` (``line_search_fn`` as a string, "" for None),
        ``group.0.params``, ``step_count`` and ``state.0.<name>``: the history as (entries, n)
        arrays, numbers 0-d; arrays only, so it saves in an ``.npz``."""
        group = self.param_groups[0]
        out: dict[str, np.ndarray] = {}
        for key in self._defaults:
            value = group[key]
            out[f"group.0.{key}"] = np.asarray("" if value is None else value)
        out["group.0.params"] = np.arange(len(self._params), dtype=np.int64)
        out["step_count"] = np.asarray(self.step_count, dtype=np.int64)
        for name, value in list.__getitem__(self.state, 0).items():
            if name in _STATE and value is not None:  # (a key of the user's: not an array)
                out[f"state.0.{name}"] = self._flat_value(name, value)
        return out

    def _flat_from_nested(self, state: dict[str, Any]) -> dict[str, np.ndarray]:
        """PyTorch's layout (the step's Tensors and lists, or an older dlpy state's arrays)
        as the flat layout's arrays."""
        saved = state.get("state")
        if isinstance(saved, dict):
            state = {**state, "state": {
                index: {slot: self._flat_value(slot, value) for slot, value in slots.items()}
                if isinstance(slots, dict) else slots for index, slots in saved.items()}}
        return super()._flat_from_nested(state)

    def _load_flat_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore the settings and the state of ``state_dict``; strict about names and
        sizes. A state saved before ``al`` was kept (dlpy's older checkpoints) loads too."""
        name = "LBFGS.load_state_dict"
        expected = {f"group.0.{key}" for key in (*self._defaults, "params")} | {"step_count"}
        missing = sorted(expected - set(state))
        unexpected = sorted(k for k in state if k not in expected and not (
            k.startswith("state.0.") and k[len("state.0."):] in _STATE))
        if missing or unexpected:
            raise ValueError(f"{name}: missing keys: {missing or 'none'}; unexpected keys: "
                             f"{unexpected or 'none'}")
        stored = np.asarray(state["group.0.params"]).tolist()
        if stored != list(range(len(self._params))):
            raise ValueError(f"{name}: the state holds parameters {stored}, this optimiser "
                             f"{len(self._params)}")
        settings = {}
        for key in self._defaults:
            value = np.asarray(state[f"group.0.{key}"])
            if key == "line_search_fn":
                settings[key] = value.item() or None  # "" (flat) or None (torch's)
            elif key in ("max_iter", "max_eval", "history_size"):
                settings[key] = int(value)
            else:
                settings[key] = float(value)
        settings = self._check_group(settings)
        dtype, numel = self._dtype, self._numel
        restored: dict[str, Any] = {}
        for key, value in state.items():
            if not key.startswith("state."):
                continue
            slot = key[len("state.0."):]
            kind, value = _STATE[slot], np.asarray(value)
            shape = {"vector": (numel,), "history": (value.shape[:1] + (numel,))}.get(kind)
            if kind in ("count", "number", "loss") and value.size != 1 or \
                    shape is not None and value.shape != shape or \
                    kind in ("numbers", "al") and value.ndim != 1:
                raise ValueError(f"{name}: {key} has shape {value.shape}, which does not fit "
                                 f"{numel} parameter values")
            if kind == "count":
                restored[slot] = int(value)
            elif kind == "loss":
                restored[slot] = float(value)
            elif kind == "number":  # of the parameters' dtype, as computed: a 0-d Tensor
                restored[slot] = _wrap(_state_number(value, dtype))
            elif kind == "vector":
                restored[slot] = Tensor(value.astype(dtype, copy=True))
            elif kind == "history":
                restored[slot] = [Tensor(row.astype(dtype, copy=True)) for row in value]
            else:
                restored[slot] = [_wrap(_state_number(v, dtype)) for v in value]
                if kind == "al":  # (history_size entries, those not computed None)
                    restored[slot] += [None] * (settings["history_size"] - len(value))
        lengths = {len(restored[k]) for k in ("old_dirs", "old_stps", "ro") if k in restored}
        if len(lengths) > 1:
            raise ValueError(f"{name}: old_dirs, old_stps and ro hold different numbers of "
                             f"entries")
        self.param_groups[0].update(settings)
        self.step_count = int(state["step_count"])
        self.state = [restored] + [{} for _ in self._params[1:]]

    def _adopt(self, given: Any, saved_groups: Any) -> None:
        """After load_state_dict of PyTorch's layout: the entries in the loaded state's order,
        and the state the given one, as torch's load casts it: a new dict and new lists
        holding the given Tensors (a copy where the parameters' dtype differs), numbers as
        they are; an older dlpy state's arrays as the flat load restored them."""
        order = self.__dict__["_order"] = {}
        if not isinstance(given, dict):
            return
        dtype = self._params[0].data.dtype
        cast_to = dtype if dtype.kind == "f" else None  # (torch: floating parameters only)

        def cast(value):
            if isinstance(value, Tensor):
                if cast_to is None or value.data.dtype == cast_to:
                    return value
                return Tensor(value.data.astype(cast_to))
            if isinstance(value, (list, tuple)):
                return type(value)(cast(v) for v in value)
            return value

        def torch_kind(value) -> bool:
            if isinstance(value, (list, tuple)):
                return all(v is None or isinstance(v, Tensor) for v in value)
            return not isinstance(value, np.ndarray)

        for index, slots in self._given_entries(given):
            order.setdefault(index)
            if index != 0 or not isinstance(slots, dict):
                continue
            raw = list.__getitem__(self.state, 0)
            adopted = {slot: cast(value) if torch_kind(value) else raw[slot]
                       for slot, value in slots.items() if slot in raw}
            adopted.update({slot: value for slot, value in raw.items() if slot not in adopted})
            raw.clear()
            raw.update(adopted)
