"""parallelize_module: apply tensor-parallel styles to a module's submodules."""

from __future__ import annotations

import fnmatch
import warnings
from typing import Any

from dlpy import nn
from dlpy.distributed.device_mesh import DeviceMesh
from dlpy.distributed.tensor._api import _mesh_or_world
from dlpy.distributed.tensor.parallel.style import ParallelStyle


def parallelize_module(module: nn.Module, device_mesh: DeviceMesh | None = None,
                       parallelize_plan: ParallelStyle | dict[str, ParallelStyle] | None = None,
                       *, src_data_rank: int | None = 0) -> nn.Module:
    """Lay ``module`` out over a 1-D mesh: ``parallelize_plan`` is one ParallelStyle (for the
    module itself) or {submodule path: style}, paths with ``*`` wildcards per component
    ("layers.*.mlp.fc1"). Parameters take the values of the mesh's rank ``src_data_rank``
    (None: each rank's own). Returns the module, changed in place."""
    name = "parallelize_module"
    if not isinstance(module, nn.Module):
        raise TypeError(f"{name}: expected a dlpy.nn.Module, got {type(module).__name__}")
    mesh = _mesh_or_world(device_mesh, name)
    if mesh.ndim != 1:
        raise ValueError(f"Tensor Parallel only accepts a 1D DeviceMesh, but found "
                         f"{mesh.ndim}D! If you have a 2-D or N-D device_mesh, consider "
                         f"passing in device_mesh[\"tp\"]")
    if parallelize_plan is None:
        warnings.warn("No parallelize_plan is provided and auto-parallel is not supported "
                      "at the moment, so this parallelize_module call will do nothing.",
                      stacklevel=2)
        return module
    if isinstance(parallelize_plan, ParallelStyle):
        return _apply(parallelize_plan, module, mesh, src_data_rank)
    if not isinstance(parallelize_plan, dict):
        raise TypeError(f"{name}: expect Union[ParallelStyle, Dict] for parallelize_plan, "
                        f"{type(parallelize_plan).__name__} found!")
    named = list(module.named_modules())
    for path, style in parallelize_plan.items():
        if not isinstance(style, ParallelStyle):
            raise TypeError(f"{name}: the plan's value for {path!r} must be a ParallelStyle, "
                            f"got {style!r}")
        pattern = path.split(".")
        matched = [sub for sub_path, sub in named if sub_path
                   and len(sub_path.split(".")) == len(pattern)
                   and all(fnmatch.fnmatchcase(part, atom)
                           for part, atom in zip(sub_path.split("."), pattern))]
        if not matched:
            warnings.warn(f"Parallelize plan key {path!r} could not be resolved: no submodule "
                          f"matching it in {type(module).__name__}, skipping this plan entry.",
                          stacklevel=2)
        for sub in matched:
            _apply(style, sub, mesh, src_data_rank)
    return module


def _apply(style: ParallelStyle, module: nn.Module, mesh: DeviceMesh,
           src_data_rank: Any) -> nn.Module:
    style.src_data_rank = src_data_rank
    return style._apply(module, mesh)
