"""Sparse tensors: torch.sparse's COO and compressed (CSR, CSC, BSR, BSC) layouts, with
autograd.

    S = dlpy.sparse_coo_tensor(indices, values, size)   # indices (sparse_dim, nnz) int64,
                                                        # values (nnz, *dense_dims)
    y = dlpy.sparse.mm(S, X)                            # (m, k) @ (k, n) -> dense (m, n)
    C = dlpy.sparse_csr_tensor(crow, col, values, size) # or S.to_sparse_csr()

A SparseTensor is a fixed pattern (COO indices, or a compressed layout's pointers and plain
indices; ``t()`` turns CSR into CSC on the same arrays) and a values Tensor (of blocks, for
BSR / BSC) that is a node of the graph. Every op maps the values (ops/sparse_tensor.py, or GetItem /
IndexAdd and the arithmetic ops), so gradients reach the values; the ``.grad`` of a sparse leaf
is a sparse tensor with its pattern, as torch's, and a dense operand gets a dense gradient.
The pattern never depends on the values except where torch's does (``to_sparse``).
"""

from __future__ import annotations

import functools

import numpy as np

from dlpy.device import OnCPU, as_device
from dlpy.layouts import NamedConstant
from dlpy.ops import sparse_tensor as _ops
from dlpy.ops.shape import GetItem, IndexAdd, concat
from dlpy.size import Size
from dlpy.sparse_grad import runs
from dlpy.tensor import SparseOperandError, Tensor, _comparable, ambiguous_truth


class SparseValueError(ValueError, RuntimeError):
    """Bad sparse input: a ValueError, and the RuntimeError torch raises for it."""


class SparseTypeError(TypeError, RuntimeError):
    """A wrong kind of operand or dtype: a TypeError, and the RuntimeError torch raises."""


class SparseDimError(IndexError, ValueError, RuntimeError):
    """A dim or index out of range: a ValueError, and the IndexError (or, for some ops, the
    RuntimeError) torch raises."""


class SparseNoKernelError(SparseTypeError, NotImplementedError):
    """An operand of a layout an op has no kernel for (a dense input to sampled_addmm): a
    SparseTypeError, and torch's NotImplementedError ("Could not run ... with arguments from
    the 'CPU' backend")."""


class SparseIndexTypeError(SparseTypeError, IndexError):
    """An index tensor of the wrong dtype (index_select's must be int64): a SparseTypeError,
    and the IndexError torch raises."""


class Layout(NamedConstant):
    """torch.layout: ``dlpy.strided``, ``dlpy.sparse_coo``, ``dlpy.sparse_csr`` (``_csc``,
    ``_bsr``, ``_bsc``), ``dlpy.jagged`` (nested tensors', also ``dlpy.nested.jagged``)."""

    __slots__ = ()


strided, sparse_coo, sparse_csr = Layout("strided"), Layout("sparse_coo"), Layout("sparse_csr")
sparse_csc, sparse_bsr = Layout("sparse_csc"), Layout("sparse_bsr")
sparse_bsc = Layout("sparse_bsc")
_BLOCKED = (sparse_bsr, sparse_bsc)
_BY_ROW = (sparse_csr, sparse_bsr)  # compressed rows; CSC / BSC compress the columns
jagged = Layout("jagged")


class check_sparse_tensor_invariants:  # noqa: N801 - torch's name
    """torch.sparse.check_sparse_tensor_invariants: a context manager (or decorator) under which
    the constructors also check what is costly to check: that a CSR row's columns are sorted
    and distinct. Index ranges, shapes and dtypes, and an ``is_coalesced=True`` claim, are
    always checked. ``enable()``, ``disable()``, ``is_enabled()`` as torch's."""

    _enabled = False

    def __init__(self, enable: bool = True):
        self.state, self.saved = bool(enable), []

    @staticmethod
    def is_enabled() -> bool:
        return check_sparse_tensor_invariants._enabled

    @staticmethod
    def enable() -> None:
        check_sparse_tensor_invariants._enabled = True

    @staticmethod
    def disable() -> None:
        check_sparse_tensor_invariants._enabled = False

    def __enter__(self):
        self.saved.append(check_sparse_tensor_invariants._enabled)
        check_sparse_tensor_invariants._enabled = self.state
        return self

    def __exit__(self, *exc) -> None:
        check_sparse_tensor_invariants._enabled = self.saved.pop()

    def __call__(self, function):
        @functools.wraps(function)
        def checked(*args, **kwargs):
            with check_sparse_tensor_invariants(self.state):
                return function(*args, **kwargs)
        return checked


# ----------------------------------------------------------------- checks of user input
def _index_array(name: str, what: str, value, ndim: int, kinds: str = "iu",
                 kind_error: type = SparseTypeError, dim_error: type = SparseValueError
                 ) -> np.ndarray:
    array = np.asarray(value.data if isinstance(value, Tensor) else value)
    if array.dtype.kind not in kinds and not (array.size == 0 and array.dtype.kind == "f"):
        raise kind_error(f"{name}: {what} must be integers (int64), got {array.dtype}")
    if array.ndim != ndim:
        error = SparseDimError if array.ndim == 0 else dim_error  # torch's classes
        raise error(f"{name}: {what} must have {ndim} dimension{'s' * (ndim > 1)}, got "
                    f"shape {array.shape}")
    return array.astype(np.int64, copy=False)


def _kept_dtype(array: np.ndarray, value) -> np.ndarray:
    """``array`` (int64) in the integer index dtype the user gave: int32 stays int32 (int16,
    int8, uint8 too, which torch keeps unless invariants are checked), as torch's."""
    given = value.dtype if isinstance(value, (Tensor, np.ndarray)) else None
    return array.astype(given) if given is not None and np.dtype(given).kind in "iu" else array


def _values_tensor(name: str, values, dtype, requires_grad: bool) -> Tensor:
    if isinstance(values, SparseTensor):
        raise SparseTypeError(f"{name}: values must be a dense tensor, got a sparse one")
    if not isinstance(values, Tensor):  # torch.tensor's dtypes: [1, 2] is int64
        from dlpy.creation import tensor

        return tensor(values, dtype=dtype, requires_grad=requires_grad)
    if dtype is not None and np.dtype(dtype) != values.dtype:
        values = values.to(dtype)  # (to an integer or bool dtype: out of the graph, as torch's)
    if requires_grad and not values.requires_grad:
        if values.op is not None:
            raise SparseValueError(f"{name}: requires_grad=True needs leaf values")
        values.requires_grad_()
        return values
    if values.requires_grad:  # a node of the graph, as torch's: the tensor is no leaf
        node = (_ops.SparseCooTensorWithDimsAndTensors if name == "sparse_coo_tensor"
                else _ops.SparseCompressedTensor)
        return node()(values)
    return values


def _size(name: str, size) -> tuple[int, ...]:
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise SparseTypeError(f"{name}: size must be a sequence of ints, got {size!r}") from None
    if any(s < 0 for s in size):
        raise SparseValueError(f"{name}: size must not be negative, got {size}")
    return size


def _check_range(name: str, what: str, indices: np.ndarray, sizes) -> None:
    """Each row d of indices (rows, nnz) in [0, sizes[d])."""
    if indices.shape[-1] == 0:
        return
    low, high = indices.min(axis=-1), indices.max(axis=-1)
    for d, size in enumerate(sizes):
        if low[d] < 0 or high[d] >= size:
            bad = low[d] if low[d] < 0 else high[d]
            raise SparseValueError(f"{name}: {what} of dim {d} must lie in [0, {size}), got {bad}")


def _keys(indices: np.ndarray, sizes) -> np.ndarray:
    """One int64 key per entry, row-major (the order of a coalesced tensor)."""
    if indices.shape[0] == 1:
        return indices[0]
    return np.ravel_multi_index(tuple(indices), tuple(sizes))


def _sorted_distinct(keys: np.ndarray) -> bool:
    return bool(np.all(keys[1:] > keys[:-1]))


# ----------------------------------------------------------------- constructors
def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None,
                      requires_grad: bool = False, check_invariants: bool | None = None,
                      is_coalesced: bool | None = None) -> SparseTensor:
    """torch.sparse_coo_tensor: entry j at ``indices[:, j]`` (sparse_dim, nnz) holds
    ``values[j]`` (nnz, *dense_dims); ``size`` defaults to the indices' maxima + 1 and the
    values' dense dims. Repeated indices add up (``coalesce()``). ``is_coalesced=True`` is
    checked (sorted, distinct indices)."""
    name = "sparse_coo_tensor"
    as_device(device, name)  # the CPU; any other a RuntimeError
    indices = _index_array(name, "indices", indices, 2, "iubf")  # torch casts bool, float
    values = _values_tensor(name, values, dtype, requires_grad)
    sparse_dim, nnz = indices.shape
    if sparse_dim == 0:
        raise SparseValueError(f"{name}: indices must have at least one row (sparse_dim >= 1), got "
                               f"shape {indices.shape}")
    if values.ndim == 0 or values.shape[0] != nnz:
        raise SparseValueError(f"{name}: values must have one row per index (nnz={nnz}), got shape "
                               f"{values.shape}")
    if size is None:
        size = tuple(int(n) for n in (indices.max(axis=1) + 1 if nnz else [0] * sparse_dim))
        size += values.shape[1:]
    else:
        size = _size(name, size)
        if len(size) != sparse_dim + values.ndim - 1 or size[sparse_dim:] != values.shape[1:]:
            raise SparseValueError(f"{name}: size {size} does not fit {sparse_dim} sparse dims and "
                                   f"values of shape {values.shape} (dense dims "
                                   f"{values.shape[1:]})")
    _check_range(name, "indices", indices, size[:sparse_dim])
    if is_coalesced and not _sorted_distinct(_keys(indices, size[:sparse_dim])):
        raise SparseValueError(f"{name}: is_coalesced=True but the indices are not sorted and "
                               "distinct; call .coalesce() instead")
    del check_invariants  # COO's invariants are all checked above, always
    # torch's: 0 or 1 entry is coalesced, unless is_coalesced=False says otherwise
    return SparseTensor(sparse_coo, values, tuple(size), indices=indices,
                        coalesced=nnz <= 1 if is_coalesced is None else bool(is_coalesced))


def sparse_csr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None,
                      device=None, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseTensor:
    """torch.sparse_csr_tensor (2-D, no dense dims): row i holds entries
    crow_indices[i]:crow_indices[i + 1] of col_indices and values. Under
    ``check_invariants`` a row's columns must be sorted and distinct."""
    return _compressed("sparse_csr_tensor", sparse_csr, crow_indices, col_indices, values, size,
                       dtype, device, requires_grad, check_invariants)


def sparse_csc_tensor(ccol_indices, row_indices, values, size=None, *, dtype=None,
                      device=None, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseTensor:
    """torch.sparse_csc_tensor: CSR's transpose, column j holds entries
    ccol_indices[j]:ccol_indices[j + 1] of row_indices and values."""
    return _compressed("sparse_csc_tensor", sparse_csc, ccol_indices, row_indices, values, size,
                       dtype, device, requires_grad, check_invariants)


def sparse_bsr_tensor(crow_indices, col_indices, values, size=None, *, dtype=None,
                      device=None, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseTensor:
    """torch.sparse_bsr_tensor: CSR of blocks, values (nnz_blocks, R, C); block row i holds
    blocks crow_indices[i]:crow_indices[i + 1] at block columns col_indices."""
    return _compressed("sparse_bsr_tensor", sparse_bsr, crow_indices, col_indices, values, size,
                       dtype, device, requires_grad, check_invariants)


def sparse_bsc_tensor(ccol_indices, row_indices, values, size=None, *, dtype=None,
                      device=None, requires_grad: bool = False,
                      check_invariants: bool | None = None) -> SparseTensor:
    """torch.sparse_bsc_tensor: CSC of blocks, values (nnz_blocks, R, C)."""
    return _compressed("sparse_bsc_tensor", sparse_bsc, ccol_indices, row_indices, values, size,
                       dtype, device, requires_grad, check_invariants)


def sparse_compressed_tensor(compressed_indices, plain_indices, values, size=None, *,
                             dtype=None, layout=None, device=None, requires_grad: bool = False,
                             check_invariants: bool | None = None) -> SparseTensor:
    """torch.sparse_compressed_tensor: ``sparse_csr_tensor`` / ``csc`` / ``bsr`` / ``bsc`` by
    ``layout``."""
    if layout not in (sparse_csr, sparse_csc, sparse_bsr, sparse_bsc):
        raise SparseValueError("sparse_compressed_tensor: layout must be one of dlpy.sparse_csr, "
                               f"sparse_csc, sparse_bsr, sparse_bsc, got {layout!r}")
    return _compressed("sparse_compressed_tensor", layout, compressed_indices, plain_indices,
                       values, size, dtype, device, requires_grad, check_invariants)


def _compressed(name, layout, compressed_indices, plain_indices, values, size, dtype, device,
                requires_grad, check_invariants) -> SparseTensor:
    """A compressed sparse tensor: pointers along the compressed dim (rows for CSR / BSR,
    columns for CSC / BSC) into the plain indices and values (of blocks, for BSR / BSC).
    Leading batch dims are those of the indices beyond the last, compressed (*B, m + 1) and
    plain (*B, nnz), each batch with one nnz; values (*B, nnz, [R, C,] *dense_dims): the
    dims after the entries (and blocks) are dense dims, as torch's hybrid tensors."""
    as_device(device, name)
    by_row = layout in _BY_ROW
    c_name, p_name = ("crow_indices", "col_indices") if by_row else ("ccol_indices",
                                                                     "row_indices")
    # float indices: torch's index conversion has no kernel for them (NotImplementedError)
    ndim = max(int(np.ndim(compressed_indices.data if isinstance(compressed_indices, Tensor)
                            else compressed_indices)), 1)
    crow = _index_array(name, c_name, compressed_indices, ndim, kind_error=SparseNoKernelError)
    # (plain indices of other dims: torch's IndexError when batched, "Dimension out of range")
    col = _index_array(name, p_name, plain_indices, ndim, kind_error=SparseNoKernelError,
                       dim_error=SparseDimError if ndim > 1 else SparseValueError)
    if size is not None and len(size) < 2:
        raise SparseDimError(f"{name}: size must have at least 2 dims, got {tuple(size)}")
    values = _values_tensor(name, values, dtype, requires_grad)
    nb, batch, nnz = ndim - 1, crow.shape[:-1], col.shape[-1]
    blocked = layout in _BLOCKED
    if col.shape[:-1] != batch or values.ndim < nb + 1 + 2 * blocked \
            or tuple(values.shape[:nb + 1]) != batch + (nnz,):
        raise SparseValueError(f"{name}: expected {c_name} (*B, m + 1), {p_name} (*B, nnz) and "
                               f"values (*B, nnz{', R, C' if blocked else ''}, *dense_dims) of "
                               f"one batch shape, got {crow.shape}, {col.shape} and "
                               f"{tuple(values.shape)}")
    if crow.shape[-1] == 0 or np.any(crow[..., 0] != 0) or np.any(crow[..., -1] != nnz) \
            or np.any(np.diff(crow, axis=-1) < 0):
        raise SparseValueError(f"{name}: {c_name} must rise from 0 to nnz={nnz} (in each batch), "
                               f"got {crow.reshape(-1)[:8].tolist()}"
                               f"{'...' if crow.size > 8 else ''}")
    block = tuple(values.shape[nb + 1:nb + 3]) if blocked else (1, 1)
    dense = tuple(values.shape[nb + 1 + 2 * blocked:])
    c_axis = 0 if by_row else 1  # the compressed dim of the matrix
    if size is None:
        counts = [0, 0]
        counts[c_axis] = crow.shape[-1] - 1
        counts[1 - c_axis] = int(col.max()) + 1 if col.size else 0
        size = batch + (counts[0] * block[0], counts[1] * block[1]) + dense
    else:
        size = _size(name, size)
        matrix = size[nb:nb + 2]
        if len(size) != nb + 2 + len(dense) or size[:nb] != batch or size[nb + 2:] != dense \
                or matrix[c_axis] != (crow.shape[-1] - 1) * block[c_axis] \
                or matrix[1 - c_axis] % block[1 - c_axis]:
            raise SparseValueError(f"{name}: size must be {nb + 2 + len(dense)}-D with "
                                   f"{crow.shape[-1] - 1} {'rows' if by_row else 'columns'} "
                                   f"(of blocks {block}; the length of {c_name} - 1), batch dims "
                                   f"{batch} and dense dims {dense}, got {size}")
    plain_size = size[nb + 1 - c_axis] // block[1 - c_axis]
    _check_range(name, p_name, col.reshape(1, -1), (plain_size,))
    if check_invariants or check_sparse_tensor_invariants.is_enabled():
        for array, value in ((crow, compressed_indices), (col, plain_indices)):
            if _kept_dtype(array, value).dtype not in (np.int32, np.int64):
                raise SparseValueError(f"{name}: {c_name} and {p_name} dtype must be int32 or "
                                       f"int64, got {_kept_dtype(array, value).dtype}")
        slices = np.repeat(np.arange(crow.size // crow.shape[-1] * (crow.shape[-1] - 1)),
                           np.diff(crow.reshape(-1, crow.shape[-1]), axis=-1).reshape(-1))
        if not _sorted_distinct(slices * max(plain_size, 1) + col.reshape(-1)):
            raise SparseValueError(f"{name}: the {p_name} of each compressed slice must be sorted "
                                   "and distinct (check_sparse_tensor_invariants)")
    return SparseTensor(layout, values, tuple(size), crow=_kept_dtype(crow, compressed_indices),
                        col=_kept_dtype(col, plain_indices))


def validate_sparse_compressed_tensor_args(compressed_indices, plain_indices, values, size,
                                           layout) -> None:
    """torch._validate_sparse_compressed_tensor_args: raise (RuntimeError) where the arguments
    break a compressed layout's invariants (index ranges, sorted distinct plain indices of
    each slice, shapes, index dtypes); None when they hold."""
    if layout not in (sparse_csr, sparse_csc, sparse_bsr, sparse_bsc):
        raise SparseValueError("validate_sparse_compressed_tensor_args expected sparse compressed "
                               f"tensor layout but got {layout!r}")
    dtypes = [np.asarray(a.data if isinstance(a, Tensor) else a).dtype
              for a in (compressed_indices, plain_indices)]
    if dtypes[0] != dtypes[1]:
        raise SparseValueError("compressed and plain indices must have the same dtype, got "
                               f"{dtypes[0]} and {dtypes[1]}")
    if dtypes[0] not in (np.int32, np.int64):
        raise SparseValueError(f"compressed and plain indices dtype must be int32 or int64, got "
                               f"{dtypes[0]}")
    _compressed("validate_sparse_compressed_tensor_args", layout, compressed_indices,
                plain_indices, values, size, None, None, False, True)


def _like(x: SparseTensor, crow: np.ndarray, col: np.ndarray):
    """crow and col in the index dtypes of the compressed tensor x (int64 for COO)."""
    if x._crow is None or x._crow.dtype != np.int32:  # other dtypes become int64, as torch's
        return crow, col
    return crow.astype(np.int32, copy=False), col.astype(np.int32, copy=False)


def _crow(rows: np.ndarray, num_rows: int) -> np.ndarray:
    """CSR's row pointers of entries sorted by row."""
    return np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=num_rows))])


def _as_dense(name: str, x) -> Tensor:
    if isinstance(x, SparseTensor):
        raise SparseTypeError(f"{name}: expected a dense tensor here, got a sparse one")
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _dim(name: str, dim, ndim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise SparseTypeError(f"{name}: dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise SparseDimError(f"{name}: dim {dim} is out of range for a tensor of {ndim} dims")
    return int(dim) % ndim


# ----------------------------------------------------------------- the tensor
class SparseTensor(OnCPU):
    """A sparse tensor (see the module's docstring); made by ``sparse_coo_tensor``,
    ``sparse_csr_tensor`` or ``Tensor.to_sparse()``. ``shape``, ``dtype``, ``layout``,
    ``requires_grad`` and ``grad`` as torch's; the values are ``values()`` (a Tensor)."""

    __array_ufunc__ = None  # ndarray (op) SparseTensor defers to the reflected method

    def __init__(self, layout: Layout, values: Tensor, shape: tuple[int, ...], *,
                 indices: np.ndarray | None = None, crow: np.ndarray | None = None,
                 col: np.ndarray | None = None, coalesced: bool = False):
        # trusted arguments: the checked constructors and the ops make these
        self.layout, self._v, self.shape = layout, values, Size(shape)
        self._ind, self._crow, self._col = indices, crow, col
        self._coalesced = coalesced

    # ------------------------------------------------------------- what it is
    @property
    def dtype(self) -> np.dtype:
        return self._v.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def is_floating_point(self) -> bool:
        from dlpy.tensor import is_floating_dtype

        return is_floating_dtype(self.dtype)

    def is_complex(self) -> bool:
        return self.dtype.kind == "c"

    def is_signed(self) -> bool:
        return self.dtype.kind in "ifc" or self.dtype.kind == "V" or self.dtype.name in (
            "bfloat16", "float8_e4m3fn", "float8_e5m2")

    ndimension = dim  # torch's older name (linear_operator's sparse products call it)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return int(np.prod(self.shape))

    nelement = numel

    @property
    def is_sparse(self) -> bool:
        """True for COO (torch's ``is_sparse``); CSR is ``is_sparse_csr``."""
        return self.layout is sparse_coo

    @property
    def is_sparse_csr(self) -> bool:
        return self.layout is sparse_csr

    def is_contiguous(self, memory_format=None) -> bool:
        """False for COO (torch's); a compressed layout has no such notion: RuntimeError."""
        if self.layout is not sparse_coo:
            raise RuntimeError(f"Sparse {self._layout_letters()} tensors do not have "
                               "is_contiguous")
        return False

    def stride(self, dim: int | None = None):
        """COO's strides are all 0 (torch's); a compressed layout has none: RuntimeError."""
        if self.layout is not sparse_coo:
            raise RuntimeError(f"Sparse {self._layout_letters()} tensors do not have strides")
        strides = (0,) * len(self.shape)
        return strides if dim is None else strides[dim]

    def _layout_letters(self) -> str:
        return str(self.layout).rsplit("_", 1)[-1].upper()  # torch.sparse_csr: CSR

    def sparse_dim(self) -> int:
        return self._ind.shape[0] if self.layout is sparse_coo else 2

    def dense_dim(self) -> int:
        batch_dims = 0 if self._crow is None else self._crow.ndim - 1
        return len(self.shape) - self.sparse_dim() - batch_dims

    def _nnz(self) -> int:
        """The number of stored entries (of each batch, for a batched CSR / CSC)."""
        return self._v.shape[0 if self._crow is None else self._crow.ndim - 1]

    nnz = property(_nnz)

    def is_coalesced(self) -> bool:
        if self.layout is not sparse_coo:
            raise SparseValueError(f"is_coalesced: expected a sparse_coo tensor, got {self.layout}")
        return self._coalesced

    def _coalesced_(self, coalesced: bool) -> SparseTensor:
        """torch's Tensor._coalesced_: marks a COO tensor as coalesced (or not) in place, without
        checking its indices (the caller vouches for them); returns it."""
        if self.layout is not sparse_coo:  # torch has no kernel for the compressed layouts
            raise SparseNoKernelError(f"Could not run 'aten::_coalesced_' with a "
                                      f"{self.layout} tensor")
        self._coalesced = bool(coalesced)
        return self

    # ------------------------------------------------------------- gradients
    @property
    def requires_grad(self) -> bool:
        return self._v.requires_grad

    @property
    def is_leaf(self) -> bool:
        return self._v.op is None

    def requires_grad_(self, requires_grad: bool = True) -> SparseTensor:
        self._v.requires_grad_(requires_grad)
        return self

    @property
    def grad_fn(self):
        """The op that made the values (None for a leaf)."""
        return self._v.grad_fn

    @property
    def grad(self) -> SparseTensor | None:
        """The gradient as a sparse tensor of this tensor's pattern (None before a backward),
        as torch's: coalesced, each index's value the gradient there once (the values' own
        gradient, ``values().grad``, has it at every repeat of an index)."""
        grad = self._v.grad
        return None if grad is None else self._sparse_grad(grad)

    def _sparse_grad(self, grad) -> SparseTensor:
        """A gradient of the values (nnz, ...) as the sparse gradient of this tensor."""
        grad = Tensor(np.asarray(grad))
        if self.layout is not sparse_coo or self._coalesced:
            return self._with_values(grad)
        order, starts = runs(_keys(self._ind, self.shape[:self._ind.shape[0]]))
        first = order[starts]  # one entry of each index
        return SparseTensor(sparse_coo, Tensor(grad.data[first]), self.shape,
                            indices=self._ind[:, first], coalesced=True)

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, SparseTensor) or value.shape != self.shape:
                raise SparseTypeError(f"grad: expected None or a sparse tensor of shape "
                                      f"{self.shape}")
            value = value._v.data
        self._v.grad = value

    def detach(self) -> SparseTensor:
        return self._with_values(self._v.detach())

    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Backward from a sparse result, as torch's: ``gradient`` (sparse or dense, of this
        shape) is needed; each stored entry gets the gradient at its index."""
        if gradient is None:
            raise RuntimeError("backward: grad can be implicitly created only for scalar "
                               f"outputs; a sparse tensor of shape {self.shape} needs gradient")
        if tuple(gradient.shape) != self.shape or self.layout in _BLOCKED:
            raise SparseValueError(f"backward: expected a gradient of shape {self.shape}, got "
                                   f"{tuple(gradient.shape)}")
        dense = (gradient.to_dense() if isinstance(gradient, SparseTensor)
                 else _as_dense("backward", gradient))
        at_entries = dense.data[tuple(self._coo())].astype(self.dtype, copy=False)
        self._v.backward(Tensor(at_entries), retain_graph=retain_graph,
                         create_graph=create_graph, inputs=inputs)

    def _with_values(self, values: Tensor) -> SparseTensor:
        """The same pattern holding other values (nnz rows)."""
        return SparseTensor(self.layout, values, self.shape, indices=self._ind,
                            crow=self._crow, col=self._col, coalesced=self._coalesced)

    # ------------------------------------------------------------- parts
    def _coo(self) -> np.ndarray:
        """(sparse_dim, nnz) the index of every entry (of every block, for BSR / BSC: its
        block row and column); a compressed tensor's batch indices first, entries in its
        order (batch by batch, slice by slice)."""
        if self.layout is sparse_coo:
            return self._ind
        nb = self._crow.ndim - 1
        batch = self._crow.shape[:-1]
        slices = self._crow.reshape(-1, self._crow.shape[-1]).astype(np.int64)
        counts = np.diff(slices, axis=-1).reshape(-1)
        compressed = np.repeat(np.tile(np.arange(slices.shape[-1] - 1), slices.shape[0]),
                               counts)
        plain = self._col.reshape(-1).astype(np.int64)
        index = np.unravel_index(np.repeat(np.arange(slices.shape[0]), self._col.shape[-1]),
                                 batch) if nb else ()
        matrix = [compressed, plain] if self.layout in _BY_ROW else [plain, compressed]
        return np.stack([*index, *matrix]).reshape(nb + 2, -1)

    def _entries(self):
        """The (batch dims + 2, N) index and the (N, *dense_dims) values of every stored
        element of a compressed tensor, a block's elements row by row, in its order."""
        nb = self._crow.ndim - 1
        index = self._coo()
        # (the entries of every batch: counted, not -1, which a dense dim of size 0 leaves open)
        entries = int(np.prod(self._v.shape[:nb + 1]))
        values = self._v.reshape((entries,) + tuple(self._v.shape[nb + 1:]))
        if self.layout in _BLOCKED:
            r, c = self._v.shape[nb + 1:nb + 3]
            within_r, within_c = np.divmod(np.arange(r * c), c)
            index = np.concatenate([np.repeat(index[:nb], r * c, axis=1),
                                    (index[nb][:, None] * r + within_r).reshape(1, -1),
                                    (index[nb + 1][:, None] * c + within_c).reshape(1, -1)])
            values = values.reshape((entries * r * c,) + tuple(self._v.shape[nb + 3:]))
        return index, values

    def indices(self) -> Tensor:
        """The (sparse_dim, nnz) indices of a coalesced COO tensor (``_indices()``: any)."""
        self._need("indices", coalesced=True)
        return Tensor(self._ind)

    def _indices(self) -> Tensor:
        self._no_kernel_unless_coo("_indices")
        return Tensor(self._ind)

    def values(self) -> Tensor:
        """The values (nnz, *dense_dims), a Tensor of the graph (gradients flow through it);
        for COO the tensor must be coalesced, as torch's (``_values()``: any)."""
        if self.layout is sparse_coo:
            self._need("values", coalesced=True)
        return self._v

    def _values(self) -> Tensor:
        self._no_kernel_unless_coo("_values")
        return self._v

    def _no_kernel_unless_coo(self, name: str) -> None:
        """torch's NotImplementedError of an op that has a COO kernel only (no SparseCsrCPU
        one), where its own layout checks raise RuntimeError."""
        if self.layout is not sparse_coo:
            raise SparseNoKernelError(f"Could not run 'aten::{name}' with arguments from a "
                                      f"{self.layout.name} tensor (COO only), as torch")

    def crow_indices(self) -> Tensor:
        self._need("crow_indices", _BY_ROW)
        return Tensor(self._crow)

    def col_indices(self) -> Tensor:
        self._need("col_indices", _BY_ROW)
        return Tensor(self._col)

    def ccol_indices(self) -> Tensor:
        self._need("ccol_indices", (sparse_csc, sparse_bsc))
        return Tensor(self._crow)

    def row_indices(self) -> Tensor:
        self._need("row_indices", (sparse_csc, sparse_bsc))
        return Tensor(self._col)

    def _need(self, name: str, layout=sparse_coo, coalesced: bool = False) -> None:
        """The layout (or one of a tuple of them) an accessor needs."""
        if self.layout not in (layout if isinstance(layout, tuple) else (layout,)):
            names = " or ".join(x.name for x in (layout if isinstance(layout, tuple)
                                                  else (layout,)))
            raise SparseValueError(f"{name}: expected a {names} tensor, got {self.layout}")
        if coalesced and not self._coalesced:
            raise SparseValueError(f"{name}: the tensor is not coalesced (repeated or unsorted "
                                   "indices); call .coalesce() first, or use _" + name + "()")

    # ------------------------------------------------------------- conversions
    def coalesce(self) -> SparseTensor:
        """Each index once, sorted, repeated entries summed (a recorded op on the values)."""
        self._need("coalesce")
        if self._coalesced:
            return self
        if self._nnz() == 0:
            return SparseTensor(sparse_coo, self._v, self.shape, indices=self._ind,
                                coalesced=True)
        sizes = self.shape[:self._ind.shape[0]]
        order, starts = runs(_keys(self._ind, sizes))
        values = _ops.Coalesce(order, starts)(self._v)
        return SparseTensor(sparse_coo, values, self.shape, indices=self._ind[:, order[starts]],
                            coalesced=True)

    def to_dense(self, dtype=None, *, masked_grad=None) -> Tensor:
        """The dense tensor (repeats summed); its gradient reaches the stored entries."""
        if dtype is not None:
            raise SparseValueError("to_dense: the dtype argument is not supported for sparse "
                                   "tensors, as torch")
        if self.layout is sparse_coo:
            return IndexAdd(tuple(self._ind), self.shape)(self._v)
        index, values = self._entries()
        return IndexAdd(tuple(index), self.shape)(values)

    def to_sparse(self, layout: Layout | None = None, blocksize=None, dense_dim=None, *,
                  sparse_dim=None) -> SparseTensor:
        if isinstance(layout, (int, np.integer)) and not isinstance(layout, bool):
            layout, sparse_dim = None, layout  # to_sparse(sparse_dim)
        if sparse_dim is not None:
            return self._to_sparse_dim(int(sparse_dim))
        self._no_dense_dim("to_sparse", layout or sparse_coo, dense_dim)
        if layout is None or layout is sparse_coo:
            return self.to_sparse_coo()
        if layout in (sparse_csr, sparse_csc):
            return self.to_sparse_csr() if layout is sparse_csr else self.to_sparse_csc()
        if layout in _BLOCKED and blocksize is not None:
            return self.to_sparse_bsr(blocksize) if layout is sparse_bsr \
                else self.to_sparse_bsc(blocksize)
        raise SparseValueError(f"to_sparse: layout must be dlpy.sparse_coo, sparse_csr, sparse_csc "
                               f"(or sparse_bsr / sparse_bsc with a blocksize), got {layout!r}")

    def _to_sparse_dim(self, sparse_dim: int) -> SparseTensor:
        """to_sparse(sparse_dim), which torch takes only for the sparse_dim COO has already
        (itself) or a compressed tensor's 2 (to COO)."""
        if self.layout is sparse_coo:
            if sparse_dim != self.sparse_dim():
                raise RuntimeError("to_sparse: conversion from Sparse to Sparse with sparse_dim "
                                   "argument !=self.sparse_dim() is not supported, as torch")
            return self
        if sparse_dim != 2:
            raise RuntimeError(f"sparse_compressed_to_sparse: conversion from "
                               f"{self.layout.name} to Sparse with sparse_dim argument !=2 is "
                               "not supported, as torch")
        return self.to_sparse_coo()

    def to_sparse_coo(self) -> SparseTensor:
        if self.layout is sparse_coo:
            return self
        # every element of every block, block by block; the batch dims become sparse dims
        indices, values = self._entries()
        if self.layout is sparse_csc:  # torch's: column by column, not flagged coalesced
            return SparseTensor(sparse_coo, values, self.shape, indices=indices)
        return SparseTensor(sparse_coo, values, self.shape, indices=indices,
                            coalesced=_sorted_distinct(_keys(indices,
                                                             self.shape[:len(indices)])))

    def _no_dense_dim(self, name: str, layout: Layout, dense_dim) -> None:
        """torch converts a sparse tensor to another layout with no dense_dim argument."""
        if dense_dim is not None:
            raise RuntimeError(f"{name}: conversion from {self.layout.name} to {layout.name} "
                               "with dense_dim argument given is not supported, as torch")

    def _compressed_as(self, layout: Layout) -> SparseTensor:
        """This CSR / CSC / COO (sparse_dim 2) tensor in CSR or CSC, batches and dense dims
        kept, the index dtypes of a compressed one."""
        if self.layout is layout:
            return self
        self._not_blocked(f"sparse_compressed_to_{layout.name}")
        if self.layout is sparse_coo:
            if self.sparse_dim() != 2:
                raise SparseValueError(f"coo_to_{layout.name}: conversion from Sparse to "
                                       f"{layout.name} for input tensors with sparse_dim()!=2 "
                                       "is not supported, as torch")
            s = self.coalesce()
            return _from_coo(layout, s._ind, s._v, self.shape, 0)
        out = _from_coo(layout, *self._entries(), self.shape, self._crow.ndim - 1)
        out._crow, out._col = _like(self, out._crow, out._col)
        return out

    def to_sparse_csr(self, dense_dim=None) -> SparseTensor:
        """CSR of a COO (sparse_dim 2) or CSC tensor, batches and dense dims kept."""
        self._no_dense_dim("to_sparse_csr", sparse_csr, dense_dim)
        return self._compressed_as(sparse_csr)

    def to_sparse_csc(self, dense_dim=None) -> SparseTensor:
        """CSC of a COO (sparse_dim 2) or CSR tensor: entries column by column."""
        self._no_dense_dim("sparse_compressed_to_sparse_csc", sparse_csc, dense_dim)
        return self._compressed_as(sparse_csc)

    def _not_blocked(self, name: str) -> None:
        """torch converts BSR / BSC to CSR / CSC by no kernel (RuntimeError)."""
        if self.layout in _BLOCKED:
            raise RuntimeError(f"{name}: expected SparseCsr or SparseCsc layout but got "
                               f"{self.layout.name}, as torch")

    def _blocks_kept(self, layout: Layout, blocksize) -> None:
        """torch converts BSR / BSC to BSR / BSC only with the blocksize kept."""
        if self.layout in _BLOCKED:
            size = [blocksize] * 2 if isinstance(blocksize, (int, np.integer)) else blocksize
            nb = self._crow.ndim - 1
            block = list(self._v.shape[nb + 1:nb + 3])
            if [int(b) for b in size] != block:
                raise RuntimeError(f"to_{layout.name}: conversion from {self.layout.name} to "
                                   f"{layout.name} with blocksize changed from "
                                   f"{block} to {list(size)} is not supported, "
                                   "as torch")

    def _to_blocked(self, layout: Layout, blocksize, dense_dim) -> SparseTensor:
        """BSR / BSC of the dense form (dense dims kept); from BSR / BSC only with the
        blocksize kept, from a batched CSR / CSC not at all, as torch."""
        self._no_dense_dim(f"to_{layout.name}", layout, dense_dim)
        self._blocks_kept(layout, blocksize)
        if self.layout is sparse_coo and self.sparse_dim() != 2:
            raise SparseValueError(f"coo_to_{layout.name}: conversion from Sparse to "
                                   f"{layout.name} for input tensors with sparse_dim()!=2 is not "
                                   "supported, as torch")
        if self.layout in (sparse_csr, sparse_csc) and self._crow.ndim > 1:
            raise RuntimeError(f"sparse_compressed_to_{layout.name}: conversion from "
                               f"{self.layout.name} to {layout.name} for batched inputs is not "
                               "supported, as torch")
        return to_sparse_blocked(self.to_dense(), layout, blocksize, self.dense_dim())

    def to_sparse_bsr(self, blocksize, dense_dim=None) -> SparseTensor:
        """BSR of the dense form; from BSR / BSC only with the blocksize kept, as torch."""
        return self._to_blocked(sparse_bsr, blocksize, dense_dim)

    def to_sparse_bsc(self, blocksize, dense_dim=None) -> SparseTensor:
        """BSC of the dense form; from BSR / BSC only with the blocksize kept, as torch."""
        return self._to_blocked(sparse_bsc, blocksize, dense_dim)

    def astype(self, dtype) -> SparseTensor:
        # Tensor.to's cast: to an integer or bool dtype out of the graph, as torch's
        return self._with_values(self._v.to(dtype))

    def to(self, *args, **kwargs) -> SparseTensor:
        """``values().to(...)`` with Tensor.to's overloads (dtype, device, other tensor,
        keywords ``non_blocking``, ``copy``), layout and indices kept: self when nothing
        changes, as torch's."""
        values = self._v.to(*args, **kwargs)
        return self if values is self._v else self._with_values(values)

    def __bool__(self) -> bool:
        """The truth of a one-element tensor; more or fewer elements are ambiguous
        (``RuntimeError``), as torch's."""
        if self.numel() != 1:
            raise ambiguous_truth(self.numel(), self.shape)
        return bool(self.to_dense())

    def double(self) -> SparseTensor:
        return self.to(np.float64)

    def float(self) -> SparseTensor:
        return self.to(np.float32)

    def half(self) -> SparseTensor:
        return self.to(np.float16)

    def int(self) -> SparseTensor:
        return self.to(np.int32)

    def long(self) -> SparseTensor:
        return self.to(np.int64)

    def bool(self) -> SparseTensor:
        return self.to(np.bool_)

    def item(self):
        """The number of a one-element tensor, as torch's."""
        return self.to_dense().item()

    def bfloat16(self) -> SparseTensor:
        return self._with_values(self._v.bfloat16())

    def short(self) -> SparseTensor:
        return self.to(np.int16)

    def byte(self) -> SparseTensor:
        return self.to(np.uint8)

    def char(self) -> SparseTensor:
        return self.to(np.int8)

    def type(self, dtype=None, non_blocking: bool = False, **kwargs):
        """With no dtype, the type's name as torch's ("torch.sparse.DoubleTensor"); with one
        (a dtype or a type name, sparse or not), the tensor with its values cast to it."""
        if dtype is None:
            prefix, name = self._v.type().split(".", 1)
            return f"{prefix}.sparse.{name}"
        if isinstance(dtype, str):
            dtype = dtype.replace(".sparse.", ".")
        values = self._v.type(dtype)
        return self if values is self._v else self._with_values(values)

    def element_size(self) -> int:
        """The bytes of one value, as torch's."""
        return self._v.element_size()

    @property
    def itemsize(self) -> int:
        return self._v.element_size()

    @property
    def nbytes(self) -> int:
        raise RuntimeError("nbytes is not defined for sparse tensors.  If you want the size of "
                           "the constituent tensors, add the nbytes of the indices and values. "
                           "If you want the size of the equivalent dense tensor, multiply "
                           "numel() by element_size()")

    def contiguous(self, memory_format=None):
        """torch's sparse tensors have no contiguous(): RuntimeError."""
        raise RuntimeError("unsupported memory format option Contiguous")

    def any(self) -> Tensor:
        """Whether some stored value is nonzero (a dense 0-d bool tensor), as torch's."""
        return self._v.any()

    def conj(self) -> SparseTensor:
        """The conjugate (the values' conj; a real tensor as it is)."""
        values = self._v.conj()
        return self if values is self._v else self._with_values(values)

    def conj_physical(self) -> SparseTensor:
        """The conjugated values (a copy; a real tensor's values as they are), as torch's."""
        return _unary(self, lambda v: v.conj_physical())

    def is_conj(self) -> bool:
        return False  # torch's sparse conj() conjugates the values: no lazy conj bit

    def positive(self) -> SparseTensor:
        """Itself (``+x``), as torch's; a bool tensor is refused."""
        if self.dtype == np.bool_:
            raise SparseTypeError("The `+` operator, on a bool tensor is not supported.")
        return self

    @property
    def real(self) -> SparseTensor:
        """The real parts of the values (a real tensor itself), as torch's; torch has no
        view_as_real of a compressed tensor."""
        if not self.is_complex():
            return self
        if self.layout is not sparse_coo:
            raise SparseNoKernelError(f"Could not run 'aten::view_as_real' with arguments "
                                      f"from a {self.layout.name} tensor")
        return self._with_values(self._v.real)

    @property
    def imag(self) -> SparseTensor:
        """The imaginary parts of the values of a complex COO tensor, as torch's."""
        if not self.is_complex():
            raise SparseTypeError("imag is not implemented for tensors with non-complex "
                                  "dtypes.")
        if self.layout is not sparse_coo:
            raise SparseNoKernelError(f"Could not run 'aten::view_as_real' with arguments "
                                      f"from a {self.layout.name} tensor")
        return self._with_values(self._v.imag)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False,
                  **kwargs) -> SparseTensor:
        """An all-zero COO tensor of ``size`` (no entries, every dim sparse), this dtype."""
        size = _size("new_zeros", size[0] if len(size) == 1 and not isinstance(
            size[0], (int, np.integer)) else size)
        values = Tensor(np.zeros(0, dtype=self.dtype if dtype is None else dtype))
        if requires_grad:
            values.requires_grad_()
        return SparseTensor(sparse_coo, values, size,
                            indices=np.zeros((len(size), 0), dtype=np.int64), coalesced=True)

    new_empty = new_zeros

    def unsqueeze(self, dim: int) -> SparseTensor:
        """A new dim of size 1 at ``dim``: a sparse dim (a row of zeros in the indices) where
        dim <= sparse_dim, else a dense one; not coalesced, as torch's."""
        self._need("unsqueeze")
        dim = _dim("unsqueeze", dim, self.ndim + 1)
        shape = self.shape[:dim] + (1,) + self.shape[dim:]
        sparse_dim, single, values = self.sparse_dim(), self._nnz() <= 1, self._v
        if dim <= sparse_dim:
            indices = np.insert(self._ind, dim, 0, axis=0)
            return SparseTensor(sparse_coo, values, shape, indices=indices, coalesced=single)
        return SparseTensor(sparse_coo, values.unsqueeze(dim - sparse_dim + 1), shape,
                            indices=self._ind, coalesced=single)

    def sparse_mask(self, mask: SparseTensor) -> SparseTensor:
        """This tensor's (coalesced) values at mask's stored entries, zero where it has none,
        in mask's pattern (COO)."""
        return sparse_mask(self, mask)

    def sspaddmm(self, mat1, mat2, *, beta=1, alpha=1) -> SparseTensor:
        return sspaddmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def smm(self, mat2) -> SparseTensor:
        return smm(self, mat2)

    def hspmm(self, mat2) -> SparseTensor:
        return hspmm(self, mat2)

    def addmm_(self, mat1, mat2, *, beta=1, alpha=1):
        """torch writes addmm into a dense result only: RuntimeError for a sparse self."""
        raise RuntimeError("addmm_sparse_dense: expected strided result tensor, got tensor with "
                           "layout Sparse")

    # ------------------------------------------------------------- in place
    def _become(self, other: SparseTensor, name: str) -> SparseTensor:
        """self <- other (pattern, values, shape), as an in-place op; returns self."""
        self._v._check_in_place(name)
        self.layout, self._v, self.shape = other.layout, other._v, other.shape
        self._ind, self._crow, self._col = other._ind, other._crow, other._col
        self._coalesced = other._coalesced
        return self

    def _in_place_of(self, name: str, out: SparseTensor) -> SparseTensor:
        """self <- out, out's values cast to this dtype (torch's in-place rule: a result type
        that cannot be cast, float into an int tensor, is a RuntimeError)."""
        if out.dtype != self.dtype:
            if not np.can_cast(out.dtype, self.dtype, "same_kind"):
                raise SparseTypeError(f"{name}: result type {out.dtype} can't be cast to the "
                                      f"desired output type {self.dtype}")
            out = out._with_values(out._v.astype(self.dtype))
        return self._become(out, name)

    def zero_(self) -> SparseTensor:
        """No entries left (shape, sparse and dense dims kept), coalesced, as torch's."""
        if self.layout is not sparse_coo:  # a compressed tensor: zero rows (batches kept)
            nb = self._crow.ndim - 1
            values = Tensor(np.zeros(self._v.shape[:nb] + (0,) + self._v.shape[nb + 1:],
                                     dtype=self.dtype))
            return self._become(SparseTensor(self.layout, values, self.shape,
                                             crow=np.zeros_like(self._crow),
                                             col=self._col[..., :0]), "zero_")
        values = Tensor(np.zeros((0,) + tuple(self._v.shape[1:]), dtype=self.dtype))
        values.requires_grad_(self.requires_grad)
        return self._become(SparseTensor(sparse_coo, values, self.shape,
                                         indices=self._ind[:, :0], coalesced=True), "zero_")

    def copy_(self, src, non_blocking: bool = False) -> SparseTensor:
        """self <- src's pattern, shape and values (cast to this dtype), as torch's sparse
        copy_; a dense src is torch's RuntimeError."""
        if not isinstance(src, SparseTensor) or src.layout is not self.layout:
            raise RuntimeError("copy_() between dense and sparse Tensors is not implemented! "
                               "Found self type = sparse and src type = "
                               f"{getattr(src, 'layout', type(src).__name__)}")
        _resize_check(self, src.shape, src.sparse_dim(), src.dense_dim())
        values = src._v.astype(self.dtype) if src.dtype != self.dtype else src._v.clone()
        return self._become(src._with_values(values), "copy_")

    def detach_(self) -> SparseTensor:
        self._v = self._v.detach()
        return self

    def t_(self) -> SparseTensor:
        self._in_place_transpose()
        return self._become(self.t(), "t_")

    def transpose_(self, dim0: int, dim1: int) -> SparseTensor:
        self._in_place_transpose()
        return self._become(self.transpose(dim0, dim1), "transpose_")

    def _in_place_transpose(self) -> None:
        if self.layout is not sparse_coo:  # (it would change the layout)
            raise RuntimeError(f"transpose_: in-place transposition is not supported for "
                               f"{self.layout.name} layout, as torch")

    def neg_(self) -> SparseTensor:
        self._v.neg_()
        return self

    negative_ = neg_

    def mul_(self, other) -> SparseTensor:
        """self *= other (a number, a 0-d tensor, or a sparse tensor)."""
        if not isinstance(other, SparseTensor) and np.ndim(_scalar_of(other)) == 0:
            self._v.mul_(other)
            self._coalesced = self._nnz() <= 1  # torch's scalar mul_ clears the flag (of 2+)
            return self
        return self._in_place_of("mul_", mul(self, other))

    def div_(self, other) -> SparseTensor:
        """self /= a number (or a 0-d tensor)."""
        return self._in_place_of("div_", self / other)

    true_divide_ = div_

    def add_(self, other, *, alpha=1) -> SparseTensor:
        return self._in_place_of("add_", add(self, other, alpha=alpha))

    def sub_(self, other, *, alpha=1) -> SparseTensor:
        return self._in_place_of("sub_", sub(self, other, alpha=alpha))

    def sparse_resize_(self, size, sparse_dim: int, dense_dim: int) -> SparseTensor:
        """Change the shape keeping the entries, as torch's: a non-empty tensor keeps its
        sparse and dense dims and does not shrink a sparse size below its entries' indices
        nor change a dense size (RuntimeError)."""
        size = _size("sparse_resize_", size)
        _resize_check(self, size, sparse_dim, dense_dim)
        self.shape = Size(size)
        return self

    def sparse_resize_and_clear_(self, size, sparse_dim: int, dense_dim: int) -> SparseTensor:
        """Any shape, sparse and dense dims; the entries removed (coalesced, none)."""
        size = _size("sparse_resize_and_clear_", size)
        if sparse_dim + dense_dim != len(size):
            raise RuntimeError(f"number of dimensions must be sparse_dim ({sparse_dim}) + "
                               f"dense_dim ({dense_dim}), but got {len(size)}")
        values = Tensor(np.zeros((0,) + size[sparse_dim:], dtype=self.dtype))
        values.requires_grad_(self.requires_grad)
        return self._become(SparseTensor(sparse_coo, values, size,
                                         indices=np.zeros((sparse_dim, 0), dtype=np.int64),
                                         coalesced=True), "sparse_resize_and_clear_")

    def resize_as_(self, other, memory_format=None) -> SparseTensor:
        """sparse_resize_ to other's shape, sparse and dense dims."""
        if not isinstance(other, SparseTensor):  # torch: no SparseCPU kernel of resize_
            raise SparseNoKernelError("Could not run 'aten::resize_' with arguments from the "
                                      "'SparseCPU' backend")
        return self.sparse_resize_(other.shape, other.sparse_dim(), other.dense_dim())

    def resize_as_sparse_(self, the_template) -> SparseTensor:
        """sparse_resize_ to the template's shape, sparse and dense dims (a dense template:
        no sparse dims), as torch's; a compressed (CSR...) template is refused."""
        return resize_as_sparse_(self, the_template)

    # ------------------------------------------------------------- what torch refuses
    def view(self, *shape):
        raise NotImplementedError("view: could not run 'aten::view' with arguments from the "
                                  "'SparseCPU' backend, as torch")

    def reshape(self, *shape):
        raise SparseValueError("reshape is not implemented for sparse tensors, as torch")

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Itself when nothing is merged (one dim, or start_dim == end_dim), as torch's;
        any other flatten is a reshape, which torch has not for sparse tensors."""
        if self.layout is sparse_coo and (self.ndim <= 1 or _dim("flatten", start_dim, self.ndim)
                                          == _dim("flatten", end_dim, self.ndim)):
            return self
        raise SparseValueError("flatten: reshape is not implemented for sparse tensors, as torch")

    def tolist(self):
        raise SparseValueError("tolist: a sparse tensor has no storage, use to_dense() first")

    def _no_kernel(name: str):
        def method(self, *args, **kwargs):
            raise NotImplementedError(f"{name}: could not run 'aten::{name}' with arguments "
                                      "from the 'SparseCPU' backend, as torch")

        method.__name__ = method.__qualname__ = name
        return method

    max = _no_kernel("max")
    # not zero-preserving, or a view torch's sparse tensors cannot be: no SparseCPU kernel
    angle = _no_kernel("angle")
    sigmoid, cosh, acos = _no_kernel("sigmoid"), _no_kernel("cosh"), _no_kernel("acos")
    reciprocal, rsqrt, exp2 = _no_kernel("reciprocal"), _no_kernel("rsqrt"), _no_kernel("exp2")
    bitwise_not, logical_not = _no_kernel("bitwise_not"), _no_kernel("logical_not.out")
    isfinite = _no_kernel("ne.Scalar")  # (torch's isfinite is x == x & x.abs() != inf)
    exp_, cos_, log_, sigmoid_ = (_no_kernel("exp_"), _no_kernel("cos_"), _no_kernel("log_"),
                                  _no_kernel("sigmoid_"))
    cosh_, acos_, exp2_, rsqrt_ = (_no_kernel("cosh_"), _no_kernel("acos_"), _no_kernel("exp2_"),
                                   _no_kernel("rsqrt_"))
    reciprocal_, bitwise_not_ = _no_kernel("reciprocal_"), _no_kernel("bitwise_not_")
    logical_not_ = _no_kernel("logical_not_")

    def _dense_only(name: str):
        def method(self, *args, **kwargs):
            raise SparseOperandError(self)  # dlpy.exp(sparse)'s: a NotImplementedError too

        method.__name__ = method.__qualname__ = name
        method.__doc__ = f"torch has no ``{name}`` of sparse tensors (not zero-preserving)."
        return method

    exp, cos, log = _dense_only("exp"), _dense_only("cos"), _dense_only("log")
    del _dense_only
    narrow = _no_kernel("as_strided")
    squeeze = _no_kernel("as_strided")
    unsqueeze_ = _no_kernel("as_strided_")
    isclose = _no_kernel("eq.Tensor")
    pow_ = _no_kernel("pow_.Scalar")
    square_ = _no_kernel("pow_.Scalar")
    min = _no_kernel("min")
    amax = _no_kernel("amax")
    amin = _no_kernel("amin")
    argmax = _no_kernel("argmax")
    argmin = _no_kernel("argmin")
    mean = _no_kernel("mean")
    prod = _no_kernel("prod")
    # torch has no Tensor.softmax / log_softmax kernel for sparse tensors (sparse.softmax has)
    softmax = _no_kernel("_softmax")
    log_softmax = _no_kernel("_log_softmax")
    del _no_kernel

    def __setitem__(self, key, value):
        raise SparseTypeError(f"'{type(self).__name__}' object does not support item assignment "
                              "(sparse tensors do not), as torch")

    # ------------------------------------------------------------- indexing
    def select(self, dim: int, index: int):
        """The slice ``index`` of dim: sparse while a sparse dim is left (COO; CSR gives
        COO), else dense, as torch's."""
        if self.layout is not sparse_coo:
            out = self.to_sparse_coo().select(dim, index)
            if isinstance(out, SparseTensor):  # torch's kernel flags its sorted result
                out._coalesced = _sorted_distinct(_keys(out._ind, out.shape[:out._ind.shape[0]]))
            return out
        dim = _dim("select", dim, self.ndim)
        size = self.shape[dim]
        if not -size <= index < size:
            raise SparseDimError(f"select: index {index} out of range for dim {dim} of size "
                                 f"{size}")
        index = int(index) % size
        shape = self.shape[:dim] + self.shape[dim + 1:]
        sparse_dim = self.sparse_dim()
        if dim >= sparse_dim:
            where = (slice(None),) * (dim - sparse_dim + 1) + (index,)
            # torch's select makes a new tensor of the kept indices, which is coalesced (as
            # any new one) when it has fewer than 2 entries, whatever this one is
            return SparseTensor(sparse_coo, GetItem(where)(self._v), shape, indices=self._ind,
                                coalesced=self.nnz <= 1)
        picks = np.nonzero(self._ind[dim] == index)[0]
        values = GetItem(picks)(self._v)
        if sparse_dim == 1:  # no sparse dim left: the (summed) dense slice
            return values.sum(axis=0)
        return SparseTensor(sparse_coo, values, shape,
                            indices=np.delete(self._ind[:, picks], dim, axis=0),
                            coalesced=picks.size <= 1)

    def __getitem__(self, key):
        """``s[i]``: select(0, i); torch has no other indexing of sparse tensors."""
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            return self.select(0, key)
        raise NotImplementedError(f"indexing a sparse tensor with {type(key).__name__} is not "
                                  "supported (only an int), as torch")

    def permute(self, *dims) -> SparseTensor:
        """The sparse dims permuted among themselves and the dense dims among themselves."""
        self._no_kernel_unless_coo("as_strided")
        dims = dims[0] if len(dims) == 1 and not isinstance(dims[0], (int, np.integer)) else dims
        if len(dims) != self.ndim:
            raise SparseValueError(f"permute: expected {self.ndim} dims, got {len(dims)}")
        dims = [_dim("permute", d, self.ndim) for d in dims]
        if len(set(dims)) != len(dims):
            raise SparseValueError(f"permute: repeated dim in {dims}")
        sparse_dim = self.sparse_dim()
        if sorted(dims[:sparse_dim]) != list(range(sparse_dim)):
            raise SparseValueError("permute(sparse_coo): transpositions between sparse and "
                                   "dense dimensions are not allowed, as torch")
        values = self._v.permute(0, *[d - sparse_dim + 1 for d in dims[sparse_dim:]])
        identity = dims == list(range(self.ndim))
        return SparseTensor(sparse_coo, values, tuple(self.shape[d] for d in dims),
                            indices=self._ind[dims[:sparse_dim]],
                            coalesced=identity and self._coalesced)

    def __floordiv__(self, other) -> SparseTensor:
        self._no_kernel_unless_coo("div.Scalar_mode")
        if isinstance(other, SparseTensor) or np.ndim(_scalar_of(other)) != 0:
            raise SparseTypeError("floor_divide: a sparse tensor can be divided by a number "
                                  "(or a 0-d tensor) only")
        return _unary(self, lambda v: v // _scalar_of(other))

    floor_divide = __floordiv__

    def __rpow__(self, other):
        """number ** sparse: no sparse kernel (it would be dense), as torch."""
        raise SparseNoKernelError(f"Could not run 'aten::pow.Scalar' with arguments from a "
                                  f"{self.layout.name} tensor, as torch")

    def __rtruediv__(self, other):
        """number / sparse: torch has no sparse reciprocal (it would be dense)."""
        raise SparseNoKernelError(f"Could not run 'aten::reciprocal' with arguments from a "
                                  f"{self.layout.name} tensor, as torch")

    # ------------------------------------------------------------- shape ops
    def transpose(self, dim0: int, dim1: int) -> SparseTensor:
        """Swap two sparse dims (indices swapped, uncoalesced) or two dense dims (values
        transposed); CSR: the transposed matrix in CSR (torch gives CSC)."""
        dim0, dim1 = _dim("transpose", dim0, self.ndim), _dim("transpose", dim1, self.ndim)
        if self.layout is not sparse_coo:  # CSR <-> CSC, BSR <-> BSC: the same arrays
            if self.dense_dim():
                raise SparseValueError("transpose(): hybrid sparse compressed tensors with dense "
                                       "dimensions are not supported, as torch")
            if dim0 == dim1:
                return self
            if {dim0, dim1} != {self.ndim - 2, self.ndim - 1}:
                raise SparseValueError(f"transpose: of a {self.layout.name} tensor only the last "
                                       f"two "
                                       f"dims can be swapped, got {dim0} and {dim1}")
            nb = self._crow.ndim - 1  # (a block's two dims follow the batch dims and nnz)
            values = self._v.transpose(nb + 1, nb + 2) if self.layout in _BLOCKED else self._v
            other = {sparse_csr: sparse_csc, sparse_csc: sparse_csr, sparse_bsr: sparse_bsc,
                     sparse_bsc: sparse_bsr}[self.layout]
            shape = self.shape[:-2] + (self.shape[-1], self.shape[-2])
            return SparseTensor(other, values, shape, crow=self._crow, col=self._col)
        sparse_dim = self.sparse_dim()
        if dim0 < sparse_dim and dim1 < sparse_dim:
            indices, shape = self._ind.copy(), list(self.shape)
            indices[[dim0, dim1]] = indices[[dim1, dim0]]
            shape[dim0], shape[dim1] = shape[dim1], shape[dim0]
            # torch's keeps the flag of a copy it did not touch (no entry to swap)
            untouched = dim0 == dim1 or self.nnz == 0
            return SparseTensor(sparse_coo, self._v, tuple(shape), indices=indices,
                                coalesced=untouched and self._coalesced)
        if dim0 >= sparse_dim and dim1 >= sparse_dim:
            axes = list(range(self._v.ndim))
            a, b = dim0 - sparse_dim + 1, dim1 - sparse_dim + 1
            axes[a], axes[b] = axes[b], axes[a]
            shape = list(self.shape)
            shape[dim0], shape[dim1] = shape[dim1], shape[dim0]
            return SparseTensor(sparse_coo, self._v.permute(*axes), tuple(shape),
                                indices=self._ind, coalesced=self._coalesced)
        raise SparseValueError(f"transpose: cannot swap a sparse dim and a dense dim ({dim0} and "
                               f"{dim1}; sparse_dim={sparse_dim}), as torch")

    @property
    def mT(self) -> SparseTensor:  # noqa: N802 - torch's name
        return self.transpose(-2, -1)

    @property
    def mH(self) -> SparseTensor:  # noqa: N802 - torch's name
        return self.transpose(-2, -1).conj()

    H = mH  # (of a matrix, as torch's)

    def adjoint(self) -> SparseTensor:
        return self.mH

    @property
    def T(self) -> SparseTensor:  # noqa: N802 - torch's name
        """The dims reversed (a permute, COO only: torch has no as_strided of the compressed
        layouts)."""
        if self.layout is not sparse_coo:
            raise SparseNoKernelError(f"Could not run 'aten::as_strided' with arguments from a "
                                      f"{self.layout.name} tensor")
        return self.permute(*reversed(range(self.ndim)))

    def clone(self) -> SparseTensor:
        """A copy of the values (a recorded op), the pattern kept."""
        return self._with_values(self._v.clone())

    def mv(self, vec) -> Tensor:
        return mv(self, vec)

    def t(self) -> SparseTensor:
        if self.ndim > 2:
            raise SparseValueError(f"t: expects a tensor of at most 2 dims, got {self.ndim}")
        return self if self.ndim < 2 else self.transpose(0, 1)

    def index_select(self, dim: int, index) -> SparseTensor:
        """The slices ``index`` of dim (COO), in that order; repeats allowed."""
        return index_select(self, dim, index)

    def narrow_copy(self, dim: int, start: int, length: int) -> SparseTensor:
        """The entries with ``start <= index < start + length`` along dim (COO), shifted; a
        negative start or dim is out of range, as torch's sparse narrow_copy."""
        self._need("narrow_copy")
        if dim < 0:
            raise SparseDimError(f"Dimension {dim} out of range. Expecting 0 <= dim < "
                                 f"{self.ndim}.")
        dim = _dim("narrow_copy", dim, self.ndim)
        size = self.shape[dim]
        if not (0 <= start and length >= 0 and start + length <= size):
            raise SparseDimError(f"narrow_copy: start {start} + length {length} out of range for "
                             f"dim {dim} of size {size}")
        shape = list(self.shape)
        shape[dim] = length
        sparse_dim = self.sparse_dim()
        if dim >= sparse_dim:
            where = (slice(None),) * (dim - sparse_dim + 1) + (slice(start, start + length),)
            return SparseTensor(sparse_coo, GetItem(where)(self._v), tuple(shape),
                                indices=self._ind, coalesced=self._coalesced)
        picks = np.nonzero((self._ind[dim] >= start) & (self._ind[dim] < start + length))[0]
        indices = self._ind[:, picks]
        indices[dim] -= start
        return SparseTensor(sparse_coo, GetItem(picks)(self._v), tuple(shape), indices=indices,
                            coalesced=self._coalesced)

    # ------------------------------------------------------------- arithmetic
    def __neg__(self) -> SparseTensor:
        return self._with_values(-self._v)

    neg = negative = __neg__

    neg = __neg__

    def __mul__(self, other):
        return mul(self, other)

    def __rmul__(self, other):
        return mul(other, self)

    def __truediv__(self, other) -> SparseTensor:
        _no_compressed("div", self)
        if isinstance(other, (SparseTensor, Tensor)) and np.ndim(_scalar_of(other)) != 0:
            raise SparseTypeError("div: a sparse tensor can be divided by a number (or a 0-d "
                                  "tensor) "
                                  "only, as torch's")
        return self._with_values(self._v / _scalar_of(other))

    div = true_divide = __truediv__

    def __add__(self, other):
        return add(self, other)

    def __radd__(self, other):
        return add(other, self)

    def __sub__(self, other):
        return sub(self, other)

    def __rsub__(self, other):
        return sub(other, self)

    def add(self, other, *, alpha=1):
        return add(self, other, alpha=alpha)

    def sub(self, other, *, alpha=1):
        return sub(self, other, alpha=alpha)

    def mul(self, other):
        return mul(self, other)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other, self)

    def mm(self, mat2):
        return mm(self, mat2)

    def bmm(self, mat2):
        return bmm(self, mat2)

    def matmul(self, other):
        return matmul(self, other)

    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        if dim is None and self.layout is not sparse_coo:  # all entries: a dense 0-d tensor
            return (self._v if dtype is None else self._v.astype(dtype)).sum()
        if self.layout is not sparse_coo and not keepdim:
            raise RuntimeError(f"sum: reduction operations on {self.layout.name[7:].upper()} "
                               "tensors with keepdim=False is unsupported, as torch")
        if self.layout is not sparse_coo:
            return _compressed_sum(self, dim, dtype)
        if dtype is None and self.dtype.kind in "biu":  # Tensor.sum's: integers sum in int64
            dtype = np.int64  # (torch.sparse.sum over dims keeps the dtype)
        out = sum(self, dim, dtype=dtype)
        if not keepdim or dim is None:
            return out
        dims = sorted(_dim("sum", d, self.ndim) for d in ((dim,) if np.ndim(dim) == 0 else dim))
        if isinstance(out, Tensor):  # every sparse dim reduced: dense
            return out.reshape(tuple(1 if d in dims else n for d, n in enumerate(self.shape)))
        for d in dims:  # torch's: the sum's reduced dims unsqueezed back (as sparse dims
            out = out.unsqueeze(d)  # where they fall among them)
        return out

    def pow(self, exponent) -> SparseTensor:
        """The stored values to a number's power (a negative one too: zero stays zero, as
        torch's); 0 is refused (the result would be dense), a tensor exponent too."""
        _no_compressed("pow", self)
        if isinstance(exponent, (Tensor, SparseTensor)):
            raise SparseNoKernelError("Could not run 'aten::pow.Tensor_Tensor' with arguments "
                                      "from the 'SparseCPU' backend, as torch")
        if not np.isscalar(exponent) or isinstance(exponent, str):
            raise SparseTypeError(f"pow: the exponent must be a number, got {exponent!r}")
        if exponent == 0:
            raise SparseValueError("pow: cannot raise to zeroth power on sparse tensor; it would "
                                   "make the result tensor dense")
        return _unary(self, lambda v: v ** exponent)

    __pow__ = pow

    def __array__(self, dtype=None, copy=None):
        raise SparseOperandError(self)

    # ------------------------------------------------------------- comparisons
    def _compare(self, name: str, other):
        """torch has no sparse comparison: COO's NotImplementedError, CSR's RuntimeError (for
        a tensor or a number; anything else is not equal, Python's identity)."""
        if not (isinstance(other, SparseTensor) or _comparable(other)):
            return NotImplemented
        if self.layout is sparse_csr:
            raise RuntimeError(f"{name}: unsupported tensor layout: SparseCsr (compare "
                               f"to_dense())")
        overload = "Tensor" if isinstance(other, (SparseTensor, Tensor, np.ndarray)) else "Scalar"
        raise NotImplementedError(f"Could not run 'aten::{name}.{overload}' with arguments from "
                                  f"the 'SparseCPU' backend (compare to_dense())")

    def __eq__(self, other):
        return self._compare("eq", other)

    def __ne__(self, other):
        return self._compare("ne", other)

    def __lt__(self, other):
        return self._compare("lt", other)

    def __le__(self, other):
        return self._compare("le", other)

    def __gt__(self, other):
        return self._compare("gt", other)

    def __ge__(self, other):
        return self._compare("ge", other)

    __hash__ = object.__hash__  # by identity, as torch's tensors

    def __repr__(self) -> str:
        """As torch prints it (dlpy/_tensor_str.py)."""
        from dlpy._tensor_str import sparse_repr

        if self.layout is sparse_coo:
            parts = [("indices", self._ind)]
        elif self.layout in _BY_ROW:
            parts = [("crow_indices", self._crow), ("col_indices", self._col)]
        else:
            parts = [("ccol_indices", self._crow), ("row_indices", self._col)]
        return sparse_repr(parts, self._v, self.shape, self._nnz(), self.layout.name,
                           self.requires_grad)


# zero-preserving element-wise functions torch has for sparse tensors: f(values) of the
# coalesced tensor (a repeated index's entries summed first, as f of the sum)
UNARY = """abs asin asinh atan atanh ceil deg2rad erf erfinv expm1 floor frac log1p nan_to_num
    rad2deg relu round sgn sign signbit sin sinh sqrt square tan tanh trunc isnan isinf isposinf
    isneginf absolute arcsin arcsinh arctan arctanh fix""".split()
# the in-place forms torch has (of a coalesced tensor only): f_ of the values
UNARY_IN_PLACE = [name for name in UNARY if name not in ("square", "signbit") and name[:2] != "is"]


def _unary(x: SparseTensor, function) -> SparseTensor:
    """function of the values of the coalesced tensor (COO). Its gradient reaches the values
    (torch's sparse backward of sin, sqrt, tanh, ... fails for want of sparse ops; dlpy's
    does not)."""
    if x.layout is sparse_coo:
        x = x.coalesce()
    return x._with_values(function(x._v))


def _unary_method(name: str):
    def method(self, *args, **kwargs):
        from dlpy import functional

        function = getattr(functional, name, None) or getattr(Tensor, name)
        return _unary(self, lambda v: function(v, *args, **kwargs))

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{name} of the stored values (zero stays zero), as torch's."
    return method


def _unary_in_place(name: str):
    def method(self, *args, **kwargs):
        if self.layout is sparse_coo and not self._coalesced:
            raise RuntimeError(f"{name}_ requires coalesced input")
        getattr(self._v, name + "_")(*args, **kwargs)
        return self

    method.__name__ = method.__qualname__ = name + "_"
    method.__doc__ = f"{name} of the stored values in place (a coalesced tensor), as torch's."
    return method


for _name in UNARY:
    setattr(SparseTensor, _name, _unary_method(_name))
for _name in UNARY_IN_PLACE:
    setattr(SparseTensor, _name + "_", _unary_in_place(_name))
SparseTensor.__abs__ = SparseTensor.abs
del _name


def _no_compressed(name: str, *operands) -> None:
    """torch has no kernel of ``name`` for CSR / CSC / BSR / BSC operands."""
    for x in operands:
        if isinstance(x, SparseTensor) and x.layout is not sparse_coo:
            raise RuntimeError(f"{name}: unsupported tensor layout: {x.layout.name}, as torch")


def _scalar_of(x):
    """A number or a 0-d dense tensor, as such (for values * x)."""
    if isinstance(x, Tensor):
        return x if x.ndim == 0 else x.data  # 0-d: a Tensor (its gradient counts)
    return x


# ----------------------------------------------------------------- the functions
def _coalesced_pair(name: str, a: SparseTensor, b: SparseTensor):
    if a.shape != b.shape:
        raise SparseValueError(f"{name}: sparse tensors of different shapes {a.shape} and "
                               f"{b.shape}")
    if a.sparse_dim() != b.sparse_dim():
        raise SparseValueError(f"{name}: sparse tensors with {a.sparse_dim()} and {b.sparse_dim()} "
                               "sparse dims")
    return a.to_sparse_coo().coalesce(), b.to_sparse_coo().coalesce()


def _known_coalesced(x: SparseTensor) -> bool:
    """A compressed tensor, or a COO one flagged coalesced."""
    return x.layout is not sparse_coo or x._coalesced


def _layout_of(a: SparseTensor, b: SparseTensor, out: SparseTensor) -> SparseTensor:
    """out (COO, coalesced) in the layout of a and b when they share a compressed one (a's
    batch dims; BSR / BSC: a's blocksize)."""
    if a.layout is b.layout and a.layout in (sparse_csr, sparse_csc):
        return _from_coo(a.layout, out._ind, out._v, out.shape, a._crow.ndim - 1)
    if a.layout is b.layout and a.layout in _BLOCKED:
        nb = a._crow.ndim - 1
        return to_sparse_blocked(out.to_dense(), a.layout, a._v.shape[nb + 1:nb + 3],
                                 a.dense_dim())
    return out


def _from_coo(layout: Layout, index: np.ndarray, values: Tensor, shape, nb: int,
              block=(1, 1)) -> SparseTensor:
    """The compressed tensor (int64 indices) of the distinct entries at ``index`` (batch dims
    + 2, N): the batch indices, then the (block) row and column; values (N, [R, C,]
    *dense_dims). Each batch must hold one number of entries, as torch's."""
    batch, by_row = tuple(shape[:nb]), layout in _BY_ROW
    count = int(np.prod(batch, dtype=np.int64))
    which = (np.ravel_multi_index(tuple(index[:nb]), batch) if nb
             else np.zeros(index.shape[1], dtype=np.int64))
    rows, cols = index[nb], index[nb + 1]
    compressed, plain = (rows, cols) if by_row else (cols, rows)
    slices = shape[nb] // block[0] if by_row else shape[nb + 1] // block[1]
    counts = np.bincount(which, minlength=count)
    if count and np.any(counts != counts[0]):
        raise SparseValueError("Expect the same number of specified elements per batch.")
    nnz = int(counts[0]) if count else 0
    order = np.lexsort((plain, compressed, which))
    per_slice = np.bincount(which * slices + compressed, minlength=count * slices)
    crow = np.concatenate([np.zeros((count, 1), dtype=np.int64),
                           np.cumsum(per_slice.reshape(count, slices), axis=1)], axis=1)
    values = GetItem(order)(values).reshape(batch + (nnz,) + tuple(values.shape[1:]))
    return SparseTensor(layout, values, tuple(shape), crow=crow.reshape(batch + (slices + 1,)),
                        col=plain[order].astype(np.int64).reshape(batch + (nnz,)))


def add(input, other, *, alpha=1):
    """torch.add with a sparse operand: sparse + sparse is sparse (both coalesced, the union
    of their entries, summed); dense + sparse is dense."""
    if isinstance(input, SparseTensor) and isinstance(other, SparseTensor):
        if sparse_coo in (input.layout, other.layout) and input.layout is not other.layout:
            raise RuntimeError(f"add: {input.layout.name} + {other.layout.name} is not "
                               "supported, as torch")
        if input.layout is not sparse_coo:  # compressed: one layout, one dtype, as torch's
            if input.layout is not other.layout:
                raise RuntimeError(f"add: expected {input.layout.name} operands, got "
                                   f"{other.layout.name}, as torch")
            if input.dtype != other.dtype:
                raise RuntimeError(f"add: expected operands of one dtype, got {input.dtype} and "
                                   f"{other.dtype}, as torch")
            if input is not other:  # (torch's x + x takes another path, any dtype)
                _float_kernel("add_out_sparse_csr_impl_mkl", input.dtype)
            if input._crow.ndim == 2 and input is not other:  # torch: x + x only
                raise RuntimeError(f"add: batched {input.layout.name} + {other.layout.name} of "
                                   "two distinct tensors fails, as torch (a shape error)")
        a, b = _coalesced_pair("add", input, other)
        b_values = b._v if alpha == 1 else b._v * alpha
        indices = np.concatenate([a._ind, b._ind], axis=1)
        joined = SparseTensor(sparse_coo, concat([a._v, b_values], 0), a.shape, indices=indices)
        if np.result_type(a.dtype, b.dtype) in (np.float16, np.bool_) \
                and input.layout is sparse_coo:  # torch has no float16 or bool COO kernel
            _float_kernel("cadd_sparse", np.result_type(a.dtype, b.dtype))
        if input.layout is sparse_coo and not (input._coalesced and other._coalesced):
            return _merge_add(input, other, alpha)
        out = _layout_of(input, other, joined.coalesce())
        if out._crow is not None:  # the index dtypes of the first operand, as torch's
            out._crow, out._col = _like(input, out._crow, out._col)
        elif out._nnz() and not (_known_coalesced(input) and _known_coalesced(other)):
            out._coalesced = False  # torch's sum of an uncoalesced operand is not coalesced
        return out
    if isinstance(input, SparseTensor) and input.layout in (sparse_csr, sparse_csc):
        dense = _as_dense("add", other)  # compressed + dense is dense, as torch's
        if dense.shape != input.shape:
            raise SparseValueError(f"add: sparse {input.shape} and dense {dense.shape} must have "
                                   f"one "
                                   "shape")
        return input.to_dense() + (dense if alpha == 1 else dense * alpha)
    if isinstance(input, SparseTensor):  # as torch's, which has no sparse + dense kernel
        raise SparseTypeError("add(sparse, dense) is not supported. Use add(dense, sparse) "
                              "instead.")
    sparse, dense = other, _as_dense("add", input)
    if dense.shape != sparse.shape:
        raise SparseValueError(f"add: dense {dense.shape} and sparse {sparse.shape} must have one "
                               "shape")
    return dense + (sparse.to_dense() if alpha == 1 else sparse.to_dense() * alpha)


def _merge_add(t: SparseTensor, s: SparseTensor, alpha) -> SparseTensor:
    """t + alpha * s of two COO tensors (of one shape and sparse dims), one of them not
    coalesced, as torch's kernel: one pass over both in their stored order, the smaller index
    first and two equal ones summed into one entry (so a repeated index may stay repeated);
    coalesced only when both are (an empty s: t as it is)."""
    sizes = t.shape[:t.sparse_dim()]
    tk, sk = _keys(t._ind, sizes).tolist(), _keys(s._ind, sizes).tolist()
    nt, ns = len(tk), len(sk)
    pos_t, pos_s, take = np.empty(nt, np.int64), np.empty(ns, np.int64), []
    i = j = r = 0
    while i < nt or j < ns:
        cmp = (-1 if i >= nt else 1 if j >= ns else
               (tk[i] < sk[j]) - (tk[i] > sk[j]))  # 1: t's index first, -1: s's, 0: equal
        if cmp >= 0:
            pos_t[i], i = r, i + 1
            take.append(t._ind[:, i - 1])
        if cmp <= 0:
            pos_s[j], j = r, j + 1
            if cmp < 0:
                take.append(s._ind[:, j - 1])
        r += 1
    s_values = s._v if alpha == 1 else s._v * alpha
    dense_shape = tuple(t._v.shape[1:])
    values = IndexAdd((np.concatenate([pos_t, pos_s]),), (r,) + dense_shape)(
        concat([t._v, s_values], 0))
    indices = (np.stack(take, axis=1) if take else t._ind[:, :0]).astype(np.int64)
    coalesced = t._coalesced if ns == 0 else t._coalesced and s._coalesced
    return SparseTensor(sparse_coo, values, t.shape, indices=indices, coalesced=coalesced)


def sub(input, other, *, alpha=1):
    """torch.sub with a sparse operand: add(input, other, alpha=-alpha); CSR / CSC refused,
    as torch's."""
    _no_compressed("sub", input, other)
    return add(input, other, alpha=-alpha)


def mul(input, other):
    """torch.mul with a sparse operand: by a number or 0-d tensor (the values scaled);
    sparse * sparse: the intersection of the patterns when both are coalesced, else, as
    torch's, every entry of the uncoalesced one (of both, the one with fewer entries, the
    second on a tie) times the other's coalesced value there (zero where it has none), not
    coalesced; sparse * dense of the same shape (sparse, the sparse operand's pattern, the
    dense one read at its entries)."""
    if not isinstance(input, SparseTensor):
        input, other = other, input
    if isinstance(other, SparseTensor):
        if np.result_type(input.dtype, other.dtype) == np.bool_:  # no bool kernel, as torch
            raise SparseNoKernelError('"mul_out_sparse" not implemented for \'Bool\'')
        a, b = _coalesced_pair("mul", input, other)
        sizes = a.shape[:a.sparse_dim()]
        if _known_coalesced(input) and _known_coalesced(other):
            _, ia, ib = np.intersect1d(_keys(a._ind, sizes), _keys(b._ind, sizes),
                                       assume_unique=True, return_indices=True)
            values = GetItem(ia)(a._v) * GetItem(ib)(b._v)
            out = SparseTensor(sparse_coo, values, a.shape, indices=a._ind[:, ia],
                               coalesced=True)
            return _layout_of(input, other, out)
        if _known_coalesced(other) or (not _known_coalesced(input)
                                       and input._nnz() < other._nnz()):
            source, probe = input, b
        else:
            source, probe = other, a
        keys, probe_keys = _keys(source._ind, sizes), _keys(probe._ind, sizes)
        if probe_keys.size == 0 or keys.size == 0:
            return SparseTensor(sparse_coo, probe._v[:0] * source._v[:0], a.shape,
                                indices=source._ind[:, :0], coalesced=True)
        at = np.minimum(np.searchsorted(probe_keys, keys), probe_keys.size - 1)
        found = (probe_keys[at] == keys).reshape((-1,) + (1,) * (source._v.ndim - 1))
        values = source._v * GetItem(at)(probe._v) * found.astype(source._v.dtype)
        return SparseTensor(sparse_coo, values, a.shape, indices=source._ind)
    scalar = _scalar_of(other)
    if np.ndim(scalar) == 0:
        return input._with_values(input._v * scalar)
    dense = _as_dense("mul", other)
    if dense.shape != input.shape and dense.ndim <= input.ndim:  # broadcast to the sparse shape
        try:
            dense = dense.expand(*input.shape)
        except (ValueError, RuntimeError):
            pass
    if dense.shape != input.shape:
        raise SparseValueError(f"mul: dense {dense.shape} and sparse {input.shape} must have one "
                               "shape (or the dense one a number)")
    gathered = GetItem(tuple(input._coo()))(dense)  # (nnz, *dense_dims)
    return input._with_values(input._v * gathered)


def _check_mm(name: str, s: SparseTensor, d: Tensor) -> None:
    if s.ndim != 2 or s.dense_dim():
        raise SparseValueError(f"{name}: the sparse operand must be a 2-D matrix with no dense "
                               f"dims, "
                               f"got shape {s.shape} with {s.dense_dim()} dense dims")
    if d.ndim not in (1, 2) or s.shape[1] != d.shape[0]:
        raise SparseValueError(f"{name}: expected (m, k) @ (k, n) or (k,), got {s.shape} @ "
                               f"{tuple(d.shape)}")
    if s.dtype != d.dtype:
        raise SparseTypeError(f"{name}: the operands' dtypes differ ({s.dtype} and {d.dtype}), as "
                              "torch refuses")


_TORCH_TYPE_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short",
                     "int32": "Int", "int64": "Long", "float16": "Half", "bfloat16": "BFloat16"}


def _float_kernel(kernel: str, dtype) -> None:
    """torch's kernels of the compressed layouts (MKL's), and of sparse @ sparse, take float32,
    float64 and complex values only: NotImplementedError for the others, as torch's."""
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64) and dtype.kind != "c":
        raise SparseNoKernelError(f'"{kernel}" not implemented for '
                                  f"'{_TORCH_TYPE_NAMES.get(dtype.name, dtype.name)}'")


def _sparse_dense(name: str, s: SparseTensor, d) -> Tensor:
    d = _as_dense(name, d)
    _check_mm(name, s, d)
    if s.layout is not sparse_coo:  # torch's CSR / CSC kernel (MKL's)
        _float_kernel(f"{'addmv' if d.ndim == 1 else 'addmm'}_out_sparse_csr_impl_mkl", s.dtype)
    elif s.dtype == np.bool_:
        raise SparseNoKernelError('"addmm_sparse_dense" not implemented for \'Bool\'')
    if s.layout is sparse_csr:
        crow, col = s._crow, s._col
    else:
        s = s.to_sparse_coo().coalesce()  # sorted by row: each row's entries one run
        crow, col = _crow(s._ind[0], s.shape[0]), s._ind[1]
    vector = d.ndim == 1
    out = _ops.sparse_dense_mm(crow, col, s._v, s.shape[1], d.reshape(-1, 1) if vector else d)
    return out.reshape(-1) if vector else out


def matmul(mat1, mat2):
    """torch.matmul (torch.mm, @, mv, addmm) with a sparse operand: sparse (m, k) @ dense
    (k, n) and dense @ sparse are dense; sparse @ sparse is sparse (COO). Gradients: the
    sparse operand's values and the dense operand's array; and, as torch's, whose gradient
    of the sparse operand is dense (torch.sparse.mm's is sparse, masked), the whole of it
    for a sparse operand converted from a dense tensor requiring grad."""
    out = _matmul(mat1, mat2)
    source1, source2 = _dense_source(mat1), _dense_source(mat2)
    if (source1 is None and source2 is None) or not isinstance(out, Tensor):
        return out
    # the product's value, with the gradients of the dense sources' product (equal values)
    return _ops.SparseOperandMatMul(out.data)(mat1 if source1 is None else source1,
                                              mat2 if source2 is None else source2)


def _matmul(mat1, mat2):
    """torch.sparse.mm's product (the sparse operand's gradient masked to its entries)."""
    if isinstance(mat1, SparseTensor) and isinstance(mat2, SparseTensor):
        # torch's CPU kernels: COO @ COO (COO) and CSR / CSC @ CSR / CSC (CSR); no mix of the
        # two, no block layout
        first, second = mat1.layout, mat2.layout
        if first in _BLOCKED:
            raise RuntimeError(f"zeros_sparse_compressed expected sparse compressed (non-block) "
                               f"tensor layout but got {first.name}, as torch")
        if (first is sparse_coo) != (second is sparse_coo) or second in _BLOCKED:
            raise RuntimeError(f"addmm: computation on CPU is not implemented for {first.name} "
                               f"+ {first.name} @ {second.name}, as torch")
        _float_kernel("sparse_matmul" if first is sparse_coo
                      else "addmm_out_sparse_csr_impl_mkl_sparse", mat1.dtype)
        # the product of the dense right side, its nonzeros kept (torch: the structural ones)
        out = _sparse_dense("sparse.mm", mat1, mat2.to_dense()).to_sparse()
        return out if first is sparse_coo else out.to_sparse_csr()
    if isinstance(mat1, SparseTensor):
        if mat1.layout is sparse_bsc:  # torch has no CPU kernel of BSC @ dense
            raise RuntimeError("addmm: computation on CPU is not implemented for Strided + "
                               "sparse_bsc @ Strided, as torch")
        return _sparse_dense("sparse.mm", mat1, mat2)
    if isinstance(mat2, SparseTensor):  # D @ S = (S^T @ D^T)^T
        dense = _as_dense("sparse.mm", mat1)
        if mat2.layout in _BLOCKED:  # torch has no CPU kernel of dense @ BSR / BSC
            raise RuntimeError(f"addmm: computation on CPU is not implemented for Strided + "
                               f"Strided @ {mat2.layout.name}, as torch")
        if dense.ndim == 1:
            return _sparse_dense("sparse.mm", mat2.t(), dense)
        if dense.ndim != 2:
            raise SparseValueError(f"sparse.mm: expected a 2-D dense operand, got shape "
                                   f"{dense.shape}")
        return _sparse_dense("sparse.mm", mat2.t(), dense.T).T
    raise SparseTypeError("sparse.mm: expects a sparse operand")


_MM_REDUCTIONS = {"sum": "sum", "mean": "mean", "amax": "amax", "amin": "amin", "max": "amax",
                  "min": "amin"}


def mm(mat1, mat2, reduce=None):
    """torch.sparse.mm / torch.mm: as ``matmul`` but both operands matrices (a vector is
    torch's IndexError). ``reduce`` (torch.sparse.mm's; given, it takes torch's reduction
    kernel, which needs a CSR mat1 and a dense mat2): how out[i, j] combines row i's stored
    products mat1[i, k] * mat2[k, j]: "sum" (the matrix product), "mean", "amax" / "max" or
    "amin" / "min"; a row with no stored entry gives 0."""
    if reduce is not None and reduce not in _MM_REDUCTIONS:
        if reduce == "prod":
            raise SparseValueError("sparse_mm_reduce: reduce type of prod has not been enabled.")
        raise SparseValueError(f"reduce argument must be either sum, prod, mean, amax or amin, "
                               f"got {reduce}")
    for x in (mat1, mat2):
        if not isinstance(x, SparseTensor) and getattr(x, "ndim", 2) != 2:
            raise SparseDimError(f"sparse.mm: expected 2-D matrices, got a {x.ndim}-D operand")
    if reduce is None:
        return matmul(mat1, mat2)
    return _mm_reduce(mat1, mat2, _MM_REDUCTIONS[reduce])


def sparse_mm(mat1, mat2, reduce=None):
    """torch.sparse.mm: ``mm``, the sparse operand's gradient sparse (its entries only) even
    for one converted from a dense tensor requiring grad, as torch's."""
    if reduce is None and isinstance(mat1, SparseTensor) and _dense_source(mat1) is not None:
        mat1 = mat1._with_values(mat1._v)  # (the same tensor, without the dense path)
    return mm(mat1, mat2, reduce)


def _mm_reduce(s, d, reduce: str) -> Tensor:
    """sparse.mm's reduction kernel: "sum" the product; otherwise each stored (i, k, v) gives
    the row v * d[k] (nnz, n), reduced into out[i] by index_reduce (a row with none keeps its
    0); gradients flow to s's values and d through those ops."""
    if not isinstance(s, SparseTensor) or s.layout is not sparse_csr \
            or isinstance(d, SparseTensor):
        kind = s.layout.name if isinstance(s, SparseTensor) else "Strided"
        raise SparseNoKernelError(f"Could not run 'aten::_sparse_mm_reduce_impl' with a {kind} "
                                  "operand: torch's kernel takes a CSR mat1 and a dense mat2")
    d = _as_dense("sparse_mm_reduce", d)
    _check_mm("sparse_mm_reduce", s, d)
    if reduce == "sum":
        return _sparse_dense("sparse_mm_reduce", s, d)
    from dlpy.ops.indexing import index_reduce

    rows, cols = s._coo()
    products = s._v.reshape(-1, 1) * GetItem((cols,))(d)  # (nnz, n)
    zeros = d.new_zeros((s.shape[0], d.shape[1]))
    return index_reduce(zeros, 0, Tensor(rows), products, reduce, include_self=False)


def bmm(input, mat2) -> Tensor:  # noqa: A002 - torch's names
    """torch.bmm with a sparse COO (b, m, k) batch of matrices @ dense (b, k, n): dense
    (b, m, n); out[b, i] += v * mat2[b, j] for each stored (b, i, j, v)."""
    if not isinstance(input, SparseTensor) or isinstance(mat2, SparseTensor):
        raise RuntimeError("bmm_sparse: Tensor 'mat2' must be dense")
    input._need("bmm")
    d = _as_dense("bmm", mat2)
    if input.ndim != 3 or input.dense_dim() or d.ndim != 3 or d.shape[0] != input.shape[0] \
            or d.shape[1] != input.shape[2]:
        raise RuntimeError(f"bmm: expected (b, m, k) @ (b, k, n), got {input.shape} @ "
                           f"{tuple(d.shape)}")
    if input.dtype != d.dtype:
        raise RuntimeError(f"bmm: the operands' dtypes differ ({input.dtype} and {d.dtype})")
    b, m, _ = input.shape
    batch, row, col = input._ind
    rows = Tensor(batch * m + row)
    products = input._v.reshape(-1, 1) * GetItem((batch, col))(d)  # (nnz, n)
    out = d.new_zeros((b * m, d.shape[2])).index_add(0, rows, products)
    return out.reshape(b, m, d.shape[2])


def mv(input, vec) -> Tensor:
    """torch.mv: sparse (m, k) @ dense (k,)."""
    vec = _as_dense("mv", vec)
    if vec.ndim != 1:
        raise SparseValueError(f"mv: expected a 1-D vector, got shape {vec.shape}")
    return matmul(input, vec)


def addmm(mat, mat1, mat2, *, beta=1.0, alpha=1.0, _mm=None) -> Tensor:
    """torch.addmm: beta * mat + alpha * (mat1 @ mat2), mat1 sparse; beta = 0 ignores mat's
    values (nan too) but gives it a zero gradient, as torch's."""
    product = (_mm or mm)(mat1, mat2)
    product = product if alpha == 1 else product * alpha
    mat = _as_dense("addmm", mat)
    if beta == 0:
        if mat.requires_grad:
            from dlpy.ops.mask import where

            product = product + where(np.zeros(mat.shape, dtype=bool), mat, 0)
        return product
    return (mat if beta == 1 else mat * beta) + product


def sparse_addmm(mat, mat1, mat2, *, beta=1.0, alpha=1.0) -> Tensor:
    """torch.sparse.addmm: ``addmm`` through sparse.mm (mat1's gradient sparse)."""
    return addmm(mat, mat1, mat2, beta=beta, alpha=alpha, _mm=sparse_mm)


def sum(input, dim=None, dtype=None):  # noqa: A001 - torch.sparse.sum's name
    """torch.sparse.sum: all entries (a dense 0-d tensor), or over ``dim`` (an int or a
    sequence): sparse while some sparse dim is left, else dense."""
    if not isinstance(input, SparseTensor):
        raise SparseTypeError(f"sparse.sum: expected a sparse tensor, got {type(input).__name__}")
    if input.layout is not sparse_coo and dim is not None:  # dims checked first, as torch
        for d in ((dim,) if np.ndim(dim) == 0 else dim):
            _dim("sparse.sum", d, input.ndim)
        raise SparseNoKernelError(f"sparse.sum: no kernel over a dim for {input.layout.name} "
                                  "tensors (aten::_indices), as torch")
    if input.layout is not sparse_coo:
        raise RuntimeError(f"sparse.sum: coalesce expected sparse coordinate tensor layout but "
                           f"got {input.layout.name}, as torch")
    values = input._v if dtype is None else input._v.astype(dtype)
    if dim is None:
        return values.sum()
    dims = [_dim("sparse.sum", d, input.ndim) for d in ((dim,) if np.ndim(dim) == 0 else dim)]
    if len(set(dims)) != len(dims):
        raise SparseValueError(f"sparse.sum: dim {dim} appears more than once, as torch refuses")
    dims = sorted(dims)
    s = input.to_sparse_coo()
    sparse_dim = s.sparse_dim()
    dense_axes = tuple(d - sparse_dim + 1 for d in dims if d >= sparse_dim)
    if dense_axes:
        values = values.sum(axis=dense_axes)
    kept = [d for d in range(sparse_dim) if d not in dims]
    if not kept:
        return values.sum(axis=0)
    shape = tuple(n for d, n in enumerate(input.shape) if d not in dims)
    out = SparseTensor(sparse_coo, values, shape, indices=s._ind[kept])
    return out.coalesce()


def _compressed_sum(input: SparseTensor, dim, dtype) -> SparseTensor:
    """torch's sum(dim, keepdim=True) of a 2-D CSR tensor (the only compressed one it has a
    kernel for): CSR, the reduced dims of size 1, an entry where a stored one was summed
    (integers summed as int64, as torch's); the index dtypes kept."""
    dims = [_dim("sum", d, input.ndim) for d in ((dim,) if np.ndim(dim) == 0 else dim)]
    if input.layout is not sparse_csr:
        raise RuntimeError("sum: currently the only compressed sparse format supported for "
                           f"sum.dim_IntList is CSR, but got layout {input.layout.name}, as torch")
    if input.ndim != 2 or len(set(dims)) != len(dims):
        raise RuntimeError(f"sum: of a CSR tensor over dims {dims}: expected a 2-D tensor "
                           f"with no dense dims and distinct dims, got shape {input.shape}")
    if input.dtype == np.bool_:
        raise SparseNoKernelError('"_sparse_csr_sum_cpu" not implemented for \'Bool\'')
    if dtype is None and input.dtype.kind in "iu":
        dtype = np.int64
    values = input._v if dtype is None else input._v.astype(dtype)
    index = input._coo()
    kept = [d for d in range(2) if d not in dims]
    if not kept:
        index, values = np.zeros((2, min(input._nnz(), 1)), dtype=np.int64), values.sum()
        values = values.reshape(-1)[:index.shape[1]]
    else:
        summed = sum(SparseTensor(sparse_coo, values, input.shape, indices=index), dims)
        index = np.zeros((2, summed._nnz()), dtype=np.int64)
        index[kept[0]] = summed._ind[0]
        values = summed._v
    shape = tuple(1 if d in dims else n for d, n in enumerate(input.shape))
    out = _from_coo(sparse_csr, index, values, shape, 0)
    out._crow, out._col = _like(input, out._crow, out._col)
    return out


def _segments(name: str, input: SparseTensor, dim: int):
    """The coalesced COO tensor and, per entry, the id of the slice along ``dim`` it is in
    (the other sparse indices), for softmax over ``dim``."""
    s = input.to_sparse_coo().coalesce()
    sparse_dim = s.sparse_dim()
    others = [d for d in range(sparse_dim) if d != dim]
    if not others:
        return s, np.zeros(s._nnz(), dtype=np.int64), 1
    keys = _keys(s._ind[others], [s.shape[d] for d in others])
    unique, segments = np.unique(keys, return_inverse=True)
    return s, segments.reshape(-1), unique.size


def _softmax(name: str, input, dim: int, dtype, log: bool):
    if not isinstance(input, SparseTensor):
        raise SparseTypeError(f"{name}: expected a sparse tensor, got {type(input).__name__}")
    if input.layout is not sparse_coo:  # torch has no kernel of the compressed layouts
        raise SparseNoKernelError(f"Could not run 'aten::_sparse_{name.split('.')[-1]}' with "
                                  f"arguments from a {input.layout.name} tensor")
    dim = _dim(name, dim, input.ndim)
    computed = input.dtype if dtype is None else np.dtype(dtype)
    if computed not in (np.float32, np.float64):  # nor of 16-bit floats, integers, bool
        raise SparseNoKernelError(f'"{name.split(".")[-1]}" not implemented for {computed}, as '
                                  "torch; pass dtype=torch.float32 (or float64)")
    if dim >= input.sparse_dim():  # over a dense dim: the values' own softmax
        from dlpy.ops.softmax import log_softmax as dense_log_softmax
        from dlpy.ops.softmax import softmax as dense_softmax

        s = input.to_sparse_coo().coalesce()
        values = s._v if dtype is None else s._v.astype(dtype)
        axis = dim - input.sparse_dim() + 1
        return s._with_values((dense_log_softmax if log else dense_softmax)(values, axis))
    s, segments, count = _segments(name, input, dim)
    values = s._v if dtype is None else s._v.astype(dtype)
    return s._with_values(_ops.SparseSoftmax(segments, count, log)(values))


def softmax(input, dim: int, dtype=None) -> SparseTensor:
    """torch.sparse.softmax: softmax along ``dim`` over the stored entries only (a missing
    entry is -inf, not 0); sparse, the coalesced pattern."""
    return _softmax("sparse.softmax", input, dim, dtype, log=False)


def log_softmax(input, dim: int, dtype=None) -> SparseTensor:
    """torch.sparse.log_softmax: log of ``softmax`` over the stored entries."""
    return _softmax("sparse.log_softmax", input, dim, dtype, log=True)


def sampled_addmm(input, mat1, mat2, *, beta=1.0, alpha=1.0) -> SparseTensor:
    """torch.sparse.sampled_addmm: beta * input + alpha * (mat1 @ mat2) at input's entries
    only (input: CSR (m, n); mat1 (m, k), mat2 (k, n) dense); CSR of input's pattern."""
    name = "sparse.sampled_addmm"
    if not isinstance(input, SparseTensor) or input.layout is not sparse_csr:
        raise SparseNoKernelError(f"{name}: input must be a sparse_csr tensor, got "
                                  f"{getattr(input, 'layout', type(input).__name__)}")
    mat1, mat2 = _as_dense(name, mat1), _as_dense(name, mat2)
    if mat1.ndim != 2 or mat2.ndim != 2 or mat1.shape[1] != mat2.shape[0] \
            or (mat1.shape[0], mat2.shape[1]) != input.shape:
        raise SparseValueError(f"{name}: expected mat1 (m, k) @ mat2 (k, n) with input (m, n), got "
                               f"{tuple(mat1.shape)} @ {tuple(mat2.shape)} and {input.shape}")
    if input.dtype not in (np.float32, np.float64) and not input.is_complex():
        raise SparseTypeError(f"sparse_sampled_addmm: Expected self to be a floating-point or "
                              f"complex tensor, but got {input.dtype}, as torch")
    rows, cols = input._coo()
    sampled = (GetItem(rows)(mat1) * GetItem(cols)(mat2.T)).sum(axis=-1)  # (nnz,)
    sampled = sampled if alpha == 1 else sampled * alpha
    # beta * input even for beta=0 (its nan and inf stay nan), as torch's
    values = (input._v if beta == 1 else input._v * beta) + sampled
    # int64 indices whatever the input's, as torch's
    return SparseTensor(sparse_csr, values, input.shape, crow=input._crow.astype(np.int64),
                        col=input._col.astype(np.int64))


def index_select(input, dim: int, index) -> SparseTensor:
    """torch.index_select of a COO tensor: the slices ``index`` of ``dim``, in that order
    (coalesced when at most one entry is left, as torch's)."""
    name = "index_select"
    if not isinstance(input, SparseTensor):
        raise SparseTypeError(f"{name}: expected a sparse_coo tensor")
    input._no_kernel_unless_coo(name)
    dim = _dim(name, dim, input.ndim)
    if isinstance(index, Tensor) and index.dtype != np.int64:  # as torch's, int32 too
        raise SparseIndexTypeError("index_select() argument index must be 1-D strided "
                                   "(non-sparse) long-tensor.")
    index = _index_array(name, "index", index, 1)
    if index.size and not (0 <= index.min() and index.max() < input.shape[dim]):  # IndexError
        bad = index.min() if index.min() < 0 else index.max()
        raise SparseDimError(f"{name}: index of dim {dim} must lie in [0, {input.shape[dim]}), "
                             f"got {bad}")
    shape = list(input.shape)
    shape[dim] = index.size
    sparse_dim = input.sparse_dim()
    if dim >= sparse_dim:
        values = GetItem((slice(None),) * (dim - sparse_dim + 1) + (index,))(input._v)
        # a new tensor of the same indices, coalesced as torch's new ones are: below 2 entries
        return SparseTensor(sparse_coo, values, tuple(shape), indices=input._ind,
                            coalesced=input.nnz <= 1)
    order = np.argsort(input._ind[dim], kind="stable")
    ordered = input._ind[dim][order]
    low = np.searchsorted(ordered, index, "left")
    counts = np.searchsorted(ordered, index, "right") - low
    first = np.cumsum(counts) - counts  # where each selected slice starts in the result
    picks = order[np.repeat(low - first, counts) + np.arange(counts.sum())]
    indices = input._ind[:, picks]
    indices[dim] = np.repeat(np.arange(index.size), counts)
    return SparseTensor(sparse_coo, GetItem(picks)(input._v), tuple(shape), indices=indices,
                        coalesced=picks.size <= 1)


def _resize_check(x: SparseTensor, size: tuple, sparse_dim: int, dense_dim: int) -> None:
    """torch's rules of sparse_resize_ (and copy_): the dims must add up; a tensor with
    entries keeps its sparse and dense dims, does not shrink a sparse size and keeps its dense
    sizes (torch would grow them over uninitialized memory; dlpy refuses)."""
    if sparse_dim + dense_dim != len(size):
        raise RuntimeError(f"'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) = "
                           f"{len(size)}, sparse_dim = {sparse_dim}, dense_dim = {dense_dim}")
    if not x._nnz():
        x._ind = np.zeros((sparse_dim, 0), dtype=np.int64)
        x._v = x._v.reshape((0,) + size[sparse_dim:])
        return
    for what, old, new in (("sparse", x.sparse_dim(), sparse_dim),
                           ("dense", x.dense_dim(), dense_dim)):
        if old != new:
            raise RuntimeError(f"changing the number of {what} dimensions (from {old} to {new}) "
                               "on a non-empty sparse tensor is not supported.")
    old_sparse, new_sparse = list(x.shape[:sparse_dim]), list(size[:sparse_dim])
    if any(n < o for n, o in zip(new_sparse, old_sparse)):
        raise RuntimeError(f"shrinking the size of sparse dimensions (from {old_sparse} to "
                           f"{new_sparse}) on a non-empty sparse tensor is not supported.")
    old_dense, new_dense = list(x.shape[sparse_dim:]), list(size[sparse_dim:])
    if any(n < o for n, o in zip(new_dense, old_dense)):
        raise RuntimeError(f"shrinking the size of dense dimensions (from {old_dense} to "
                           f"{new_dense}) on a non-empty sparse tensor is not supported.")
    if new_dense != old_dense:
        raise SparseValueError("sparse_resize_: growing a dense dim of a non-empty sparse tensor "
                               "is not supported (torch leaves the new values uninitialized)")


# ----------------------------------------------------------------- products (hspmm, smm)
def _coo_mm_args(name: str, mat1, mat2, kind: str = "hspmm"):
    """mat1 a COO matrix, mat2 a dense one of its dtype, (m, k) @ (k, n), as torch checks."""
    if not isinstance(mat1, SparseTensor):
        if kind == "hspmm":
            raise SparseNoKernelError(f"Could not run 'aten::{name}' with arguments from the "
                                      "'CPU' backend")
        raise RuntimeError("tensor.sspaddmm(...) can only be called on sparse tensors")
    if mat1.layout is not sparse_coo:
        raise SparseNoKernelError(f"Could not run 'aten::{name}' with arguments from the "
                                  f"'Sparse{mat1._layout_letters().capitalize()}CPU' backend")
    dense = _as_dense(name, mat2)
    if mat1.sparse_dim() != 2 or mat1.dense_dim():
        raise RuntimeError(f"{name}: Argument #2: matrices expected, got {mat1.sparse_dim()} "
                           f"sparse and {mat1.dense_dim()} dense dims")
    if dense.ndim != 2:
        raise RuntimeError(f"{name}: Argument #3: matrices expected, got {dense.ndim}D tensor")
    if dense.shape[0] != mat1.shape[1]:
        raise RuntimeError(f"{name}: Argument #3: Expected dim 0 size {mat1.shape[1]}, got "
                           f"{dense.shape[0]}")
    if dense.dtype != mat1.dtype:
        raise SparseTypeError(f"{name}: expected scalar type {mat1.dtype} but found "
                              f"{dense.dtype}")
    return mat1.coalesce(), dense


def _row_products(s: SparseTensor, dense: Tensor):
    """The distinct rows of a coalesced COO matrix that hold entries and the rows of
    ``s @ dense`` there (rows, a (len(rows), n) Tensor of the graph)."""
    rows = np.unique(s._ind[0])
    crow = _crow(s._ind[0], s.shape[0])
    product = _ops.sparse_dense_mm(crow, s._ind[1], s._v, s.shape[1], dense)
    return rows, GetItem(rows)(product)


def hspmm(mat1, mat2) -> SparseTensor:
    """torch.hspmm: COO (m, k) @ dense (k, n) as a hybrid COO tensor (one sparse dim, the
    rows of mat1 that hold entries; one dense dim, their product rows); not coalesced, as
    torch's (unless it has fewer than 2 rows)."""
    s, dense = _coo_mm_args("hspmm", mat1, mat2)
    rows, values = _row_products(s, dense)
    return SparseTensor(sparse_coo, values, (s.shape[0], dense.shape[1]),
                        indices=rows[None].astype(np.int64), coalesced=rows.size <= 1)


hsmm = hspmm


def sspaddmm(input, mat1, mat2, *, beta=1, alpha=1) -> SparseTensor:  # noqa: A002
    """torch.sspaddmm: ``beta * input + alpha * (mat1 @ mat2)`` as a COO tensor: input's
    entries (kept as they are, scaled) then every element of the product's rows where mat1
    holds entries; not coalesced, as torch's."""
    name = "sspaddmm"
    if not isinstance(input, SparseTensor) or input.layout is not sparse_coo:
        raise RuntimeError("sspaddmm: self.is_sparse() INTERNAL ASSERT FAILED: expected a "
                           "sparse COO input")
    s, dense = _coo_mm_args(name, mat1, mat2, kind="sspaddmm")
    if input.shape != (s.shape[0], dense.shape[1]):
        raise RuntimeError(f"{name}: Argument #1: Expected dim 0 size {s.shape[0]}, got "
                           f"{input.shape[0]}" if input.shape[0] != s.shape[0] else
                           f"{name}: Argument #1: Expected dim 1 size {dense.shape[1]}, got "
                           f"{input.shape[1]}")
    if input.dtype != s.dtype:
        raise SparseTypeError(f"dtype of values ({s.dtype}) must match dtype of sparse tensor "
                              f"({input.dtype})")
    rows, products = _row_products(s, dense)
    n = dense.shape[1]
    indices = np.concatenate([input._ind.astype(np.int64),
                              np.stack([np.repeat(rows, n), np.tile(np.arange(n), rows.size)])],
                             axis=1)
    values = concat([input._v * beta if beta != 1 else input._v,
                     (products * alpha if alpha != 1 else products).reshape(-1)], 0)
    return SparseTensor(sparse_coo, values, input.shape, indices=indices,
                        coalesced=indices.shape[1] == 0)


saddmm = sspaddmm


def resize_as_sparse_(input, the_template) -> SparseTensor:  # noqa: A002 - torch's names
    """torch.resize_as_sparse_: ``input`` (a COO tensor) sparse-resized in place to the
    template's shape, sparse and dense dims (a dense template has no sparse dims, its dims
    dense), under sparse_resize_'s rules; a dense input or a compressed template raises
    RuntimeError, a template that is no tensor TypeError."""
    if not isinstance(the_template, (Tensor, SparseTensor)):
        raise TypeError(f"resize_as_sparse_(): argument 'the_template' (position 1) must be "
                        f"Tensor, not {type(the_template).__name__}")
    if not isinstance(input, SparseTensor) or input.layout is not sparse_coo:
        raise RuntimeError("resize_as_sparse_: self.is_sparse() INTERNAL ASSERT FAILED: "
                           "expected a sparse COO tensor")
    if isinstance(the_template, SparseTensor):
        if the_template.layout is not sparse_coo:
            raise RuntimeError("resize_as_sparse_compressed_: self  expected sparse compressed "
                               "tensor layout but got Sparse")
        dims = the_template.sparse_dim(), the_template.dense_dim()
    else:
        dims = 0, the_template.ndim
    return input.sparse_resize_(tuple(the_template.shape), *dims)


def smm(input, mat2) -> SparseTensor:  # noqa: A002 - torch's names
    """torch.smm: COO (m, k) @ dense (k, n) as a COO matrix: every element of the product's
    rows where input holds entries (sspaddmm of an empty input)."""
    s, dense = _coo_mm_args("smm", input, mat2, kind="sspaddmm")
    empty = SparseTensor(sparse_coo, Tensor(np.zeros(0, dtype=s.dtype)),
                         (s.shape[0], dense.shape[1]), indices=np.zeros((2, 0), dtype=np.int64),
                         coalesced=True)
    return sspaddmm(empty, s, dense, beta=0)


def dsmm(input, mat2) -> Tensor:  # noqa: A002 - torch's names
    """torch.dsmm: sparse (m, k) @ dense (k, n), dense: torch.mm's product and gradients
    (a compressed input too)."""
    if not isinstance(input, SparseTensor) or input.layout is sparse_coo:
        _coo_mm_args("dsmm", input, mat2, kind="sspaddmm")  # (torch's checks)
    return mm(input, mat2)


def spdiags(diagonals, offsets, shape, layout: Layout | None = None) -> SparseTensor:
    """torch.sparse.spdiags: a (m, n) matrix whose diagonal ``offsets[d]`` holds
    ``diagonals[d]`` read by column (element (j - offset, j) is diagonals[d, j], as scipy's);
    COO (not coalesced), or CSR / CSC."""
    diagonals = _as_dense("spdiags", diagonals)
    if layout not in (None, sparse_coo, sparse_csr, sparse_csc):
        raise RuntimeError(f"Only output layouts (Sparse, SparseCsc, SparseCsr) are supported, "
                           f"got {getattr(layout, 'name', layout)}")
    if not isinstance(offsets, Tensor):
        raise SparseTypeError("spdiags: offsets must be a tensor")
    if offsets.dtype != np.int64:
        raise RuntimeError(f"Offset Tensor must have dtype Long but got {offsets.dtype}")
    if offsets.ndim > 1:
        raise RuntimeError("Offsets must be scalar or vector")
    if diagonals.ndim > 2:
        raise RuntimeError("Diagonals must be vector or matrix")
    shape = _size("spdiags", shape)
    if len(shape) != 2:
        raise RuntimeError("Output shape must be 2d")
    offs = offsets.data.reshape(-1)
    if diagonals.ndim < 2:
        diagonals = diagonals.reshape(1, -1)
    if diagonals.shape[0] != offs.size:
        raise RuntimeError(f"Number of diagonals ({diagonals.shape[0]}) does not match the "
                           f"number of offsets ({offs.size})")
    if np.unique(offs).size != offs.size:
        raise RuntimeError("Offset tensor contains duplicate values")
    m, n = shape
    rows, cols, which = [], [], []
    for d, k in enumerate(offs.tolist()):
        j = np.arange(max(0, k), min(n, m + k, diagonals.shape[1]))
        rows.append(j - k)
        cols.append(j)
        which.append(np.stack([np.full(j.size, d), j]))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    picks = tuple(np.concatenate(which, axis=1)) if which else (np.zeros(0, np.int64),) * 2
    out = SparseTensor(sparse_coo, GetItem(picks)(diagonals), shape,
                       indices=np.stack([rows, cols]).astype(np.int64),
                       coalesced=rows.size <= 1)
    return out if layout in (None, sparse_coo) else out.to_sparse(layout)


# ----------------------------------------------------------------- copies of the parts
def _copy_of(accessor: str):
    def function(input, *, out=None):  # noqa: A002 - torch's name
        if isinstance(input, SparseTensor) and input.layout is sparse_coo \
                and accessor in ("indices", "values"):
            raise SparseNoKernelError(f"Could not run 'aten::{accessor}_copy' with arguments "
                                      "from the 'SparseCPU' backend")
        if not isinstance(input, SparseTensor):
            raise RuntimeError(f"{accessor}_copy: expected a sparse tensor, got a dense one")
        return getattr(input, accessor)().clone()

    function.__name__ = function.__qualname__ = f"{accessor}_copy"
    function.__doc__ = (f"torch.{accessor}_copy: a copy of ``input.{accessor}()`` (COO's "
                        "indices / values: no kernel, as torch's).")
    return function


indices_copy = _copy_of("indices")
values_copy = _copy_of("values")
crow_indices_copy = _copy_of("crow_indices")
col_indices_copy = _copy_of("col_indices")
ccol_indices_copy = _copy_of("ccol_indices")
row_indices_copy = _copy_of("row_indices")


# ----------------------------------------------------------------- dense -> sparse
def sparse_mask(x, mask: SparseTensor) -> SparseTensor:
    """torch's Tensor.sparse_mask(mask): x's entries at mask's stored indices, in mask's
    layout and pattern; the gradient reaches x. A sparse x: its coalesced values there (zero
    where it has none), in mask's pattern."""
    if isinstance(x, SparseTensor) and isinstance(mask, SparseTensor):
        if x.shape != mask.shape:
            raise RuntimeError(f"sparse_mask(): operands have incompatible sizes; self has size "
                               f"{list(x.shape)} but mask has size {list(mask.shape)}")
        if x.layout is not sparse_coo or x.sparse_dim() != mask.sparse_dim():
            raise RuntimeError("sparse_mask: expected a COO tensor with the mask's sparse dims")
        if not np.can_cast(np.result_type(x.dtype, mask.dtype), x.dtype, "same_kind"):
            raise SparseTypeError(f"sparse_mask: Can't convert result type "
                                  f"{np.result_type(x.dtype, mask.dtype)} to output {x.dtype}")
        coo = mask.to_sparse_coo() if mask.layout is not sparse_coo else mask
        s, sizes = x.coalesce(), x.shape[:x.sparse_dim()]
        keys, have = _keys(coo._ind, sizes), _keys(s._ind, sizes)
        if have.size == 0:
            values = Tensor(np.zeros((keys.size,) + tuple(s._v.shape[1:]), dtype=x.dtype))
        else:
            at = np.minimum(np.searchsorted(have, keys), have.size - 1)
            found = (have[at] == keys).reshape((-1,) + (1,) * (s._v.ndim - 1))
            values = GetItem(at)(s._v) * Tensor(found.astype(s._v.dtype))
        return mask._with_values(values)
    if not isinstance(mask, SparseTensor):  # torch: no kernel for a strided mask
        raise SparseNoKernelError("sparse_mask: expected a COO or CSR/CSC mask, got a dense "
                                  "tensor")
    if mask.layout in _BLOCKED:
        raise RuntimeError("sparse_mask: expected a COO or CSR/CSC mask")
    if tuple(x.shape) != tuple(mask.shape):
        raise RuntimeError(f"sparse_mask: operands have incompatible sizes {tuple(x.shape)} "
                           f"and {mask.shape}")
    return mask._with_values(GetItem(tuple(mask._coo()))(x))


def to_sparse_coo(x: Tensor, sparse_dim: int | None = None) -> SparseTensor:
    """Tensor.to_sparse(sparse_dim): the nonzero entries of the first ``sparse_dim`` dims
    (all by default; a slice of the rest kept when any of its values is nonzero), coalesced.
    The gradient reaches the dense tensor at those entries."""
    sparse_dim = x.ndim if sparse_dim is None else sparse_dim
    if isinstance(sparse_dim, bool) or not isinstance(sparse_dim, (int, np.integer)) \
            or not 1 <= sparse_dim <= x.ndim:
        raise SparseValueError(f"to_sparse: sparse_dim must be an int in [1, {x.ndim}], got "
                               f"{sparse_dim!r}")
    nonzero = x.data != 0
    if sparse_dim < x.ndim:
        nonzero = nonzero.any(axis=tuple(range(sparse_dim, x.ndim)))
    where = np.nonzero(nonzero)  # row-major: sorted and distinct
    return _made_from(x, SparseTensor(sparse_coo, GetItem(where)(x), x.shape,
                                      indices=np.stack(where).astype(np.int64), coalesced=True))


def _made_from(x: Tensor, out: SparseTensor) -> SparseTensor:
    """out, remembering the dense x it was converted from when x requires gradients: torch's
    to_sparse backward is the gradient's to_dense, so a dense gradient of out (torch.mm's
    of its sparse operand, unlike torch.sparse.mm's sparse one) reaches x whole; dlpy's
    values-only graph keeps that path to x here (see _dense_source)."""
    if x.requires_grad:
        out._dense_of = x
    return out


def _dense_source(x) -> Tensor | None:
    """The dense tensor the sparse x was converted from (to_sparse*), if it requires grad."""
    return getattr(x, "_dense_of", None) if isinstance(x, SparseTensor) else None


def _blocksize(name: str, blocksize):
    """(R, C) of a blocksize argument (an int: square blocks, as torch's)."""
    try:
        size = ((int(blocksize),) * 2 if isinstance(blocksize, (int, np.integer))
                else tuple(int(b) for b in blocksize))
    except (TypeError, ValueError):
        raise SparseTypeError(f"{name}: blocksize must be a pair of ints, got "
                              f"{blocksize!r}") from None
    if len(size) != 2:
        raise SparseTypeError(f"{name}: blocksize needs to be a tuple of size 2, but got "
                              f"{len(size)}")
    return size


def to_sparse_compressed(x: Tensor, layout: Layout, blocksize=None, dense_dim=None
                         ) -> SparseTensor:
    """A dense tensor in CSR / CSC (or BSR / BSC of (R, C) blocks): its last ``dense_dim``
    dims (0 by default) dense, the two before them the matrix, any before those batch dims;
    the entries (blocks) with a nonzero element, each batch holding one number of them. The
    gradient reaches x at the entries."""
    name = f"dense_to_{layout.name}"
    blocked = layout in _BLOCKED
    block = _blocksize(name, blocksize) if blocked else (1, 1)
    if x.ndim < 2:
        raise SparseDimError(f"{name}: expected a tensor of at least 2 dims, got shape "
                             f"{tuple(x.shape)}")
    dense_dim = 0 if dense_dim is None else dense_dim
    if isinstance(dense_dim, bool) or not isinstance(dense_dim, (int, np.integer)) \
            or not 0 <= dense_dim <= x.ndim - 2:
        raise SparseValueError(f"{name}: dense_dim argument must be in [0,{x.ndim - 2}] range, "
                               f"but {dense_dim} is given")
    nb = x.ndim - 2 - dense_dim
    batch, (m, n), dense = x.shape[:nb], x.shape[nb:nb + 2], x.shape[nb + 2:]
    if nb and not np.prod(batch):
        raise SparseValueError(f"to_{layout.name}: Expected product of batch dimensions to be "
                               "non-zero.")
    r, c = block
    if r < 1 or c < 1 or m % r or n % c:
        raise SparseValueError(f"{name}: tensor sparse size ({m},{n}) must be divisible by "
                               f"given blocksize ({r},{c})")
    if blocked:  # (*B, m / R, n / C, R, C, *dense)
        grid = x.reshape(tuple(batch) + (m // r, r, n // c, c) + tuple(dense))
        axes = list(range(nb)) + [nb, nb + 2, nb + 1, nb + 3] + list(range(nb + 4, grid.ndim))
        grid = grid.permute(*axes)
    else:
        grid = x
    nonzero = grid.data != 0
    if nonzero.ndim > nb + 2:
        nonzero = nonzero.any(axis=tuple(range(nb + 2, nonzero.ndim)))
    where = np.nonzero(nonzero)
    return _made_from(x, _from_coo(layout, np.stack(where).reshape(nb + 2, -1),
                                   GetItem(where)(grid), x.shape, nb, block))


def to_sparse_csr(x: Tensor, dense_dim=None) -> SparseTensor:
    """The nonzero entries of a (batch of) matrix in CSR."""
    return to_sparse_compressed(x, sparse_csr, dense_dim=dense_dim)


def to_sparse_csc(x: Tensor, dense_dim=None) -> SparseTensor:
    """The nonzero entries of a (batch of) matrix, column by column (CSC)."""
    return to_sparse_compressed(x, sparse_csc, dense_dim=dense_dim)


def to_sparse_blocked(x: Tensor, layout: Layout, blocksize, dense_dim=None) -> SparseTensor:
    """BSR (blocks row by row) or BSC (column by column) of a (batch of) matrix: the (R, C)
    blocks with any nonzero element."""
    return to_sparse_compressed(x, layout, blocksize, dense_dim)


def tensor_to_sparse(x: Tensor, sparse_dim=None, *, layout: Layout | None = None,
                     blocksize=None, dense_dim=None):
    """Tensor.to_sparse(sparse_dim) or Tensor.to_sparse(layout=..., blocksize=...,
    dense_dim=...)."""
    if isinstance(sparse_dim, Layout):
        sparse_dim, layout = None, sparse_dim
    if layout is None or layout is sparse_coo:
        if dense_dim is not None and sparse_dim is None:  # torch's: the dims before dense_dim
            sparse_dim = x.ndim - dense_dim
        return to_sparse_coo(x, sparse_dim)
    if layout in (sparse_csr, sparse_csc):
        return to_sparse_compressed(x, layout, dense_dim=dense_dim)
    if layout in _BLOCKED:
        if blocksize is None:
            raise SparseValueError(f"to_sparse: layout {layout!r} needs a blocksize")
        return to_sparse_compressed(x, layout, blocksize, dense_dim)
    if layout is strided:
        return x
    raise SparseValueError(f"to_sparse: unknown layout {layout!r}")


def _has_sparse(args) -> bool:
    for a in args[:3]:
        if type(a) is SparseTensor:
            return True
    return False


def _sparse_top_level(name: str, dense_function, sparse_function):
    """``dlpy.<name>``: the sparse function when one of the first operands is sparse."""
    def function(*args, **kwargs):
        if _has_sparse(args):
            return sparse_function(*args, **kwargs)
        return dense_function(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    # what it wraps is the dense function's own (dlpy.functional's), as before
    function.__doc__ = dense_function.__doc__
    function.__wrapped__ = getattr(dense_function, "__wrapped__", dense_function)
    return function


def _transpose(input, dim0, dim1):
    return input.transpose(dim0, dim1)


# dlpy.<name> functions that take sparse operands, as torch's
TOP_LEVEL_SPARSE = {
    "add": add, "addmm": addmm, "bmm": bmm, "index_select": index_select, "matmul": matmul,
    "mm": mm,
    "mul": mul, "neg": SparseTensor.neg, "negative": SparseTensor.neg,
    "narrow_copy": lambda input, dim, start, length: input.narrow_copy(dim, start, length),
    "sum": lambda input, dim=None, keepdim=False, *, dtype=None: input.sum(dim, keepdim, dtype),
    "t": SparseTensor.t, "transpose": _transpose, "sub": sub, "mv": mv,
    "unsqueeze": lambda input, dim: input.unsqueeze(dim),
    "conj": lambda input: input.conj(),
    "div": lambda input, other, *, rounding_mode=None: _div(input, other, rounding_mode),
    "floor_divide": lambda input, other: _div(input, other, "floor"),
    **{name: getattr(SparseTensor, name) for name in ("sgn", "signbit", "nan_to_num",
                                                      "deg2rad", "rad2deg")},
}

def _filled_like(name: str, fill, keep_pattern: bool):
    """torch.<name>_like of a sparse tensor: a sparse tensor of its layout, shape and dims
    holding ``fill``: COO with no entries (``fill`` 0 only: torch has no fill_ of a COO
    tensor), a compressed one with no entries or, ``keep_pattern``, its pattern refilled
    (empty_like's values, uninitialized in torch, are zeros here); ``layout=strided`` dense."""
    def function(input, fill_value=None, *, dtype=None, layout=None, device=None,
                 requires_grad: bool = False, memory_format=None, pin_memory=None):
        value = fill if fill_value is None else fill_value
        dtype = input.dtype if dtype is None else np.dtype(dtype)
        as_device(device, name)
        if layout is strided:
            return Tensor(np.full(tuple(input.shape), value, dtype=dtype),
                          requires_grad=requires_grad)
        if input.layout is sparse_coo:
            if value != 0:
                raise SparseNoKernelError("Could not run 'aten::fill_.Scalar' with arguments "
                                          "from the 'SparseCPU' backend")
            values = Tensor(np.zeros((0,) + tuple(input._v.shape[1:]), dtype=dtype),
                            requires_grad=requires_grad)
            return SparseTensor(sparse_coo, values, input.shape,
                                indices=input._ind[:, :0], coalesced=True)
        if keep_pattern or value != 0:
            values = Tensor(np.full(input._v.shape, value, dtype=dtype),
                            requires_grad=requires_grad)
            return SparseTensor(input.layout, values, input.shape, crow=input._crow,
                                col=input._col)
        nb = input._crow.ndim - 1
        values = Tensor(np.zeros(input._v.shape[:nb] + (0,) + input._v.shape[nb + 1:],
                                 dtype=dtype), requires_grad=requires_grad)
        return SparseTensor(input.layout, values, input.shape, crow=np.zeros_like(input._crow),
                            col=input._col[..., :0])

    function.__name__ = function.__qualname__ = name
    return function


TOP_LEVEL_SPARSE.update({
    name: getattr(SparseTensor, name)
    for name in ("isposinf", "isneginf", "positive", "conj_physical", "absolute", "arcsin",
                 "arcsinh", "arctan", "arctanh", "fix")})
TOP_LEVEL_SPARSE.update(permute=lambda input, dims: input.permute(dims),
                        flatten=lambda input, start_dim=0, end_dim=-1:
                        input.flatten(start_dim, end_dim),
                        real=lambda input: input.real, imag=lambda input: input.imag)
TOP_LEVEL_SPARSE.update(zeros_like=_filled_like("zeros_like", 0, False),
                        empty_like=_filled_like("empty_like", 0, True),
                        ones_like=_filled_like("ones_like", 1, True),
                        full_like=_filled_like("full_like", None, True))

# torch's functions of sparse tensors only (dlpy.<name>)
SPARSE_FUNCTIONS = {
    "hspmm": hspmm, "hsmm": hsmm, "smm": smm, "sspaddmm": sspaddmm, "saddmm": saddmm,
    "resize_as_sparse_": resize_as_sparse_,
    "dsmm": dsmm, "indices_copy": indices_copy, "values_copy": values_copy,
    "crow_indices_copy": crow_indices_copy, "col_indices_copy": col_indices_copy,
    "ccol_indices_copy": ccol_indices_copy, "row_indices_copy": row_indices_copy,
}


def _div(input, other, rounding_mode=None):
    """torch.div with a sparse operand: a sparse tensor by a number or 0-d tensor (rounded
    as ``rounding_mode`` says, "floor" or "trunc")."""
    if not isinstance(input, SparseTensor):
        raise SparseTypeError("div: a dense tensor cannot be divided by a sparse one, as torch")
    if rounding_mode is None:
        return input / other
    if rounding_mode not in ("floor", "trunc"):
        raise SparseValueError(f"div expected rounding_mode to be one of None, 'trunc', or "
                               f"'floor' but found '{rounding_mode}'")
    if isinstance(other, SparseTensor) or np.ndim(_scalar_of(other)) != 0:
        raise SparseTypeError("div: a sparse tensor can be divided by a number (or a 0-d "
                              "tensor) only, as torch's")
    from dlpy import functional

    return _unary(input, lambda v: functional.div(v, other, rounding_mode=rounding_mode))


def _sparse_only(name: str):
    def method(self, *args, **kwargs):
        raise RuntimeError(f"{name}: expected a sparse tensor, got a dense (strided) one, as "
                           "torch")

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Only sparse tensors have ``{name}()``: a dense one raises, as torch's."
    return method


# sparse tensors' accessors on a dense tensor: torch's RuntimeError, not an AttributeError
for _name in ("coalesce", "is_coalesced", "_nnz", "indices", "values", "_indices", "_values",
              "crow_indices", "col_indices", "ccol_indices", "row_indices"):
    if not hasattr(Tensor, _name):
        setattr(Tensor, _name, _sparse_only(_name))
del _name


# ------------------------------------------------------------- index conversions
def _index_vector(name: str, tensor, what: str) -> np.ndarray:
    array = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if array.dtype.kind not in "iu":
        raise SparseNoKernelError(f'"{name}" not implemented for {what} of dtype {array.dtype}')
    if array.ndim != 1:
        raise SparseValueError(f"Input is supposed to be a vector, but got {array.ndim} "
                               f"dimensional tensor.")
    return array


def _convert_indices_from_coo_to_csr(input, size: int, *,  # noqa: A002 - torch's name
                                     out_int32: bool = False) -> Tensor:
    """torch._convert_indices_from_coo_to_csr: the compressed row pointers (``size + 1`` of
    them) of sorted COO row indices ``input``: ``out[i]`` counts the indices below ``i``.
    int64, or int32 with ``out_int32``."""
    rows = _index_vector("convert_indices_from_coo_to_csr_cpu", input, "input")
    out = np.searchsorted(rows, np.arange(int(size) + 1), side="left")
    return Tensor(out.astype(np.int32 if out_int32 else np.int64))


def _convert_indices_from_csr_to_coo(crow_indices, col_indices, *, out_int32: bool = False,
                                     transpose: bool = False) -> Tensor:
    """torch._convert_indices_from_csr_to_coo: the (2, nnz) COO indices (rows, then columns;
    columns first with ``transpose``) of compressed row pointers and column indices."""
    crow = _index_vector("convert_indices_from_csr_to_coo_cpu", crow_indices, "crow_indices")
    col = _index_vector("convert_indices_from_csr_to_coo_cpu", col_indices, "col_indices")
    rows = np.repeat(np.arange(len(crow) - 1), np.diff(crow))
    out = np.stack([col, rows] if transpose else [rows, col])
    return Tensor(out.astype(np.int32 if out_int32 else np.int64))
