"""``torch.nn.utils.parametrizations``: weight normalisation, spectral normalisation and
orthogonal matrices as parametrizations (dlpy.nn.parametrize), the API PyTorch recommends.

    layer = parametrizations.weight_norm(nn.Linear(20, 40))
    layer.parametrizations.weight.original0   # g, (40, 1)
    layer.parametrizations.weight.original1   # v, (40, 20)
    layer.weight                              # g * v / |v|, recomputed at every use

The state-dict names are PyTorch's: ``parametrizations.weight.original0`` / ``original1``
for weight_norm, ``parametrizations.weight.original`` and the power iteration's
``parametrizations.weight.0._u`` / ``_v`` for spectral_norm, ``parametrizations.weight.original``
and ``parametrizations.weight.0.base`` for orthogonal. The older hook forms
(``nn.utils.weight_norm`` / ``spectral_norm``, in nn/utils.py) use the same formulas, from
the helpers here.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

import dlpy.functional as F
from dlpy import random_streams
from dlpy.nn.module import Module
from dlpy.nn.parametrize import register_parametrization
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def _norm_axes(ndim: int, dim: int) -> tuple[int, ...]:
    """The axes norm_except_dim sums over: every axis but ``dim`` (all of them for -1)."""
    return tuple(range(ndim)) if dim == -1 else tuple(a for a in range(ndim) if a != dim)


class _DimError(IndexError, ValueError):
    """A dim out of the weight's range: torch's IndexError, dlpy's ValueError."""


class _DimTypeError(_DimError, TypeError):
    """A dim that is not an integer (torch's TypeError)."""


def _check_dim(owner: str, dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise _DimTypeError(f"{owner}: dim must be an integer axis of the {ndim}-d weight (or "
                            f"None), got {dim!r}")
    if not -ndim <= dim < ndim:
        raise _DimError(f"{owner}: dim must be an axis of the {ndim}-d weight (or None), "
                        f"got {dim!r}")
    return int(dim)


# ----------------------------------------------------------------------------- weight norm
def _weight_norm_dim(owner: str, dim: int | None, ndim: int) -> int:
    """PyTorch's dim of weight norm: -1 (and None) the whole tensor, else an axis >= 0."""
    dim = -1 if dim is None else _check_dim(owner, dim, ndim)
    return dim + ndim if dim < -1 else dim


def _weight_norm(weight_g: Tensor, weight_v: Tensor, dim: int) -> Tensor:
    """g * v / norm_except_dim(v) (torch._weight_norm): the norm over every axis but ``dim``
    (kept as size-1 axes), or of the whole tensor for dim -1."""
    axes = _norm_axes(weight_v.ndim, dim)
    # no axes (a 1-d weight along dim 0): each element's own norm, |v| (0/0 is NaN, as torch's)
    norm = weight_v.norm(2, dim=axes, keepdim=dim != -1) if axes else weight_v.abs()
    return weight_v * (weight_g / norm)


def _norm_except_dim(weight: np.ndarray, dim: int) -> np.ndarray:
    """g of a weight: its 2-norm over every axis but ``dim`` (torch.norm_except_dim)."""
    axes = _norm_axes(weight.ndim, dim)
    return np.sqrt(np.sum(weight * weight, axis=axes, keepdims=dim != -1)).astype(weight.dtype)


class _NoWeightError(ValueError, AttributeError):
    """weight_norm of a tensor that is None: a ValueError as a missing one, and torch's
    AttributeError."""


class _WeightNorm(Module):
    """weight = g * v / norm_except_dim(v) (``_weight_norm``); dim -1 is PyTorch's meaning
    here (the whole tensor), not the last axis."""

    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return _weight_norm(weight_g, weight_v, self.dim)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        """(g, v) = (norm_except_dim(weight), weight)."""
        return Tensor(_norm_except_dim(weight.data, self.dim)), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as g * v / |v| (Salimans & Kingma): the magnitude
    ``original0`` (g, one per slice along ``dim``; one number for dim None) and the direction
    ``original1`` (v, the weight's shape), both learnt. Returns ``module``.

    PyTorch's dim -1 (and None) mean the whole tensor's norm."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):  # a None one: torch's AttributeError (from .shape)
        error = _NoWeightError if hasattr(module, name) else ValueError
        raise error(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    dim = _weight_norm_dim("weight_norm", dim, weight.ndim)
    register_parametrization(module, name, _WeightNorm(dim), unsafe=True)

    def load_old_names(module, state, prefix, *_):
        """A state dict of the old nn.utils.weight_norm (<name>_g, <name>_v) loads, as torch's."""
        g_key, v_key = f"{prefix}{name}_g", f"{prefix}{name}_v"
        if g_key in state and v_key in state:
            state[f"{prefix}parametrizations.{name}.original0"] = state.pop(g_key)
            state[f"{prefix}parametrizations.{name}.original1"] = state.pop(v_key)

    module.register_load_state_dict_pre_hook(load_old_names)
    return module


# ----------------------------------------------------------------------------- spectral norm
class _IterationsTypeError(ValueError, TypeError):
    """n_power_iterations that is not an integer (torch's TypeError from range())."""


def _check_iterations(owner: str, n_power_iterations) -> int:
    if isinstance(n_power_iterations, bool) or \
            not isinstance(n_power_iterations, (int, np.integer)):
        raise _IterationsTypeError(f"{owner}: n_power_iterations must be a positive integer, "
                                   f"got {n_power_iterations!r}")
    if n_power_iterations <= 0:
        raise ValueError(f"{owner}: n_power_iterations must be a positive integer, got "
                         f"{n_power_iterations!r}")
    return int(n_power_iterations)


def _spectral_dim(module: Module, dim: int | None) -> int:
    """The output axis: ``dim``, or by default 1 for a transposed convolution, else 0."""
    from dlpy.nn.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d

    if dim is not None:
        return dim
    return 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0


def _weight_matrix(weight, dim: int):
    """The weight (array or Tensor) as a matrix: axis ``dim`` first, the rest flattened."""
    if dim != 0:
        weight = weight.transpose(dim, *(a for a in range(weight.ndim) if a != dim))
    return weight.reshape(weight.shape[0], -1)


def _normalize(x: np.ndarray, eps: float, out: np.ndarray | None = None) -> np.ndarray:
    """x / max(|x|, eps), into ``out`` when given (F.normalize's formula)."""
    return np.divide(x, max(float(np.sqrt(np.dot(x, x))), eps), out=out)


def _power_method(weight_mat: np.ndarray, u: np.ndarray, v: np.ndarray,
                  n_power_iterations: int, eps: float) -> None:
    """``n_power_iterations`` of u = normalize(W v), v = normalize(W^T u), in place (a view
    of the buffers sees it). The hook form's order (v first) is this on (W^T, v, u)."""
    for _ in range(n_power_iterations):
        _normalize(weight_mat @ v, eps, out=u)
        _normalize(weight_mat.T @ u, eps, out=v)


def _divide_by_sigma(weight: Tensor, weight_mat: Tensor, u: np.ndarray,
                     v: np.ndarray) -> Tensor:
    """weight / sigma, sigma = u . (W v): the gradient flows through W, u and v are constants
    (copies, so a later power iteration does not change what backward reads)."""
    sigma = (Tensor(u.copy()) * (weight_mat @ Tensor(v.copy()))).sum()
    return weight / sigma


class _SpectralNorm(Module):
    """weight / sigma, sigma ~ the largest singular value of the weight as a matrix (``dim``
    first, the other axes flattened), from ``_u`` and ``_v``: sigma = u . (W v). In training
    each use first runs ``n_power_iterations`` of u = normalize(W v), v = normalize(W^T u),
    in place; in eval u and v stay. A 1-d weight is simply normalised."""

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12, rng: np.random.Generator | None = None):
        super().__init__()
        ndim = weight.ndim
        dim = _check_dim("spectral_norm", dim, ndim)
        n_power_iterations = _check_iterations("spectral_norm", n_power_iterations)
        self.dim = dim % ndim
        self.eps = float(eps)
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            weight_mat = _weight_matrix(weight.data, self.dim)
            h, w = weight_mat.shape
            rng = get_rng(rng)
            dtype = weight_mat.dtype
            self.register_buffer("_u", _normalize(random_streams.normal(rng, (h,), dtype),
                                                  self.eps))  # (torch's normal_, u then v)
            self.register_buffer("_v", _normalize(random_streams.normal(rng, (w,), dtype),
                                                  self.eps))
            _power_method(weight_mat, self._u.data, self._v.data, 15, self.eps)  # a start

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = _weight_matrix(weight, self.dim)
        if self.training:
            # into the buffers' arrays, in place as torch's (a reference to _u sees it)
            _power_method(weight_mat.data, self._u.data, self._v.data, self.n_power_iterations,
                          self.eps)
        return _divide_by_sigma(weight, weight_mat, self._u.data, self._v.data)

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None,
                  rng: np.random.Generator | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration (Miyato et
    al.), at every use; the weight is ``parametrizations.<name>.original``. ``dim`` (default
    1 for ConvTranspose1d/2d/3d, else 0) is the output axis. u and v start as random unit
    vectors from ``rng`` (dlpy's default generator) followed by 15 power iterations, and one
    more round at registration in training mode, as PyTorch's. Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, _spectral_dim(module, dim), eps,
                                    rng=rng))


# ----------------------------------------------------------------------------- orthogonal
class _OrthMaps(str, Enum):
    """The maps orthogonal() offers: ``_Orthogonal.orthogonal_map`` holds one, an enum as
    torch's (``.name``) that still equals its name as a string."""

    matrix_exp = "matrix_exp"
    cayley = "cayley"
    householder = "householder"


_ORTHOGONAL_MAPS = tuple(_OrthMaps.__members__)


def _is_orthogonal(q: np.ndarray) -> bool:
    """Q^H Q = I (every matrix of the batch) within torch's tolerance, 10 n eps."""
    n, k = q.shape[-2:]
    eps = 10.0 * n * np.finfo(q.dtype).eps
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: not orthogonal, quietly
        return bool(np.allclose(np.swapaxes(q, -1, -2).conj() @ q, np.eye(k), rtol=1e-5,
                                atol=eps))


def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """The Q of A = QR (A tall, batched) with diag(R) >= 0 (a zero there gives a zero
    column, as torch's; a complex one's columns times sgn of R's diagonal, z / |z|)."""
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    # each matrix column-major, as torch's householder_product (LAPACK) writes it
    return np.swapaxes(np.ascontiguousarray(np.swapaxes(q, -1, -2)), -1, -2)


class _Orthogonal(Module):
    """Q orthogonal (orthonormal columns, or rows for a wide matrix; a batch of them for more
    than 2 axes) from an unconstrained X: ``matrix_exp`` exp(A) and ``cayley`` (I - A/2)^-1
    (I + A/2) of the skew-symmetric A made from X's lower triangle, ``householder`` the
    product of the reflectors below X's diagonal. With ``base`` (use_trivialization),
    Q = base @ map(X): assigning a weight stores it as ``base`` and sets X to -I."""

    def __init__(self, weight: Tensor, orthogonal_map: str, *, use_trivialization: bool = True,
                 rng: np.random.Generator | None = None):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = _OrthMaps[orthogonal_map] if isinstance(orthogonal_map, str) \
            else orthogonal_map
        self.rng = rng  # the random columns that complete a non-square base; None: default
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x: Tensor) -> Tensor:
        from dlpy.linalg import householder_product, matrix_exp, solve

        n, k = x.shape[-2:]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in (_OrthMaps.matrix_exp, _OrthMaps.cayley):
            x = x.tril()
            if n != k:
                x = F.cat([x, Tensor(np.zeros(x.shape[:-2] + (n, n - k), x.dtype))], dim=-1)
            a = x - x.mH  # skew-symmetric (skew-Hermitian for a complex X)
            if self.orthogonal_map is _OrthMaps.matrix_exp:
                q = matrix_exp(a)
            else:
                identity = Tensor(np.eye(n, dtype=a.dtype))
                q = solve(identity - 0.5 * a, identity + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(-1)
            tau = 2.0 / (1.0 + (a * a).sum(axis=-2))
            q = householder_product(a, tau)
            # the signs: X's diagonal truncated to integers, a constant (torch's .int())
            q = q * np.trunc(np.diagonal(x.data, axis1=-2, axis2=-1))[..., None, :]
        if "base" in self._buffers:
            q = self.base @ q  # the buffer, a constant Tensor
        return q.mT if transposed else q

    def right_inverse(self, q: Tensor) -> Tensor:
        """The X that gives ``q``: with a base, base = q (orthogonalised by QR if it is not
        orthogonal; a non-square q completed by random columns) and X = -I; without, the
        Householder vectors of q's QR (``householder`` only)."""
        if q.shape != self.shape:
            raise ValueError(f"orthogonal: expected a matrix (or batch) of shape {self.shape}, "
                             f"got {q.shape}")
        data = q.data
        n, k = data.shape[-2:]
        transpose = n < k
        if transpose:
            data = np.swapaxes(data, -1, -2)
            n, k = k, n
        if "base" not in self._buffers:
            if self.orthogonal_map is not _OrthMaps.householder:
                raise NotImplementedError(
                    f"orthogonal: a {self.orthogonal_map.name} parametrization cannot be assigned "
                    "to with use_trivialization=False")
            from dlpy.ops.linalg_more import geqrf_numpy

            a, tau = geqrf_numpy(data)
            diagonal = np.einsum("...ii->...i", a[..., :k, :k])  # a writable view
            diagonal[...] = np.sign(diagonal) * np.where(tau == 0.0, -1.0, 1.0)
            return Tensor(np.swapaxes(a, -1, -2) if transpose else a)
        if n == k:
            base = data.copy() if _is_orthogonal(data) else _make_orthogonal(data)
        else:
            shape = data.shape[:-2] + (n, n - k)
            if data.dtype.kind == "c":  # torch's complex randn: its real view's draws
                from dlpy.nn.init import _normal

                extra = _normal(Tensor(np.empty(shape, data.dtype)), 0.0, 1.0, self.rng,
                                "orthogonal").data
            else:
                extra = random_streams.normal(get_rng(self.rng), shape, data.dtype)  # (randn)
            base = _make_orthogonal(np.concatenate([data, extra], axis=-1))
        self.base = base.astype(data.dtype, copy=False)
        minus_identity = np.zeros(q.shape, dtype=q.dtype)
        np.einsum("...ii->...i", minus_identity[..., :min(n, k), :min(n, k)])[...] = -1.0
        return Tensor(minus_identity)


def orthogonal(module: Module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True,
               rng: np.random.Generator | None = None) -> Module:
    """Make ``module.<name>`` (a matrix or a batch of them, real) orthogonal: Q^T Q = I for a
    tall matrix, Q Q^T = I for a wide one, through ``orthogonal_map`` ("matrix_exp",
    "cayley" or "householder"; default matrix_exp for a square matrix, else householder).
    With ``use_trivialization`` (PyTorch's dynamic trivialization) Q = base @ map(X), base
    (``parametrizations.<name>.0.base``) starting as the weight orthogonalised by QR, so the
    layer's weight starts as that. ``rng``: the random columns that complete a non-square
    base. Returns ``module``."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"orthogonal: {type(module).__name__} has no parameter or buffer "
                         f"{name!r}")
    if weight.ndim < 2:
        raise ValueError(f"orthogonal: expected a matrix or a batch of matrices, got a tensor "
                         f"of shape {weight.shape}")
    if weight.data.dtype.kind not in "fc":
        raise TypeError(f"orthogonal: expected a floating-point or complex weight, got "
                        f"{weight.data.dtype}")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] \
            or weight.data.dtype.kind == "c" else "householder"
    if not isinstance(orthogonal_map, str):  # torch's getattr(_OrthMaps, map)
        raise TypeError(f"orthogonal: orthogonal_map must be a string, got "
                        f"{type(orthogonal_map).__name__}")
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError(f"orthogonal: orthogonal_map must be one of "
                         f"{', '.join(_ORTHOGONAL_MAPS)}, got {orthogonal_map!r}")
    if orthogonal_map == "householder" and weight.data.dtype.kind == "c":
        raise ValueError("The householder parametrization does not support complex tensors.")
    parametrization = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization,
                                  rng=rng)
    return register_parametrization(module, name, parametrization, unsafe=True)
