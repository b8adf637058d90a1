"""torch.distributed.device_mesh over dlpy's MPI process groups.

    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))   # mpirun -n 4
    mesh["tp"].get_group()      # this rank's row: the ranks that share its dp coordinate

A DeviceMesh is an n-dimensional array of global ranks. Each mesh dimension has one process
group per line of ranks along it (``new_group``), and a rank keeps the group of the line it
is on: ``get_group(dim)`` is the group collectives over that dimension run on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from dlpy.distributed import torch_api
from dlpy.tensor import Tensor

DEVICE_TYPES = ("cpu", "cuda", "mps", "xpu", "meta", "hpu", "npu")


class DeviceMesh:
    """``DeviceMesh(device_type, mesh, mesh_dim_names=None)``: ``mesh`` (an array of global
    ranks, one per position) must hold every rank of the world once. Every rank must build the
    same mesh (collectively: one ``new_group`` per line along each dimension)."""

    def __init__(self, device_type: str, mesh: Any, *,
                 mesh_dim_names: Sequence[str] | None = None):
        if not isinstance(device_type, str) or device_type.split(":")[0] not in DEVICE_TYPES:
            raise ValueError(f"DeviceMesh: device_type must be one of {list(DEVICE_TYPES)}, "
                             f"got {device_type!r} (the computation runs on the CPU anyway)")
        array = np.asarray(mesh.data if isinstance(mesh, Tensor) else mesh)
        if array.ndim == 0 or array.size == 0 or array.dtype.kind not in "iu":
            raise ValueError(f"DeviceMesh: mesh must be a non-empty array of integer ranks, got "
                             f"{array.dtype} of shape {array.shape}")
        array = array.astype(np.int64)
        world = torch_api.get_world_size()
        if array.size > world:
            raise RuntimeError(f"Mesh should not be bigger than default world size {world}, "
                               f"but found {array.size} ranks!")
        if sorted(array.reshape(-1).tolist()) != list(range(world)):
            raise RuntimeError(f"DeviceMesh: the mesh must hold every rank 0..{world - 1} once "
                               f"(dlpy's meshes span the whole world), got "
                               f"{array.tolist()}")
        names = None if mesh_dim_names is None else tuple(mesh_dim_names)
        if names is not None:
            if len(names) != array.ndim:
                raise RuntimeError(f"mesh_dim_names {names} must have one name per mesh "
                                   f"dimension, the mesh has shape {array.shape}")
            if len(set(names)) != len(names) or not all(isinstance(n, str) for n in names):
                raise RuntimeError(f"Each mesh_dim_name must be a unique string, got {names}")
        self.device_type = device_type
        self._mesh = array
        self.mesh_dim_names = names
        self._rank = torch_api.get_rank()
        where = np.argwhere(array == self._rank)
        self._coordinate = [int(c) for c in where[0]] if len(where) else None
        self._groups = []
        for dim in range(array.ndim):
            mine = None
            lines = np.moveaxis(array, dim, -1).reshape(-1, array.shape[dim])
            for line in lines:  # every rank takes part in every split, in the same order
                group = torch_api.new_group([int(r) for r in line])
                if self._rank in line.tolist():
                    mine = group
            self._groups.append(mine)

    # ----------------------------------------------------------------- shape and rank
    @property
    def mesh(self) -> Tensor:
        """The global ranks, an int64 Tensor of the mesh's shape."""
        return Tensor(self._mesh.copy())

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._mesh.shape)

    @property
    def ndim(self) -> int:
        return self._mesh.ndim

    def _dim(self, mesh_dim: int | str | None, name: str) -> int:
        """A mesh dimension given as an index or a name (None: the only one of a 1-D mesh)."""
        if mesh_dim is None:
            if self.ndim != 1:
                raise RuntimeError(f"DeviceMesh.{name}: the mesh has {self.ndim} dimensions; "
                                   "give mesh_dim")
            return 0
        if isinstance(mesh_dim, str):
            if self.mesh_dim_names is None or mesh_dim not in self.mesh_dim_names:
                raise KeyError(f"DeviceMesh.{name}: mesh dimension {mesh_dim!r} not found in "
                               f"mesh_dim_names {self.mesh_dim_names}")
            return self.mesh_dim_names.index(mesh_dim)
        if isinstance(mesh_dim, bool) or not isinstance(mesh_dim, (int, np.integer)) \
                or not -self.ndim <= mesh_dim < self.ndim:
            raise IndexError(f"DeviceMesh.{name}: mesh_dim {mesh_dim!r} out of range for a "
                             f"{self.ndim}-D mesh")
        return int(mesh_dim) % self.ndim

    def size(self, mesh_dim: int | str | None = None) -> int:
        """The number of ranks along ``mesh_dim`` (all of them when None)."""
        if mesh_dim is None:
            return int(self._mesh.size)
        return self.shape[self._dim(mesh_dim, "size")]

    def get_group(self, mesh_dim: int | str | None = None) -> torch_api.ProcessGroup:
        """The process group of this rank's line along ``mesh_dim``."""
        return self._groups[self._dim(mesh_dim, "get_group")]

    def get_all_groups(self) -> list[torch_api.ProcessGroup]:
        return list(self._groups)

    def get_rank(self) -> int:
        """This process's global rank."""
        return self._rank

    def get_local_rank(self, mesh_dim: int | str | None = None) -> int:
        """This rank's coordinate along ``mesh_dim``."""
        return self._coordinate[self._dim(mesh_dim, "get_local_rank")]

    def get_coordinate(self) -> list[int] | None:
        """This rank's position in the mesh (None for a rank outside it)."""
        return None if self._coordinate is None else list(self._coordinate)

    # ----------------------------------------------------------------- slicing
    def __getitem__(self, names: str | Sequence[str]) -> DeviceMesh:
        """The sub-mesh of the named dimensions (in the mesh's order) through this rank,
        reusing this mesh's groups: ``mesh["tp"]``, ``mesh["dp", "tp"]``."""
        wanted = (names,) if isinstance(names, str) else tuple(names)
        if self.mesh_dim_names is None:
            raise RuntimeError("DeviceMesh: cannot slice a mesh without mesh_dim_names")
        unknown = [n for n in wanted if n not in self.mesh_dim_names]
        if not wanted or unknown:
            raise KeyError(f"Invalid mesh_dim_names {wanted} specified; valid names are "
                           f"{self.mesh_dim_names}")
        dims = [self.mesh_dim_names.index(n) for n in wanted]
        if dims != sorted(dims) or len(set(dims)) != len(dims):
            raise KeyError(f"Invalid mesh_dim_names {wanted}: the names must follow the mesh's "
                           f"order {self.mesh_dim_names}")
        if dims == list(range(self.ndim)):
            return self
        index = tuple(slice(None) if d in dims else self._coordinate[d]
                      for d in range(self.ndim))
        return _sub_mesh(self, self._mesh[index], wanted, [self._groups[d] for d in dims])

    # ----------------------------------------------------------------- comparison
    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, DeviceMesh)
                                 and np.array_equal(self._mesh, other._mesh)
                                 and self.mesh_dim_names == other.mesh_dim_names
                                 and self._groups == other._groups)

    def __hash__(self) -> int:
        return hash((self._mesh.tobytes(), self._mesh.shape, self.mesh_dim_names))

    def __repr__(self) -> str:
        names = "" if self.mesh_dim_names is None else \
            f", mesh_dim_names={self.mesh_dim_names}"
        return f"DeviceMesh('{self.device_type}', {self._mesh.tolist()}{names})"


def _sub_mesh(parent: DeviceMesh, ranks: np.ndarray, names: tuple[str, ...],
              groups: list) -> DeviceMesh:
    """A DeviceMesh over some of ``parent``'s ranks that reuses its groups (no collective)."""
    mesh = DeviceMesh.__new__(DeviceMesh)
    mesh.device_type = parent.device_type
    mesh._mesh = ranks
    mesh.mesh_dim_names = names
    mesh._rank = parent._rank
    where = np.argwhere(ranks == mesh._rank)
    mesh._coordinate = [int(c) for c in where[0]]
    mesh._groups = groups
    return mesh


def init_device_mesh(device_type: str, mesh_shape: Sequence[int], *,
                     mesh_dim_names: Sequence[str] | None = None) -> DeviceMesh:
    """A mesh of ``mesh_shape`` over ranks 0..N-1 in row-major order (N = the world size;
    ``init_process_group`` first, or an mpirun launch)."""
    shape = tuple(mesh_shape) if isinstance(mesh_shape, (tuple, list)) else None
    if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                            and s > 0 for s in shape):
        raise ValueError(f"init_device_mesh: mesh_shape must be a tuple of positive ints, got "
                         f"{mesh_shape!r}")
    if mesh_dim_names is not None and len(tuple(mesh_dim_names)) != len(shape):
        raise RuntimeError(f"mesh_shape and mesh_dim_names should have same length! Found "
                           f"len(mesh_dim_names): {len(tuple(mesh_dim_names))} and "
                           f"len(mesh_shape):{len(shape)}.")
    world = torch_api.get_world_size()
    if math.prod(shape) != world:
        raise RuntimeError(f"init_device_mesh: mesh_shape {shape} holds {math.prod(shape)} "
                           f"ranks, the world has {world} (mpirun -n {world}); the product of "
                           "mesh_shape must equal the world size")
    ranks = np.arange(world, dtype=np.int64).reshape(shape)
    return DeviceMesh(device_type, ranks, mesh_dim_names=mesh_dim_names)
