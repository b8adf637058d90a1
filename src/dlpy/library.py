"""Custom operators, as ``torch.library``: a Python function becomes one op of dlpy, with its
own gradient, shape function (fake kernel), vmap rule, and a single node under ``dlpy.fx`` and
``dlpy.export``.

    import numpy as np
    from dlpy import Tensor, nn
    from dlpy.library import custom_op

    K = math.sqrt(2 / math.pi)               # gelu(x) ~ 0.5 x (1 + tanh(K (x + 0.044715 x^3)))

    @custom_op("mylib::gelu_mul", mutates_args=())
    def gelu_mul(x: Tensor, y: Tensor) -> Tensor:
        a = x.numpy()                        # one numpy pass; an array becomes a new Tensor
        return 0.5 * a * (1 + np.tanh(K * (a + 0.044715 * a * a * a))) * y.numpy()

    @gelu_mul.register_fake
    def _(x, y):
        return dlpy.empty_like(x)            # shapes and dtypes only, never values

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def backward(ctx, grad):                 # with dlpy ops: differentiable again
        x, y = ctx.saved_tensors
        t = dlpy.tanh(K * (x + 0.044715 * x * x * x))
        dgelu = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K * (1 + 3 * 0.044715 * x * x)
        return grad * y * dgelu, grad * 0.5 * x * (1 + t)

    gelu_mul.register_autograd(backward, setup_context=setup_context)

    class Block(nn.Module):                  # used like any function; trains as
        def forward(self, x):                # F.gelu(a, approximate="tanh") * b does
            return self.out(gelu_mul(self.a(x), self.b(x)))

``gelu_mul(x, y)`` and ``dlpy.ops.mylib.gelu_mul(x, y)`` (the ``OpOverloadPacket``;
``.default`` the ``OpOverload``) call the same op. The schema (``(Tensor x, Tensor y) ->
Tensor``) is inferred from the annotations and checks every call. A kernel returns new
tensors (or numpy arrays); one that returns an input or a view of it is an error, as torch's.

Differences from torch: there is no dispatcher, so no dispatch keys beyond those mapped here
(``Library.impl``: CPU, CompositeExplicitAutograd = the kernel; CompositeImplicitAutograd,
Autograd = a kernel differentiated by its dlpy ops; Meta = the fake); ``dlpy.compile`` runs
custom ops eagerly like everything else; ``register_autocast`` casts an op's floating
inputs inside CPU autocast blocks; ``register_torch_dispatch`` gives an op's behaviour under
a TorchDispatchMode class (or ``__torch_dispatch__`` subclass), and a custom op reaches the
modes entered as one call; no ``get_ctx`` (fake shapes are static); ``triton_op`` is
refused. Fake tensors are ordinary Tensors over a zero-strided array (shapes and dtypes of
torch's FakeTensor, values all zero), used by ``opcheck`` and by ``dlpy.export``
(``node.meta["val"]``).
Bad arguments raise OpCallError, a TypeError and (as torch's) a RuntimeError.
"""

from __future__ import annotations

import contextlib
import copy
import enum
import functools
import inspect
import operator
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from dlpy.autograd_function import Function
from dlpy.ops import ArgError
from dlpy.tensor import Tensor, increment_version, is_grad_enabled, no_grad

__all__ = ["CustomOpDef", "FunctionSchema", "Library", "OpCheckError", "OpOverload",
           "OpOverloadPacket", "custom_op", "define", "fake_tensor", "get_ctx", "impl",
           "impl_abstract", "infer_schema", "opcheck", "register_autocast", "register_autograd",
           "register_fake", "register_kernel", "register_torch_dispatch", "register_vmap",
           "triton_op", "wrap_triton"]

_NO_DEFAULT = object()


class OpCallError(TypeError, RuntimeError):
    """Arguments that do not fit an op's schema (missing, extra, of the wrong type): a
    TypeError, and a RuntimeError as torch's."""


class _NotAnIterableError(ValueError, TypeError):
    """A value of the wrong kind where torch iterates or parses it (mutates_args=None, a
    namespace that is not a string): a ValueError, and a TypeError as torch's."""


class _NoSuchOpError(ValueError, RuntimeError, AttributeError):
    """A name 'ns::foo' that names no op: a ValueError, and torch's RuntimeError
    ("operator does not exist") or AttributeError (torch.ops' lookup), by API."""


class _NotAnOpError(TypeError, ValueError):
    """An object that is not an op where one is expected: a TypeError, and a ValueError as
    torch's opcheck."""


class _KernelReturnsError(RuntimeError, TypeError):
    """A kernel that returns a value where the schema has several: a RuntimeError, and a
    TypeError as torch's ("not an instance of 'sequence'")."""


_BASE_TYPES = ("Tensor", "SymInt", "int", "float", "bool", "str", "Scalar", "ScalarType",
               "Device")


# ---------------------------------------------------------------------------- schema
class _Argument:
    """One argument of a schema: ``Tensor(a0!)? name=None``."""

    def __init__(self, name: str, base: str, is_list: bool = False, optional: bool = False,
                 default: Any = _NO_DEFAULT, kwarg_only: bool = False,
                 alias: str | None = None, list_size: str = ""):
        self.name, self.base, self.is_list, self.optional = name, base, is_list, optional
        self.default, self.kwarg_only, self.alias = default, kwarg_only, alias
        self.list_size = list_size  # int[2]: the "2" a schema string gave, kept for printing

    @property
    def mutable(self) -> bool:
        return self.alias is not None and self.alias.endswith("!")

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def type_str(self, alias: bool = True) -> str:
        shown = f"({self.alias})" if self.alias and alias else ""
        brackets = f"[{self.list_size}]" if self.is_list else ""
        return f"{self.base}{shown}{brackets}{'?' if self.optional else ''}"

    @property
    def has_tensors(self) -> bool:
        return self.base == "Tensor"

    def __str__(self) -> str:
        text = f"{self.type_str()} {self.name}"
        return text + (f"={_default_str(self.default)}" if self.has_default else "")


def _default_str(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_default_str(v) for v in value) + "]"
    return repr(value)


class FunctionSchema:
    """A parsed schema, printed as torch prints it: ``mylib::foo(Tensor x, *, float a=1.0)
    -> Tensor``; ``returns`` are (base, is_list) pairs, ``return_texts`` the returns as a
    schema string gave them (``Tensor(a!)``, ``Tensor values``), ``aliased_returns`` the
    indices of those that alias an input (``Tensor(a!)``, an out= op's)."""

    def __init__(self, name: str, overload_name: str, arguments: list[_Argument],
                 returns: list[tuple[str, bool]], return_texts: list[str] | None = None,
                 aliased_returns: Iterable[int] = ()):
        self.name, self.overload_name = name, overload_name
        self.arguments, self.returns = arguments, returns
        self.return_texts = return_texts or [f"{base}{'[]' if is_list else ''}"
                                             for base, is_list in returns]
        self.aliased_returns = set(aliased_returns)
        # keyword-only arguments come last in a schema (after '*')
        self.positional = [a for a in arguments if not a.kwarg_only]
        self.keyword_only = [a for a in arguments if a.kwarg_only]
        self.by_name = {a.name: a for a in arguments}
        self.mutated = [(i, a) for i, a in enumerate(arguments) if a.mutable]

    def arguments_str(self) -> str:
        parts, starred = [], False
        for a in self.arguments:
            if a.kwarg_only and not starred:
                parts.append("*")
                starred = True
            parts.append(str(a))
        returns = self.return_texts
        shown = returns[0] if len(returns) == 1 else "(" + ", ".join(returns) + ")"
        return f"({', '.join(parts)}) -> {shown}"

    def __str__(self) -> str:
        overload = f".{self.overload_name}" if self.overload_name else ""
        return f"{self.name}{overload}{self.arguments_str()}"

    __repr__ = __str__

    @property
    def is_mutable(self) -> bool:
        return any(a.mutable for a in self.arguments)


def _top_level(text: str, char: str) -> list[int]:
    """The positions of ``char`` in ``text`` outside brackets and quotes."""
    found, depth, quote = [], 0, None
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == char and depth == 0:
            found.append(i)
    return found


def _split_top(text: str) -> list[str]:
    """``text`` split at commas outside brackets and quotes."""
    parts, start = [], 0
    for i in _top_level(text, ","):
        parts.append(text[start:i].strip())
        start = i + 1
    last = text[start:].strip()
    return parts + [last] if last else parts


_TYPE = re.compile(r"^(\w+)(?:\((\w+!?)\))?(\[\d*\])?(\?)?$")


def _parse_type(text: str, where: str) -> tuple[str, str | None, bool, bool]:
    """(base, alias, is_list, optional) of ``Tensor(a!)[]?``; a list's size (``int[2]``)
    is ``_list_size(text)``."""
    match = _TYPE.match(text)
    if match is None or match.group(1) not in _BASE_TYPES:
        raise ArgError(f"{where}: unsupported type {text!r} (dlpy's schemas take "
                       f"{', '.join(_BASE_TYPES)}, as lists T[] and optionals T?)")
    return match.group(1), match.group(2), match.group(3) is not None, bool(match.group(4))


def _list_size(text: str) -> str:
    match = _TYPE.match(text)
    return match.group(3)[1:-1] if match and match.group(3) else ""


def _parse_default(text: str, where: str) -> Any:
    text = text.strip()
    if text in ("None", "True", "False"):
        return {"None": None, "True": True, "False": False}[text]
    if text[:1] in "\"'" and text[-1:] == text[:1]:
        return text[1:-1]
    if text.startswith("[") and text.endswith("]"):
        return [_parse_default(t, where) for t in _split_top(text[1:-1])]
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise ArgError(f"{where}: cannot read the default value {text!r}") from None


def parse_schema(text: str, name: str = "", overload_name: str = "") -> FunctionSchema:
    """A schema string, with or without the op's name: ``"(Tensor x, int n=2) -> Tensor"``
    or ``"foo.out(Tensor x) -> Tensor"``."""
    where = f"schema {text!r}"
    if not isinstance(text, str):
        raise TypeError(f"schema: expected a string, got {type(text).__name__}")
    match = re.match(r"^\s*([\w:]*)(?:\.(\w+))?\s*\((.*)\)\s*->\s*(.+?)\s*$", text, re.S)
    if match is None:
        raise ArgError(f"{where}: expected 'name(Type arg, ...) -> Returns' or "
                       f"'(Type arg, ...) -> Returns'")
    name = name or match.group(1)
    overload_name = overload_name or (match.group(2) or "")
    arguments: list[_Argument] = []
    kwarg_only = False
    for part in _split_top(match.group(3)):
        if part == "*":
            kwarg_only = True
            continue
        declaration, _, default = part.partition("=")
        pieces = declaration.split()
        if len(pieces) != 2 or not pieces[1].isidentifier():
            raise ArgError(f"{where}: cannot read the argument {part!r} (expected 'Type "
                           f"name' or 'Type name=default')")
        base, alias, is_list, optional = _parse_type(pieces[0], where)
        arguments.append(_Argument(pieces[1], base, is_list, optional,
                                   _parse_default(default, where) if _ else _NO_DEFAULT,
                                   kwarg_only, alias, _list_size(pieces[0])))
    if len({a.name for a in arguments}) != len(arguments):
        raise ArgError(f"{where}: two arguments have the same name")
    returns_text = match.group(4).strip()
    if returns_text.startswith("(") and returns_text.endswith(")"):
        returns_text = returns_text[1:-1]
    returns, texts, aliased = [], [], []
    for k, part in enumerate(_split_top(returns_text)):
        pieces = part.split()
        base, alias, is_list, optional = _parse_type(pieces[0], where)
        if optional or len(pieces) > 2 or len(pieces) == 2 and not pieces[1].isidentifier():
            raise ArgError(f"{where}: cannot read the return {part!r} (expected 'Type', "
                           f"'Type name' or 'Tensor(a!)'; no optionals)")
        if alias is not None:
            aliased.append(k)
        returns.append((base, is_list))
        texts.append(" ".join(pieces))
    return FunctionSchema(name, overload_name, arguments, returns, texts, aliased)


# ---------------------------------------------------------------------------- infer_schema
def _annotation_type(annotation: Any) -> tuple[str, bool, bool] | None:
    """(base, is_list, optional) of a type annotation, None if unsupported."""
    from dlpy.device import device

    optional = False
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = tuple(a for a in args if a is not type(None))
        optional = True
        annotation = functools.reduce(operator.or_, rest)
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    is_list = False
    if origin in (list, typing.List, Sequence, typing.Sequence) and len(args) == 1:  # noqa: UP006
        is_list, annotation = True, args[0]
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and set(args) == {int, float, bool}:
        return "Scalar", is_list, optional
    if isinstance(annotation, type) and issubclass(annotation, Tensor):
        base = "Tensor"
    elif annotation is getattr(sys.modules.get("dlpy"), "dtype", np.dtype):  # torch.dtype
        base = "ScalarType"
    else:
        base = {int: "SymInt", float: "float", bool: "bool", str: "str", np.dtype: "ScalarType",
                device: "Device"}.get(annotation)
    if base is None or (is_list and base in ("str", "ScalarType", "Device")):
        return None
    return base, is_list, optional


def _return_types(annotation: Any, fail: Callable) -> list[tuple[str, bool]]:
    if annotation is None or annotation is type(None):
        return []
    if typing.get_origin(annotation) is tuple:
        return [r for a in typing.get_args(annotation) for r in _return_types(a, fail)]
    found = _annotation_type(annotation)
    if found is None or found[2] or (found[1] and found[0] != "Tensor") \
            or found[0] not in ("Tensor", "SymInt", "float", "bool", "Scalar"):
        fail(f"Return has unsupported type {annotation}. The valid types are: Tensor, "
             f"list[Tensor], int, float, bool, Number, tuples of them and None.")
    return [(found[0], found[1])]


def infer_schema(prototype_function: Callable, /, *, mutates_args: str | Iterable[str],
                 op_name: str | None = None) -> str:
    """The schema string of a function from its type annotations, as torch's:
    ``(Tensor x, SymInt n, float a=1.0) -> Tensor``; mutated Tensors get ``(a0!)``."""
    signature = inspect.signature(prototype_function)

    def fail(what: str):
        raise ValueError(f"infer_schema(func): {what} Got func with signature {signature})")

    try:
        hints = typing.get_type_hints(prototype_function)
    except Exception as error:  # an annotation naming something the module cannot see
        raise ValueError(f"infer_schema(func): cannot evaluate the type annotations of "
                         f"{getattr(prototype_function, '__qualname__', prototype_function)}: "
                         f"{error}") from None
    if mutates_args != "unknown":
        if isinstance(mutates_args, str) or not isinstance(mutates_args, Iterable):
            raise _NotAnIterableError(f"infer_schema: mutates_args must be an iterable of argument "
                             f"names or 'unknown', got {mutates_args!r}")
        mutates_args = set(mutates_args)
    parts, starred, index = [], False, 0
    for param in signature.parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            fail(f"Parameter {param.name} is *args or **kwargs; custom ops take named "
                 f"parameters only.")
        if param.name not in hints:
            fail(f"Parameter {param.name} must have a type annotation.")
        found = _annotation_type(hints[param.name])
        if found is None:
            fail(f"Parameter {param.name} has unsupported type {hints[param.name]}. The valid "
                 f"types are: Tensor, int, float, bool, str, Number (int | float | bool), "
                 f"numpy.dtype, dlpy.device, list[...] of Tensor/int/float/bool/Number and "
                 f"Optional of any of them.")
        base, is_list, optional = found
        if param.kind == param.KEYWORD_ONLY and not starred:
            parts.append("*")
            starred = True
        mutated = mutates_args == "unknown" or param.name in mutates_args
        alias = None
        if base == "Tensor" and mutated:
            alias = f"a{index}!"
        elif mutated and mutates_args != "unknown":
            fail(f"Parameter {param.name} is in mutable_args but only Tensors or collections "
                 f"of Tensors can be mutated")
        text = f"{base}{f'({alias})' if alias else ''}{'[]' if is_list else ''}" \
            f"{'?' if optional else ''} {param.name}"
        if param.default is not param.empty:
            default = param.default
            if default is not None and not isinstance(default, (bool, int, float, str)):
                fail(f"Parameter {param.name} has an unsupported default value type "
                     f"{type(default)}.")
            text += f"={_default_str(default)}"
        parts.append(text)
        index += 1
    if mutates_args != "unknown":
        missing = mutates_args - set(signature.parameters)
        if missing:
            fail(f"{missing} in mutates_args were not found in the custom op's signature. "
                 f"mutates_args should contain the names of all args that the custom op "
                 f"mutates, or just the string 'unknown' if you don't know.")
    if signature.return_annotation is inspect.Signature.empty:
        fail("No return type annotation was provided. Please add one.")
    returns = _return_types(hints.get("return", None), fail)
    shown = [f"{b}{'[]' if lst else ''}" for b, lst in returns]
    result = f"({', '.join(parts)}) -> " + (shown[0] if len(shown) == 1
                                           else "(" + ", ".join(shown) + ")")
    return f"{op_name}{result}" if op_name else result


# ---------------------------------------------------------------------------- values
def _proxy_type() -> type | None:
    module = sys.modules.get("dlpy.fx._symbolic_trace")
    return None if module is None else module.Proxy


def _accepts(base: str, value: Any) -> bool:
    if base == "Tensor":
        return isinstance(value, Tensor)
    if base in ("SymInt", "int"):
        return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if base == "float":
        return isinstance(value, (int, float, np.integer, np.floating)) \
            and not isinstance(value, (bool, np.bool_))
    if base == "bool":
        return isinstance(value, (bool, np.bool_))
    if base == "str":
        return isinstance(value, str)
    if base == "Scalar":
        return isinstance(value, (int, float, bool, np.number, np.bool_))
    if base == "ScalarType":
        try:
            np.dtype(value)
            return not isinstance(value, str) or value.isidentifier()
        except TypeError:
            return False
    if base == "Device":
        from dlpy.device import device

        return isinstance(value, (str, device))
    return False


def _converted(base: str, value: Any) -> Any:
    """``value`` as an argument of type ``base`` (not a list), converted as torch converts
    it (a bool or one-element Tensor for an int, ...); _NO_DEFAULT if it does not fit."""
    if base in ("SymInt", "int", "float", "bool"):
        if isinstance(value, Tensor):
            if value.numel() != 1:
                return _NO_DEFAULT
            value = _array(value).reshape(()).item()
        kinds = {"SymInt": (bool, int, np.bool_, np.integer),
                 "int": (bool, int, np.bool_, np.integer),
                 "float": (bool, int, float, np.bool_, np.number),
                 "bool": (bool, int, float, np.bool_, np.number)}[base]
        if not isinstance(value, kinds) or isinstance(value, complex):
            return _NO_DEFAULT
        return {"SymInt": int, "int": int, "float": float, "bool": bool}[base](value)
    return value if _accepts(base, value) else _NO_DEFAULT


def _type_name(value: Any) -> str:
    if isinstance(value, Tensor):
        return "Tensor"
    if isinstance(value, (list, tuple)):
        inner = sorted({_type_name(v) for v in value})
        return f"List[{inner[0] if len(inner) == 1 else 'Any'}]" if inner else "List"
    return type(value).__name__


def _tensors_of(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Tensor)]
    return []


def _array(t: Tensor) -> np.ndarray:
    while hasattr(t, "value") and not isinstance(t.data, np.ndarray):  # a vmap BatchedTensor
        t = t.value
    return t.data


# ---------------------------------------------------------------------------- fake tensors
def fake_tensor(shape: Sequence[int], dtype) -> Tensor:
    """A stand-in for a tensor of ``shape`` and ``dtype`` that holds no memory: a Tensor over
    a zero-strided array of zeros (what a fake kernel gets, as torch's FakeTensor)."""
    return Tensor(np.broadcast_to(np.zeros((), dtype=np.dtype(dtype)), tuple(shape)))


def _to_fake(value: Any) -> Any:
    if isinstance(value, Tensor):
        return fake_tensor(value.shape, value.dtype)
    if isinstance(value, (list, tuple)):
        return type(value)(_to_fake(v) for v in value)
    return value


def _clone(value: Any, requires_grad: bool | None = None) -> Any:
    if isinstance(value, Tensor):
        grad = value.requires_grad if requires_grad is None else \
            requires_grad and value.dtype.kind == "f"
        return Tensor(np.array(value.data, copy=True), requires_grad=grad)
    if isinstance(value, (list, tuple)):
        return type(value)(_clone(v, requires_grad) for v in value)
    return value


def _outputs_list(result: Any) -> list:
    return list(result) if isinstance(result, (tuple, list)) else [result]


# ---------------------------------------------------------------------------- registry
_CHECKING_ALIASES = [False]  # True while opcheck's test_schema runs an op
_PACKETS: dict[str, OpOverloadPacket] = {}  # "mylib::foo" -> its packet
_NAMESPACES: dict[str, _OpNamespace] = {}
_DEF_LIBRARIES: dict[str, Library] = {}  # namespace -> its "DEF" Library
OPDEFS: dict[str, CustomOpDef] = {}  # "mylib::foo" -> the CustomOpDef that made it


class _OpNamespace:
    """``dlpy.ops.mylib``: the ops defined in namespace ``mylib``, as attributes."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, op_name: str) -> OpOverloadPacket:
        packet = _PACKETS.get(f"{self.name}::{op_name}")
        if packet is None or op_name.startswith("__"):
            raise AttributeError(f"'_OpNamespace' '{self.name}' object has no attribute "
                                 f"'{op_name}' (no op {self.name}::{op_name} is defined: "
                                 f"dlpy.library.custom_op or Library.define makes one)")
        return packet

    def __dir__(self) -> list[str]:
        return sorted(k.split("::")[1] for k in _PACKETS if k.split("::")[0] == self.name)

    def __repr__(self) -> str:
        return f"dlpy.ops.{self.name}"


def namespace(name: str) -> _OpNamespace:
    """``dlpy.ops.<name>`` (what ``dlpy.ops.__getattr__`` calls): an AttributeError for a
    namespace with no ops."""
    if name.startswith("__") or not any(k.split("::")[0] == name for k in _PACKETS):
        raise AttributeError(f"module 'dlpy.ops' has no attribute {name!r} (nor is it a "
                             f"namespace of custom ops)")
    return _NAMESPACES.setdefault(name, _OpNamespace(name))


def _qualname_parts(qualname: str, where: str) -> tuple[str, str]:
    if not isinstance(qualname, str) or qualname.count("::") != 1:
        raise ValueError(f"{where}: expected a name 'namespace::name', got {qualname!r}")
    ns, name = qualname.split("::")
    if not ns.isidentifier() or not name.isidentifier():
        raise ArgError(f"{where}: the namespace and name of {qualname!r} must be Python "
                         f"identifiers")
    return ns, name


def _lookup(op: Any, where: str) -> OpOverload:
    """The OpOverload meant by ``op``: a CustomOpDef, a packet (its default), an overload or
    a name 'mylib::foo' / 'mylib::foo.overload'."""
    if isinstance(op, CustomOpDef):
        return op._opoverload
    if isinstance(op, OpOverload):
        return op
    if isinstance(op, OpOverloadPacket):
        return op._only(where)
    if isinstance(op, str):
        name, _, overload = op.partition(".")
        overload = "" if overload == "default" else overload
        packet = _PACKETS.get(name)
        if packet is None:
            _qualname_parts(name, where)
            raise _NoSuchOpError(f"{where}: no op named {name!r} is defined (define it first: "
                             f"dlpy.library.custom_op, define or Library.define)")
        return packet._overloads[overload] if overload in packet._overloads \
            else packet._only(where) if not overload else packet._missing(overload)
    raise _NotAnOpError(f"{where}: expected an op (CustomOpDef, OpOverload, packet) or its "
                        f"name 'namespace::name', got {type(op).__name__}")


def custom_op_at(path: str) -> tuple[OpOverload | None, str]:
    """The op that ``dlpy.ops.mylib.foo.default`` (a saved graph's target) names, or None if
    it is not registered in this process; and its name 'mylib::foo.default'."""
    atoms = path.split(".")
    if len(atoms) != 5 or atoms[:2] != ["dlpy", "ops"]:
        return None, path
    qualname = f"{atoms[2]}::{atoms[3]}"
    packet = _PACKETS.get(qualname)
    shown = f"{qualname}.{atoms[4]}"
    if packet is None:
        return None, shown
    return packet._overloads.get("" if atoms[4] == "default" else atoms[4]), shown


def _registered(path: str) -> OpOverload:
    op, name = custom_op_at(path)
    if op is None:
        raise RuntimeError(f"the custom op {name} is not registered in this process: import "
                           f"the module that defines it first")
    return op


# ---------------------------------------------------------------------------- OpOverload
class OpOverloadPacket:
    """``dlpy.ops.mylib.foo``: the overloads of one op (``.default``, ``.out``, ...); calling
    it calls the default overload (or the only one)."""

    def __init__(self, qualname: str):
        self._qualified_op_name = qualname
        self._namespace, self.__name__ = qualname.split("::")
        self._overloads: dict[str, OpOverload] = {}

    def __getattr__(self, key: str) -> OpOverload:
        if key.startswith("__"):
            raise AttributeError(key)
        overload = self._overloads.get("" if key == "default" else key)
        if overload is None:
            self._missing(key)
        return overload

    def _missing(self, key: str):
        raise AttributeError(f"The underlying op of '{self}' has no overload name '{key}' "
                             f"(overloads: {self.overloads()})")

    def _only(self, where: str) -> OpOverload:
        if "" in self._overloads:
            return self._overloads[""]
        if len(self._overloads) == 1:
            return next(iter(self._overloads.values()))
        raise ValueError(f"{where}: {self._qualified_op_name} has overloads "
                         f"{self.overloads()} and no default; name one ('{self}.out')")

    def overloads(self) -> list[str]:
        return [k or "default" for k in self._overloads]

    def __call__(self, *args, **kwargs):
        return self._only(self._qualified_op_name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{self._namespace}.{self.__name__}"

    __str__ = __repr__


class VmapInfo:
    """What a vmap rule gets first: ``batch_size`` and ``randomness``, as torch's."""

    def __init__(self, batch_size: int, randomness: str = "error"):
        self.batch_size, self.randomness = batch_size, randomness


class OpOverload:
    """One op of one schema (``dlpy.ops.mylib.foo.default``), with everything registered
    for it: kernels per device type, the fake kernel, the autograd formula, the vmap rule."""

    _is_custom_op = True  # what dlpy.fx and dlpy.export look for (a class attribute)

    def __init__(self, schema: FunctionSchema):
        self._schema = schema
        self._namespace, self._opname = schema.name.split("::")
        self._overloadname = schema.overload_name or "default"
        self.__name__ = f"{self._opname}.{self._overloadname}"  # fx's node: foo_default
        self._path = f"dlpy.ops.{self._namespace}.{self._opname}.{self._overloadname}"
        self._kernels: dict[str | None, Callable] = {}  # device type (None: any) -> kernel
        self._composite: Callable | None = None  # CompositeImplicitAutograd: dlpy ops record
        self._fake: Callable | None = None
        self._backward: Callable | None = None
        self._setup_context: Callable | None = None
        self._vmap: Callable | None = None
        self._autocast: dict[str, Any] = {}  # device type -> cast_inputs (register_autocast)
        self._function: type[Function] | None = None
        self._defined_by_custom_op = False

    def __deepcopy__(self, memo) -> OpOverload:
        return self  # one registered op: copies of a graph call the same one

    def __reduce__(self):
        return _registered, (self._path,)  # pickled by name: the op of the loading process

    def name(self) -> str:
        overload = "" if self._overloadname == "default" else f".{self._overloadname}"
        return f"{self._namespace}::{self._opname}{overload}"

    def __repr__(self) -> str:
        return f"{self._namespace}.{self._opname}.{self._overloadname}"

    __str__ = __repr__

    # ---------------------------------------------------------------- arguments
    def _bind(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """(positional values, keyword-only values) with defaults filled, every value checked
        against the schema (a fx Proxy passes anywhere) and converted as torch converts it:
        a bool or a one-element Tensor for an int, an int, bool or one-element Tensor for a
        float, a number or one-element Tensor for a bool."""
        schema, proxy = self._schema, _proxy_type()
        positional = schema.positional
        if len(args) > len(positional):
            raise OpCallError(f"{self.name()}() expected at most {len(positional)} "
                              f"argument(s) but received {len(args)} argument(s). "
                              f"Declaration: {schema}")
        if kwargs or len(args) < len(positional):
            for key in kwargs:
                if key not in schema.by_name:
                    raise OpCallError(f"{self.name()}() got an unexpected keyword "
                                      f"argument '{key}'. Declaration: {schema}")
                if schema.by_name[key] in positional[:len(args)]:
                    raise OpCallError(f"{self.name()}() got multiple values for "
                                      f"argument '{key}'. Declaration: {schema}")
            args = args + tuple(self._given(a, kwargs) for a in positional[len(args):])
        kw = {a.name: self._given(a, kwargs) for a in schema.keyword_only}
        if any(a.is_list for a in schema.arguments):
            args = tuple(list(v) if a.is_list and isinstance(v, tuple) else v
                         for a, v in zip(positional, args))
            kw = {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}
        values = list(args + tuple(kw.values()))
        for k, (arg, value) in enumerate(zip(schema.arguments, values)):
            if value is None:
                ok = arg.optional
            elif arg.is_list:
                ok = isinstance(value, list) and all(
                    _accepts(arg.base, v) or proxy is not None and isinstance(v, proxy)
                    for v in value)
            elif proxy is not None and isinstance(value, proxy):
                ok = True
            else:
                converted = _converted(arg.base, value)
                ok = converted is not _NO_DEFAULT
                values[k] = converted
            if not ok:
                raise OpCallError(f"{self.name()}() Expected a value of type "
                                  f"'{arg.type_str(alias=False)}' for argument '{arg.name}' "
                                  f"but instead found type '{_type_name(value)}'. Value: "
                                  f"{value!r:.60}. Declaration: {schema}")
        args = tuple(values[:len(args)])
        kw = dict(zip(kw, values[len(args):]))
        return args, kw

    def _given(self, arg: _Argument, kwargs: dict) -> Any:
        if arg.name in kwargs:
            return kwargs[arg.name]
        if not arg.has_default:
            raise OpCallError(f"{self.name()}() is missing value for argument "
                              f"'{arg.name}'. Declaration: {self._schema}")
        return copy.copy(arg.default)

    # ---------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        args, kwargs = self._bind(args, kwargs)
        proxy = _find_proxy(args, kwargs)
        if proxy is not None:  # dlpy.fx tracing: one call_function node, this op
            return proxy.tracer.create_proxy("call_function", self, args, kwargs)
        batching = sys.modules.get("dlpy.func_batching")
        if batching is not None and batching._sizes:
            level = max((getattr(t, "level", 0) for t in _flat_tensors(args, kwargs)
                         if type(t) is batching.BatchedTensor), default=0)
            if level:
                return self._batched(batching, level, args, kwargs)
        if self._autocast:
            cast = self._autocast_call(args, kwargs)
            if cast is not None:
                return cast
        dispatching = sys.modules.get("dlpy.aten")
        if dispatching is not None and dispatching._dispatcher is not None:  # modes about
            from dlpy.utils._python_dispatch import custom_op_call

            return custom_op_call(self, args, kwargs)
        return self._dispatch(args, kwargs)

    def _autocast_call(self, args: tuple, kwargs: dict):
        """The call under an enabled CPU autocast when ``register_autocast`` gave the op a
        rule for "cpu" (None otherwise): floating tensor arguments other than float64 (in
        lists too) cast to ``cast_inputs``, the op run with autocast off, as torch's."""
        from dlpy.amp import state

        dtype = self._autocast.get("cpu")
        if dtype is None or not state.active or not state.thread_state().enabled:
            return None
        from dlpy.amp.autocast_mode import autocast

        target, thread = np.dtype(dtype), state.thread_state()

        def cast(value):
            if isinstance(value, (list, tuple)):
                return type(value)(cast(v) for v in value)
            return state._cast_to(value, target, thread)

        args = tuple(cast(a) for a in args)
        kwargs = {k: cast(v) for k, v in kwargs.items()}
        with autocast("cpu", enabled=False):
            return self._dispatch(args, kwargs)

    def _kernel(self) -> tuple[Callable, bool]:
        """(the kernel, whether it is a composite recorded by its dlpy ops)."""
        kernel = self._kernels.get("cpu", self._kernels.get(None))
        if kernel is not None:
            return kernel, False
        if self._composite is not None:
            return self._composite, True
        raise NotImplementedError(f"Could not run '{self.name()}' with arguments from the 'CPU' "
                                  f"backend: no kernel is registered for device type 'cpu' "
                                  f"(dlpy.library.register_kernel, impl or Library.impl)")

    def _dispatch(self, args: tuple, kwargs: dict):
        kernel, composite = self._kernel()
        if composite:
            return self._checked(kernel(*args, **kwargs), args, kwargs, aliasing=False)
        tensors = _flat_tensors(args, ())
        if is_grad_enabled() and any(t.requires_grad for t in tensors) \
                and any(base == "Tensor" for base, _ in self._schema.returns):
            call = _Call(self, args, kwargs)
            result = self._autograd_function().apply(call, *call.flat)
            return list(result) if call.returns_list else result
        with no_grad():
            return self._run(kernel, args, kwargs)

    def _run(self, kernel: Callable, args: tuple, kwargs: dict):
        result = self._checked(kernel(*args, **kwargs), args, kwargs)
        for i, arg in self._schema.mutated:
            for t in _tensors_of(kwargs[arg.name] if arg.kwarg_only else args[i]):
                increment_version(t)
        return result

    def _checked(self, result: Any, args: tuple, kwargs: dict, aliasing: bool | None = None):
        """The kernel's result as the schema's returns (numpy arrays become Tensors); an
        output that is an input or shares its memory is an error, as torch's for an op of
        custom_op (``aliasing`` None) and under opcheck; an op of Library.define, or one
        whose schema says its outputs alias (``Tensor(a!)``), may return its inputs."""
        if aliasing is None:
            aliasing = (self._defined_by_custom_op or _CHECKING_ALIASES[0]) \
                and not self._schema.aliased_returns
        returns = self._schema.returns
        if returns == [("Tensor", False)] and isinstance(result, (Tensor, np.ndarray)):
            out = Tensor(result) if isinstance(result, np.ndarray) else result  # the usual case
            if aliasing:
                for t in _flat_tensors(args, kwargs):
                    if out is t or np.may_share_memory(_array(out), _array(t)):
                        self._aliasing_error()
            return out
        if not returns:
            if result is not None:
                raise RuntimeError(f"{self.name()}: the schema returns nothing but the kernel "
                                   f"returned a {type(result).__name__} ({self._schema})")
            return None
        items = [result] if len(returns) == 1 else result
        if len(returns) > 1 and (not isinstance(result, (tuple, list))
                                 or len(result) != len(returns)):
            raise _KernelReturnsError(f"{self.name()}: the kernel returned "
                                      f"{_type_name(result)}, the schema {len(returns)} "
                                      f"values ({self._schema})")
        out = []
        for (base, is_list), item in zip(returns, items):
            if is_list:
                if not isinstance(item, (list, tuple)):
                    raise RuntimeError(f"{self.name()}: expected the kernel to return a list "
                                       f"of Tensors, got {_type_name(item)}")
                item = [Tensor(v) if isinstance(v, np.ndarray) else v for v in item]
            elif isinstance(item, np.ndarray) and base == "Tensor":
                item = Tensor(item)
            if not all(_accepts(base, v) for v in (item if is_list else [item])):
                raise RuntimeError(f"{self.name()}: the kernel returned {_type_name(item)} "
                                   f"where the schema ({self._schema}) returns "
                                   f"{base}{'[]' if is_list else ''}")
            out.append(item)
        if aliasing:
            inputs = _flat_tensors(args, kwargs)
            outputs = [t for item in out for t in _tensors_of(item)]
            for k, o in enumerate(outputs):
                others = inputs + outputs[:k]
                if any(o is t or np.may_share_memory(_array(o), _array(t)) for t in others):
                    self._aliasing_error()
        return out[0] if len(returns) == 1 else tuple(out)

    def _aliasing_error(self):
        raise RuntimeError(f"{self.name()}: The output of this custom operator (1) must not "
                           f"also be an input to this custom operator and (2) may not alias "
                           f"any inputs to this custom operator or other returns. The most "
                           f"common way to trigger this error is if we have y = custom_op(x) "
                           f"and y and x are the same Tensor. Please instead return a clone of "
                           f"the offending output tensor(s) (e.g. return x.clone()) or "
                           f"refactor the custom operator to not return y.")

    # ---------------------------------------------------------------- autograd
    def _autograd_function(self) -> type[Function]:
        """The Function that records one call: forward runs the kernel, backward the
        registered formula (or torch's error when there is none)."""
        if self._function is None:
            overload = self

            def forward(ctx, call, *flat):
                args, kwargs = call.rebuild(flat)
                with no_grad():
                    result = overload._run(overload._kernel()[0], args, kwargs)
                ctx.needs_input_grad = call.needs_input_grad(flat)
                ctx._custom_call = call
                if overload._setup_context is not None:
                    if kwargs:
                        overload._setup_context(ctx=ctx, inputs=args, keyword_only_inputs=kwargs,
                                                output=result)
                    else:
                        overload._setup_context(ctx=ctx, inputs=args, output=result)
                return tuple(result) if isinstance(result, list) else result

            def backward(ctx, *grads):
                if overload._backward is None:
                    raise RuntimeError(f"Trying to backward through {overload} but no autograd "
                                       f"formula was registered. Please use register_autograd "
                                       f"to add one.")
                call = ctx._custom_call
                if call.returns_list:
                    grads = (list(grads),)
                result = overload._backward(ctx, *grads)
                return (None, *call.flat_grads(result))

            name = f"GeneratedBackwardFor_{self._namespace}_{self._opname}_{self._overloadname}"
            # (_any_transform: the op's own vmap rule and fallback serve under dlpy.func)
            self._function = type(name, (Function,), {"forward": staticmethod(forward),
                                                      "backward": staticmethod(backward),
                                                      "_any_transform": True,
                                                      "__module__": __name__})
        return self._function

    # ---------------------------------------------------------------- vmap
    def _batched(self, batching, level: int, args: tuple, kwargs: dict):
        """Under dlpy.func.vmap: the registered rule on the whole batch, or (no rule, or a
        batched keyword-only argument) the op once per sample, stacked (as torch's
        fallback)."""
        size, randomness = batching._sizes[level - 1], batching._randomness[level - 1]

        def physical(v):
            if type(v) is batching.BatchedTensor and v.level == level:
                return v.value, 0
            return v, None

        kw_batched = any(type(t) is batching.BatchedTensor and t.level == level
                         for t in _flat_tensors((), kwargs))
        if self._vmap is not None and not kw_batched:
            values, in_dims = [], []
            for v in args:
                if isinstance(v, list):
                    pairs = [physical(t) for t in v]
                    values.append([p[0] for p in pairs])
                    in_dims.append([p[1] for p in pairs])
                else:
                    value, dim = physical(v)
                    values.append(value)
                    in_dims.append(dim)
            result = self._vmap(VmapInfo(size, randomness), tuple(in_dims), *values, **kwargs)
            if not isinstance(result, tuple) or len(result) != 2:
                raise RuntimeError(f"{self.name()}: the vmap rule must return (output, "
                                   f"out_dims), got {_type_name(result)}")
            output, out_dims = result
            return self._rebatched(batching, level, size, output, out_dims)
        batching.stats["op_loops"][self.name()] = batching.stats["op_loops"].get(
            self.name(), 0) + 1
        from dlpy.ops.shape import GetItem

        def sample(v, i):
            if type(v) is batching.BatchedTensor and v.level == level:
                return GetItem(i)(v.value)
            if isinstance(v, list):
                return [sample(t, i) for t in v]
            return v

        # each sample through __call__: a lower vmap level may still batch it
        results = [self(*(sample(v, i) for v in args),
                        **{k: sample(v, i) for k, v in kwargs.items()}) for i in range(size)]
        return self._stacked(batching, level, results)

    def _rebatched(self, batching, level: int, size: int, output, out_dims):
        import dlpy

        def one(t, dim):
            if not isinstance(t, Tensor):
                raise RuntimeError(f"{self.name()}: the vmap rule returned "
                                   f"{_type_name(t)} where a Tensor was expected")
            if dim is None:
                t = batching._insert_axis(t, 0, size)
            elif dim != 0:
                t = dlpy.movedim(t, dim, 0)
            return batching.wrap(t, level)

        if isinstance(output, (tuple, list)):
            dims = out_dims if isinstance(out_dims, (tuple, list)) else [out_dims] * len(output)
            if len(dims) != len(output):
                raise RuntimeError(f"{self.name()}: the vmap rule returned {len(output)} "
                                   f"outputs but {len(dims)} out_dims")
            return type(output)(one(t, d) for t, d in zip(output, dims))
        return one(output, out_dims)

    def _stacked(self, batching, level: int, results: list):
        from dlpy.ops.shape import Stack

        first = results[0]
        if isinstance(first, Tensor):
            return batching.wrap(Stack(0)(*results), level)
        if isinstance(first, (tuple, list)):
            return type(first)(self._stacked(batching, level, [r[k] for r in results])
                               for k in range(len(first)))
        raise RuntimeError(f"{self.name()}: under vmap without a vmap rule (register_vmap), "
                           f"the op must return Tensors; it returned {_type_name(first)}")

    # ---------------------------------------------------------------- fake
    def _fake_outputs(self, args: tuple, kwargs: dict):
        """The op's outputs computed by its fake kernel on fake inputs (a composite op: its
        own kernel on them)."""
        fake = self._fake
        if fake is None and self._composite is not None and not self._kernels:
            fake = self._composite
        if fake is None:
            raise RuntimeError(f"There was no fake impl registered for {self.name()}. This is "
                               f"necessary for dlpy.export (and torch.compile/export) to know "
                               f"its outputs: register one with register_fake")
        with no_grad():
            result = fake(*_to_fake(args), **_to_fake(kwargs))
        return self._checked(result, args, kwargs, aliasing=False)


def _find_proxy(args: tuple, kwargs: dict):
    proxy = _proxy_type()
    if proxy is None:
        return None
    for v in (*args, *kwargs.values()):
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, proxy):
                return item
    return None


def _flat_tensors(args: tuple, kwargs: dict | tuple) -> list[Tensor]:
    values = list(args) + list(kwargs.values() if isinstance(kwargs, dict) else kwargs)
    return [t for v in values for t in _tensors_of(v)]


class _Call:
    """One recorded call: the op's arguments with their Tensors as the flat list the
    Function differentiates (``flat``), and back."""

    def __init__(self, overload: OpOverload, args: tuple, kwargs: dict):
        self.overload, self.args, self.kwargs = overload, args, kwargs
        self.flat: list[Tensor] = []
        self.slots: list[tuple[int, int] | None] = []  # per argument: (start, count) or None
        for value in args:
            tensors = _tensors_of(value)
            if isinstance(value, Tensor) or isinstance(value, list) and tensors:
                self.slots.append((len(self.flat), len(tensors)))
                self.flat.extend(tensors)
            else:
                self.slots.append(None)
        returns = overload._schema.returns
        self.returns_list = len(returns) == 1 and returns[0][1]

    def _values(self, flat: Sequence, fill: Callable[[Any, list], Any]) -> list:
        out = []
        for value, slot in zip(self.args, self.slots):
            if slot is None:
                out.append(fill(value, None))
            else:
                out.append(fill(value, list(flat[slot[0]:slot[0] + slot[1]])))
        return out

    def rebuild(self, flat: Sequence[Tensor]) -> tuple[tuple, dict]:
        def fill(value, tensors):
            if tensors is None:
                return value
            if isinstance(value, Tensor):
                return tensors[0]
            it = iter(tensors)
            return [next(it) if isinstance(v, Tensor) else v for v in value]

        return tuple(self._values(flat, fill)), self.kwargs

    def needs_input_grad(self, flat: Sequence[Tensor]) -> tuple:
        def fill(value, tensors):
            if tensors is None:
                return False
            if isinstance(value, Tensor):
                return tensors[0].requires_grad
            return [t.requires_grad for t in tensors]

        return tuple(self._values(flat, fill))

    def flat_grads(self, result: Any) -> list:
        name = self.overload.name()
        result = result if isinstance(result, tuple) else (result,)
        if len(result) != len(self.args):
            shown = ", ".join(str(a) for a in self.overload._schema.arguments
                              if not a.kwarg_only)
            raise RuntimeError(f"{name}: the backward registered with register_autograd "
                               f"returned {len(result)} gradient(s); expected one per "
                               f"positional input ({len(self.args)}: {shown}), None for "
                               f"those without one")
        grads: list = []
        for i, (value, slot, grad) in enumerate(zip(self.args, self.slots, result)):
            if slot is None:
                if grad is not None:
                    raise RuntimeError(f"{name}: the backward returned a gradient for input "
                                       f"{i}, a {_type_name(value)}; return None there")
                continue
            if isinstance(value, Tensor):
                grads.append(grad)
            elif grad is None:
                grads.extend([None] * slot[1])
            elif not isinstance(grad, (list, tuple)) or len(grad) != slot[1]:
                raise RuntimeError(f"{name}: the gradient of input {i} (a list of {slot[1]} "
                                   f"Tensors) must be a list of {slot[1]} gradients or None, "
                                   f"got {_type_name(grad)}")
            else:
                grads.extend(grad)
        return grads


# ---------------------------------------------------------------------------- defining
def _define(qualname: str, schema: str | FunctionSchema, where: str,
            overwrite: bool = False) -> OpOverload:
    ns, name = _qualname_parts(qualname, where)
    if isinstance(schema, str):
        schema = parse_schema(schema, qualname)
    schema.name = qualname
    packet = _PACKETS.get(qualname)
    if packet is not None and schema.overload_name in packet._overloads and not overwrite:
        shown = qualname + (f".{schema.overload_name}" if schema.overload_name else "")
        raise RuntimeError(f"{where}: Tried to register an operator ({shown}) with the same "
                           f"name and overload name multiple times.")
    if packet is None:
        packet = _PACKETS[qualname] = OpOverloadPacket(qualname)
    overload = OpOverload(schema)
    packet._overloads[schema.overload_name] = overload
    return overload


def _undefine(overload: OpOverload) -> None:
    qualname = f"{overload._namespace}::{overload._opname}"
    packet = _PACKETS.get(qualname)
    if packet is None:
        return
    if packet._overloads.get(overload._schema.overload_name) is overload:
        del packet._overloads[overload._schema.overload_name]
    if not packet._overloads:
        del _PACKETS[qualname]
        if OPDEFS.get(qualname) is not None and OPDEFS[qualname]._opoverload is overload:
            del OPDEFS[qualname]


def _device_types(device_types: Any, where: str) -> list[str | None]:
    if device_types is None:
        return [None]
    from dlpy.device import device

    names = [device_types] if isinstance(device_types, str) else list(device_types)
    out = []
    for name in names:
        text = getattr(name, "type", name)
        if not isinstance(text, str) or not text.isidentifier():
            raise ArgError(f"{where}: device_types must be device type names ('cpu'), got "
                           f"{name!r}")
        device(text)  # a name torch knows (RuntimeError: "Expected one of cpu, cuda, ...")
        out.append(text)
    return out


class Tag(enum.Enum):
    """torch.Tag: what an op's schema is tagged with (``custom_op(..., tags=Tag.inplace)``);
    dlpy accepts them and does not act on them."""

    core = 0
    data_dependent_output = 1
    dynamic_output_shape = 2
    flexible_layout = 3
    generated = 4
    inplace = 5
    inplace_view = 6
    needs_contiguous_strides = 7
    needs_exact_strides = 8
    needs_fixed_stride_order = 9
    nondeterministic_bitwise = 10
    nondeterministic_seeded = 11
    out = 12
    pointwise = 13
    pt2_compliant_tag = 14
    reduction = 15
    view_copy = 16
    maybe_aliasing_or_mutating = 17
    cudagraph_unsafe = 18


class CustomOpDef:
    """What ``@custom_op`` makes: callable as the function it wraps, with ``register_*``
    methods. ``_opoverload`` is ``dlpy.ops.<ns>.<name>.default``."""

    def __init__(self, namespace: str, name: str, schema: str, fn: Callable):
        self._namespace, self._name, self._init_fn = namespace, name, fn
        self._opoverload = _define(f"{namespace}::{name}", schema, "custom_op", overwrite=True)
        self._opoverload._defined_by_custom_op = True
        self._schema = str(self._opoverload._schema.arguments_str())
        self.__name__ = getattr(fn, "__name__", name)
        self.__doc__ = getattr(fn, "__doc__", None)
        OPDEFS[self._qualname] = self

    @property
    def _qualname(self) -> str:
        return f"{self._namespace}::{self._name}"

    def __repr__(self) -> str:
        return f"<CustomOpDef({self._qualname})>"

    def __call__(self, *args, **kwargs):
        return self._opoverload(*args, **kwargs)

    def register_kernel(self, device_types, fn: Callable | None = None, /):
        """The kernel for these device types ('cpu'; None: all), used instead of the
        function the op was made from. As a decorator when ``fn`` is None."""
        def inner(fn):
            for device in _device_types(device_types, f"{self._qualname}.register_kernel"):
                self._opoverload._kernels[device] = fn
            return fn

        return inner if fn is None else inner(fn)

    def register_fake(self, fn: Callable, /) -> Callable:
        """The shape function: takes fake inputs (``fake_tensor``), returns outputs of the
        right shapes and dtypes without reading values (``dlpy.empty_like(x)``)."""
        return register_fake(self, fn)

    def register_autograd(self, backward: Callable, /, *,
                          setup_context: Callable | None = None) -> None:
        """``setup_context(ctx, inputs, output)`` saves what ``backward(ctx, *grads)`` needs;
        backward returns one gradient per positional input (None for a non-Tensor)."""
        register_autograd(self, backward, setup_context=setup_context)

    def register_torch_dispatch(self, torch_dispatch_class, fn: Callable | None = None, /):
        """``fn(mode, func, types, args, kwargs)`` runs the op under a mode of exactly
        ``torch_dispatch_class`` (see ``register_torch_dispatch``); a decorator without fn."""
        return register_torch_dispatch(self, torch_dispatch_class, fn)

    def register_vmap(self, func: Callable | None = None):
        """``func(info, in_dims, *args) -> (output, out_dims)`` runs the op on a whole
        batch under ``dlpy.func.vmap`` (``in_dims``: 0 or None per argument)."""
        return register_vmap(self, func)

    @contextlib.contextmanager
    def set_kernel_enabled(self, device_type: str, enabled: bool = True):
        """Context manager turning off (``enabled=False``) or back on the kernel registered for
        ``device_type`` with ``register_kernel``; while off, the op runs the function it was
        made from. The previous state comes back on exit."""
        kernels = self._opoverload._kernels
        if device_type not in kernels and not enabled:
            yield
            return
        disabled = getattr(self, "_disabled_kernels", {})
        self._disabled_kernels = disabled
        saved = dict(kernels), dict(disabled)
        if not enabled and device_type not in disabled:
            disabled[device_type] = kernels[device_type]
            kernels[device_type] = self._init_fn
        elif enabled and device_type in disabled:
            kernels[device_type] = disabled.pop(device_type)
        try:
            yield
        finally:
            kernels.clear()
            kernels.update(saved[0])
            disabled.clear()
            disabled.update(saved[1])

    def register_autocast(self, device_type: str, cast_inputs) -> None:
        """Inside an autocast block of ``device_type``, floating tensor inputs (not float64)
        are cast to ``cast_inputs`` and the op runs with autocast off (``register_autocast``);
        a second rule for the same device type leaves the first, as torch's."""
        if not isinstance(device_type, str):
            raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
        _autocast_rule(self._opoverload, device_type, cast_inputs, None, keep=True)


def _tagged_returns(schema: str, tags: Any) -> str:
    """An inferred schema whose single Tensor return aliases its single mutated argument when
    ``tags`` hold ``Tag.inplace`` or ``Tag.out`` (torch: ``(Tensor(a0!) x) -> Tensor(a0!)``):
    such an op returns the tensor it changed."""
    tags = tags if isinstance(tags, (tuple, list, set)) else (tags,)
    if not any(tag in (Tag.inplace, Tag.out) for tag in tags):
        return schema
    mutated = re.findall(r"Tensor\((a\d+)!\)", schema)
    if len(mutated) == 1 and schema.endswith("-> Tensor"):
        return f"{schema[:-len('Tensor')]}Tensor({mutated[0]}!)"
    return schema


def custom_op(name: str, fn: Callable | None = None, /, *,
              mutates_args: str | Iterable[str], device_types: Any = None,
              schema: str | None = None, tags: Any = None):
    """Make ``fn`` (annotated with Tensor, int, float, bool, str, lists and optionals of
    them) an op named 'namespace::name', as ``torch.library.custom_op``; ``mutates_args``:
    the names of the Tensor arguments it changes in place, or "unknown". Redefining a name
    replaces the op (as torch allows)."""
    def inner(fn: Callable) -> CustomOpDef:
        ns, opname = _qualname_parts(name, "custom_op")
        if schema is None:
            schema_str = infer_schema(fn, mutates_args=mutates_args)
        else:
            schema_str = schema
            expected = {a.name for a in parse_schema(schema, name).arguments if a.mutable}
            given = set() if mutates_args == "unknown" else set(mutates_args)
            if expected != given:
                raise ValueError(f"Attempted to create a custom op with "
                                 f"`mutates_args={mutates_args}` and `schema={schema}`. The "
                                 f"schema suggests that the op mutates {expected} which is "
                                 f"different from what was provided to us in `mutates_args`. "
                                 f"Please make these consistent.")
        if schema is None:
            schema_str = _tagged_returns(schema_str, tags)
        result = CustomOpDef(ns, opname, schema_str, fn)
        result.register_kernel(device_types)(fn)
        return result

    if not callable(fn) and fn is not None:
        raise TypeError(f"custom_op: expected a function, got {type(fn).__name__}")
    return inner if fn is None else inner(fn)


def triton_op(name: str, fn: Callable | None = None, /, *, mutates_args: Any = None,
              schema: str | None = None):
    """Refused: dlpy runs on numpy on the CPU and has no Triton."""
    raise NotImplementedError(f"triton_op({name!r}): dlpy runs on numpy on the CPU and has no "
                              f"Triton kernels; use dlpy.library.custom_op with a numpy (or "
                              f"dlpy) kernel instead")


def wrap_triton(triton_kernel: Any, /):
    """Refused: dlpy has no Triton."""
    raise NotImplementedError("wrap_triton: dlpy runs on numpy on the CPU and has no Triton "
                              "kernels; use dlpy.library.custom_op instead")


# ---------------------------------------------------------------------------- by name
def register_kernel(op: Any, device_types: Any, func: Callable | None = None, /, *,
                    lib: Library | None = None):
    """The kernel of ``op`` (a CustomOpDef, OpOverload or 'mylib::foo') for these device
    types. As a decorator when ``func`` is None."""
    def inner(func):
        overload = _lookup(op, "register_kernel")
        for device in _device_types(device_types, f"{overload.name()}.register_kernel"):
            old = overload._kernels.get(device)
            overload._kernels[device] = func
            if lib is not None:
                lib._undo.append(lambda o=overload, d=device, old=old:
                                 o._kernels.__setitem__(d, old) if old else
                                 o._kernels.pop(d, None))
        return func

    return inner if func is None else inner(func)


def register_fake(op: Any, func: Callable | None = None, /, *, lib: Library | None = None,
                  _stacklevel: int = 1, allow_override: bool = True):
    """The fake kernel (shape function) of ``op``. As a decorator when ``func`` is None."""
    def inner(func):
        if not callable(func):
            raise TypeError(f"register_fake: expected a function, got {type(func).__name__}")
        overload = _lookup(op, "register_fake")
        if overload._fake is not None and not allow_override:
            raise RuntimeError(f"register_fake: {overload.name()} already has a fake kernel")
        old, overload._fake = overload._fake, func
        if lib is not None:
            lib._undo.append(lambda: setattr(overload, "_fake", old))
        return func

    return inner if func is None else inner(func)


impl_abstract = register_fake  # torch's deprecated name


def register_autograd(op: Any, backward: Callable, /, *, setup_context: Callable | None = None,
                      lib: Library | None = None) -> None:
    """The gradient formula of ``op`` (see ``CustomOpDef.register_autograd``)."""
    overload = _lookup(op, "register_autograd")
    if not callable(backward) or setup_context is not None and not callable(setup_context):
        raise TypeError(f"register_autograd({overload.name()}): backward and setup_context "
                        f"must be functions")
    if overload._schema.is_mutable:
        raise RuntimeError(f"Cannot register autograd formula for non-functional operator "
                           f"{overload} with schema {overload._schema}. Please create a "
                           f"functional operator and register an autograd formula for that.")
    old = (overload._backward, overload._setup_context)
    overload._backward, overload._setup_context = backward, setup_context
    if lib is not None:
        lib._undo.append(lambda: (setattr(overload, "_backward", old[0]),
                                  setattr(overload, "_setup_context", old[1])))


def _autocast_rule(overload: OpOverload, device_type: str, cast_inputs, lib: Library | None,
                   keep: bool = False) -> None:
    from dlpy.amp.autocast_mode import is_autocast_available

    if not is_autocast_available(device_type):
        raise ValueError(f"Device type '{device_type}' does not support autocast.")
    if keep and overload._autocast.get(device_type) is not None:
        return
    old = overload._autocast.get(device_type)
    overload._autocast[device_type] = cast_inputs
    if lib is not None:
        lib._undo.append(lambda: overload._autocast.__setitem__(device_type, old) if old
                         is not None else overload._autocast.pop(device_type, None))


def register_autocast(op: Any, device_type: str, cast_inputs, /, *,
                      lib: Library | None = None) -> None:
    """torch.library.register_autocast: inside an autocast block of ``device_type`` (dlpy's
    autocast runs on "cpu"; a rule for another autocast device type is kept and never
    applies), ``op``'s floating tensor arguments other than float64 are cast to
    ``cast_inputs`` and the op runs with autocast off, so the ops of its kernel run in
    their inputs' dtypes. ``op``: a CustomOpDef, OpOverload or 'mylib::foo'."""
    if isinstance(op, CustomOpDef):
        op.register_autocast(device_type, cast_inputs)
        return
    overload = _lookup(op, "register_autocast")
    _autocast_rule(overload, device_type, cast_inputs, lib)


def register_vmap(op: Any, func: Callable | None = None, /, *, lib: Library | None = None):
    """The vmap rule of ``op`` (see ``CustomOpDef.register_vmap``); without one, vmap runs
    the op once per sample. As a decorator when ``func`` is None."""
    def inner(func):
        overload = _lookup(op, "register_vmap")
        old, overload._vmap = overload._vmap, func
        if lib is not None:
            lib._undo.append(lambda: setattr(overload, "_vmap", old))
        return func

    return inner if func is None else inner(func)


def register_torch_dispatch(op: Any, torch_dispatch_class, func: Callable | None = None, /, *,
                            lib: Library | None = None):
    """``torch.library.register_torch_dispatch``: under a TorchDispatchMode of exactly the type
    ``torch_dispatch_class`` (or for that ``__torch_dispatch__`` subclass's tensors), ``op``
    (``"mylib::foo"``, an op or a custom op; aten ops too) reaches ``func(mode, func, types,
    args, kwargs)`` in place of the class's ``__torch_dispatch__``. A decorator without
    ``func``."""
    from dlpy.utils._python_dispatch import register_torch_dispatch as register

    if isinstance(op, CustomOpDef):
        op = op._opoverload
    return register(op, torch_dispatch_class, func, lib=lib)


def fallthrough_kernel():
    """``torch.library.fallthrough_kernel``: the kernel that passes a dispatch key through;
    dlpy has no dispatch keys, so ``Library.impl`` with it changes nothing."""
    raise NotImplementedError("fallthrough_kernel should never be called")


def get_ctx():
    raise NotImplementedError("get_ctx: dlpy's fake tensors have static shapes only; an op "
                              "whose output shape depends on its values cannot have a fake "
                              "kernel")


# dispatch key -> what it registers
_KEYS = {"CPU": "cpu", "CompositeExplicitAutograd": None, "CUDA": "cuda", "MPS": "mps",
         "CompositeImplicitAutograd": "composite", "Autograd": "composite",
         "AutogradCPU": "composite", "Meta": "fake"}


class Library:
    """``Library(ns, "DEF" | "FRAGMENT" | "IMPL")``: define ops in namespace ``ns``
    (``lib.define(schema)``) and give them kernels (``lib.impl(name, fn, "CPU")``), as
    torch's. Only one "DEF" library per namespace; ``_destroy()`` undoes everything the
    library did."""

    def __init__(self, ns: str, kind: str, dispatch_key: str = ""):
        if kind not in ("DEF", "IMPL", "FRAGMENT"):
            raise ValueError(f"Library: kind must be 'DEF', 'IMPL' or 'FRAGMENT', got "
                             f"{kind!r}")
        if not isinstance(ns, str):
            raise _NotAnIterableError(f"Library: the namespace must be a Python identifier, "
                                      f"got {ns!r}")
        if not ns.isidentifier():
            raise ValueError(f"Library: the namespace must be a Python identifier, got {ns!r}")
        if kind == "DEF":
            other = _DEF_LIBRARIES.get(ns)
            if other is not None:
                raise RuntimeError(f"Library({ns!r}, 'DEF'): Only a single TORCH_LIBRARY can "
                                   f"be used to register the namespace {ns}; use 'FRAGMENT' "
                                   f"to add ops to it, or _destroy() the first one")
            _DEF_LIBRARIES[ns] = self
        self.ns, self.kind, self.dispatch_key = ns, kind, dispatch_key
        self._defined: list[OpOverload] = []
        self._undo: list[Callable[[], Any]] = []

    def __repr__(self) -> str:
        return f"Library(kind={self.kind}, ns={self.ns}, dispatch_key={self.dispatch_key})"

    def define(self, schema: str, alias_analysis: str = "", *, tags: Any = ()) -> str:
        """Define op ``"name(Type arg, ...) -> Returns"`` in this namespace; returns its name
        ('name', as torch's)."""
        if self.kind == "IMPL":
            raise RuntimeError(f"{self}: define() is not allowed in an 'IMPL' library")
        parsed = parse_schema(schema)
        if not parsed.name or "::" in parsed.name and parsed.name.split("::")[0] != self.ns:
            raise ArgError(f"Library({self.ns!r}).define: the schema must start with the "
                           f"op's name in this namespace ('foo(Tensor x) -> Tensor'), got "
                           f"{schema!r}")
        qualname = parsed.name if "::" in parsed.name else f"{self.ns}::{parsed.name}"
        overload = _define(qualname, parsed, f"Library({self.ns!r}).define")
        self._defined.append(overload)
        return qualname.split("::")[1]

    def impl(self, op_name: Any, fn: Callable, dispatch_key: str = "", *,
             with_keyset: bool = False, allow_override: bool = True) -> None:
        """Register ``fn`` for ``op_name`` ('foo', 'foo.out', 'mylib::foo' or the op) under
        ``dispatch_key``: CPU / CompositeExplicitAutograd (the kernel, differentiated by
        register_autograd), CompositeImplicitAutograd / Autograd (differentiated through
        its dlpy ops), Meta (the fake kernel)."""
        if fn is fallthrough_kernel:  # passes its key through: dlpy has no keys to pass
            return
        if with_keyset:
            raise NotImplementedError(f"{self}.impl: dlpy has no dispatch key sets "
                                      f"(with_keyset=True)")
        key = dispatch_key or self.dispatch_key or "CompositeImplicitAutograd"
        if key not in _KEYS:
            raise ArgError(f"{self}.impl: dlpy has no dispatcher; the dispatch keys it maps "
                           f"are {sorted(_KEYS)}, got {key!r}")
        if isinstance(op_name, str) and "::" not in op_name:
            op_name = f"{self.ns}::{op_name}"
        overload = _lookup(op_name, f"{self}.impl")
        if overload._namespace != self.ns:
            raise ArgError(f"{self}.impl: {overload.name()} is not in namespace {self.ns!r}")
        what = _KEYS[key]
        if what == "fake":
            register_fake(overload, fn, lib=self)
        elif what == "composite":
            old, overload._composite = overload._composite, fn
            self._undo.append(lambda: setattr(overload, "_composite", old))
        else:
            register_kernel(overload, what, fn, lib=self)

    def _register_fake(self, op_name: Any, fn: Callable, _stacklevel: int = 1, *,
                       allow_override: bool = True) -> None:
        if isinstance(op_name, str) and "::" not in op_name:
            op_name = f"{self.ns}::{op_name}"
        register_fake(op_name, fn, lib=self, allow_override=allow_override)

    def _destroy(self) -> None:
        """Undo every registration and definition made through this library."""
        while self._undo:
            self._undo.pop()()
        for overload in self._defined:
            _undefine(overload)
        self._defined.clear()
        if _DEF_LIBRARIES.get(self.ns) is self:
            del _DEF_LIBRARIES[self.ns]


_LIBRARIES: dict[str, Library] = {}  # the FRAGMENT libraries define/impl use without lib=


def _fragment(ns: str) -> Library:
    if ns not in _LIBRARIES:
        _LIBRARIES[ns] = Library(ns, "FRAGMENT")
    return _LIBRARIES[ns]


def define(qualname: str, schema: str, *, lib: Library | None = None, tags: Any = ()) -> None:
    """Define op 'mylib::foo' with ``schema`` ('(Tensor x) -> Tensor'), as
    ``torch.library.define``."""
    ns, name = _qualname_parts(qualname.partition(".")[0], "define")
    overload = qualname.partition(".")[2]
    library = lib if lib is not None else _fragment(ns)
    library.define(f"{name}{'.' + overload if overload else ''}{schema}")


def impl(qualname: str, types: str | Sequence[str], func: Callable | None = None, *,
         lib: Library | None = None):
    """The kernel of op 'mylib::foo' for device types ('cpu') or a dispatch key ('CPU',
    'CompositeImplicitAutograd'), as ``torch.library.impl``. As a decorator when ``func``
    is None."""
    def inner(func):
        ns, _ = _qualname_parts(qualname.partition(".")[0], "impl")
        library = lib if lib is not None else _fragment(ns)
        for key in [types] if isinstance(types, str) else list(types):
            if key in _KEYS:
                library.impl(qualname, func, key)
            else:
                register_kernel(qualname, key, func, lib=library)
        return func

    return inner if func is None else inner(func)


# ---------------------------------------------------------------------------- opcheck
class OpCheckError(Exception):
    """An ``opcheck`` test failed."""


def _test_schema(overload: OpOverload, args: tuple, kwargs: dict, atol, rtol) -> None:
    args, kwargs = _clone(args), _clone(kwargs)
    bound, bound_kw = overload._bind(args, kwargs)
    arguments = [a for a in overload._schema.arguments if not a.kwarg_only]
    pairs = list(zip(arguments, bound)) + [(a, bound_kw[a.name]) for a in
                                           overload._schema.arguments if a.kwarg_only]
    before = [[np.array(t.data, copy=True) for t in _tensors_of(v)] for _, v in pairs]
    _CHECKING_ALIASES[0] = True
    try:
        with no_grad():
            overload(*bound, **bound_kw)  # aliasing outputs and wrong returns raise here
    finally:
        _CHECKING_ALIASES[0] = False
    for (arg, value), old in zip(pairs, before):
        changed = any(not np.array_equal(a, t.data, equal_nan=True)
                      for a, t in zip(old, _tensors_of(value)))
        if changed and not arg.mutable:
            raise OpCheckError(f"argument '{arg.name}' was changed in place, but the schema "
                               f"({overload._schema}) does not say it is mutated: add it to "
                               f"mutates_args")


def _test_autograd_registration(overload: OpOverload, args: tuple, kwargs: dict, atol,
                                rtol) -> None:
    kernel, composite = overload._kernel()
    if composite or not any(t.dtype.kind == "f" for t in _flat_tensors(args, kwargs)):
        return
    if overload._backward is None:
        if overload._defined_by_custom_op:
            return  # as torch: backward through it raises "no autograd formula"
        raise OpCheckError(f"{overload.name()} has a kernel but no autograd formula, so "
                           f"inputs that require grad get outputs that cannot be "
                           f"differentiated: register one with register_autograd, or "
                           f"register the kernel as CompositeImplicitAutograd")
    args, kwargs = _clone(args, True), _clone(kwargs, False)
    outputs = [t for t in _flat_tensors(_outputs_list(overload(*args, **kwargs)), ())
               if t.requires_grad]
    import dlpy

    inputs = [t for t in _flat_tensors(args, ()) if t.requires_grad]
    grads = dlpy.autograd.grad(outputs, inputs, [dlpy.ones_like(o) for o in outputs],
                               allow_unused=True)
    for t, g in zip(inputs, grads):
        if g is not None and g.shape != t.shape:
            raise OpCheckError(f"{overload.name()}'s backward gave a gradient of shape "
                               f"{g.shape} for an input of shape {t.shape}")


def _test_faketensor(overload: OpOverload, args: tuple, kwargs: dict, atol, rtol) -> None:
    bound, bound_kw = overload._bind(_clone(args), _clone(kwargs))
    with no_grad():
        real = _outputs_list(overload._dispatch(bound, bound_kw))
    fake = _outputs_list(overload._fake_outputs(bound, bound_kw))
    for k, (r, f) in enumerate(zip(_flat_tensors(real, ()), _flat_tensors(fake, ()))):
        if r.shape != f.shape or r.dtype != f.dtype:
            raise OpCheckError(f"{overload.name()}: output {k} of the fake kernel has shape "
                               f"{f.shape} and dtype {f.dtype}, the real kernel's shape "
                               f"{r.shape} and dtype {r.dtype}")


def _test_aot_dispatch_dynamic(overload: OpOverload, args: tuple, kwargs: dict, atol,
                               rtol) -> None:
    """The op as one node of a dlpy.fx graph gives the eager op's outputs and gradients
    (dlpy has no AOT autograd: this is what tracing the op means for it)."""
    import dlpy
    from dlpy.fx import Graph, GraphModule
    from dlpy.nn.module import Module

    bound, bound_kw = overload._bind(args, kwargs)
    graph, inputs = Graph(), []

    def placeholder(value):
        if isinstance(value, Tensor):
            inputs.append(value)
            return graph.placeholder(f"t{len(inputs) - 1}")
        if isinstance(value, list):
            return [placeholder(v) for v in value]
        return value

    node_args = tuple(placeholder(v) for v in bound)
    node_kwargs = {k: placeholder(v) for k, v in bound_kw.items()}
    graph.output(graph.call_function(overload, node_args, node_kwargs))
    gm = GraphModule(Module(), graph)

    def filled(value, given):
        if isinstance(value, Tensor):
            return next(given)
        return [filled(v, given) for v in value] if isinstance(value, list) else value

    results = []
    for traced in (True, False):
        tensors = _clone(inputs)
        if traced:
            out = gm(*tensors)
        else:
            given = iter(tensors)
            call_args = tuple(filled(v, given) for v in bound)
            out = overload(*call_args, **{k: filled(v, given) for k, v in bound_kw.items()})
        outputs = _flat_tensors(_outputs_list(out), ())
        wrt = [t for t in tensors if t.requires_grad]
        recorded = [o for o in outputs if o.requires_grad]
        grads = dlpy.autograd.grad(recorded, wrt, [dlpy.ones_like(o) for o in recorded],
                                   allow_unused=True) if wrt and recorded else []
        results.append(outputs + [g for g in grads if g is not None])
    for k, (a, b) in enumerate(zip(*results)):
        if a.shape != b.shape or not np.allclose(a.data, b.data, rtol=rtol or 1e-5,
                                                 atol=atol or 1e-6, equal_nan=True):
            raise OpCheckError(f"{overload.name()}: value {k} (outputs, then gradients) of "
                               f"the traced graph differs from the eager op's")


_CHECKS = {"test_schema": _test_schema, "test_autograd_registration": _test_autograd_registration,
           "test_faketensor": _test_faketensor,
           "test_aot_dispatch_dynamic": _test_aot_dispatch_dynamic}


def opcheck(op: Any, args: tuple, kwargs: dict | None = None, *,
            test_utils: str | Sequence[str] = tuple(_CHECKS), raise_exception: bool = True,
            atol: float | None = None, rtol: float | None = None) -> dict[str, Any]:
    """Test that ``op`` is registered correctly on these sample inputs, as torch's:
    test_schema (no undeclared mutation, no aliasing output), test_autograd_registration
    (a kernel without a formula; the formula runs and gives gradients of the inputs'
    shapes), test_faketensor (the fake kernel's shapes and dtypes are the kernel's),
    test_aot_dispatch_dynamic (the op traced as one dlpy.fx node gives the same values).
    Returns {test: "SUCCESS"}; a failure raises OpCheckError, or with
    ``raise_exception=False`` is the test's exception in the dict."""
    overload = _lookup(op, "opcheck")
    tests = [test_utils] if isinstance(test_utils, str) else list(test_utils)
    unknown = [t for t in tests if t not in _CHECKS]
    if unknown:
        raise ValueError(f"opcheck: unknown test_utils {unknown}; the tests are "
                         f"{list(_CHECKS)}")
    if not isinstance(args, (tuple, list)):
        raise TypeError(f"opcheck: args must be a tuple, got {type(args).__name__}")
    args = tuple(args)
    results: dict[str, Any] = {}
    for test in tests:
        try:
            _CHECKS[test](overload, args, dict(kwargs or {}), atol, rtol)
            results[test] = "SUCCESS"
        except Exception as error:
            failure = OpCheckError(f"opcheck(op, ...): {test} failed with {error}")
            if raise_exception:
                raise failure from error
            results[test] = error  # as torch's: the test's own exception
    return results


# ---------------------------------------------------------------------------- export
def annotate_fake(gm: Any, inputs: list) -> None:
    """Run ``gm`` on ``inputs`` and set ``node.meta["val"]`` of each custom-op node to its
    fake kernel's outputs on fake inputs (shapes and dtypes), checked against the real ones
    (what dlpy.export calls; an op without a fake kernel is an error, as torch.export's)."""
    from dlpy.fx.interpreter import Interpreter

    class _Fake(Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n.op == "call_function" and isinstance(n.target, OpOverload):
                args, kwargs = self.fetch_args_kwargs_from_env(n)
                bound, bound_kw = n.target._bind(args, kwargs)
                fake = n.target._fake_outputs(bound, bound_kw)
                for k, (r, f) in enumerate(zip(_flat_tensors(_outputs_list(out), ()),
                                               _flat_tensors(_outputs_list(fake), ()))):
                    if r.shape != f.shape or r.dtype != f.dtype:
                        raise RuntimeError(f"export: {n.target.name()}'s fake kernel gives "
                                           f"output {k} shape {f.shape} and dtype {f.dtype}, "
                                           f"its kernel shape {r.shape} and dtype {r.dtype}")
                n.meta["val"] = fake
            return out

    with no_grad():
        _Fake(gm).run(*inputs)
