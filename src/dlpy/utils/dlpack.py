"""``torch.utils.dlpack``: DLPack exchange, sharing memory with numpy, torch or jax CPU arrays:
``from_dlpack(obj)`` (any object with ``__dlpack__``, or a capsule) and ``to_dlpack(tensor)``
(a capsule). dlpy tensors have ``__dlpack__``/``__dlpack_device__`` (their numpy array's), so
``np.from_dlpack(t)`` and ``torch.from_dlpack(t)`` share memory. ``DLDeviceType``: the DLPack
device codes (``__dlpack_device__()[0]``), as torch's enum."""

import enum

from dlpy.torch_misc import from_dlpack, to_dlpack

__all__ = ["DLDeviceType", "from_dlpack", "to_dlpack"]


class DLDeviceType(enum.IntEnum):
    """The DLPack specification's device types (dlpy's tensors are kDLCPU)."""
    kDLCPU = 1
    kDLCUDA = 2
    kDLCUDAHost = 3
    kDLOpenCL = 4
    kDLVulkan = 7
    kDLMetal = 8
    kDLVPI = 9
    kDLROCM = 10
    kDLROCMHost = 11
    kDLExtDev = 12
    kDLCUDAManaged = 13
    kDLOneAPI = 14
    kDLWebGPU = 15
    kDLHexagon = 16
    kDLMAIA = 17
