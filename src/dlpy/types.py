"""torch.types: the type aliases PyTorch's annotations use (``Number``, ``Device``,
``_size``, ``_dtype``...), so ``from torch.types import Number`` works under dlpy.compat.

Each alias is built as torch's from dlpy's classes: ``Number`` is ``int | float | bool``,
``Device`` is ``device | str | int | None``, ``_size`` is ``Size | list[int] | tuple[int, ...]``,
``_dtype`` / ``_device`` / ``_layout`` are dlpy's dtype, device and layout classes and ``_int``,
``_float``, ... the builtins. They serve annotations and ``isinstance`` checks (a union of
classes); dlpy attaches no behaviour to them.
"""

from __future__ import annotations

import os
from builtins import bool as _bool
from builtins import bytes as _bytes
from builtins import complex as _complex
from builtins import float as _float
from builtins import int as _int
from builtins import str as _str
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, TypeAlias, Union

from dlpy import Size, Tensor
from dlpy import device as _device
from dlpy import dtype as _dtype
from dlpy import layout as _layout
from dlpy.legacy_misc import SymBool, SymFloat, SymInt

if TYPE_CHECKING:
    from dlpy.autograd import GradientEdge

__all__ = ["Device", "FileLike", "Number", "Storage"]

_TensorOrTensors: TypeAlias = Tensor | Sequence[Tensor]
_TensorOrOptionalTensors: TypeAlias = Tensor | Sequence[Tensor | None]
_TensorOrTensorsOrGradEdge: TypeAlias = Union[Tensor, Sequence[Tensor], "GradientEdge",  # noqa: UP007
                                              Sequence["GradientEdge"]]
_size: TypeAlias = Size | list[int] | tuple[int, ...]
_symsize: TypeAlias = Size | Sequence[int | SymInt]
_dispatchkey: TypeAlias = str  # (torch's: str | DispatchKey; dlpy has no dispatcher keys)

IntLikeType: TypeAlias = int | SymInt
FloatLikeType: TypeAlias = float | SymFloat
BoolLikeType: TypeAlias = bool | SymBool

py_sym_types = (SymInt, SymFloat, SymBool)
PySymType: TypeAlias = SymInt | SymFloat | SymBool

Number: TypeAlias = int | float | bool
_Number = (int, float, bool)  # for isinstance on Python < 3.10, as torch keeps it

FileLike: TypeAlias = str | os.PathLike[str] | IO[bytes]
Device: TypeAlias = _device | str | int | None


class Storage:
    """torch.types.Storage: the protocol a storage class follows, for annotations; each
    method raises NotImplementedError, as torch's (dlpy's storages are dlpy.TypedStorage and
    dlpy.UntypedStorage)."""

    _cdata: int
    device: _device
    dtype: _dtype
    _torch_load_uninitialized: bool

    def __deepcopy__(self, memo: dict[int, Any]) -> Storage:
        raise NotImplementedError

    def _new_shared(self, size: int) -> Storage:
        raise NotImplementedError

    def element_size(self) -> int:
        raise NotImplementedError

    def is_shared(self) -> bool:
        raise NotImplementedError

    def share_memory_(self) -> Storage:
        raise NotImplementedError

    def nbytes(self) -> int:
        raise NotImplementedError

    def cpu(self) -> Storage:
        raise NotImplementedError

    def data_ptr(self) -> int:
        raise NotImplementedError


# (the builtins and dlpy classes above are part of the module, as torch's re-exports)
_ = (_bool, _bytes, _complex, _float, _int, _str, _layout)
