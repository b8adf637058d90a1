"""Time GELU: the float64 erf against math.erf, and float32 GELU against PyTorch's.

    python benchmarks/gelu_erf.py [--size 1000000] [--repeats 5] [--runs 25]
    python benchmarks/gelu_erf.py --fit      # re-derive activation._LOGIT_PHI
    python benchmarks/gelu_erf.py --fit-erf --fit-erfinv --fit-erfc  # _ATANH_ERF, _ERFINV_*,
                                                                     # _ERFC_SCALED

float64: GELU's erf (W. J. Cody's rational approximations, vectorised) against the per-element
math.erf it replaced, on x / sqrt(2) for standard normal x (nearly all below 4, Cody's two inner
ranges) and on 3 * standard normal (18% beyond 4, the masked outer range), alternating; prints
the speedup and the largest difference from math.erf.

float32: dlpy's GELU, exact (x sigmoid(x P(x^2)), P fitted below) and approximate="tanh",
forward and forward + backward on a (2048, 1024) activation, against torch.nn.functional.gelu
(one thread) when torch is installed; minima of --runs, the two alternating (benchmarks/timing.py).
Also the largest error of each over a dense grid of [-12, 12] against float64 x Phi(x):
|y - x Phi(x)| / max(1, |x|), and the gradient's |dy - (Phi + x phi)|.

--fit prints the coefficients of P: v(x) = logit(Phi(x)) = x P(x^2) fitted on 0 < x <= 6 in float64
(math.erfc for the tail), weighted minimax by Lawson's iteratively reweighted least squares with
weight x Phi (1 - Phi) (Phi's error per unit error of P), and checks that v' has no root x > 0.
--fit-erf: float32 erf's atanh(erf(x)) = x P(x^2) on 0 < x <= 4, weight (1 - erf^2) x / erf (erf's
relative error); --fit-erfinv: erfinv(x) / x as polynomials in w - 2.5 and sqrt(w) - 3, w =
-log(1 - x^2), relative error (the same Lawson fit). Their speed: benchmarks/speed_gaps.py.
"""

from __future__ import annotations

import argparse
import math
import os
import time

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
from timing import best_of  # noqa: E402

from dlpy.ops.activation import GELU, GELUTanh, _erf  # noqa: E402

_math_erf = np.frompyfunc(math.erf, 1, 1)
_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def old_erf(x: np.ndarray) -> np.ndarray:
    """What GELU used before: math.erf element by element."""
    return np.asarray(_math_erf(x), dtype=np.float64)


def measure(x: np.ndarray, repeats: int) -> tuple[float, float, float]:
    """Best seconds of the old and the new erf on x, and the new one's max abs error."""
    best_old = best_new = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        expected = old_erf(x)
        best_old = min(best_old, time.perf_counter() - start)
        start = time.perf_counter()
        result = _erf(x)
        best_new = min(best_new, time.perf_counter() - start)
    return best_old, best_new, float(np.max(np.abs(result - expected)))


def fit_logit_phi(degree: int = 6, upper: float = 6.0, points: int = 40000,
                  iterations: int = 500) -> tuple[np.ndarray, float]:
    """Coefficients (lowest first) of P with logit(Phi(x)) ~ x P(x^2), and the fit's largest
    error in Phi."""
    x = np.linspace(1e-4, upper, points)
    tail = 0.5 * _math_erfc(x / math.sqrt(2.0)).astype(np.float64)  # 1 - Phi(x), no cancellation
    target = (np.log1p(-tail) - np.log(tail)) / x  # even in x
    return lawson_fit(x * x, target, x * tail * (1 - tail), degree, iterations)


def fit_atanh_erf(degree: int = 10, upper: float = 4.0, points: int = 40000,
                  iterations: int = 400) -> tuple[np.ndarray, float]:
    """Coefficients (lowest first) of P with atanh(erf(x)) ~ x P(x^2) on 0 < x <= upper, and the
    fit's largest relative error in erf."""
    x = np.linspace(1e-4, upper, points)
    erf = _math_erf(x).astype(np.float64)
    erfc = _math_erfc(x).astype(np.float64)  # atanh(erf) = log((1 + erf) / (1 - erf)) / 2
    target = np.where(x < 1, np.log1p(erf) - np.log1p(-erf), np.log(2 - erfc) - np.log(erfc))
    return lawson_fit(x * x, target / (2 * x), (1 - erf * erf) * x / erf, degree, iterations)


def fit_erfc_scaled(degree: int = 12, upper: float = 10.1, points: int = 40000,
                    iterations: int = 300) -> tuple[np.ndarray, float]:
    """Coefficients (lowest first) of P with erfc(y) exp(y^2) ~ P(t), t = 2 / (2 + y), on
    0 <= y <= upper (float32's erfc underflows past 10.06), and the largest relative error."""
    y = np.linspace(0.0, upper, points)
    target = np.array([math.erfc(v) * math.exp(v * v) for v in y])
    return lawson_fit(2 / (2 + y), target, 1 / target, degree, iterations)


def fit_erfinv(degree: int = 11, iterations: int = 300) -> dict[str, tuple[np.ndarray, float]]:
    """float32 erfinv as x P(w), w = -log(1 - x^2): P in w - 2.5 for w < 5 ("central") and in
    sqrt(w) - 3 for 5 <= w <= 16.7 ("tail", to x = 1 - 2^-24): coefficients lowest first and the
    largest relative error, against float64 erfinv (Newton's method on erf and erfc)."""
    from dlpy.ops.special import erfinv_array

    fits = {}
    for name, w, variable in (("central", np.linspace(1e-9, 5.0, 20000), lambda w: w - 2.5),
                              ("tail", np.linspace(5.0, 16.7, 20000), lambda w: np.sqrt(w) - 3)):
        x = np.sqrt(-np.expm1(-w))
        w = -np.log((1 - x) * (1 + x))  # as the kernel computes it
        target = erfinv_array(x, newton_steps=6) / x
        fits[name] = lawson_fit(variable(w), target, 1 / target, degree, iterations)
    return fits


def lawson_fit(t, target, weight, degree: int, iterations: int) -> tuple[np.ndarray, float]:
    """P of the degree with the least largest |P(t) - target| * weight (Lawson's iteratively
    reweighted least squares): coefficients lowest first, and that error."""
    powers = np.vander(t, degree + 1, increasing=True)
    lawson = np.full(t.size, 1.0 / t.size)
    for _ in range(iterations):
        root = np.sqrt(lawson) * weight
        coefficients = np.linalg.lstsq(powers * root[:, None], target * root, rcond=None)[0]
        error = np.abs(powers @ coefficients - target) * weight
        lawson *= error
        lawson /= lawson.sum()
    return coefficients, float(error.max())


def print_fit() -> None:
    from numpy.polynomial import polynomial

    coefficients, error = fit_logit_phi()
    print(f"largest error in Phi: {error:.2e}")
    print("_LOGIT_PHI = (" + ", ".join(f"{c:.9e}" for c in coefficients) + ")")
    # v'(x) = P(s) + 2 s P'(s), s = x^2: no positive real root means v rises monotonically
    slope = polynomial.polyadd(coefficients,
                               2 * polynomial.polymulx(polynomial.polyder(coefficients)))
    roots = polynomial.polyroots(slope)
    positive = roots[(np.abs(roots.imag) < 1e-9) & (roots.real > 0)]
    print(f"positive real roots of v' in x^2: {positive.real.tolist() or 'none'}")


def float32_errors(torch) -> dict[str, tuple[float, float]]:
    """(value error / max(1, |x|), gradient error) over a dense grid, for dlpy and torch."""
    x = np.linspace(-12, 12, 2_400_001).astype(np.float32)
    x64 = x.astype(np.float64)
    phi = np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + _erf(x64 / math.sqrt(2.0)))
    u = math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)
    t = np.tanh(u)
    exact = {"none": (x64 * cdf, cdf + x64 * phi),
             "tanh": (0.5 * x64 * (1 + t), 0.5 * (1 + t) + 0.5 * x64 * (1 - t * t)
                      * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x64 * x64))}
    ones = np.ones_like(x)
    errors = {}
    for approximate, op in (("none", GELU), ("tanh", GELUTanh)):
        value, slope = exact[approximate]
        gelu = op()
        results = {"dlpy": (gelu.forward(x), gelu.backward(ones)[0])}
        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_()
            ty = torch.nn.functional.gelu(tx, approximate=approximate)
            ty.backward(torch.from_numpy(ones))
            results["torch"] = (ty.detach().numpy(), tx.grad.numpy())
        for name, (y, dy) in results.items():
            errors[f"{name} {approximate}"] = (
                float(np.max(np.abs(y - value) / np.maximum(1, np.abs(x64)))),
                float(np.max(np.abs(dy - slope))))
    return errors


def time_float32(torch, runs: int) -> None:
    x = np.random.default_rng(0).standard_normal((2048, 1024)).astype(np.float32)
    ones = np.ones_like(x)
    if torch is not None:
        tx, tg = torch.from_numpy(x), torch.from_numpy(ones)
    print(f"\nfloat32 GELU on {x.shape}, minima of {runs} runs, alternating")
    print(f"{'':22}{'dlpy ms':>9}{'torch ms':>10}{'ratio':>8}")
    for approximate, op in (("none", GELU), ("tanh", GELUTanh)):
        def forward(op=op):
            op().forward(x)

        def both(op=op):
            gelu = op()
            gelu.forward(x)
            gelu.backward(ones)

        contenders = [forward, both]
        if torch is not None:
            def torch_forward(approximate=approximate):
                torch.nn.functional.gelu(tx, approximate=approximate)

            def torch_both(approximate=approximate):
                leaf = tx.detach().requires_grad_()
                torch.nn.functional.gelu(leaf, approximate=approximate).backward(tg)

            contenders = [forward, torch_forward, both, torch_both]
        times = best_of(runs, *contenders)
        if torch is None:
            times = [times[0], float("nan"), times[1], float("nan")]
        for label, (mine, theirs) in (("forward", times[:2]), ("forward+backward", times[2:])):
            print(f"{approximate + ' ' + label:22}{mine * 1e3:9.2f}{theirs * 1e3:10.2f}"
                  f"{mine / theirs:7.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="float64 elements")
    parser.add_argument("--repeats", type=int, default=5, help="float64 runs; the best is kept")
    parser.add_argument("--runs", type=int, default=25, help="float32 runs; the best is kept")
    parser.add_argument("--fit", action="store_true", help="print the float32 fit and stop")
    parser.add_argument("--fit-erf", action="store_true",
                        help="print float32 erf's fit (activation._ATANH_ERF) and stop")
    parser.add_argument("--fit-erfinv", action="store_true",
                        help="print erfinv's fits (special._ERFINV_CENTRAL/_TAIL) and stop")
    parser.add_argument("--fit-erfc", action="store_true",
                        help="print float32 erfc's fit (activation._ERFC_SCALED) and stop")
    args = parser.parse_args(argv)
    if args.fit:
        print_fit()
        return
    if args.fit_erf or args.fit_erfinv or args.fit_erfc:
        fits = {"_ATANH_ERF": fit_atanh_erf()} if args.fit_erf else {}
        if args.fit_erfc:
            fits["_ERFC_SCALED"] = fit_erfc_scaled()
        if args.fit_erfinv:
            fits.update({f"_ERFINV_{name.upper()}": fit for name, fit in fit_erfinv().items()})
        for name, (coefficients, error) in fits.items():
            print(f"largest relative error {error:.2e}")
            print(f"{name} = (" + ", ".join(f"{c:.17e}" for c in coefficients) + ")")
        return

    normal = np.random.default_rng(0).standard_normal(args.size)
    inputs = {"N(0,1) / sqrt(2)": normal / math.sqrt(2.0), "3 * N(0,1)": 3.0 * normal}
    print(f"erf on {args.size:,} float64 elements, best of {args.repeats}")
    print(f"{'input':18}{'math.erf ms':>13}{'numpy ms':>10}{'speedup':>9}{'max abs error':>15}")
    for label, x in inputs.items():
        old, new, error = measure(x, args.repeats)
        print(f"{label:18}{old * 1e3:13.1f}{new * 1e3:10.1f}{old / new:8.1f}x{error:15.2e}")

    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    time_float32(torch, args.runs)
    print("\nfloat32 error on [-12, 12]: value / max(1, |x|), gradient")
    for name, (value, slope) in float32_errors(torch).items():
        print(f"{name:12}{value:10.2e}{slope:10.2e}")


if __name__ == "__main__":
    main()
