"""torch.utils.backend_registration: naming the PrivateUse1 device type (an out-of-tree
backend's) and generating the ``Tensor.<name>()`` / ``is_<name>`` & co. methods for it, as a
CPU build of torch does them. dlpy has no PrivateUse1 kernels, so a tensor can never move to
such a device (``Tensor.to`` refuses any device but the CPU); the names, the checks and the
generated attributes are torch's.

``rename_privateuse1_backend(name)`` may succeed once per process (then a device string may
use the name); an in-tree device name (cpu, cuda, hip, mps, xpu, mtia) or a non-str is refused.
``generate_methods_for_privateuse1_backend()`` sets, under the current name N:
``Tensor.is_N`` (a property: the tensor's device type is N) and ``Tensor.N(device=None,
non_blocking=False, **kwargs)`` (a move to N:index); ``Module.N(device=None)``;
``PackedSequence.is_N`` / ``N``; with ``for_storage``, ``is_N`` / ``N`` of the storages. Each
attribute can be registered once (RuntimeError after), and the Module and PackedSequence ones
need the Tensor ones first."""

from __future__ import annotations

import dlpy
from dlpy.device import PRIVATEUSE1, device
from dlpy.ops import ArgAssertionError

__all__ = ["generate_methods_for_privateuse1_backend", "rename_privateuse1_backend"]

# torch's module global of the same name (kept in step with _get_privateuse1_backend_name)
_privateuse1_backend_name = "privateuseone"
_IN_TREE = ("cpu", "cuda", "hip", "mps", "xpu", "mtia")  # torch refuses these names
_renamed = [False]


def _get_privateuse1_backend_name() -> str:
    """torch._C._get_privateuse1_backend_name: the PrivateUse1 device type's current name."""
    return PRIVATEUSE1[0]


def rename_privateuse1_backend(backend_name: str) -> None:
    """Name the PrivateUse1 backend ``backend_name`` (lower-cased, as torch's), once per
    process: a second rename, an in-tree device name or a non-str is a RuntimeError."""
    global _privateuse1_backend_name
    if not isinstance(backend_name, str):
        raise RuntimeError(f"_rename_privateuse1_backend expects a str, but got "
                           f"{type(backend_name).__name__}")
    if backend_name in _IN_TREE:
        raise RuntimeError(f"Cannot register privateuse1 backend with in-tree device name: "
                           f"{backend_name}")
    if _renamed[0]:
        raise RuntimeError(f"torch.register_privateuse1_backend() has already been set! "
                           f"Current backend: {PRIVATEUSE1[0]}")
    PRIVATEUSE1[0] = backend_name.lower()
    _renamed[0] = True
    _privateuse1_backend_name = backend_name


def _check_register_once(owner, attr: str) -> None:
    if hasattr(owner, attr):
        raise RuntimeError(f"The custom device module of {owner} has already been registered "
                           f"with {attr}")


def _normalization_device(custom_backend_name: str, device_=None) -> int:
    """The device index a generated method moves to: ``device_``'s (an int, or a device / its
    string of the custom type), else the backend module's ``current_device()`` (0 without
    one)."""

    def current() -> int:
        module = getattr(dlpy, custom_backend_name, None)
        return module.current_device() if hasattr(module, "current_device") else 0

    if device_ is None:
        return current()
    if isinstance(device_, str):
        device_ = device(device_)
    if isinstance(device_, device):
        if device_.type != custom_backend_name:
            raise RuntimeError(f"Invalid device, must be {custom_backend_name} device")
        return current() if device_.index is None else device_.index
    return device_


def _generate_tensor_methods(name: str) -> None:
    from dlpy.tensor import Tensor

    def is_backend(self) -> bool:
        return self.device.type == name

    is_backend.__name__ = f"is_{name}"
    _check_register_once(Tensor, f"is_{name}")
    setattr(Tensor, f"is_{name}", property(is_backend))

    def to_backend(self, device=None, non_blocking: bool = False, **kwargs):
        """Perform Tensor device conversion. Call the to operator implementation: a copy on
        the custom device (dlpy's tensors stay on the CPU: ``to`` refuses)."""
        index = _normalization_device(name, device)
        return self.to(device=dlpy.device(f"{name}:{index}"), non_blocking=non_blocking,
                       **kwargs)

    to_backend.__name__ = name
    _check_register_once(Tensor, name)
    setattr(Tensor, name, to_backend)


def _generate_module_methods(name: str) -> None:
    from dlpy.nn import Module
    from dlpy.tensor import Tensor

    if not hasattr(Tensor, name):
        raise RuntimeError(f"Can not automatically generate {name}() method for torch.nn.Module."
                           f"Because torch.Tensor doesn't has the method {name}().For this "
                           f"error, you can try setting for_tensor=True.")

    def to_backend(self, device=None):
        """Move all model parameters and buffers to the custom device (in place)."""
        return self._apply(lambda t: getattr(t, name)(device))

    _check_register_once(Module, name)
    setattr(Module, name, to_backend)


def _generate_packed_sequence_methods(name: str) -> None:
    from dlpy.nn.utils_rnn import PackedSequence
    from dlpy.tensor import Tensor

    if not hasattr(Tensor, f"is_{name}") or not hasattr(Tensor, name):
        raise RuntimeError(f"Can not automatically generate is_{name}() or {name}() method for "
                           f"torch.nn.utils.rnn.PackedSequence.Because torch.Tensor doesn't has "
                           f"the method is_{name}()or {name}().For this error, you can try "
                           f"setting for_tensor=True.")

    def is_backend(self) -> bool:
        return self.data.device.type == name

    _check_register_once(PackedSequence, f"is_{name}")
    setattr(PackedSequence, f"is_{name}", property(is_backend))

    def to_backend(self, *args, **kwargs):
        """This PackedSequence on the custom device."""
        probe = dlpy.tensor((), dtype=self.data.dtype).to(*args, **kwargs)
        if probe.device.type == name:
            return self.to(*args, **kwargs)
        kwargs.update({"device": name})
        return self.to(*args, **kwargs)

    _check_register_once(PackedSequence, name)
    setattr(PackedSequence, name, to_backend)


def _generate_storage_methods(name: str, unsupported_dtype=None) -> None:
    from dlpy.storage import TypedStorage, UntypedStorage

    for owner in (UntypedStorage, TypedStorage):
        def is_backend(self) -> bool:
            return self.device.type == name

        _check_register_once(owner, f"is_{name}")
        setattr(owner, f"is_{name}", property(is_backend))

        def to_backend(self, device=None, non_blocking: bool = False, **kwargs):
            """A copy of this storage on the custom device (none exists in dlpy)."""
            if unsupported_dtype and getattr(self, "dtype", None) in unsupported_dtype:
                raise RuntimeError(f"Cannot create {name} storage as {self.dtype} dtype is not "
                                   f"supported by this backend")
            index = _normalization_device(name, device)
            raise RuntimeError(f"Cannot move a storage to {name}:{index}: dlpy has only the "
                               f"CPU")

        _check_register_once(owner, name)
        setattr(owner, name, to_backend)


def generate_methods_for_privateuse1_backend(for_tensor: bool = True, for_module: bool = True,
                                             for_packed_sequence: bool = True,
                                             for_storage: bool = False,
                                             unsupported_dtype=None) -> None:
    """Generate the renamed backend's attributes and methods (see the module), in torch's
    order: Tensor, Module, storage, PackedSequence."""
    name = _get_privateuse1_backend_name()
    if for_tensor:
        _generate_tensor_methods(name)
    if for_module:
        _generate_module_methods(name)
    if for_storage:
        _generate_storage_methods(name, unsupported_dtype)
    if for_packed_sequence:
        _generate_packed_sequence_methods(name)


def _get_custom_mod_func(func_name: str):
    """The function ``func_name`` of the renamed backend's device module (torch.<name>): dlpy
    registers none, so it is torch's RuntimeError (AssertionError for a non-str name)."""
    if not isinstance(func_name, str):
        raise ArgAssertionError(f"func_name must be `str`, but got `{type(func_name)}`.")
    name = _get_privateuse1_backend_name()
    module = getattr(dlpy, name, None)
    function = getattr(module, func_name, None)
    if module is None or function is None:
        raise RuntimeError(
            f"Try to call torch.{name}.{func_name}. The backend must register a custom backend "
            f"module with `torch._register_device_module('{name}', BackendModule)`. And "
            f"BackendModule needs to have the following API's:\n `{func_name}(*args, "
            f"**kwargs)`. \n")
    return function
