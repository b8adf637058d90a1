"""``torch.special`` as dlpy spells it: the special functions under PyTorch's names.

    import dlpy.special
    dlpy.special.ndtri(p)            # the standard normal quantile
    dlpy.special.i1e(x)              # exp(-|x|) I1(x)

Most are dlpy's own functions under a second name (``expit`` is ``sigmoid``, ``gammaln`` is
``lgamma``, ``multigammaln`` is ``mvlgamma``); the rest are in dlpy.ops.special_more. The Bessel,
Airy and orthogonal-polynomial functions are not differentiable, as in PyTorch: their results
never require grad.
"""

from __future__ import annotations

import numpy as np

from dlpy.functional import (
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    i0,
    log1p,
    logit,
    logsumexp,
    mvlgamma,
    polygamma,
    sigmoid,
    sinc,
    xlogy,
)
from dlpy.functional import log_softmax as _log_softmax
from dlpy.functional import round as _round
from dlpy.functional import softmax as _softmax
from dlpy.ops.special import digamma, gammainc, lgamma
from dlpy.ops.special_more import (
    airy_ai,
    bessel_j0,
    bessel_j1,
    bessel_y0,
    bessel_y1,
    chebyshev_polynomial_t,
    chebyshev_polynomial_u,
    chebyshev_polynomial_v,
    chebyshev_polynomial_w,
    entr,
    erfcx,
    gammaincc,
    hermite_polynomial_h,
    hermite_polynomial_he,
    i0e,
    i1,
    i1e,
    laguerre_polynomial_l,
    legendre_polynomial_p,
    log_ndtr,
    modified_bessel_i0,
    modified_bessel_i1,
    modified_bessel_k0,
    modified_bessel_k1,
    ndtr,
    ndtri,
    scaled_modified_bessel_k0,
    scaled_modified_bessel_k1,
    shifted_chebyshev_polynomial_t,
    shifted_chebyshev_polynomial_u,
    shifted_chebyshev_polynomial_v,
    shifted_chebyshev_polynomial_w,
    spherical_bessel_j0,
    xlog1py,
    zeta,
)

expit = sigmoid
gammaln = lgamma
psi = digamma


def round(input, *, decimals: int = 0):  # noqa: A001, A002 - PyTorch's names
    """torch.special.round: torch.round with decimals (a keyword) always given, so integer
    tensors raise."""
    return _round(input, decimals=decimals)


def _dim(name: str, dim):
    if dim is None or isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"special_{name}(): argument 'dim' must be int, not "
                        f"{type(dim).__name__}")
    return dim


def softmax(input, dim=None, dtype=None, *, axis=None):  # noqa: A002 - PyTorch's names
    """torch.special.softmax: F.softmax with ``dim`` required (no implicit choice)."""
    return _softmax(input, _dim("softmax", dim if axis is None else axis), dtype=dtype)


def log_softmax(input, dim=None, dtype=None, *, axis=None):  # noqa: A002 - PyTorch's names
    """torch.special.log_softmax: F.log_softmax with ``dim`` required (no implicit choice)."""
    return _log_softmax(input, _dim("log_softmax", dim if axis is None else axis), dtype=dtype)


def multigammaln(x, p: int):
    """torch.special.multigammaln: the multivariate log-gamma of dimension p (torch.mvlgamma)."""
    return mvlgamma(x, p)


__all__ = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "chebyshev_polynomial_t",
    "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w", "digamma",
    "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc",
    "gammaincc", "gammaln", "hermite_polynomial_h", "hermite_polynomial_he", "i0", "i0e", "i1",
    "i1e", "laguerre_polynomial_l", "legendre_polynomial_p", "log1p", "log_ndtr",
    "log_softmax", "logit", "logsumexp", "modified_bessel_i0", "modified_bessel_i1",
    "modified_bessel_k0", "modified_bessel_k1", "multigammaln", "ndtr", "ndtri", "polygamma",
    "psi", "round", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "sinc", "softmax",
    "spherical_bessel_j0", "xlog1py", "xlogy", "zeta",
]


def _with_out(function):
    """torch.special's out= (every function but softmax and log_softmax): the result written
    into the given tensor, as dlpy's top-level functions do (dlpy._no_out)."""
    from dlpy import _no_out

    return _no_out(function)


_wrapped = {}  # one wrapper a function: psi stays digamma
for _name in __all__:
    if _name not in ("softmax", "log_softmax"):
        _function = globals()[_name]
        globals()[_name] = _wrapped.setdefault(id(_function), _with_out(_function))
del _name, _function, _wrapped
