"""torch.fx.passes.shape_prop: run the graph once on example inputs and record every node's
result's shape and dtype in ``node.meta['tensor_meta']``."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from dlpy.fx.interpreter import Interpreter
from dlpy.fx.node import Node, map_aggregate
from dlpy.tensor import Tensor

__all__ = ["ShapeProp", "TensorMetadata"]


class TensorMetadata(NamedTuple):
    """A tensor's shape, dtype, requires_grad and stride (in elements), as torch.fx's."""

    shape: tuple[int, ...]
    dtype: Any
    requires_grad: bool
    stride: tuple[int, ...]
    memory_format: Any
    is_quantized: bool
    qparams: dict


def _extract_tensor_metadata(result: Tensor | np.ndarray) -> TensorMetadata:
    if not isinstance(result, Tensor):
        stride = tuple(s // result.itemsize for s in result.strides) if result.itemsize else ()
        return TensorMetadata(tuple(result.shape), result.dtype, False, stride, None, False, {})
    from dlpy import channels_last, channels_last_3d, contiguous_format

    memory_format = None  # the first format the tensor is contiguous in (torch.fx's)
    for query in (contiguous_format, channels_last, channels_last_3d):
        if result.is_contiguous(memory_format=query):
            memory_format = query
            break
    return TensorMetadata(result.shape, result.dtype, result.requires_grad, result.stride(),
                          memory_format, False, {})


class ShapeProp(Interpreter):
    """``ShapeProp(gm).propagate(*args)``: runs gm, filling ``node.meta['tensor_meta']`` (a
    TensorMetadata, or a structure of them for tuples and lists) and ``node.meta['type']``."""

    def run_node(self, n: Node) -> Any:
        result = super().run_node(n)
        found = []

        def extract(value):
            if isinstance(value, (Tensor, np.ndarray)):
                found.append(True)
                return _extract_tensor_metadata(value)
            return value

        meta = map_aggregate(result, extract)
        if found:
            n.meta["tensor_meta"] = meta
        n.meta["type"] = type(result)
        return result

    def propagate(self, *args) -> Any:
        return super().run(*args)
