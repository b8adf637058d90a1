"""torch._dynamo._trace_wrapped_higher_order_op: ``TransformGetItemToIndex``, the function mode
under which ``x[i]`` with int / Tensor indices is a gather by 0-d index Tensors (torch's
``aten.index``) rather than a view (transformers builds attention masks under it with vmap)."""

from __future__ import annotations

import numpy as np

from dlpy.overrides import TorchFunctionMode
from dlpy.tensor import Tensor
from dlpy.utils import _pytree as pytree

__all__ = ["TransformGetItemToIndex"]


class TransformGetItemToIndex(TorchFunctionMode):
    """``tensor[i, j]`` with ints or Tensors as indices: each int made an int64 0-d Tensor
    and the lot used as advanced indices (the value is the same, taken as a gather); any
    other call runs as it is."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is Tensor.__getitem__:
            tensor_to_index = args[0]
            if not isinstance(tensor_to_index, Tensor):
                raise AssertionError(f"expected torch.Tensor, got {type(tensor_to_index)}")
            index_args = pytree.tree_leaves(args[1])
            if all(isinstance(x, (Tensor, int)) for x in index_args):
                from dlpy.creation import tensor
                converted = tuple(tensor(x, dtype=np.dtype(np.int64)) if isinstance(x, int) else x
                                  for x in index_args)
                return func(tensor_to_index, converted)
        return func(*args, **(kwargs or {}))
