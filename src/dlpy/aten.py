"""``dlpy.ops.aten`` (``torch.ops.aten``): PyTorch's built-in ops by their ATen names, as code
written for torch meets them (``func is torch.ops.aten.add.Tensor`` in ``__torch_dispatch__``,
the targets of FX and export graphs, decompositions, ``torch.ops.aten.mm.default(a, b)``).

``dlpy.ops.aten.add`` is an ``OpOverloadPacket``; ``.Tensor``, ``.Scalar``, ``.default``...
its ``OpOverload``\\ s, one object each (``aten.add.Tensor is aten.add.Tensor``), with
torch's names, ``overloads()`` and schemas (the strings of ``_aten_schemas``, taken from torch
2.13). Calling an overload binds its arguments as the schema says (positional and keyword
names, defaults, type checks: a mismatch is an OpCallError, a TypeError and torch's
RuntimeError) and runs dlpy's implementation; calling the packet runs the first overload whose
schema the arguments fit, as torch's. Overloads with no dlpy implementation here (``out=``
variants, ops on Python scalars, the rest of ATen) exist for names and schemas but raise
NotImplementedError when called.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from dlpy._aten_schemas import NUMBERS_AS_TENSORS, SCHEMAS
from dlpy.library import OpCallError, _find_proxy, _proxy_type, _split_top, _top_level
from dlpy.ops import ArgError
from dlpy.tensor import Tensor

__all__ = ["Argument", "FunctionSchema", "OpOverload", "OpOverloadPacket", "aten", "parse_schema"]


class _NoSchemaMatchError(OpCallError):
    """A packet called with arguments no overload's schema fits (torch's RuntimeError)."""


# ---------------------------------------------------------------------------- schemas
# torch's schema parser (torch.parse_schema, the schemas of torch.ops.aten): the type names
# of the schema language, the Python spelling of each (an Argument's ``type``), the enum
# defaults it reads as numbers
_TYPE_NAMES = {"Tensor": "Tensor", "int": "int", "SymInt": "int", "float": "float",
               "bool": "bool", "SymBool": "bool", "str": "str", "Scalar": "number",
               "ScalarType": "int", "Layout": "int", "MemoryFormat": "int", "Device": "Device",
               "Generator": "Generator", "Any": "Any", "complex": "complex",
               "Storage": "Storage", "Stream": "Stream", "QScheme": "QScheme",
               "NoneType": "NoneType", "AnyEnumType": "AnyEnumType", "Future": "Future",
               "Await": "Await"}
_SCALAR_TYPES = {name: code for code, names in enumerate((
    ("uint8",), ("int8",), ("int16", "short"), ("int32", "int"), ("int64", "long"),
    ("float16", "half"), ("float32", "float"), ("float64", "double"), ("complex32", "chalf"),
    ("complex64", "cfloat"), ("complex128", "cdouble"), ("bool",), ("qint8",), ("quint8",),
    ("qint32",), ("bfloat16",))) for name in names}
_SCALAR_TYPE_NAMES = {code: name for name, code in reversed(_SCALAR_TYPES.items())}


def _scalar_type(code: int):
    """The dtype of torch's ScalarType number ``code`` (6: float32)."""
    import dlpy

    dtype = getattr(dlpy, _SCALAR_TYPE_NAMES[code], None)
    if dtype is None:
        raise ArgError(f"dlpy has no dtype {_SCALAR_TYPE_NAMES[code]} (ScalarType {code})")
    return dtype


_ENUM_DEFAULTS = {"int": {"Mean": 1}, "Layout": {"strided": 0},
                  "MemoryFormat": {"contiguous_format": 0}, "ScalarType": _SCALAR_TYPES}
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_IDENT = re.compile(r"[A-Za-z_]\w*")


class SchemaError(ArgError):
    """A schema string torch's parser refuses: dlpy's ArgError (ValueError) and torch's
    RuntimeError."""


class SchemaType:
    """An argument's type, as torch's (``str()``: ``Tensor``, ``Optional[List[int]]``,
    ``number`` for Scalar, ``int`` for ScalarType / Layout / MemoryFormat); ``kind`` is the
    node ("base", "optional", "list", "dict", "tuple" or "future"/"await")."""

    def __init__(self, kind: str, name: str = "", items: tuple = (), size: int | None = None):
        self.kind, self.name, self.items, self.size = kind, name, items, size

    def __str__(self) -> str:
        if self.kind == "base":
            return _TYPE_NAMES.get(self.name, self.name)
        inner = ", ".join(str(t) for t in self.items)
        return {"optional": "Optional", "list": "List", "dict": "Dict", "tuple": "Tuple",
                "future": "Future", "await": "Await"}[self.kind] + f"[{inner}]"

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        return isinstance(other, SchemaType) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


class AliasInfo:
    """An alias annotation (``Tensor(a!)``, ``Tensor(a -> *)``): torch's ``_AliasInfo``."""

    def __init__(self, text: str):
        self._text = " ".join(text.split())
        before, arrow, after = self._text.rstrip("!").partition("->")
        self.is_write = self._text.endswith("!")
        self.before_set = {s.strip() for s in before.split("|")}
        self.after_set = {s.strip() for s in after.split("|")} if arrow else set(self.before_set)

    def __str__(self) -> str:
        return self._text


class _TypeReader:
    """Reads one schema type (``Tensor(a!)?[]``, ``int[2]?``, ``Dict(str, Tensor)``,
    ``(int, int)``) into (its SchemaType, its alias annotation, its text as torch prints it,
    whether a list's elements may be None)."""

    def __init__(self, text: str, where: str, allow_typevars: bool):
        self.text, self.where, self.typevars = text, where, allow_typevars

    def fail(self, message: str):
        raise SchemaError(f"{message}:\n{self.where}")

    def read(self) -> tuple[SchemaType, AliasInfo | None, str, bool]:
        self.i = 0
        kind, alias, shown, elem_optional = self._type()
        if self.text[self.i:].strip():
            self.fail(f"expected ident but found {self.text[self.i:].strip()!r}")
        return kind, alias, shown, elem_optional

    def _skip(self) -> None:
        while self.i < len(self.text) and self.text[self.i].isspace():
            self.i += 1

    def _group(self) -> str:
        """The text between the parenthesis at ``i`` and the one that closes it."""
        depth, start = 0, self.i
        for j in range(self.i, len(self.text)):
            depth += (self.text[j] == "(") - (self.text[j] == ")")
            if depth == 0:
                self.i = j + 1
                return self.text[start + 1:j]
        self.fail("expected ) but found 'eof'")

    def _type(self) -> tuple[SchemaType, AliasInfo | None, str, bool]:
        self._skip()
        if self.text.startswith("(", self.i):  # a tuple type
            items = [_TypeReader(t, self.where, self.typevars).read()
                     for t in _split_top(self._group())]
            kind = SchemaType("tuple", items=tuple(t[0] for t in items))
            shown = "(" + ", ".join(t[2] for t in items) + ")"
            alias = None
        else:
            match = _IDENT.match(self.text, self.i)
            if match is None:
                self.fail(f"expected ident but found {self.text[self.i:self.i + 1]!r}")
            name = match.group()
            self.i = match.end()
            self._skip()
            known = name in _TYPE_NAMES and name not in ("Future", "Await")
            if name in ("Dict", "Future", "Await") and self.text.startswith("(", self.i):
                items = [_TypeReader(t, self.where, self.typevars).read()
                         for t in _split_top(self._group())]
                kind = SchemaType(name.lower() if name != "Dict" else "dict",
                                  items=tuple(t[0] for t in items))
                shown, alias = f"{name}({', '.join(t[2] for t in items)})", None
            elif known or (self.typevars and name[:1].islower()):
                kind, shown, alias = SchemaType("base", name), name, None
            else:
                self.fail("unknown type specifier. Common valid schema types include Tensor, "
                          "SymInt, int, float, bool, Scalar")
        self._skip()
        if self.text.startswith("(", self.i):  # an alias annotation: Tensor(a!)
            alias = AliasInfo(self._group())
            shown += f"({alias})"
        elem_optional = False
        while True:  # suffixes: ? and [N], in any order
            self._skip()
            if self.text.startswith("?", self.i):
                self.i += 1
                kind, shown = SchemaType("optional", items=(kind,)), shown + "?"
            elif self.text.startswith("[", self.i):
                end = self.text.find("]", self.i)
                size = self.text[self.i + 1:end].strip() if end > 0 else "x"
                if not (size == "" or size.isdigit()):
                    self.fail(f"expected number but found {size!r}")
                self.i = end + 1
                elem_optional = kind.kind == "optional"
                if alias is not None and "(" in shown:  # Tensor(a)?[]: torch's Tensor?(a)[]
                    shown = shown.replace(f"({alias})", "") + f"({alias})"
                kind = SchemaType("list", items=(kind,), size=int(size) if size else None)
                shown += f"[{size}]"
                if self.text.startswith("(", self.i):  # Tensor(a)[] written Tensor[](a)
                    alias = AliasInfo(self._group())
                    shown += f"({alias})"
            else:
                return kind, alias, shown, elem_optional


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


def _float_str(value: float) -> str:
    """A float default as torch prints it: 17 significant digits, a '.' if it has none."""
    text = f"{value:.17g}"
    return text if any(c in text for c in ".en") else text + "."


class Argument:
    """One argument (or return) of a schema, as torch's ``Argument``: ``name`` ('' for an
    unnamed return), ``type`` (its Python spelling: ``str(type)``), ``default_value`` (None
    when there is none: ``has_default_value()``), ``kwarg_only``, ``N`` (an ``int[2]``'s 2),
    ``alias_info``, ``is_write`` and ``is_out`` (written to, and keyword-only: an out=)."""

    def __init__(self, text: str, kwarg_only: bool, where: str = "", allow_typevars: bool = True,
                 is_return: bool = False):
        where = where or text
        declaration, eq, default = _split_default(text)
        declaration = declaration.strip()
        match = re.search(r"\s([A-Za-z_]\w*)$", declaration)
        if match is None and not is_return:
            tail = declaration.split()[-1] if declaration.split() else "eof"
            kind = "number" if tail[:1].isdigit() else "eof" if tail == "eof" else tail
            raise SchemaError(f"expected ident but found {kind!r} here:\n{where}")
        type_text = declaration[:match.start()] if match else declaration
        if match and is_return and not type_text.strip():
            type_text, match = declaration, None  # a return of one word: its type
        self.name = match.group(1) if match else ""
        reader = _TypeReader(type_text, where, allow_typevars)
        self.type, self.alias_info, self.type_str, self.elem_optional = reader.read()
        self.real_type = self.type
        self.kwarg_only = kwarg_only
        bare = self.type.items[0] if self.type.kind == "optional" else self.type
        self.optional = self.type.kind == "optional"
        self.is_list = bare.kind == "list"
        self.N = self.list_size = bare.size if self.is_list else None
        element = bare.items[0] if self.is_list else bare
        element = element.items[0] if element.kind == "optional" else element
        self.base = element.name if element.kind == "base" else element.kind
        self.is_write = self.alias_info is not None and self.alias_info.is_write
        self.is_out = self.is_write and kwarg_only
        self.has_default = bool(eq)
        self.default_value = self._default(default.strip(), where) if eq else None

    def has_default_value(self) -> bool:
        return self.has_default

    def _default(self, text: str, where: str) -> Any:
        """The default written ``text`` as a value of this argument's type."""
        def invalid():
            raise SchemaError(f"\ninvalid numeric default value:\n{where}")

        if text == "None":
            if self.is_list and not self.optional:
                raise SchemaError(f"expected [ but found 'None' here:\n{where}")
            return None
        if self.is_list:
            if self.base not in ("int", "SymInt", "float", "bool", "complex"):
                raise SchemaError(f"\nlists are only supported for float, int and complex "
                                  f"types:\n{where}")
            if text.startswith("[") and text.endswith("]"):
                return [self._scalar(t, where, invalid) for t in _split_top(text[1:-1])]
            if self.list_size is None:
                raise SchemaError(f"expected [ but found {text!r} here:\n{where}")
            value = self._scalar(text, where, invalid)  # int[2] k=1: [1, 1] (int[2]? k=1: 1)
            return value if self.optional else [value] * self.list_size
        return self._scalar(text, where, invalid)

    def _scalar(self, text: str, where: str, invalid: Callable) -> Any:
        if not text:
            raise SchemaError(f"expected number but found ')' here:\n{where}")
        if text[:1] in "\"'" and text[-1:] == text[:1] and len(text) > 1:
            if self.base == "Device":
                from dlpy.device import device
                return device(text[1:-1])
            return text[1:-1] if self.base in ("str", "Any", "t") else invalid()
        if text in ("True", "False"):
            return text == "True"
        enum = _ENUM_DEFAULTS.get(self.base, {})
        if text in enum:
            return enum[text]
        if not _NUMBER.match(text):
            invalid()
        value = _number(text)
        return float(value) if self.base in ("float", "SymFloat") else value

    def _default_str(self, value: Any = None, top: bool = True) -> str:
        value = self.default_value if top else value
        if isinstance(value, list) and self.type_str.startswith("int[") and len(value) > 1 \
                and all(v == value[0] for v in value):
            return self._default_str(value[0], False)  # torch's: int[2] padding=0
        if isinstance(value, list):
            return "[" + ", ".join(self._default_str(v, False) for v in value) + "]"
        if isinstance(value, str):
            return f'"{value}"'
        if isinstance(value, float):
            return _float_str(value)
        return str(value)  # None, True, ints, a device (cpu, cuda:1)

    def __str__(self) -> str:
        text = f"{self.type_str} {self.name}".rstrip()
        return text + (f"={self._default_str()}" if self.has_default else "")

    def __repr__(self) -> str:
        return f"<torch.Argument {self}>"


def _split_default(text: str) -> tuple[str, bool, str]:
    """``Type name=default`` split at its '=' (outside brackets and quotes)."""
    at = _top_level(text, "=")
    return (text[:at[0]], True, text[at[0] + 1:]) if at else (text, False, "")


def _closing(text: str, start: int) -> int:
    """The index of the parenthesis closing the one at ``start`` (-1: none)."""
    depth, quote = 0, None
    for i in range(start, len(text)):
        c = text[i]
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


class FunctionSchema:
    """An op's schema, as torch's ``FunctionSchema`` (``torch.parse_schema``'s result and
    ``torch.ops.aten.add.Tensor._schema``): ``name`` (``aten::add``), ``overload_name``,
    ``arguments`` and ``returns`` (Arguments), ``is_mutable``; ``str()`` is the schema as
    torch prints it (types and defaults written one way: ``float x=2.`` ,``str s="a"``,
    ``ScalarType d=4``); equal schemas print alike. A malformed string raises torch's
    RuntimeError (a SchemaError)."""

    def __init__(self, text: str, allow_typevars: bool = True):
        self._text = text
        where = text
        stripped = text.strip()
        match = re.match(r"([A-Za-z_]\w*(?:::[A-Za-z_]\w*)?)", stripped)
        if match is None:
            found = stripped[:1] or "eof"
            raise SchemaError(f"expected ident but found {found!r} here:\n{where}")
        self.name = match.group(1)
        rest = stripped[match.end():]
        self.overload_name = ""
        if rest.startswith("."):
            overload = _IDENT.match(rest, 1)
            if overload is None:
                raise SchemaError(f"expected ident but found {rest[1:2] or 'eof'!r} here:\n"
                                  f"{where}")
            self.overload_name = overload.group()
            rest = rest[overload.end():]
        rest = rest.lstrip()
        if not rest:
            raise SchemaError("Tried to parse a function schema but only the operator name "
                              "was given")
        if not rest.startswith("("):
            raise SchemaError(f"expected eof but found {rest.split()[0]!r} here:\n{where}")
        end = _closing(rest, 0)
        if end < 0:
            raise SchemaError(f"expected ) but found 'eof' here:\n{where}")
        args, returns = rest[1:end], rest[end + 1:].strip()
        if not returns.startswith("->"):
            raise SchemaError(f"expected arrow but found {returns[:1] or 'eof'!r} here:\n"
                              f"{where}")
        returns = returns[2:].strip()
        self.arguments: list[Argument] = []
        self.is_vararg = False
        kwarg_only = False
        for part in _split_top(args):
            if part == "*":
                kwarg_only = True
            elif part == "...":
                self.is_vararg = True
            else:
                self.arguments.append(Argument(part, kwarg_only, where, allow_typevars))
        seen_default = False
        for a in self.arguments:
            if a.has_default and not a.kwarg_only:
                seen_default = True
            elif seen_default and not a.kwarg_only:
                raise SchemaError("!seen_default_arg || arg.kwarg_only() INTERNAL ASSERT "
                                  "FAILED: a positional argument without a default follows "
                                  "one with a default")
        if not returns:
            raise SchemaError(f"expected ident but found 'eof' here:\n{where}")
        self.is_varret = returns == "..."
        if self.is_varret:
            parts = []
        elif returns.startswith("(") and _closing(returns, 0) == len(returns) - 1:
            parts = _split_top(returns[1:-1])
        elif returns.startswith("("):
            raise SchemaError(f"expected ident but found 'eof' here:\n{where}")
        else:
            parts = [returns]
        self.returns = [Argument(p, False, where, allow_typevars, is_return=True)
                        for p in parts]
        self.positional = [a for a in self.arguments if not a.kwarg_only]
        self.by_name = {a.name: a for a in self.arguments}
        self.is_mutable = any(a.is_write for a in self.arguments)

    def __str__(self) -> str:
        overload = f".{self.overload_name}" if self.overload_name else ""
        parts, starred = [], False
        for a in self.arguments:
            if a.kwarg_only and not starred:
                parts.append("*")
                starred = True
            parts.append(str(a))
        if self.is_vararg:
            parts.append("...")
        if self.is_varret:
            returns = "..."
        elif len(self.returns) == 1:
            returns = str(self.returns[0])
        else:
            returns = "(" + ", ".join(str(r) for r in self.returns) + ")"
        return f"{self.name}{overload}({', '.join(parts)}) -> {returns}"

    __repr__ = __str__

    def __eq__(self, other) -> bool:
        if not isinstance(other, FunctionSchema):
            raise TypeError(f"__eq__(): incompatible function arguments: expected a "
                            f"FunctionSchema, got {type(other).__name__}")
        return str(self) == str(other)

    def __ne__(self, other) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(str(self))


def parse_schema(schema: str, allow_typevars: bool = True) -> FunctionSchema:
    """torch.parse_schema: the FunctionSchema of a schema string
    (``"aten::add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor"``);
    ``allow_typevars=False`` refuses type variables (``t``). Not a string: TypeError."""
    if not isinstance(schema, str) or not isinstance(allow_typevars, bool):
        raise TypeError(f"parse_schema(): incompatible function arguments: expected (schema: "
                        f"str, allow_typevars: bool = True), got {type(schema).__name__}")
    return FunctionSchema(schema, allow_typevars)


# ---------------------------------------------------------------------------- argument types
def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, Tensor)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer))


def _fits(arg: Argument, value: Any, numbers_as_tensors: bool) -> bool:
    """Whether ``value`` fits ``arg``'s type (the conversions torch's schema matcher does)."""
    if value is None:
        return arg.optional or arg.base in ("Any", "t")
    if arg.is_list:
        if arg.list_size is not None and arg.base in ("int", "bool") and _is_int(value):
            return True
        if not isinstance(value, (list, tuple)):
            return False
        return all((v is None and arg.elem_optional) or _fits_base(arg.base, v,
                                                                  numbers_as_tensors)
                   for v in value)
    return _fits_base(arg.base, value, numbers_as_tensors)


def _fits_base(base: str, value: Any, numbers_as_tensors: bool) -> bool:
    if value is None:
        return False
    if base == "Tensor":
        return isinstance(value, Tensor) or (numbers_as_tensors and _is_number(value))
    if base in ("int", "SymInt"):
        return _is_int(value) or (isinstance(value, Tensor) and value.ndim == 0
                                  and value.dtype.kind in "iub")
    if base in ("float", "SymFloat"):
        return (_is_number(value) and not isinstance(value, complex)) or \
            (isinstance(value, Tensor) and value.ndim == 0)
    if base in ("Scalar", "complex"):
        return _is_number(value)
    if base == "bool":
        return isinstance(value, (bool, np.bool_)) or _is_int(value)
    if base == "str":
        return isinstance(value, str)
    if base == "ScalarType":  # a dtype, or its number (a schema's default: dtype=4)
        import dlpy
        return isinstance(value, dlpy.dtype) or (_is_int(value) and value in _SCALAR_TYPE_NAMES)
    return True  # Device, Layout, MemoryFormat, Generator, Any, t, Dict...


def _same(value: Any, default: Any) -> bool:
    """Whether an argument's value is its schema default (None, a number, a list, a str)."""
    if value is None or default is None:
        return value is default
    if isinstance(value, (Tensor, np.ndarray)) or type(value) is not type(default):
        return False
    return value == default


def _type_name(value: Any) -> str:
    return "Tensor" if isinstance(value, Tensor) else type(value).__name__


# ---------------------------------------------------------------------------- implementations
def _dlpy():
    import dlpy
    return dlpy


def _F():
    import dlpy.functional
    return dlpy.functional


_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _dims(dim: Any) -> Any:
    """An ``int[1]? dim`` as dlpy's reductions take it: [] or None is every axis."""
    if dim is None or (isinstance(dim, (list, tuple)) and len(dim) == 0):
        return None
    return tuple(dim) if isinstance(dim, (list, tuple)) else dim


def _slice(self, dim=0, start=None, end=None, step=1):
    index = (slice(None),) * (dim % max(self.ndim, 1)) + (slice(start, end, step),)
    return self[index]


def _index(self, indices):
    return self[tuple(slice(None) if i is None else i for i in indices)]


def _nll_loss_forward(self, target, weight, reduction, ignore_index):
    dlpy = _dlpy()
    out = _F().nll_loss(self, target, weight, ignore_index=ignore_index,
                        reduction=_REDUCTIONS[reduction])
    if reduction == 0:
        return out, dlpy.tensor(0.0, dtype=self.dtype)
    keep = target != ignore_index
    w = dlpy.ones(self.shape[-1] if self.ndim else 1, dtype=self.dtype) \
        if weight is None else weight
    safe = dlpy.where(keep, target, dlpy.zeros_like(target))
    total = dlpy.sum(dlpy.where(keep, w[safe], dlpy.zeros_like(w[safe])))
    return out, total.detach().to(self.dtype)


def _convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding,
                 groups):
    F, n = _F(), input.ndim - 2
    if transposed:
        fn = getattr(F, f"conv_transpose{n}d")
        return fn(input, weight, bias, stride, padding, output_padding, groups, dilation)
    return getattr(F, f"conv{n}d")(input, weight, bias, stride, padding, dilation, groups)


def _convolution_backend(input, weight, bias, stride, padding, dilation, transposed,
                         output_padding, groups, *backend_flags):
    """``aten._convolution``: ``aten.convolution`` with the backend flags (benchmark,
    deterministic, cudnn_enabled, allow_tf32) that change nothing on dlpy's one backend."""
    return _convolution(input, weight, bias, stride, padding, dilation, transposed,
                        output_padding, groups)


def _creation(name: str) -> Callable:
    def create(*args, dtype=None, layout=None, device=None, pin_memory=None,
               memory_format=None, generator=None):
        kw = {} if dtype is None else {"dtype": dtype}
        if generator is not None:
            kw["generator"] = generator
        return getattr(_dlpy(), name)(*args, **kw)
    return create


def _like(name: str) -> Callable:
    def create(self, *args, dtype=None, layout=None, device=None, pin_memory=None,
               memory_format=None):
        return getattr(_dlpy(), name)(self, *args, **({} if dtype is None else
                                                      {"dtype": dtype}))
    return create


def _to_copy(self, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False,
             memory_format=None):
    return self.to(self.dtype if dtype is None else dtype, copy=True)


def _to(kind: str) -> Callable:
    """to.dtype (self, dtype, non_blocking, copy), to.other (self, other, non_blocking, copy),
    to.device (self, device, dtype, non_blocking, copy), to.dtype_layout (keywords)."""
    def to(self, *args, dtype=None, layout=None, device=None, pin_memory=None,
           non_blocking=False, copy=False, memory_format=None):
        if kind == "dtype":
            dtype, copy = args[0], args[2]
        elif kind == "other":
            dtype, copy = args[0].dtype, args[2]
        elif kind == "device":
            dtype, copy = args[1], args[3]
        return self.to(self.dtype if dtype is None else dtype, copy=copy)
    return to


def _loss(name: str, *keys: str) -> Callable:
    def loss(self, target, *args):
        values = dict(zip(keys, args))
        if "reduction" in values:
            values["reduction"] = _REDUCTIONS[values["reduction"]]
        return getattr(_F(), name)(self, target, **values)
    return loss


def _sort_stable(self, stable=None, dim=-1, descending=False):
    return _dlpy().sort(self, dim=dim, descending=descending, stable=bool(stable))


def _var_std(name: str, kind: str) -> Callable:
    def reduce(self, *args, correction=None, keepdim=False):
        fn = getattr(_dlpy(), name)
        if kind == "default":
            unbiased = args[0] if args else True
            return fn(self, correction=int(unbiased))
        if kind == "dim":
            dim, unbiased, keep = (list(args) + [None, True, False][len(args):])[:3]
            return fn(self, _dims(dim), correction=int(unbiased), keepdim=keep)
        dim = args[0] if args else None
        return fn(self, _dims(dim), correction=1 if correction is None else correction,
                  keepdim=keepdim)
    return reduce


def _var_mean(self, dim=None, *, correction=None, keepdim=False):
    return tuple(_dlpy().var_mean(self, _dims(dim), correction=1 if correction is None else
                                  correction, keepdim=keepdim))


def _method(name: str) -> Callable:
    return lambda self, *args: getattr(self, name)(*args)


def _tuple(fn: Callable) -> Callable:
    return lambda *args, **kwargs: tuple(fn(*args, **kwargs))


def _list(fn: Callable) -> Callable:
    return lambda *args, **kwargs: list(fn(*args, **kwargs))


def _reduce(name: str) -> Callable:
    def reduce(self, dim=None, keepdim=False, dtype=None):
        kw = {} if dtype is None else {"dtype": dtype}
        dims = _dims(dim)
        if dims is None and not keepdim:
            return getattr(_dlpy(), name)(self, **kw)
        if dims is None:
            dims = tuple(range(self.ndim))
        return getattr(_dlpy(), name)(self, dims, keepdim, **kw)
    return reduce


def _d(name: str) -> Callable:
    return lambda *args, **kwargs: getattr(_dlpy(), name)(*args, **kwargs)


def _f(name: str) -> Callable:
    return lambda *args, **kwargs: getattr(_F(), name)(*args, **kwargs)


def _native(name: str) -> Callable:
    """torch.<name> of dlpy.native_functions (the kernels with their saved statistics)."""
    return lambda *args, **kwargs: getattr(_native_functions(), name)(*args, **kwargs)


def _native_functions():
    from dlpy import native_functions

    return native_functions


def _batch_norm_functional(input, weight, bias, running_mean, running_var, training,  # noqa: A002
                           momentum, eps):
    """aten._native_batch_norm_legit_functional: native_batch_norm's (out, save_mean,
    save_invstd) and the updated running statistics as new tensors (the inputs unchanged)."""
    mean, var = running_mean.clone(), running_var.clone()
    out, save_mean, save_invstd = _native_functions().native_batch_norm(
        input, weight, bias, mean, var, training, momentum, eps)
    return out, save_mean, save_invstd, mean, var


def _backward_kernel(name: str) -> Callable:
    """An autograd backward kernel (``aten.threshold_backward``...): dlpy's numpy formula
    (dlpy.utils._dispatch_backward, what a backward run inside a mode shows) on the values."""
    def kernel(*args, **kwargs):
        from dlpy.utils import _dispatch_backward

        return _dispatch_backward.KERNELS[name](*args, **kwargs)
    return kernel


def _empty_strided(size, stride, dtype=None, layout=None, device=None, pin_memory=None):
    return _dlpy().empty_strided(size, stride, **({} if dtype is None else {"dtype": dtype}))


def _inplace_fill(self, value):
    return self.fill_(value)


_IMPLS: dict[str, Callable] = {
    "sum.default": lambda self, dtype=None: _dlpy().sum(self, **({} if dtype is None else
                                                                  {"dtype": dtype})),
    "sum.dim_IntList": _reduce("sum"),
    "mean.default": lambda self, dtype=None: _dlpy().mean(self, **({} if dtype is None else
                                                                    {"dtype": dtype})),
    "mean.dim": _reduce("mean"),
    "amax.default": lambda self, dim=(), keepdim=False: _reduce("amax")(self, dim, keepdim),
    "amin.default": lambda self, dim=(), keepdim=False: _reduce("amin")(self, dim, keepdim),
    "max.dim": _tuple(_d("max")), "min.dim": _tuple(_d("min")),
    "var.default": _var_std("var", "default"), "var.dim": _var_std("var", "dim"),
    "var.correction": _var_std("var", "correction"),
    "std.default": _var_std("std", "default"), "std.dim": _var_std("std", "dim"),
    "std.correction": _var_std("std", "correction"),
    "all.dims": lambda self, dim=None, keepdim=False: _reduce("all")(self, dim, keepdim),
    "any.dims": lambda self, dim=None, keepdim=False: _reduce("any")(self, dim, keepdim),
    "logsumexp.default": lambda self, dim, keepdim=False: _dlpy().logsumexp(
        self, _dims(dim) if _dims(dim) is not None else tuple(range(self.ndim)), keepdim),
    "view.default": _method("view"), "view.dtype": _method("view"),
    "_unsafe_view.default": _method("reshape"), "expand.default": lambda self, size,
    implicit=False: self.expand(*size), "alias.default": lambda self: self.view(self.shape),
    "contiguous.default": lambda self, memory_format=None: self.contiguous(),
    "slice.Tensor": _slice, "index.Tensor": _index,
    "split.Tensor": _list(_d("split")), "split.sizes": _list(_d("split")),
    "split_with_sizes.default": _list(_d("split")), "unbind.int": _list(_d("unbind")),
    "chunk.default": _list(_d("chunk")), "unsafe_split.Tensor": _list(_d("split")),
    "select.int": _d("select"), "where.default": _list(_d("where")),
    "softmax.int": _d("softmax"), "log_softmax.int": _d("log_softmax"),
    "_softmax.default": lambda self, dim, half_to_float: _dlpy().softmax(self, dim),
    "_log_softmax.default": lambda self, dim, half_to_float: _dlpy().log_softmax(self, dim),
    "relu.default": _f("relu"), "silu.default": _f("silu"), "gelu.default": _f("gelu"),
    "hardtanh.default": _f("hardtanh"), "leaky_relu.default": _f("leaky_relu"),
    "softplus.default": _f("softplus"), "hardswish.default": _f("hardswish"),
    "hardsigmoid.default": _f("hardsigmoid"), "mish.default": _f("mish"),
    "elu.default": lambda self, alpha=1, scale=1, input_scale=1: _F().elu(
        self * input_scale, alpha) * scale if (scale, input_scale) != (1, 1)
    else _F().elu(self, alpha),
    "convolution.default": _convolution, "_convolution.default": _convolution_backend,
    "_convolution.deprecated": _convolution_backend, "conv1d.default": _f("conv1d"),
    "conv1d.padding": _f("conv1d"), "conv2d.default": _f("conv2d"),
    "conv2d.padding": _f("conv2d"), "linear.default": _f("linear"),
    "native_layer_norm.default": _native("native_layer_norm"),
    "layer_norm.default": lambda input, normalized_shape, weight=None, bias=None, eps=1e-5,
    cudnn_enable=True: _F().layer_norm(input, list(normalized_shape), weight, bias, eps),
    "native_batch_norm.default": _native("native_batch_norm"),
    "_native_batch_norm_legit_functional.default": _batch_norm_functional,
    "_native_batch_norm_legit_no_training.default": lambda input, weight, bias, running_mean,
    running_var, momentum, eps: _native_functions().native_batch_norm(
        input, weight, bias, running_mean, running_var, False, momentum, eps),
    "_native_batch_norm_legit.no_stats": lambda input, weight, bias, training, momentum,
    eps: _native_functions().native_batch_norm(input, weight, bias, None, None, training,
                                               momentum, eps),
    "scaled_dot_product_attention.default": _f("scaled_dot_product_attention"),
    "numpy_T.default": lambda self: self.permute(*reversed(range(self.ndim))),
    "batch_norm.default": lambda input, weight, bias, running_mean, running_var, training,
    momentum, eps, cudnn_enabled: _F().batch_norm(input, running_mean, running_var, weight,
                                                  bias, training, momentum, eps),
    "group_norm.default": lambda input, num_groups, weight=None, bias=None, eps=1e-5,
    cudnn_enabled=True: _F().group_norm(input, num_groups, weight, bias, eps),
    "nll_loss.default": _loss("nll_loss", "weight", "reduction", "ignore_index"),
    "nll_loss_forward.default": _nll_loss_forward,
    "mse_loss.default": _loss("mse_loss", "reduction"),
    "binary_cross_entropy.default": _loss("binary_cross_entropy", "weight", "reduction"),
    "cross_entropy_loss.default": _loss("cross_entropy", "weight", "reduction",
                                        "ignore_index", "label_smoothing"),
    "embedding.default": lambda weight, indices, padding_idx=-1, scale_grad_by_freq=False,
    sparse=False: _F().embedding(indices, weight, None if padding_idx == -1 else padding_idx),
    "dropout.default": _f("dropout"), "native_dropout.default": _native("native_dropout"),
    **{f"{name}.default": _backward_kernel(name) for name in (
        "threshold_backward", "sigmoid_backward", "tanh_backward", "gelu_backward",
        "_softmax_backward_data", "_log_softmax_backward_data", "native_layer_norm_backward",
        "embedding_dense_backward", "convolution_backward", "nll_loss_backward",
        "native_batch_norm_backward", "max_pool2d_with_indices_backward",
        "avg_pool2d_backward", "_adaptive_avg_pool2d_backward",
        "adaptive_max_pool2d_backward", "select_backward",
        "slice_backward", "_scaled_dot_product_flash_attention_for_cpu",
        "_scaled_dot_product_flash_attention_for_cpu_backward")},
    "new_empty_strided.default": lambda self, size, stride, **kw: _creation("empty")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "zeros.default": _creation("zeros"), "ones.default": _creation("ones"),
    "empty.memory_format": _creation("empty"), "full.default": _creation("full"),
    "arange.default": _creation("arange"), "arange.start": _creation("arange"),
    "arange.start_step": _creation("arange"), "rand.default": _creation("rand"),
    "randn.default": _creation("randn"), "eye.default": _creation("eye"),
    "eye.m": _creation("eye"), "empty_strided.default": _empty_strided,
    "scalar_tensor.default": lambda s, dtype=None, **kw: _dlpy().tensor(
        s, dtype=_dlpy().get_default_dtype() if dtype is None else dtype),
    "zeros_like.default": _like("zeros_like"), "ones_like.default": _like("ones_like"),
    "empty_like.default": _like("empty_like"), "full_like.default": _like("full_like"),
    "rand_like.default": _like("rand_like"), "randn_like.default": _like("randn_like"),
    "new_zeros.default": lambda self, size, **kw: _creation("zeros")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_ones.default": lambda self, size, **kw: _creation("ones")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_empty.default": lambda self, size, **kw: _creation("empty")(
        size, **{"dtype": self.dtype, **{k: v for k, v in kw.items() if v is not None}}),
    "new_full.default": lambda self, size, fill_value, **kw: _creation("full")(
        size, fill_value, **{"dtype": self.dtype,
                             **{k: v for k, v in kw.items() if v is not None}}),
    "copy_.default": lambda self, src, non_blocking=False: self.copy_(src),
    # functional copy_: a new tensor of self's shape and dtype holding src (broadcast)
    "copy.default": lambda self, src, non_blocking=False: self.clone().copy_(src),
    "clone.default": lambda self, memory_format=None: self.clone(memory_format=memory_format),
    "detach.default": lambda self: self.detach(), "_to_copy.default": _to_copy,
    "to.dtype": _to("dtype"), "to.other": _to("other"), "to.device": _to("device"),
    "to.dtype_layout": _to("dtype_layout"),
    "lift_fresh_copy.default": lambda self: self.clone(),
    "zero_.default": lambda self: self.zero_(), "fill_.Scalar": _inplace_fill,
    "fill_.Tensor": _inplace_fill,
    "fill.Scalar": lambda self, value: _dlpy().full_like(self, value),
    "fill.Tensor": lambda self, value: _dlpy().full_like(self, value.item()),
    "add_.Tensor": lambda self, other, alpha=1: self.add_(other, alpha=alpha),
    "add_.Scalar": lambda self, other, alpha=1: self.add_(other, alpha=alpha),
    "sub_.Tensor": lambda self, other, alpha=1: self.sub_(other, alpha=alpha),
    "sub_.Scalar": lambda self, other, alpha=1: self.sub_(other, alpha=alpha),
    "mul_.Tensor": _method("mul_"), "mul_.Scalar": _method("mul_"),
    "div_.Tensor": _method("div_"), "div_.Scalar": _method("div_"),
    "abs_.default": _method("abs_"), "relu_.default": _method("relu_"),
    "sigmoid_.default": _method("sigmoid_"),
    "linalg_vector_norm.default": lambda self, ord=2, dim=None, keepdim=False, dtype=None:
    _dlpy().linalg.vector_norm(self, ord, _dims(dim), keepdim, dtype=dtype),
    "sort.default": _tuple(_d("sort")), "sort.stable": _tuple(_sort_stable),
    "topk.default": _tuple(_d("topk")), "var_mean.correction": _var_mean,
    "expand_as.default": _method("expand_as"), "view_as.default": _method("view_as"),
    "sym_size.int": lambda self, dim: self.shape[dim], "sym_numel.default": _method("numel"),
    "numel.default": _method("numel"), "dim.default": _method("dim"),
    "size.int": lambda self, dim: self.shape[dim], "size.default": lambda self: list(self.shape),
    "item.default": _method("item"), "_local_scalar_dense.default": _method("item"),
    "round.decimals": lambda self, decimals=0: _dlpy().round(self, decimals=decimals),
    "clamp.default": lambda self, min=None, max=None: _dlpy().clamp(self, min, max),
    "clamp.Tensor": lambda self, min=None, max=None: _dlpy().clamp(self, min, max),
    "flatten.using_ints": _d("flatten"), "permute.default": _d("permute"),
    "repeat.default": _method("repeat"), "max_pool2d.default": _f("max_pool2d"),
    "avg_pool2d.default": _f("avg_pool2d"),
    "adaptive_avg_pool2d.default": _f("adaptive_avg_pool2d"),
    "_adaptive_avg_pool2d.default": _f("adaptive_avg_pool2d"),
    "adaptive_max_pool2d.default": lambda self, output_size: _F().adaptive_max_pool2d(
        self, output_size, return_indices=True),
    "constant_pad_nd.default": lambda self, pad, value=0: _F().pad(self, list(pad),
                                                                  value=value),
    "pad.default": lambda self, pad, mode="constant", value=None: _F().pad(
        self, list(pad), mode, 0 if value is None else value),
    "norm.Scalar": lambda self, p=2: _dlpy().norm(self, p),
    "norm.ScalarOpt_dim": lambda self, p, dim, keepdim=False: _dlpy().norm(
        self, 2 if p is None else p, _dims(dim), keepdim),
    "argsort.default": lambda self, dim=-1, descending=False: _dlpy().argsort(self, dim,
                                                                             descending),
    "argsort.stable": lambda self, stable, dim=-1, descending=False: _dlpy().argsort(
        self, dim, descending, stable=stable),
    "nonzero.default": _d("nonzero"), "masked_select.default": _d("masked_select"),
    "diagonal.default": _d("diagonal"), "movedim.int": _d("movedim"),
    "movedim.intlist": _d("movedim"), "tile.default": _d("tile"),
}


# ---------------------------------------------------------------------------- the core ATen
# opset's other members (torch.Tag.core), as torch's export and decompositions emit them
_PAD_MODES = {"reflection": "reflect", "replication": "replicate"}
_GRID_MODES = ("bilinear", "nearest", "bicubic")
_GRID_PADDING = ("zeros", "border", "reflection")


def _pad_kernel(kind: str) -> Callable:
    """reflection_pad{1,2,3}d / replication_pad{1,2,3}d: F.pad in that mode."""
    return lambda self, padding: _F().pad(self, list(padding), _PAD_MODES[kind])


def _upsample(mode: str, align: bool) -> Callable:
    """upsample_<mode>.vec (input, output_size, [align_corners], scale_factors): F.interpolate
    with the size, or else the scale factors (used as given for the coordinates, as torch's
    kernels are)."""
    def upsample(input, output_size, *args):  # noqa: A002
        align_corners, scales = (args[0], args[1]) if align else (None, args[0])
        if (output_size is None) == (scales is None):
            raise ArgError("Must specify exactly one of output_size and scale_factors")
        return _F().interpolate(input, size=None if output_size is None else list(output_size),
                                scale_factor=None if scales is None else list(scales),
                                mode=mode, align_corners=align_corners)
    return upsample


def _upsample_sized(mode: str, align: bool) -> Callable:
    """upsample_<mode>.default (input, output_size, [align_corners], scales...): the output
    size given, the coordinates from the scale factors where given (torch's kernels)."""
    def upsample(input, output_size, *args):  # noqa: A002
        align_corners, scales = (args[0], args[1:]) if align else (None, args)
        dims = len(output_size)
        scales = tuple(scales) + (None,) * (dims - len(scales))
        return _F()._interpolate_to(input, tuple(int(n) for n in output_size), scales, mode,
                                    align_corners, False)
    return upsample


def _log_sigmoid_forward(self):
    """aten.log_sigmoid_forward: (log sigmoid(x), the buffer torch's CPU kernel keeps for
    backward, exp(-|x|))."""
    return _F().logsigmoid(self), _dlpy().exp(-self.detach().abs())


def _fft_r2c(self, dim, normalization, onesided):
    """aten._fft_r2c: the real-to-complex FFT over ``dim`` (normalization 0: none, 1: by
    1/sqrt(n), 2: by 1/n), the last dim halved when ``onesided``."""
    fft, norm = _dlpy().fft, ("backward", "ortho", "forward")[normalization]
    if onesided:
        return fft.rfftn(self, dim=list(dim), norm=norm)
    return fft.fftn(self, dim=list(dim), norm=norm)


def _fft_c2r(self, dim, normalization, last_dim_size):
    """aten._fft_c2r: the inverse of a onesided r2c, the last of ``dim`` restored to
    ``last_dim_size``; normalization as _fft_r2c's, applied to the inverse (0: none)."""
    dim = [d % self.ndim for d in dim]
    sizes = [self.shape[d] for d in dim[:-1]] + [last_dim_size]
    norm = ("forward", "ortho", "backward")[normalization]
    return _dlpy().fft.irfftn(self, s=sizes, dim=dim, norm=norm)


def _native_group_norm_backward(grad_out, input, mean, rstd, weight, N, C, HxW, group,  # noqa: A002, N803
                                output_mask):
    """aten.native_group_norm_backward: (grad_input, grad_weight, grad_bias) of group norm
    from the forward's saved ``mean`` and ``rstd`` (N, group), each None where
    ``output_mask`` says so, as torch's kernel: with xhat = (x - mean) rstd and g = dy w,
    dx = rstd (g - mean(g) - xhat mean(g xhat)) over each group."""
    dy = np.asarray(grad_out.data, dtype=np.float64).reshape(N, C, HxW)
    x = np.asarray(input.data, dtype=np.float64).reshape(N, group, -1)
    mu = np.asarray(mean.data, dtype=np.float64).reshape(N, group, 1)
    r = np.asarray(rstd.data, dtype=np.float64).reshape(N, group, 1)
    xhat = ((x - mu) * r).reshape(N, C, HxW)
    w = np.ones(C) if weight is None else np.asarray(weight.data, dtype=np.float64)
    g = (dy * w[:, None]).reshape(N, group, -1)
    xg = xhat.reshape(N, group, -1)
    dx = r * (g - g.mean(axis=-1, keepdims=True) - xg * (g * xg).mean(axis=-1, keepdims=True))
    dtype = input.dtype
    results = (Tensor(dx.reshape(input.shape).astype(dtype)),
               Tensor((dy * xhat).sum(axis=(0, 2)).astype(dtype)),
               Tensor(dy.sum(axis=(0, 2)).astype(dtype)))
    return tuple(t if keep else None for t, keep in zip(results, output_mask))


def _native_batch_norm_legit(input, weight, bias, running_mean, running_var, training,  # noqa: A002
                             momentum, eps):
    """aten._native_batch_norm_legit: native_batch_norm, the running statistics updated in
    place when training."""
    return _native_functions().native_batch_norm(input, weight, bias, running_mean,
                                                 running_var, training, momentum, eps)


def _cdist_forward(x1, x2, p, compute_mode):
    mode = {None: "use_mm_for_euclid_dist_if_necessary", 0: "use_mm_for_euclid_dist_if_necessary",
            1: "use_mm_for_euclid_dist", 2: "donot_use_mm_for_euclid_dist"}[compute_mode]
    return _dlpy().cdist(x1, x2, p, compute_mode=mode)


def _embedding_bag(weight, indices, offsets, scale_grad_by_freq=False, mode=0, sparse=False,
                   per_sample_weights=None, include_last_offset=False, padding_idx=-1):
    return _native_functions().embedding_bag(
        weight, indices, offsets, scale_grad_by_freq, mode, sparse, per_sample_weights,
        include_last_offset, None if padding_idx == -1 else padding_idx)


def _max_pool_with_indices(name: str) -> Callable:
    def pool(self, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
        return tuple(getattr(_F(), name)(self, list(kernel_size), list(stride) or None,
                                         padding, dilation, ceil_mode, return_indices=True))
    return pool


def _avg_pool(name: str) -> Callable:
    def pool(self, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
             divisor_override=None):
        kw = {} if divisor_override is None else {"divisor_override": divisor_override}
        return getattr(_F(), name)(self, list(kernel_size), list(stride) or None, padding,
                                   ceil_mode, count_include_pad, **kw)
    return pool


def _sym_is_contiguous(self, memory_format=0):
    """aten.sym_is_contiguous: the schema's MemoryFormat, torch's enum number or object."""
    if isinstance(memory_format, int):
        dlpy = _dlpy()
        memory_format = (dlpy.contiguous_format, dlpy.preserve_format, dlpy.channels_last,
                         dlpy.channels_last_3d)[memory_format]
    return self.is_contiguous(memory_format=memory_format)


_IMPLS.update({
    "_adaptive_avg_pool3d.default": _f("adaptive_avg_pool3d"),
    "adaptive_avg_pool1d.default": _f("adaptive_avg_pool1d"),
    "adaptive_avg_pool3d.default": _f("adaptive_avg_pool3d"),
    "adaptive_max_pool3d.default": lambda self, output_size: tuple(_F().adaptive_max_pool3d(
        self, list(output_size), return_indices=True)),
    "avg_pool1d.default": lambda self, kernel_size, stride=(), padding=0, ceil_mode=False,
    count_include_pad=True: _F().avg_pool1d(self, list(kernel_size), list(stride) or None,
                                            padding, ceil_mode, count_include_pad),
    "avg_pool3d.default": _avg_pool("avg_pool3d"),
    "max_pool3d_with_indices.default": _max_pool_with_indices("max_pool3d"),
    "_cdist_forward.default": _cdist_forward,
    "_pdist_forward.default": lambda self, p=2.0: _F().pdist(self, p),
    "_embedding_bag.default": _embedding_bag,
    "_fft_r2c.default": _fft_r2c, "_fft_c2r.default": _fft_c2r,
    "_native_batch_norm_legit.default": _native_batch_norm_legit,
    "native_group_norm_backward.default": _native_group_norm_backward,
    "col2im.default": lambda self, output_size, kernel_size, dilation, padding, stride:
    _F().fold(self, list(output_size), list(kernel_size), list(dilation), list(padding),
              list(stride)),
    "grid_sampler_2d.default": lambda input, grid, interpolation_mode, padding_mode,
    align_corners: _F().grid_sample(input, grid, _GRID_MODES[interpolation_mode],
                                    _GRID_PADDING[padding_mode], align_corners),
    **{f"{kind}_pad{n}d.default": _pad_kernel(kind) for kind in ("reflection", "replication")
       for n in (1, 2, 3)},
    **{f"upsample_{mode}.default": _upsample_sized(kind, align) for mode, kind, align in (
        ("nearest1d", "nearest", False), ("nearest2d", "nearest", False),
        ("nearest3d", "nearest", False), ("linear1d", "linear", True),
        ("bilinear2d", "bilinear", True), ("bicubic2d", "bicubic", True),
        ("trilinear3d", "trilinear", True))},
    "index.Tensor_hacked_twin": _index, "lift_fresh.default": lambda self: self,
    "sym_size.default": lambda self: list(self.shape),
    "sym_stride.default": lambda self: list(self.stride()),
    "_reshape_alias.default": lambda self, size, stride: self.as_strided(list(size),
                                                                         list(stride)),
    "log_sigmoid_forward.default": _log_sigmoid_forward,
    "upsample_nearest1d.vec": _upsample("nearest", False),
    "upsample_nearest2d.vec": _upsample("nearest", False),
    "upsample_nearest3d.vec": _upsample("nearest", False),
    "upsample_linear1d.vec": _upsample("linear", True),
    "upsample_bilinear2d.vec": _upsample("bilinear", True),
    "upsample_bicubic2d.vec": _upsample("bicubic", True),
    "upsample_trilinear3d.vec": _upsample("trilinear", True),
    "sym_stride.int": lambda self, dim: self.stride(dim),
    "sym_storage_offset.default": _method("storage_offset"),
    "sym_is_contiguous.default": _sym_is_contiguous,
})


# torch's grad_fn name for a call of these overloads, where it is not that of dlpy's function
# for the same call (Scalar overloads, the kernels decompositions name)
_NODE_NAMES = {
    "add.Scalar": "AddBackward1", "sub.Scalar": "SubBackward1", "mul.Scalar": "MulBackward1",
    "div.Scalar": "DivBackward1", "div.Tensor_mode": "DivBackward2",
    "div.Scalar_mode": "DivBackward3", "sum.dim_IntList": "SumBackward1",
    "alias.default": "AliasBackward0", "_unsafe_view.default": "UnsafeViewBackward0",
    "unsafe_split.Tensor": "UnsafeSplitBackward0", "_reshape_alias.default":
    "ReshapeAliasBackward0", "log_sigmoid_forward.default": "LogSigmoidBackward0",
    "_native_batch_norm_legit.default": "NativeBatchNormLegitBackward0",
    "_native_batch_norm_legit.no_stats": "NativeBatchNormLegitBackward1",
    "_native_batch_norm_legit_functional.default": "NativeBatchNormLegitBackward0",
    "_native_batch_norm_legit_no_training.default": "NativeBatchNormLegitNoTrainingBackward0",
}


def _named(result, name: str, args: list) -> None:
    """Name the node of ``result`` (a list's pieces each; a tuple's first) torch's ``name``,
    unless it is one of the arguments (whose node another call made)."""
    from dlpy.node_names import named

    pieces = result if isinstance(result, list) else \
        result[:1] if isinstance(result, tuple) else (result,)
    for out in pieces:
        if isinstance(out, Tensor) and not any(out is a for a in args):
            named(out, name)


# overloads named for their scalar forms (``aten.add.int(int a, int b) -> int``): TorchScript's
_SCALAR_OVERLOADS = {"int", "float", "complex", "bool", "str", "t", "enum", "device", "any",
                     "int_list", "float_list", "Tensor_list", "bool_list", "str_list",
                     "int_int", "float_float", "complex_complex", "int_float", "float_int",
                     "int_complex", "complex_int", "float_complex", "complex_float",
                     "Scalar_Scalar", "int_to_int", "left_t", "right_", "list_int",
                     "list_float", "list_bool", "list_Tensor", "list_str", "prim_Device",
                     "prim_dtype", "prim_other"}


def _unsupported(schema: FunctionSchema) -> bool:
    overload = schema.overload_name
    return (schema.is_mutable and not schema.name.endswith("_")) or \
        (overload in _SCALAR_OVERLOADS and not any(a.base == "Tensor" and not a.is_list
                                                   for a in schema.arguments)) or \
        (overload == "Scalar" and not any(a.base == "Tensor" for a in schema.arguments)) or \
        overload in ("out", "dtype_out") or overload.endswith("_out") or \
        (overload == "dtype" and schema.name.split("::")[1] in ("mm", "bmm", "addmm"))


def _generic(opname: str) -> Callable | None:
    """dlpy's function (dlpy.<op>, dlpy.functional.<op>) or Tensor method of that name."""
    dlpy = _dlpy()
    fn = getattr(dlpy, opname, None)
    if callable(fn):
        return fn
    fn = getattr(_F(), opname, None)
    if callable(fn):
        return fn
    if callable(getattr(Tensor, opname, None)):
        return _method(opname)
    return None


# ---------------------------------------------------------------------------- overloads
# dlpy.utils._python_dispatch.redispatch while dispatch modes or subclasses are about: calling
# an overload then goes through them (None otherwise: the overload runs)
_dispatcher: Callable | None = None


class OpOverload:
    """``dlpy.ops.aten.add.Tensor``: one ATen op of one schema."""

    _is_custom_op = False  # dlpy.fx records it as a function by its path (dlpy.ops.aten...)

    def __init__(self, packet: OpOverloadPacket, schema: FunctionSchema):
        self._schema = schema
        self._overloadpacket = packet
        self._namespace, self._opname = "aten", packet.__name__
        self._overloadname = schema.overload_name or "default"
        self.__name__ = f"{self._opname}.{self._overloadname}"
        self.__qualname__ = f"aten.{self.__name__}"  # dlpy.fx's generated code names
        self.__module__ = "dlpy.ops"  # it dlpy.ops.aten.add.Tensor
        self._numbers = self._opname in NUMBERS_AS_TENSORS
        self._impl: Callable | None | bool = False  # False: not looked up yet

    @property
    def overloadpacket(self) -> OpOverloadPacket:
        return self._overloadpacket

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def is_view(self) -> bool:
        returns = self._schema.returns
        return bool(returns) and returns[0].alias_info is not None and not returns[0].is_write

    def name(self) -> str:
        overload = "" if self._overloadname == "default" else f".{self._overloadname}"
        return f"aten::{self._opname}{overload}"

    def __repr__(self) -> str:
        return f"<OpOverload(op='aten.{self._opname}', overload='{self._overloadname}')>"

    def __str__(self) -> str:
        return f"aten.{self._opname}.{self._overloadname}"

    def __deepcopy__(self, memo) -> OpOverload:
        return self

    def __reduce__(self):
        return _overload_at, (self._opname, self._overloadname)

    # ---------------------------------------------------------------- arguments
    def _bind(self, args: tuple, kwargs: dict) -> tuple[list, dict]:
        """(positional values, keyword-only values), defaults filled and each value checked
        against the schema; a mismatch is an OpCallError (torch's RuntimeError)."""
        schema, where = self._schema, f"aten::{self._opname}()"
        positional = schema.positional
        if len(args) > len(positional):
            raise OpCallError(f"{where} takes {len(positional)} positional argument(s) but "
                              f"{len(args)} was/were given.  Declaration: {schema}")
        for key in kwargs:
            if key not in schema.by_name:
                raise OpCallError(f"Unknown keyword argument '{key}' for operator "
                                  f"'aten::{self._opname}'. Schema: {schema}")
            if schema.by_name[key] in positional[:len(args)]:
                raise OpCallError(f"{where} got multiple values for argument '{key}'. "
                                  f"Declaration: {schema}")
        values = list(args)
        for arg in schema.arguments[len(args):]:
            if arg.name in kwargs:
                values.append(kwargs[arg.name])
            elif arg.has_default:
                values.append(arg.default_value)
            else:
                raise OpCallError(f"{where} is missing value for argument '{arg.name}'. "
                                  f"Declaration: {schema}")
        proxy = _proxy_type()
        for k, (arg, value) in enumerate(zip(schema.arguments, values)):
            if proxy is not None and (isinstance(value, proxy) or (
                    isinstance(value, (list, tuple)) and any(isinstance(v, proxy)
                                                             for v in value))):
                continue  # dlpy.fx tracing: a Proxy passes anywhere
            if not _fits(arg, value, self._numbers):
                shown = "number" if arg.base == "Scalar" else arg.type_str
                raise OpCallError(f"{where} Expected a value of type '{shown}' for argument "
                                  f"'{arg.name}' but instead found type "
                                  f"'{_type_name(value)}'.\nPosition: {k}\nValue: "
                                  f"{value!r:.60}\nDeclaration: {schema}")
            values[k] = self._converted(arg, value)
        n = len(positional)
        return values[:n], {a.name: v for a, v in zip(schema.arguments[n:], values[n:])}

    def _converted(self, arg: Argument, value: Any) -> Any:
        if value is None:
            return None
        if arg.is_list and isinstance(value, tuple):
            value = list(value)
        if arg.is_list and _is_int(value) and arg.list_size:
            return [int(value)] * arg.list_size
        if arg.base == "Tensor" and not arg.is_list and _is_number(value) and \
                arg is self._schema.arguments[0]:
            return _dlpy().tensor(value)
        if arg.base in ("int", "SymInt") and isinstance(value, Tensor):
            return int(value.item())
        if arg.base in ("float", "Scalar") and isinstance(value, Tensor):
            return value.item()
        if arg.base == "ScalarType" and _is_int(value):
            return _scalar_type(int(value))
        return value

    # ---------------------------------------------------------------- calling
    def _implementation(self) -> Callable | None:
        if self._impl is False:
            key = f"{self._opname}.{self._overloadname}"
            if key in _IMPLS:
                self._impl = _IMPLS[key]
            elif _unsupported(self._schema):
                self._impl = None
            else:
                self._impl = _generic(self._opname)
        return self._impl

    def __call__(self, /, *args, **kwargs):  # (``self=`` is the schema's first argument)
        if _dispatcher is not None:  # a TorchDispatchMode or __torch_dispatch__ class is about
            return _dispatcher(self, args, kwargs)
        args, kwargs = self._bind(args, kwargs)
        return self._run(args, kwargs)

    def _traced(self, args: list, kwargs: dict):
        proxy = _find_proxy(tuple(args), kwargs)
        if proxy is None:
            return None
        return proxy.tracer.create_proxy("call_function", self, tuple(args), kwargs)

    def _run(self, args: list, kwargs: dict):
        traced = self._traced(args, kwargs)  # dlpy.fx tracing: one call_function node
        if traced is not None:
            return traced
        impl = self._implementation()
        if impl is None:
            raise NotImplementedError(f"dlpy.ops.aten: {self.name()} ({self._schema}) has no "
                                      f"dlpy implementation; call the dlpy function instead")
        if self.__name__ not in _IMPLS:  # dlpy's function: its required arguments by
            # position, the others by name where they are not the schema's default
            schema = self._schema
            required = [v for a, v in zip(schema.positional, args) if not a.has_default]
            named = {a.name: v for a, v in zip(schema.positional, args) if a.has_default}
            named.update(kwargs)
            kwargs = {k: v for k, v in named.items()
                      if not _same(v, schema.by_name[k].default_value)}
            args = required
        result = impl(*args, **kwargs)
        node = _NODE_NAMES.get(self.__name__)
        if node is not None:  # torch's node for this overload (AddBackward1 for add.Scalar)
            _named(result, node, args)
        returns = self._schema.returns
        if len(returns) > 1 and isinstance(result, tuple) and type(result) is not tuple:
            result = tuple(result)  # torch's ops return plain tuples, not named ones
        elif len(returns) == 1 and returns[0].base == "Tensor" and returns[0].is_list \
                and isinstance(result, tuple):
            result = list(result)
        return result

    def _try_bind(self, args: tuple, kwargs: dict) -> tuple | None:
        try:
            return self._bind(args, kwargs)
        except OpCallError as error:
            return None, error


class OpOverloadPacket:
    """``dlpy.ops.aten.add``: the overloads of one ATen op (``.Tensor``, ``.Scalar``,
    ``.default``...); calling it calls the first overload the arguments fit."""

    def __init__(self, name: str, schemas: list[str]):
        self.__name__ = name
        self.__qualname__ = f"aten.{name}"
        self.__module__ = "dlpy.ops"
        self._qualified_op_name = f"aten::{name}"
        self._schemas = schemas
        self._overloads: dict[str, OpOverload] = {}

    def overloads(self) -> list[str]:
        return [FunctionSchema(s).overload_name or "default" for s in self._schemas] \
            if not self._overloads else list(self._overloads)

    def _all(self) -> dict[str, OpOverload]:
        if not self._overloads:
            for text in self._schemas:
                schema = FunctionSchema(text)
                self._overloads[schema.overload_name or "default"] = \
                    OpOverload(self, schema)
        return self._overloads

    def __getattr__(self, key: str) -> OpOverload:
        if key.startswith("__"):
            raise AttributeError(key)
        overload = self._all().get(key)
        if overload is None:
            raise AttributeError(f"The underlying op of '{self}' has no overload name "
                                 f"'{key}'")
        return overload

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.overloads()))

    def __repr__(self) -> str:
        return f"<OpOverloadPacket(op='aten.{self.__name__}')>"

    def __str__(self) -> str:
        return f"aten.{self.__name__}"

    def __deepcopy__(self, memo) -> OpOverloadPacket:
        return self

    def __reduce__(self):
        return _packet_at, (self.__name__,)

    def __call__(self, /, *args, **kwargs):
        errors = []
        for overload in self._all().values():
            bound = overload._try_bind(args, kwargs)
            if bound[0] is None:
                errors.append(str(bound[1]))
                continue
            if overload._implementation() is None and not overload._schema.is_mutable:
                continue
            return overload._run(*bound)
        raise _NoSchemaMatchError("Overloaded torch operator invoked from Python failed to "
                                  "match any schema:\n" + "\n\n".join(errors))


class _AtenNamespace:
    """``dlpy.ops.aten``: the ATen ops dlpy knows, as attributes (torch's ``_OpNamespace``)."""

    def __init__(self):
        self.name = "aten"
        self.__name__ = "dlpy.ops.aten"
        self._packets: dict[str, OpOverloadPacket] = {}

    def __getattr__(self, op_name: str) -> OpOverloadPacket:
        if op_name.startswith("__") or op_name not in _BY_OP:
            raise AttributeError(f"'_OpNamespace' 'aten' object has no attribute '{op_name}'")
        packet = self._packets.get(op_name)
        if packet is None:
            packet = self._packets[op_name] = OpOverloadPacket(op_name, _BY_OP[op_name])
        return packet

    def __dir__(self) -> list[str]:
        return sorted(_BY_OP)

    def __repr__(self) -> str:
        return "<module 'dlpy.ops.aten' from 'dlpy.ops'>"


def _schemas_by_op() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text in SCHEMAS:
        name = text[len("aten::"):text.index("(")].partition(".")[0]
        out.setdefault(name, []).append(text)
    return out


_BY_OP = _schemas_by_op()
aten = _AtenNamespace()


def _packet_at(name: str) -> OpOverloadPacket:
    return getattr(aten, name)


def _overload_at(name: str, overload: str) -> OpOverload:
    return getattr(getattr(aten, name), overload)


# ------------------------------------------------------------- dlpy's ops as aten overloads
# dlpy's op class -> the aten overload torch's dispatcher runs for the same call, where there
# is one whatever the arguments (an element-wise op given a Python number is torch's
# ``.Tensor`` overload too: the number is wrapped)
_OP_CLASS_OVERLOADS = {
    **{kind: (kind.lower(), "default") for kind in (
        "Sin", "Cos", "Tan", "Sinh", "Cosh", "Asin", "Acos", "Atan", "Tanh", "Sigmoid", "Exp",
        "Expm1", "Log", "Log1p", "Abs", "Neg", "Sqrt", "Erf")},
    "ReLU": ("relu", "default"), "GELU": ("gelu", "default"), "SiLU": ("silu", "default"),
    "ELU": ("elu", "default"), "LeakyReLU": ("leaky_relu", "default"),
    "Softplus": ("softplus", "default"), "Maximum": ("maximum", "default"),
    "Add": ("add", "Tensor"), "Sub": ("sub", "Tensor"), "Mul": ("mul", "Tensor"),
    "Div": ("div", "Tensor"), "Power": ("pow", "Tensor_Scalar"), "Pow": ("pow", "Tensor_Tensor"),
    "Softmax": ("_softmax", "default"), "LogSoftmax": ("_log_softmax", "default"),
    "Expand": ("expand", "default"), "Cast": ("_to_copy", "default"),
}


def _ndim(value: Any) -> int:
    return len(value.shape) if isinstance(value, Tensor) else 0


def _matmul_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    a, b = (_ndim(x) for x in inputs[:2])
    if a == b == 2:
        return "mm", "default"
    if a == b == 3 and inputs[0].shape[0] == inputs[1].shape[0]:
        return "bmm", "default"
    if a == b == 1:
        return "dot", "default"
    if (a, b) == (2, 1):
        return "mv", "default"
    return None  # torch's matmul reshapes (views, then mm or bmm)


def _linear_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    if _ndim(inputs[0]) != 2:
        return None  # torch's linear views a batch as a matrix first
    return ("addmm", "default") if len(inputs) > 2 and inputs[2] is not None else ("mm",
                                                                                    "default")


def _reduction_overload(name: str) -> Callable:
    def overload(op: Any, inputs: tuple) -> tuple[str, str]:
        if getattr(op, "dim_given", True):
            return name, "dim_IntList" if name == "sum" else "dim"
        return name, "default"

    return overload


def _transpose_overload(op: Any, inputs: tuple) -> tuple[str, str] | None:
    return ("t", "default") if getattr(op, "node_name", None) == "TBackward0" else None


_OP_CLASS_RULES: dict[str, Callable] = {
    "MatMul": _matmul_overload, "Linear": _linear_overload, "Sum": _reduction_overload("sum"),
    "Mean": _reduction_overload("mean"), "Transpose": _transpose_overload,
}


def overload_of(op: Any, inputs: tuple = ()) -> OpOverload | None:
    """The aten overload (``dlpy.ops.aten.mm.default``) that torch runs for the call of dlpy's
    op ``op`` on ``inputs``: what torch's dispatch-level hooks (selective checkpointing's
    policy functions) see; None where dlpy's op has no single counterpart (torch's op
    decomposes, or the match depends on more than the op and its inputs' ranks)."""
    kind = type(op).__name__
    rule = _OP_CLASS_RULES.get(kind)
    found = rule(op, inputs) if rule is not None else _OP_CLASS_OVERLOADS.get(kind)
    return None if found is None else _overload_at(*found)
