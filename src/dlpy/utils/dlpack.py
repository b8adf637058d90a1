"""``torch.utils.dlpack``: DLPack exchange, sharing memory with numpy, torch or jax CPU arrays:
``from_dlpack(obj)`` (any object with ``__dlpack__``, or a capsule) and ``to_dlpack(tensor)``
(a capsule). dlpy tensors have ``__dlpack__``/``__dlpack_device__`` (their numpy array's), so
``np.from_dlpack(t)`` and ``torch.from_dlpack(t)`` share memory."""

from dlpy.torch_misc import from_dlpack, to_dlpack

__all__ = ["from_dlpack", "to_dlpack"]
