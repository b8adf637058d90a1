"""torch.distributed._tensor: the old import path of torch.distributed.tensor (DTensor moved
there); its submodules ``experimental`` and ``device_mesh`` are the new ones."""

import sys
from importlib import import_module

for _submodule in ("experimental", "device_mesh"):
    sys.modules[f"{__name__}.{_submodule}"] = import_module(
        f"dlpy.distributed.tensor.{_submodule}" if _submodule == "experimental"
        else f"dlpy.distributed.{_submodule}")

from dlpy.distributed.tensor import (  # noqa: E402
    DeviceMesh,
    DTensor,
    Partial,
    Placement,
    Replicate,
    Shard,
    distribute_module,
    distribute_tensor,
    init_device_mesh,
)

__all__ = ["DTensor", "DeviceMesh", "Partial", "Placement", "Replicate", "Shard",
           "distribute_module", "distribute_tensor", "init_device_mesh"]
