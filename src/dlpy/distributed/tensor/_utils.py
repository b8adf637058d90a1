"""torch.distributed.tensor._utils: layout arithmetic of a DTensor without building one."""

from __future__ import annotations

from collections.abc import Sequence

from dlpy.distributed.device_mesh import DeviceMesh
from dlpy.distributed.tensor._api import DTensorSpec, _normalized
from dlpy.distributed.tensor.placement_types import Placement


def compute_local_shape_and_global_offset(global_shape: Sequence[int], mesh: DeviceMesh,
                                          placements: Sequence[Placement]
                                          ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(local shape, global offset) of this rank's piece of a tensor of ``global_shape`` laid
    out on ``mesh`` by ``placements`` (torch.chunk's pieces, as ``distribute_tensor``): the
    offset is where the piece starts along each dimension of the global tensor (an empty
    piece starts at the end of the rows it was cut from)."""
    shape = tuple(int(s) for s in global_shape)
    spec = DTensorSpec(mesh, _normalized("compute_local_shape_and_global_offset", mesh,
                                         placements, len(shape)), shape, None)
    ranges = [spec.local_range(dim) for dim in range(len(shape))]
    return (tuple(end - start for start, end in ranges),
            tuple(start for start, _ in ranges))
