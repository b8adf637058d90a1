"""torch.nn.parallel.scatter_gather: ``scatter`` / ``scatter_kwargs`` / ``gather``, which split
inputs over GPUs and collect outputs back (DataParallel's helpers; libraries import them for
their multi-GPU paths). dlpy has only the CPU: the nested structure is walked as torch walks it
(tuples, lists, dicts and namedtuples give one entry per target; other objects are repeated),
but splitting or gathering a tensor needs GPUs and raises, as torch's does without them."""

from __future__ import annotations

from typing import Any

from dlpy.tensor import Tensor

__all__ = ["gather", "scatter", "scatter_kwargs"]


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_asdict") and hasattr(obj, "_fields")


def scatter(inputs: Any, target_gpus: Any, dim: int = 0) -> Any:
    """Slice ``inputs``' tensors into one chunk per target GPU, repeating other objects
    (a list with one entry per target); a tensor raises (dlpy has no GPU to send it to)."""

    def scatter_map(obj: Any) -> Any:
        if isinstance(obj, Tensor):
            raise RuntimeError("scatter: splitting a tensor over GPUs needs CUDA devices, and "
                               "dlpy has only the CPU")
        if _is_namedtuple(obj):
            return [type(obj)(*args) for args in zip(*map(scatter_map, obj))]
        if isinstance(obj, tuple) and obj:
            return list(zip(*map(scatter_map, obj)))
        if isinstance(obj, list) and obj:
            return [list(i) for i in zip(*map(scatter_map, obj))]
        if isinstance(obj, dict) and obj:
            return [type(obj)(i) for i in zip(*map(scatter_map, obj.items()))]
        return [obj for _ in target_gpus]

    return scatter_map(inputs)


def scatter_kwargs(inputs: tuple, kwargs: dict | None, target_gpus: Any,
                   dim: int = 0) -> tuple[tuple, tuple]:
    """``scatter`` of the positional and the keyword arguments, padded to the same length."""
    scattered_inputs = scatter(inputs, target_gpus, dim) if inputs else []
    scattered_kwargs = scatter(kwargs, target_gpus, dim) if kwargs else []
    if len(scattered_inputs) < len(scattered_kwargs):
        scattered_inputs.extend(() for _ in range(len(scattered_kwargs) - len(scattered_inputs)))
    elif len(scattered_kwargs) < len(inputs):
        scattered_kwargs.extend({} for _ in range(len(scattered_inputs) - len(scattered_kwargs)))
    return tuple(scattered_inputs), tuple(scattered_kwargs)


def gather(outputs: Any, target_device: Any, dim: int = 0) -> Any:
    """Collect per-GPU ``outputs`` into one object on ``target_device``: dicts, namedtuples and
    sequences are gathered part by part, None stays None; a tensor raises (torch's gather of
    CPU tensors is an AssertionError too)."""

    def gather_map(outs: Any) -> Any:
        out = outs[0]
        if isinstance(out, Tensor):
            raise AssertionError("Gather function not implemented for CPU tensors")
        if out is None:
            return None
        if isinstance(out, dict):
            if not all(len(out) == len(d) for d in outs):
                raise ValueError("All dicts must have the same number of keys")
            return type(out)((k, gather_map([d[k] for d in outs])) for k in out)
        if _is_namedtuple(out):
            return type(out)._make(map(gather_map, zip(*outs)))
        return type(out)(map(gather_map, zip(*outs)))

    return gather_map(outputs)
