"""How a DTensor lies on one mesh dimension: ``Shard(dim)``, ``Replicate()``, ``Partial()``."""

from __future__ import annotations


class Placement:
    """The base class of the three placements (torch.distributed.tensor.Placement)."""

    def is_shard(self, dim: int | None = None) -> bool:
        return False

    def is_replicate(self) -> bool:
        return False

    def is_partial(self, reduce_op: str | None = None) -> bool:
        return False


class Shard(Placement):
    """Split along tensor dimension ``dim`` into torch.chunk's pieces: chunk size
    ceil(size / n), rank i holds [i c, (i + 1) c) clipped (the last ranks may hold less, or
    nothing)."""

    __slots__ = ("dim",)

    def __init__(self, dim: int):
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"Shard: dim must be an int, got {dim!r}")
        self.dim = dim

    def is_shard(self, dim: int | None = None) -> bool:
        return dim is None or dim == self.dim

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Shard) and other.dim == self.dim

    def __hash__(self) -> int:
        return hash(("Shard", self.dim))

    def __repr__(self) -> str:
        return f"Shard(dim={self.dim})"

    @staticmethod
    def local_shard_size_and_offset(curr_local_size: int, num_chunks: int, rank: int
                                    ) -> tuple[int, int]:
        """(size, offset) of piece ``rank`` of ``num_chunks`` torch.chunk pieces of
        ``curr_local_size`` rows; an empty piece's offset is ``curr_local_size``."""
        step = -(-curr_local_size // num_chunks)
        start = min(step * rank, curr_local_size)
        return min(curr_local_size, start + step) - start, start

    _local_shard_size_and_offset = local_shard_size_and_offset


class Replicate(Placement):
    """Every rank of the mesh dimension holds the whole tensor."""

    def is_replicate(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Replicate)

    def __hash__(self) -> int:
        return hash("Replicate")

    def __repr__(self) -> str:
        return "Replicate()"


class Partial(Placement):
    """Every rank holds a tensor of the full shape; the value is their sum (``reduce_op``
    "sum", the only one dlpy supports)."""

    __slots__ = ("reduce_op",)

    def __init__(self, reduce_op: str = "sum"):
        if reduce_op != "sum":
            raise ValueError(f"Partial: dlpy supports reduce_op='sum' only, got {reduce_op!r}")
        self.reduce_op = reduce_op

    def is_partial(self, reduce_op: str | None = None) -> bool:
        return reduce_op is None or reduce_op == self.reduce_op

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Partial) and other.reduce_op == self.reduce_op

    def __hash__(self) -> int:
        return hash(("Partial", self.reduce_op))

    def __repr__(self) -> str:
        return f"Partial({self.reduce_op})"


class _StridedShard(Shard):
    """torch's Shard(dim) applied after ``split_factor`` pieces were cut along the same dim by
    another mesh dimension (FSDP over tensor parallelism). dlpy's DTensor lays out only plain
    Shard, Replicate and Partial: it refuses this placement (the class exists so that code
    checking for it runs)."""

    __slots__ = ("split_factor",)

    def __init__(self, dim: int, split_factor: int = 1):
        super().__init__(dim)
        self.split_factor = split_factor

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, _StridedShard) and other.dim == self.dim
                and other.split_factor == self.split_factor)

    def __hash__(self) -> int:
        return hash(("_StridedShard", self.dim, self.split_factor))

    def __repr__(self) -> str:
        return f"_StridedShard(dim={self.dim}, sf={self.split_factor})"
