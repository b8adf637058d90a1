"""torch.distributed.tensor: DTensor over a DeviceMesh, and tensor parallelism (``parallel``).

    mesh = init_device_mesh("cpu", (2,), mesh_dim_names=("tp",))
    w = distribute_tensor(weight, mesh, [Shard(0)])    # each rank holds half the rows
    w.to_local(), w.full_tensor(), w.redistribute(placements=[Replicate()])

See docs/distributed.md ("Tensor parallelism").
"""

from dlpy.distributed.device_mesh import DeviceMesh, init_device_mesh
from dlpy.distributed.tensor._api import (
    DTensor,
    distribute_module,
    distribute_tensor,
)
from dlpy.distributed.tensor.placement_types import Partial, Placement, Replicate, Shard

__all__ = ["DTensor", "DeviceMesh", "Partial", "Placement", "Replicate", "Shard",
           "distribute_module", "distribute_tensor", "init_device_mesh"]
