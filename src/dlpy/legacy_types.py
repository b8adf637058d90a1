"""torch's legacy tensor types: ``torch.FloatTensor(2, 3)`` (a new tensor of that shape),
``torch.LongTensor([1, 2])`` (one holding that data), ``isinstance(x, torch.FloatTensor)``
(whether ``x`` is a dense tensor of that dtype). Each type builds and answers for dlpy's one
Tensor class; ``dlpy/__init__.py`` exports TOP_LEVEL."""

from __future__ import annotations

import numbers

import numpy as np

from dlpy.tensor import Tensor


class _LegacyType(type):
    """A legacy class of one dtype, named by ``dtype_name`` (the tensor types here, the
    storages of legacy_misc): shown as ``dlpy.<Name>``."""

    def __repr__(cls) -> str:
        return f"<class 'dlpy.{cls.__name__}'>"

    def _named_dtype(cls):
        """The dtype ``dtype_name`` names: dlpy's bfloat16, or numpy's dtype."""
        if cls.dtype_name == "bfloat16":
            from dlpy.amp.dtypes import bfloat16

            return bfloat16
        return np.dtype(cls.dtype_name)


class _LegacyTensorType(_LegacyType):
    """The metaclass: ``isinstance(x, FloatTensor)`` is ``x.dtype == float32`` for a dense
    Tensor (torch's tensortype)."""

    def __instancecheck__(cls, instance) -> bool:
        return (type(instance) is not cls and isinstance(instance, Tensor)
                and instance.dtype.name == cls.dtype_name)

    @property
    def dtype(cls):
        dtype = cls._named_dtype()
        return dtype if cls.dtype_name == "bfloat16" else dtype.type


class _LegacyTensor(metaclass=_LegacyTensorType):
    dtype_name = "float32"

    def __new__(cls, *args, device=None):
        from dlpy import creation

        name, dtype = cls.__name__, cls.dtype
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            # (2, 3): a shape; no arguments: an empty (0,) tensor
            return creation.zeros(*(args or (0,)), dtype=dtype, device=device)
        if len(args) > 1:
            raise TypeError(f"{name}: expected sizes (ints), one tensor or one sequence of data, "
                            f"got {len(args)} arguments of types "
                            f"{', '.join(type(a).__name__ for a in args)}")
        (data,) = args
        from dlpy.torch_misc import Size

        if isinstance(data, Size):
            return creation.zeros(tuple(data), dtype=dtype, device=device)
        if isinstance(data, Tensor):
            if data.dtype.name != cls.dtype_name:
                raise TypeError(f"{name}: expected a tensor of dtype {cls.dtype_name} "
                                f"(got {data.dtype.name}); convert it with .to()")
            return data.view(data.shape)  # an alias sharing the memory, as torch's
        from dlpy.storage import TypedStorage

        if isinstance(data, TypedStorage):  # a tensor over the storage's memory
            if data.dtype.name != cls.dtype_name:
                raise TypeError(f"{name}: expected a storage of dtype {cls.dtype_name} "
                                f"(got {data.dtype.name})")
            return Tensor(data._elements())
        if not isinstance(data, (list, tuple, np.ndarray)):
            raise TypeError(f"{name}: data must be a sequence (got {type(data).__name__})")
        return creation.tensor(data, dtype=dtype, device=device)


def _legacy_type(name: str, dtype_name: str):
    return _LegacyTensorType(name, (_LegacyTensor,), {
        "dtype_name": dtype_name, "__module__": "dlpy",
        "__doc__": f"torch.{name}: ``{name}(*sizes)`` a zero-filled {dtype_name} tensor of that "
                   f"shape, ``{name}(data)`` one holding the data; isinstance checks the dtype."})


_TYPES = {"FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
          "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32",
          "ShortTensor": "int16", "CharTensor": "int8", "ByteTensor": "uint8",
          "BoolTensor": "bool"}
globals().update({name: _legacy_type(name, dtype) for name, dtype in _TYPES.items()})
TOP_LEVEL = list(_TYPES)
