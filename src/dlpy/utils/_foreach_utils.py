"""torch.utils._foreach_utils: the helpers optimisers use to split tensor lists by device and
dtype before a batched (``_foreach_*``) update.

- ``_group_tensors_by_device_and_dtype(tensorlistlist, with_indices=False)``: a dict keyed by
  ``(device, dtype)`` of the first list's tensors, each value ``(lists, indices)``: for every
  list of ``tensorlistlist`` the entries at the positions whose first-list tensor has that
  device and dtype (``None`` kept where a later list has one), and those positions when
  ``with_indices`` (else an empty list). Groups come in the order of their first tensor (torch's
  order is its hash map's: unspecified). The tensors are the inputs themselves, not copies.
- ``_device_has_foreach_support(device)``, ``_has_foreach_support(tensors, device)``: torch's
  checks (the CPU and the devices of ``_get_foreach_kernels_supported_devices()``, whose
  device lists are dlpy.optim._optimizer_helpers').
"""

from __future__ import annotations

from dlpy.optim._optimizer_helpers import (
    _foreach_supported_types,
    _get_foreach_kernels_supported_devices,
    _get_fused_kernels_supported_devices,
)
from dlpy.tensor import Tensor

__all__ = ["Indices", "TensorListList", "_foreach_supported_types",
           "_get_foreach_kernels_supported_devices", "_get_fused_kernels_supported_devices"]

TensorListList = list
Indices = list


def _group_tensors_by_device_and_dtype(tensorlistlist, with_indices: bool = False) -> dict:
    """Split parallel tensor lists by the device and dtype of the first list's tensors: see
    the module docstring. RuntimeError for an empty first list or lists of unequal lengths."""
    if not tensorlistlist or not len(tensorlistlist[0]):
        raise RuntimeError("Expected !nested_tensorlist[0].empty() to be true, but got false.")
    size = len(tensorlistlist[0])
    for tensors in tensorlistlist:
        if len(tensors) and len(tensors) != size:
            raise RuntimeError("Expected all tensorlists to have the same length, but got "
                               f"{size} and {len(tensors)}.")
    groups: dict = {}
    for index, first in enumerate(tensorlistlist[0]):
        if not isinstance(first, Tensor):
            raise RuntimeError("Tensors of the first list must not be None "
                               f"(got {type(first).__name__} at position {index})")
        key = (first.device, first.dtype)
        if key not in groups:
            groups[key] = ([[] for _ in tensorlistlist], [])
        lists, indices = groups[key]
        for out, tensors in zip(lists, tensorlistlist, strict=True):
            if len(tensors):
                out.append(tensors[index])
        if with_indices:
            indices.append(index)
    return groups


def _device_has_foreach_support(device) -> bool:
    """Whether ``device``'s type has batched (foreach) kernels: the CPU and torch's list."""
    kind = device.type if hasattr(device, "type") else str(device).split(":")[0]
    return kind in [*_get_foreach_kernels_supported_devices(), "cpu"]


def _has_foreach_support(tensors, device) -> bool:
    """Whether ``tensors`` (None entries allowed) can take the batched path on ``device``:
    every one a plain Tensor (not a subclass)."""
    return _device_has_foreach_support(device) and all(
        t is None or type(t) in _foreach_supported_types for t in tensors)
