"""How a Tensor prints: PyTorch's layout (torch._tensor_str's behaviour, in our own code).

    >>> dlpy.tensor([[1.23, 2.0], [3.0, 4.0]])
    tensor([[1.2300, 2.0000],
            [3.0000, 4.0000]])

One formatter per tensor (two for complex: real and imaginary parts) decides, from the nonzero
finite values, between int mode (all integral: ``2.``), fixed point (``precision`` digits) and
scientific notation (chosen when max/min > 1000, max > 1e8 or min < 1e-4, unless ``sci_mode``
says); every value is padded to the widest. Rows nest in brackets indented under ``tensor(``,
vectors wrap at ``linewidth``; above ``threshold`` elements each axis longer than
``2 * edgeitems`` shows its first and last ``edgeitems`` around ``...``, and only those values
are ever formatted. Suffixes follow: ``dtype=`` when the dtype is not the one the values imply
(the default float dtype, its complex pair, int64, bool), ``size=`` for an empty tensor,
``grad_fn=<...>`` or ``requires_grad=True``; a Parameter subclass's repr is wrapped in
``Parameter(...)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlpy.device import MetaArray
from dlpy.tensor import default_complex_dtype, default_dtype


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {  # precision, threshold, edgeitems, linewidth
    "default": (4, 1000, 3, 80),
    "short": (2, 1000, 2, 80),
    "full": (4, math.inf, 3, 80),
}


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """torch.set_printoptions: ``profile`` ("default", "short", "full") sets the first four,
    then the ones given override it; ``sci_mode`` is set on every call (None: automatic)."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: profile must be one of {sorted(_PROFILES)}, "
                             f"got {profile!r}")
        (PRINT_OPTS.precision, PRINT_OPTS.threshold, PRINT_OPTS.edgeitems,
         PRINT_OPTS.linewidth) = _PROFILES[profile]
    if precision is not None:
        PRINT_OPTS.precision = precision
    if threshold is not None:
        PRINT_OPTS.threshold = threshold
    if edgeitems is not None:
        PRINT_OPTS.edgeitems = edgeitems
    if linewidth is not None:
        PRINT_OPTS.linewidth = linewidth
    PRINT_OPTS.sci_mode = sci_mode


def get_printoptions() -> dict[str, Any]:
    """The print options, as keywords set_printoptions takes back."""
    return dataclasses.asdict(PRINT_OPTS)


@contextlib.contextmanager
def printoptions(**kwargs) -> Iterator[None]:
    """``with printoptions(precision=2): ...``: set_printoptions for the block only."""
    saved = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**saved)


# ------------------------------------------------------------------ formatting values
def _is_float(dtype: np.dtype) -> bool:
    """numpy's floats and ml_dtypes' (bfloat16, float8_*: kind "V" to numpy)."""
    return dtype.kind == "f" or (dtype.kind == "V" and "float" in dtype.name)


def _as_python_floats(array: np.ndarray) -> np.ndarray:
    """float16, bfloat16 and float8 values as float32 (exact), whose tolist gives floats."""
    return array.astype(np.float32) if array.dtype.itemsize < 4 else array


class _Formatter:
    """The strings of ``values`` (a summarised array's), padded to one width: int mode, fixed
    point or scientific for floats, ``str`` for ints and bools."""

    def __init__(self, values: np.ndarray):
        flat = values.reshape(-1)
        self.floating = _is_float(values.dtype)
        self.int_mode, self.sci_mode = True, False
        if not self.floating:
            self.raw = [str(v) for v in flat.tolist()]
            self.width = max(map(len, self.raw), default=1)
            return
        flat = _as_python_floats(flat)
        useful = np.isfinite(flat) & (flat != 0)  # the nonzero finite values decide the mode
        chosen = flat[useful]
        if chosen.size:
            magnitude = np.abs(chosen.astype(np.float64))
            low, high = float(magnitude.min()), float(magnitude.max())  # (max/min may be inf)
            self.int_mode = bool(np.all(chosen == np.ceil(chosen)))
            self.sci_mode = bool(high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
                                 if PRINT_OPTS.sci_mode is None else PRINT_OPTS.sci_mode)
        self.raw = [self.format(v) for v in flat.tolist()]
        widths = [len(s) for s, ok in zip(self.raw, useful.tolist()) if ok]
        self.width = max(widths, default=1)

    def format(self, value: float) -> str:
        """One float, unpadded."""
        if self.sci_mode:
            return f"{value:.{PRINT_OPTS.precision}e}"
        if self.int_mode:
            return f"{value:.0f}" + ("." if math.isfinite(value) else "")
        return f"{value:.{PRINT_OPTS.precision}f}"

    def padded(self) -> list[str]:
        return [s.rjust(self.width) for s in self.raw]


def _cells(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Each value's string (an object array of values' shape) and the width one takes with its
    separator ", "."""
    if values.dtype.kind == "c":
        real, imag = _Formatter(values.real), _Formatter(values.imag)
        strings = []
        for re, im in zip(real.padded(), imag.raw):
            im += "j"  # the imaginary part unpadded, with its sign or a "+"
            strings.append(re + im if im[0] in "+-" else re + "+" + im)
        length = real.width + 2 + imag.width + 1
    else:
        formatter = _Formatter(values)
        strings, length = formatter.padded(), formatter.width + 2
    cells = np.empty(len(strings), dtype=object)
    cells[:] = strings
    return cells.reshape(values.shape), length


def _summarised(array: np.ndarray, edgeitems: int) -> tuple[np.ndarray, tuple[bool, ...]]:
    """The values a summary shows (each axis longer than 2 * edgeitems cut to its first and
    last edgeitems) and which axes were cut."""
    cut = tuple(n > 2 * edgeitems for n in array.shape)
    for axis, is_cut in enumerate(cut):
        if is_cut:
            head = [slice(None)] * array.ndim
            tail = list(head)
            head[axis], tail[axis] = slice(None, edgeitems), slice(-edgeitems, None)
            array = np.concatenate((array[tuple(head)], array[tuple(tail)]), axis=axis)
    return array, cut


def _nest(cells: np.ndarray, cut: tuple[bool, ...], indent: int, length: int) -> str:
    """Brackets around the rows (one blank line more between slices of each higher axis),
    ``...`` where an axis was cut (between its two halves: the first and last edgeitems, or
    for a negative edgeitems -k a vector's first and last n - k, as torch's slicing gives);
    vectors wrap at linewidth."""
    if cells.ndim == 1:
        items = cells.tolist()
        if cut[0]:
            half = len(items) // 2
            items = items[:half] + [" ..."] + items[half:]
        per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / length))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    rows = [_nest(row, cut[1:], indent + 1, length) for row in cells]
    if cut[0]:
        half = len(rows) // 2
        rows = rows[:half] + ["..."] + rows[half:]
    return "[" + ("," + "\n" * (cells.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def _values_str(array: np.ndarray, indent: int) -> str:
    """The bracketed values of a non-empty array, ``indent`` columns in."""
    summarize = array.size > PRINT_OPTS.threshold
    if summarize and array.ndim and not PRINT_OPTS.edgeitems:
        return "[...]"
    cut = (False,) * array.ndim
    if summarize and array.ndim:
        array, cut = _summarised(array, PRINT_OPTS.edgeitems)
    cells, length = _cells(array)
    if array.ndim == 0:
        return cells.item()
    return _nest(cells, cut, indent, length)


def _tensor_str(self, indent: int) -> str:
    """torch._tensor_str._tensor_str: the bracketed values of tensor ``self`` alone (no
    ``tensor(`` prefix, dtype or grad suffix), continuation rows ``indent + 1`` columns in;
    ``[]`` for an empty tensor."""
    array = np.asarray(self.data)
    return "[]" if array.size == 0 else _values_str(array, indent)


# ------------------------------------------------------------------ the whole repr
# dlpy's classes that stand for torch's plain Tensor (a Parameter adds its header)
_PLAIN = {("dlpy.tensor", "Tensor"), ("dlpy.ops.complex", "ComplexTensor"),
          ("dlpy.nn.module", "Parameter"), ("dlpy.nn.module", "ComplexParameter"),
          ("dlpy.nn.module", "Buffer"), ("dlpy.compat", "_DataView"),
          ("dlpy.compat", "_ComplexDataView")}
_PARAMETERS = {("dlpy.nn.module", "Parameter"), ("dlpy.nn.module", "ComplexParameter")}


def _dtype_name(dtype: np.dtype) -> str:
    return f"torch.{dtype.name}"


def _add_suffixes(text: str, suffixes: list[str], indent: int,
                  force_newline: bool = False) -> str:
    """``, suffix`` after the values, on a new line (indented) where it would pass linewidth
    (the first one always with ``force_newline``)."""
    parts = [text]
    last_line = len(text) - text.rfind("\n") + 1  # (torch's count, 2 more than the line)
    for suffix in suffixes:
        if force_newline or last_line + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line = indent + len(suffix)
            force_newline = False
        else:
            parts.append(", " + suffix)
            last_line += len(suffix) + 2
    return "".join(parts) + ")"


def _grad_fn_name(tensor) -> str | None:
    node = getattr(tensor, "op", None)
    if node is None:
        return None
    name = getattr(node, "name", None)
    return name() if callable(name) else type(node).__name__ + "Backward0"


def _tangent(tensor):
    """The forward-mode tangent at the innermost active dual level (None outside them)."""
    forward_ad = sys.modules.get("dlpy.forward_ad")
    if forward_ad is None or not forward_ad._tables:
        return None
    return forward_ad.tangent_of(tensor, len(forward_ad._tables))


def tensor_repr(tensor) -> str:
    """What ``repr(tensor)`` and ``str(tensor)`` give, as torch prints a CPU tensor."""
    cls = type(tensor)
    prefix = "tensor(" if (cls.__module__, cls.__qualname__) in _PLAIN else f"{cls.__name__}("
    indent = len(prefix)
    array = tensor.data
    dtype = array.dtype
    suffixes = []
    if isinstance(array, MetaArray):
        if tensor.device.type != "cpu":  # (a FakeTensor's fake device: the CPU, or CUDA)
            suffixes.append(f"device='{tensor.device}'")
        suffixes.append(f"size={tuple(array.shape)}")
        if dtype != default_dtype():
            suffixes.append(f"dtype={_dtype_name(dtype)}")
        text = "..."
    elif array.size == 0:
        if array.ndim != 1:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype != default_dtype():  # nothing to tell int64 or bool by: always shown
            suffixes.append(f"dtype={_dtype_name(dtype)}")
        text = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(array.shape)}")
        if dtype not in (default_dtype(), default_complex_dtype(), np.dtype(np.int64),
                         np.dtype(np.bool_)):
            suffixes.append(f"dtype={_dtype_name(dtype)}")
        text = _values_str(np.asarray(array), indent)
    grad_fn = _grad_fn_name(tensor)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif tensor.requires_grad:
        suffixes.append("requires_grad=True")
    tangent = _tangent(tensor)
    if tangent is not None:
        suffixes.append(f"tangent={tangent!r}")
    text = _add_suffixes(prefix + text, suffixes, indent)
    if prefix != "tensor(" and (getattr(tensor, "_is_param", False) or any(
            (c.__module__, c.__qualname__) in _PARAMETERS for c in cls.__mro__)):
        text = f"Parameter({text})"  # a Parameter subclass's repr, as torch's
    return text


def tensor_format(tensor, format_spec: str) -> str:
    """torch's Tensor.__format__: the item's format for a plain 0-d tensor with values."""
    cls = type(tensor)
    if (tensor.data.ndim == 0 and not isinstance(tensor.data, MetaArray)
            and (cls.__module__, cls.__qualname__) in _PLAIN - _PARAMETERS):
        return format(tensor.data.item(), format_spec)
    return object.__format__(tensor, format_spec)


def sparse_repr(index_parts: list[tuple[str, np.ndarray]], values, shape: tuple[int, ...],
                nnz: int, layout: str, requires_grad: bool) -> str:
    """A sparse tensor as torch prints one: ``tensor(indices=tensor(...),\\n values=tensor(...),
    size=..., nnz=..., layout=torch.sparse_coo)``; ``index_parts`` are (name, array) pairs
    (``indices``, or ``crow_indices`` and ``col_indices``), ``values`` the values Tensor."""
    indent = len("tensor(")
    suffixes = [f"size={tuple(shape)}", f"nnz={nnz}"]
    if values.dtype not in (default_dtype(), default_complex_dtype(), np.dtype(np.int64),
                            np.dtype(np.bool_)):
        suffixes.append(f"dtype={_dtype_name(values.dtype)}")
    parts = []
    for name, array in [*index_parts, ("values", values.data)]:
        array = np.asarray(array)
        prefix = f"{name}=tensor("
        if array.size == 0:
            parts.append(f"{prefix}[], size={tuple(array.shape)})")
        else:
            parts.append(prefix + _values_str(array, indent + len(prefix)) + ")")
    suffixes.append(f"layout=torch.{layout}")
    grad_fn = _grad_fn_name(values)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    text = "tensor(" + (",\n" + " " * indent).join(parts)
    # (torch starts a COO tensor's suffixes on a new line, a CSR tensor's where they fit)
    return _add_suffixes(text, suffixes, indent, force_newline=layout == "sparse_coo")
