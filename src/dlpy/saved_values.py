"""What ``grad_fn._saved_self``, ``_saved_other``, ``_saved_result``, ``_saved_dim``, ... give,
as torch's nodes show the values they saved for backward, for the common ops. A tensor a node
saved can no longer be read once backward freed the graph (torch's error); settings (dims, sizes)
can. Properties that ``install()`` puts on the op classes (not an ``Op.__getattr__``: that hook
would slow every attribute read of every op): nothing here runs while recording."""

from __future__ import annotations

import importlib

import numpy as np

_FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
          "after they have already been freed). Saved intermediate values of the graph are freed "
          "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
          "backward through the graph a second time or if you need to access saved tensors after "
          "calling backward.")


def _input(i, when=None):
    """input i (only if input ``when`` requires grad: torch saves mul's self for other's grad)"""
    def read(op):
        if when is not None and not op.inputs[when].requires_grad:
            return None
        return op.inputs[i]
    read.what = i  # which saved tensor it is (saved_tensors_hooks' packed ones)
    return read


def _result(attr):
    def read(op):
        from dlpy.tensor import Tensor

        return Tensor(getattr(op, attr))
    read.what = "output"
    return read


def _relu_result(op):
    from dlpy.tensor import Tensor

    return Tensor(np.where(op.mask, op.inputs[0].data, 0).astype(op.inputs[0].data.dtype))


_relu_result.what = "output"


def _number(value):
    """a float setting that holds a whole number reads back as torch's int (x ** 2)"""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _sizes(op):
    return tuple(np.shape(op.inputs[0].data))


def _dims(op):
    return tuple(op.axes)


def _setting(name: str):
    """a setting torch's node of several outputs saved (split's dim and sizes), kept in the
    node's ``saved`` dict: an AttributeError where this node has none of that name"""
    def read(op):
        saved = getattr(op, "saved", {})
        if name not in saved:
            raise AttributeError(f"'{op.name()}' object has no attribute '{name}'")
        return saved[name]
    return read


# op class -> {attribute: (reader, whether it is a tensor: freed with the graph)}
_SAVED = {
    "Outputs": {name: (_setting(name), False) for name in (
        "_saved_dim", "_saved_self_sym_sizes", "_saved_split_size", "_saved_split_sizes")},
    "Mul": {"_saved_self": (_input(0, 1), True), "_saved_other": (_input(1, 0), True)},
    "Div": {"_saved_self": (_input(0, 1), True), "_saved_other": (_input(1), True)},
    "Power": {"_saved_self": (_input(0), True),
              "_saved_exponent": (lambda op: _number(op.exponent), False)},
    "Pow": {"_saved_self": (_input(0), True), "_saved_exponent": (_input(1), True),
            "_saved_result": (_result("z"), True)},
    "Add": {"_saved_alpha": (lambda op: 1, False)},
    "Sub": {"_saved_alpha": (lambda op: 1, False)},
    "ScaledAdd": {"_saved_alpha": (lambda op: op.alpha, False)},
    "ScaledSub": {"_saved_alpha": (lambda op: op.alpha, False)},
    "Exp": {"_saved_result": (_result("y"), True)},
    "Sqrt": {"_saved_result": (_result("y"), True)},
    "Rsqrt": {"_saved_result": (_result("y"), True)},
    "Reciprocal": {"_saved_result": (_result("y"), True)},
    "Tanh": {"_saved_result": (_result("y"), True)},
    "Sigmoid": {"_saved_result": (_result("y"), True)},
    "ReLU": {"_saved_result": (_relu_result, True)},
    "Log": {"_saved_self": (_input(0), True)},
    "Sin": {"_saved_self": (_input(0), True)},
    "Cos": {"_saved_self": (_input(0), True)},
    "Softmax": {"_saved_result": (_result("y"), True), "_saved_dim": (lambda op: op.axis, False)},
    "LogSoftmax": {"_saved_result": (_result("y"), True),
                   "_saved_dim": (lambda op: op.axis, False)},
    "Concat": {"_saved_dim": (lambda op: op.axis, False)},
    "MatMul": {"_saved_self": (_input(0, 1), True), "_saved_mat2": (_input(1, 0), True)},
    "Sum": {"_saved_dim": (_dims, False), "_saved_keepdim": (lambda op: op.keepdims, False),
            "_saved_self_sym_sizes": (_sizes, False)},
    "Mean": {"_saved_dim": (_dims, False), "_saved_keepdim": (lambda op: op.keepdims, False),
             "_saved_self_sym_sizes": (_sizes, False),
             "_saved_self_sym_numel": (lambda op: int(np.size(op.inputs[0].data)), False)},
}


def _entry(op, name: str):
    entry = _SAVED.get(type(op).__name__, {}).get(name)
    if entry is None or (type(op).__name__ == "MatMul" and op.name() != "MmBackward0"):
        raise AttributeError(f"'{op.name()}' object has no attribute '{name}'")
    return entry


def _packed_entry(op, read):
    """The saved_tensors_hooks entry of op's saved tensor that ``read`` reads, or None."""
    for packed in op.__dict__.get("_packed", ()):
        if packed.what == read.what:
            return packed
    return None


def saved_value(op, name: str):
    """``op``'s saved value ``name`` as torch's node gives it; AttributeError for one the op
    (or dlpy) does not have. A tensor packed by saved_tensors_hooks is what unpack gives."""
    read, is_tensor = _entry(op, name)
    if is_tensor and op.freed:
        raise RuntimeError(_FREED)
    if is_tensor:
        packed = _packed_entry(op, read)
        if packed is not None:  # what unpack gave, as a tensor of its own with the saved
            tensor = _alias(packed.unpacked())  # one's history (torch's SavedVariable)
            what = packed.what
            if what == "output":
                tensor.op, tensor.requires_grad = op, True
            elif type(what) is int and what < len(op.inputs) and op.inputs[what].requires_grad:
                tensor.op, tensor.requires_grad = op.inputs[what].op, True
            return tensor
    return read(op)


def _alias(tensor):
    """A new Tensor on ``tensor``'s array, without its graph."""
    from dlpy.tensor import Tensor

    return Tensor(tensor.data)


class SavedTensor:
    """``grad_fn._raw_saved_<name>``, torch's SavedTensor: one tensor a node saved, with
    ``unpack()`` (what ``_saved_<name>`` gives) and ``register_hooks(pack, unpack)``, which
    packs it now and has backward read what unpack gives (once per saved tensor, and not
    where a saved_tensors_hooks block packed it already)."""

    def __init__(self, op, name: str):
        self._op, self._name = op, name

    def unpack(self):
        return saved_value(self._op, self._name)

    def register_hooks(self, pack_hook, unpack_hook) -> None:
        engine = importlib.import_module("dlpy.tensor")  # the module (dlpy.tensor is a function)
        op = self._op
        read, _ = _entry(op, self._name)
        if not (callable(pack_hook) and callable(unpack_hook)):
            raise TypeError("register_hooks(): incompatible function arguments: the pack and "
                            "unpack hooks must be callable")
        if op.freed:
            raise RuntimeError(_FREED)
        if _packed_entry(op, read) is not None:
            raise RuntimeError("Calling register_hooks on a saved tensor whose hooks have "
                               "already been set. Hint: only one pair of hooks is allowed at a "
                               "time.")
        tensor = read(op)
        if tensor is None:
            raise RuntimeError("Calling register_hooks on a saved tensor with value None is "
                               "forbidden")
        # pack gets a tensor of its own on the saved values, as torch's
        packed = engine.pack_one(op, read.what, _alias(tensor), pack_hook, unpack_hook,
                                 [t.data for t in op.inputs] + [tensor.data])
        op.__dict__.setdefault("_packed", []).append(packed)


def result_array(op):
    """The array of the output ``op`` saved (what its ``_saved_result`` reads), or None where
    dlpy does not know where the op keeps it."""
    entry = _SAVED.get(type(op).__name__, {}).get("_saved_result")
    if entry is None or op.freed:
        return None
    try:
        return entry[0](op).data
    except AttributeError:  # packed by saved_tensors_hooks and not unpacked
        return None


def raw_saved_value(op, name: str) -> SavedTensor:
    """``grad_fn._raw_saved_<name>``: a SavedTensor for a saved tensor (one of a freed graph
    too, as torch's: its ``unpack()`` refuses)."""
    _entry(op, name)
    return SavedTensor(op, name)


def install() -> None:
    """Each name of _SAVED as a property of its op classes (dlpy's __init__ calls this once
    every op module is imported)."""
    from dlpy.tensor import Op

    classes: dict[str, list] = {}
    stack = [Op]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            classes.setdefault(cls.__name__, []).append(cls)
    for kind, names in _SAVED.items():
        for cls in classes.get(kind, ()):
            for name, (_, is_tensor) in names.items():
                setattr(cls, name, property(lambda op, name=name: saved_value(op, name)))
                if is_tensor:
                    setattr(cls, "_raw" + name,
                            property(lambda op, name=name: raw_saved_value(op, name)))
