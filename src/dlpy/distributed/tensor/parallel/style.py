"""Tensor-parallel styles: how one module's parameters, inputs and outputs are laid out.

ColwiseParallel (Linear: weight and bias Shard(0); input Replicate -> output Shard(-1);
Embedding: weight Shard(1), output Shard(-1)), RowwiseParallel (Linear: weight Shard(1), bias
Replicate; input Shard(-1) -> output Partial, reduced to Replicate; Embedding: weight Shard(0),
ids Replicate, each rank looks up its rows -> Partial), SequenceParallel (norm layers on a
sequence-sharded input), PrepareModuleInput / PrepareModuleOutput (only convert layouts). A
Megatron MLP is {"fc1": ColwiseParallel(), "fc2": RowwiseParallel()}: one all-reduce forward,
one backward.
"""

from __future__ import annotations

from typing import Any

from dlpy import nn
from dlpy.distributed.device_mesh import DeviceMesh
from dlpy.distributed.tensor import _ops
from dlpy.distributed.tensor._api import DTensor, distribute_parameter
from dlpy.distributed.tensor.placement_types import Placement, Replicate, Shard
from dlpy.tensor import Tensor


class ParallelStyle:
    """The base class: ``_apply(module, device_mesh)`` lays the module out and returns it."""

    src_data_rank: int | None = 0

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        raise NotImplementedError


def _layout(name: str, what: str, value: Any, default: Placement) -> Placement:
    if value is None:
        return default
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if not isinstance(value, Placement):
        raise TypeError(f"{name}: {what} must be a Placement (Shard, Replicate, Partial), got "
                        f"{value!r}")
    return value


def _to_dtensor(x: Any, mesh: DeviceMesh, layout: Placement | None,
                desired: Placement | None) -> Any:
    """A module input in ``layout`` (a plain Tensor is this rank's piece of it), moved to
    ``desired``."""
    if layout is None or not isinstance(x, Tensor):
        return x
    if not isinstance(x, DTensor):
        x = DTensor.from_local(x, mesh, (layout,), run_check=False)
    if desired is not None and x.placements != (desired,):
        x = x.redistribute(placements=(desired,))
    return x


def _finish(x: Any, layout: Placement | None, use_local_output: bool) -> Any:
    if not isinstance(x, DTensor):
        return x
    if layout is not None and x.placements != (layout,):
        x = x.redistribute(placements=(layout,))
    return x.to_local() if use_local_output else x


def _replace(module: nn.Module, name: str, mesh: DeviceMesh, placement: Placement,
             src_data_rank: int | None) -> None:
    value = module._parameters.get(name)
    if value is not None:
        setattr(module, name, distribute_parameter(value, mesh, (placement,), src_data_rank))


class _LinearStyle(ParallelStyle):
    """Colwise/Rowwise: a Linear's weight and bias distributed by ``placements`` (an
    Embedding's weight by ``embedding_placement``), its input made ``desired_input_layouts``
    (an Embedding's: Replicate) before the call, its output laid out after it."""

    placements: tuple[Placement, Placement]
    embedding_placement: Placement

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        if isinstance(module, nn.Linear):
            placements, desired = self.placements, self.desired_input_layouts
        elif isinstance(module, nn.Embedding):
            if module.sparse:
                raise NotImplementedError(f"{type(self).__name__}: a sparse Embedding is not "
                                          "supported")
            placements, desired = (self.embedding_placement,), Replicate()
            object.__setattr__(module, "forward", lambda ids: _ops.embedding(
                ids, module.weight, module.padding_idx))
        else:
            raise NotImplementedError(f"{type(self).__name__} currently only support "
                                      "nn.Linear and nn.Embedding in dlpy, got "
                                      f"{type(module).__name__}")
        for name, placement in zip(("weight", "bias"), placements):
            _replace(module, name, device_mesh, placement, self.src_data_rank)
        module.register_forward_pre_hook(lambda m, args: (_to_dtensor(
            args[0], device_mesh, self.input_layouts, desired), *args[1:]))
        module.register_forward_hook(lambda m, args, out: _finish(
            out, self.output_layouts, self.use_local_output))
        return module

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_layouts={self.input_layouts}, output_layouts="
                f"{self.output_layouts}, use_local_output={self.use_local_output})")


class ColwiseParallel(_LinearStyle):
    """Split a Linear's output features: weight and bias Shard(0). The input (``input_layouts``,
    Replicate by default) is made Replicate; the output is Shard(-1) (``output_layouts``),
    returned as the local piece when ``use_local_output``. An Embedding: its embedding
    dimension split (weight Shard(1))."""

    def __init__(self, *, input_layouts: Placement | None = None,
                 output_layouts: Placement | None = None, use_local_output: bool = True):
        name = "ColwiseParallel"
        self.input_layouts = _layout(name, "input_layouts", input_layouts, Replicate())
        self.output_layouts = _layout(name, "output_layouts", output_layouts, Shard(-1))
        self.desired_input_layouts = Replicate()
        self.use_local_output = use_local_output

    placements = (Shard(0), Shard(0))  # weight, bias
    embedding_placement = Shard(1)  # the embedding dimension split: output Shard(-1)


class RowwiseParallel(_LinearStyle):
    """Split a Linear's input features: weight Shard(1), bias Replicate. The input
    (``input_layouts``, Shard(-1) by default) is made Shard(-1); the Partial product is
    reduced to ``output_layouts`` (Replicate: all-reduce; Shard(d): reduce-scatter). An
    Embedding: its vocabulary split (weight Shard(0)), the ids made Replicate (from
    ``input_layouts``, torch's default Shard(-1) for a Tensor of ids: pass
    ``input_layouts=Replicate()`` for the same ids on every rank)."""

    def __init__(self, *, input_layouts: Placement | None = None,
                 output_layouts: Placement | None = None, use_local_output: bool = True):
        name = "RowwiseParallel"
        self.input_layouts = _layout(name, "input_layouts", input_layouts, Shard(-1))
        self.output_layouts = _layout(name, "output_layouts", output_layouts, Replicate())
        self.desired_input_layouts = Shard(-1)
        self.use_local_output = use_local_output

    placements = (Shard(1), Replicate())  # weight, bias
    embedding_placement = Shard(0)  # the vocabulary split: masked lookups, a Partial sum


class SequenceParallel(ParallelStyle):
    """A norm layer (LayerNorm) run on a sequence-sharded input: parameters Replicate, input
    Shard(``sequence_dim``) (a plain Tensor is this rank's piece), output Shard(sequence_dim)
    (a DTensor unless ``use_local_output``)."""

    def __init__(self, *, sequence_dim: int = 1, use_local_output: bool = False):
        self.sequence_dim = sequence_dim
        self.use_local_output = use_local_output

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        for name in list(module._parameters):
            _replace(module, name, device_mesh, Replicate(), self.src_data_rank)
        layout = Shard(self.sequence_dim)
        module.register_forward_pre_hook(lambda m, args: (_to_dtensor(
            args[0], device_mesh, layout, layout), *args[1:]))
        module.register_forward_hook(lambda m, args, out: _finish(
            out, layout, self.use_local_output))
        return module


def _layouts(name: str, what: str, values: Any) -> tuple:
    if values is None:
        return ()
    values = tuple(values) if isinstance(values, (tuple, list)) else (values,)
    for value in values:
        if value is not None and not isinstance(value, Placement):
            raise TypeError(f"{name}: {what} must hold Placements or None, got {value!r}")
    return values


class PrepareModuleInput(ParallelStyle):
    """Convert a module's positional inputs: input i from ``input_layouts[i]`` (a plain Tensor
    is this rank's piece) to ``desired_input_layouts[i]`` (None: left alone); keyword inputs
    likewise with the ``*_kwarg_layouts`` dicts. ``use_local_output``: pass local pieces."""

    def __init__(self, *, input_layouts: Any = None, desired_input_layouts: Any = None,
                 input_kwarg_layouts: dict | None = None,
                 desired_input_kwarg_layouts: dict | None = None,
                 use_local_output: bool = False):
        name = "PrepareModuleInput"
        self.input_layouts = _layouts(name, "input_layouts", input_layouts)
        self.desired_input_layouts = _layouts(name, "desired_input_layouts",
                                              desired_input_layouts)
        if len(self.input_layouts) != len(self.desired_input_layouts):
            raise AssertionError("input_layouts and desired_input_layouts should have same "
                                 f"length! ({len(self.input_layouts)} and "
                                 f"{len(self.desired_input_layouts)})")
        self.input_kwarg_layouts = dict(input_kwarg_layouts or {})
        self.desired_input_kwarg_layouts = dict(desired_input_kwarg_layouts or {})
        if set(self.input_kwarg_layouts) != set(self.desired_input_kwarg_layouts):
            raise AssertionError("input_kwarg_layouts and desired_input_kwarg_layouts should "
                                 "have the same keys!")
        self.use_local_output = use_local_output

    def _convert(self, value: Any, mesh: DeviceMesh, layout: Any, desired: Any) -> Any:
        value = _to_dtensor(value, mesh, layout, desired)
        return value.to_local() if self.use_local_output and isinstance(value, DTensor) \
            else value

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        def prepare(m, args):
            if len(args) < len(self.input_layouts):
                raise ValueError(f"PrepareModuleInput: {len(self.input_layouts)} input "
                                 f"layouts for {len(args)} positional inputs")
            converted = [self._convert(value, device_mesh, layout, desired) for value, layout,
                         desired in zip(args, self.input_layouts, self.desired_input_layouts)]
            return (*converted, *args[len(converted):])

        if self.input_layouts:
            module.register_forward_pre_hook(prepare)
        if self.input_kwarg_layouts:
            def prepare_kwargs(m, args, kwargs):
                converted = {key: self._convert(kwargs[key], device_mesh, layout,
                                                self.desired_input_kwarg_layouts[key])
                             for key, layout in self.input_kwarg_layouts.items()
                             if key in kwargs}
                return args, {**kwargs, **converted}

            module.register_forward_pre_hook(prepare_kwargs, with_kwargs=True)
        return module


class PrepareModuleOutput(ParallelStyle):
    """Convert a module's outputs (one, or a tuple): output i from ``output_layouts[i]`` to
    ``desired_output_layouts[i]``; local pieces when ``use_local_output`` (the default)."""

    def __init__(self, *, output_layouts: Any, desired_output_layouts: Any,
                 use_local_output: bool = True):
        name = "PrepareModuleOutput"
        self.output_layouts = _layouts(name, "output_layouts", output_layouts)
        self.desired_output_layouts = _layouts(name, "desired_output_layouts",
                                               desired_output_layouts)
        if len(self.output_layouts) != len(self.desired_output_layouts):
            raise AssertionError("output_layouts and desired_output_layouts should have same "
                                 "length!")
        self.use_local_output = use_local_output

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        def prepare(m, args, out):
            single = not isinstance(out, tuple)
            outputs = (out,) if single else out
            if len(outputs) != len(self.output_layouts):
                raise ValueError(f"PrepareModuleOutput: {len(self.output_layouts)} output "
                                 f"layouts for {len(outputs)} outputs")
            converted = tuple(
                _finish(_to_dtensor(value, device_mesh, layout, desired), None,
                        self.use_local_output)
                for value, layout, desired in zip(outputs, self.output_layouts,
                                                  self.desired_output_layouts))
            return converted[0] if single else converted

        module.register_forward_hook(prepare)
        return module

