"""``torch.nn.utils.parametrizations``: weight normalisation and spectral normalisation as
parametrizations (dlpy.nn.parametrize), the API PyTorch recommends (its older
``nn.utils.weight_norm`` / ``spectral_norm`` hooks are not here).

    layer = parametrizations.weight_norm(nn.Linear(20, 40))
    layer.parametrizations.weight.original0   # g, (40, 1)
    layer.parametrizations.weight.original1   # v, (40, 20)
    layer.weight                              # g * v / |v|, recomputed at every use

The state-dict names are PyTorch's: ``parametrizations.weight.original0`` / ``original1``
for weight_norm, ``parametrizations.weight.original`` and the power iteration's
``parametrizations.weight.0._u`` / ``_v`` for spectral_norm.
"""

from __future__ import annotations

import numpy as np

import dlpy.functional as F
from dlpy.nn.module import Module
from dlpy.nn.parametrize import register_parametrization
from dlpy.random import get_rng
from dlpy.tensor import Tensor

__all__ = ["spectral_norm", "weight_norm"]


def _norm_axes(ndim: int, dim: int) -> tuple[int, ...]:
    """The axes norm_except_dim sums over: every axis but ``dim`` (all of them for -1)."""
    return tuple(range(ndim)) if dim == -1 else tuple(a for a in range(ndim) if a != dim)


def _check_dim(owner: str, dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) \
            or not -ndim <= dim < ndim:
        raise ValueError(f"{owner}: dim must be an axis of the {ndim}-d weight (or None), "
                         f"got {dim!r}")
    return int(dim)


class _WeightNorm(Module):
    """weight = g * v / norm_except_dim(v): the norm over every axis but ``dim`` (kept as
    size-1 axes), or of the whole tensor for dim -1 (PyTorch's meaning of -1 here, not the
    last axis)."""

    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        norm = weight_v.norm(2, axis=_norm_axes(weight_v.ndim, self.dim),
                             keepdims=self.dim != -1)
        return weight_v * (weight_g / norm)

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        """(g, v) = (norm_except_dim(weight), weight)."""
        data = weight.data
        axes = _norm_axes(data.ndim, self.dim)
        g = np.sqrt(np.sum(data * data, axis=axes, keepdims=self.dim != -1))
        return Tensor(g.astype(data.dtype)), weight


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrize ``module.<name>`` as g * v / |v| (Salimans & Kingma): the magnitude
    ``original0`` (g, one per slice along ``dim``; one number for dim None) and the direction
    ``original1`` (v, the weight's shape), both learnt. Returns ``module``.

    PyTorch's dim -1 (and None) mean the whole tensor's norm."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
    dim = -1 if dim is None else _check_dim("weight_norm", dim, weight.ndim)
    if dim < -1:
        dim += weight.ndim
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


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
        if isinstance(n_power_iterations, bool) or \
                not isinstance(n_power_iterations, (int, np.integer)) or n_power_iterations <= 0:
            raise ValueError(f"spectral_norm: n_power_iterations must be a positive integer, "
                             f"got {n_power_iterations!r}")
        self.dim = dim % ndim
        self.eps = float(eps)
        if ndim > 1:
            self.n_power_iterations = int(n_power_iterations)
            weight_mat = self._matrix(weight.data)
            h, w = weight_mat.shape
            rng = get_rng(rng)
            dtype = weight_mat.dtype
            self.register_buffer("_u", self._normalize(rng.standard_normal(h).astype(dtype)))
            self.register_buffer("_v", self._normalize(rng.standard_normal(w).astype(dtype)))
            self._power_method(weight_mat, 15)  # start from reasonable u, v

    def _matrix(self, weight):
        """The weight (array or Tensor) as a matrix: ``dim`` first, the rest flattened."""
        if self.dim != 0:
            weight = weight.transpose(self.dim, *(a for a in range(weight.ndim)
                                                  if a != self.dim))
        return weight.reshape(weight.shape[0], -1)

    def _normalize(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """x / max(|x|, eps), into ``out`` when given (F.normalize's formula)."""
        return np.divide(x, max(float(np.sqrt(np.dot(x, x))), self.eps), out=out)

    def _power_method(self, weight_mat: np.ndarray, n_power_iterations: int) -> None:
        # in place: a copy of the module shares nothing, but a view of the buffers sees it
        for _ in range(n_power_iterations):
            self._normalize(weight_mat @ self._v, out=self._u)
            self._normalize(weight_mat.T @ self._u, out=self._v)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._matrix(weight)
        if self.training:
            self._power_method(weight_mat.data, self.n_power_iterations)
        u, v = Tensor(self._u.copy()), Tensor(self._v.copy())
        sigma = (u * (weight_mat @ v)).sum()
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: Module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None,
                  rng: np.random.Generator | None = None) -> Module:
    """Divide ``module.<name>`` by its spectral norm, estimated by power iteration (Miyato et
    al.), at every use; the weight is ``parametrizations.<name>.original``. ``dim`` (default
    1 for ConvTranspose1d/2d, else 0) is the output axis. u and v start as random unit
    vectors from ``rng`` (dlpy's default generator) followed by 15 power iterations, and one
    more round at registration in training mode, as PyTorch's. Returns ``module``."""
    from dlpy.nn.conv import ConvTranspose1d, ConvTranspose2d

    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d)) else 0
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps, rng=rng))
