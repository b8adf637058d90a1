"""torch._utils: the private helpers that user code and libraries import from it.

- ``_flatten_dense_tensors(tensors)``: one 1-D tensor of the tensors' elements, one after
  the other (``cat`` of their flattenings; a single tensor's flattening as it is);
- ``_unflatten_dense_tensors(flat, tensors)``: views of ``flat`` shaped as ``tensors``, in
  order (the round trip of the two gives the tensors back);
- ``_get_device_index(device, optional=False, allow_cpu=False)``: a device's index (``-1``
  for the CPU when ``allow_cpu``; an int as it is); no index is a ValueError unless
  ``optional`` (then the current device: ``-1``, dlpy's CPU);
- ``_rebuild_tensor_v2`` / ``_rebuild_parameter``: the unpickling functions
  (dlpy.serialization's).
"""

from __future__ import annotations

from typing import Any

from dlpy.device import device as _device
from dlpy.functional import cat
from dlpy.serialization import _rebuild_parameter, _rebuild_tensor, _rebuild_tensor_v2
from dlpy.tensor import Tensor

__all__: list[str] = []

_ = (_rebuild_parameter, _rebuild_tensor, _rebuild_tensor_v2)


def _flatten_dense_tensors(tensors) -> Tensor:
    """The tensors' elements in one 1-D tensor (row-major, one tensor after another; mixed
    dtypes promote as ``cat``). An empty list is an error, as torch's ``cat``."""
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0].contiguous().view(-1)
    return cat([t.contiguous().view(-1) for t in tensors])


def _unflatten_dense_tensors(flat: Tensor, tensors) -> tuple[Tensor, ...]:
    """Views of consecutive pieces of ``flat``, shaped as each of ``tensors`` (a flat tensor too
    short is an error; extra elements at its end are left out)."""
    outputs, offset = [], 0
    for t in tensors:
        numel = t.numel()
        outputs.append(flat.narrow(0, offset, numel).view(t.shape))
        offset += numel
    return tuple(outputs)


def _get_device_index(device: Any, optional: bool = False, allow_cpu: bool = False) -> int:
    """The index of ``device`` (a ``device``, a string such as ``"cuda:1"``, an int or None):
    a device's index, ``-1`` for the CPU (a ValueError unless ``allow_cpu``), an int as it
    is. A device without an index (or None) is a ValueError unless ``optional``, where it is
    the current device's: ``-1`` (dlpy runs on the CPU)."""
    if isinstance(device, str):
        device = _device(device)
    index = None
    if isinstance(device, _device):
        if not allow_cpu and device.type == "cpu":
            raise ValueError(f"Expected a non cpu device, but got: {device}")
        index = -1 if device.type == "cpu" else device.index
    if isinstance(device, int):
        index = device
    if index is None:
        if not optional:
            raise ValueError("Expected a torch.device with a specified index or an integer, but "
                             f"got:{device}")
        index = -1
    return index
