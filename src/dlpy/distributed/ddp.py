"""DistributedDataParallel: the same model on every rank, gradients averaged after backward.

Every rank holds a full copy of the model and runs forward and backward on its own share of the
global batch. Before the optimiser step, ``average_gradients()`` sums the gradients over the
ranks and divides by the world size, so every rank takes the same step from the same parameters:
with equal local batches of mean losses, that is the gradient of the mean loss over the global
batch, and N ranks with local batch b follow one process with batch N x b.

The gradients travel in a few large contiguous buffers (buckets of ``bucket_mb``, 25 MB by
default, per dtype, in parameter order), each summed with one in-place ``Allreduce`` of mpi4py's
buffer API: one call per tensor would pay the latency of a collective hundreds of times a step.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dlpy.distributed import group
from dlpy.nn.module import Module, Parameter
from dlpy.sparse_grad import dense


class _Bucket:
    """One contiguous buffer: the gradients of consecutive parameters of one dtype, one flag per
    parameter (how many ranks had a gradient for it), and the rank's weight (summed: the
    total weight)."""

    def __init__(self, dtype: np.dtype, params: list[Parameter]):
        self.params = params
        self.offsets = np.cumsum([0] + [p.data.size for p in params]).tolist()
        self.numel = self.offsets[-1]
        self.buffer = np.zeros(self.numel + len(params) + 1, dtype=dtype)

    @property
    def nbytes(self) -> int:
        return self.buffer.nbytes

    def pack_gradients(self, weight: float) -> None:
        flags = self.buffer[self.numel:-1]
        for i, p in enumerate(self.params):
            view = self.buffer[self.offsets[i]:self.offsets[i + 1]]
            if p.grad is None:
                view.fill(0)
                flags[i] = 0
            else:
                if p.grad.shape != p.data.shape:
                    raise ValueError(f"DistributedDataParallel: a parameter of shape "
                                     f"{p.data.shape} has a gradient of shape {p.grad.shape}")
                # casts a gradient of another float dtype; a sparse one is summed densely
                view[...] = dense(p.grad).reshape(-1)
                flags[i] = 1
        if weight != 1.0:
            self.buffer[:self.numel] *= weight
        self.buffer[-1] = weight

    def unpack_gradients(self) -> None:
        """Divide by the total weight, and point each gradient at its slice (None where no
        rank had one)."""
        total = self.buffer[-1]
        if total <= 0:
            raise ValueError(f"DistributedDataParallel: the weights of the ranks sum to {total}, "
                             f"expected > 0")
        self.buffer[:self.numel] *= 1.0 / total
        flags = self.buffer[self.numel:-1]
        for i, p in enumerate(self.params):
            if flags[i] == 0:
                p.grad = None
            else:
                p.grad = self.buffer[self.offsets[i]:self.offsets[i + 1]].reshape(p.data.shape)

    def pack_parameters(self) -> None:
        for i, p in enumerate(self.params):
            self.buffer[self.offsets[i]:self.offsets[i + 1]] = p.data.reshape(-1)

    def unpack_parameters(self) -> None:
        for i, p in enumerate(self.params):
            p.data[...] = self.buffer[self.offsets[i]:self.offsets[i + 1]].reshape(p.data.shape)


def make_buckets(params: list[Parameter], bucket_bytes: int) -> list[_Bucket]:
    """Consecutive parameters of one dtype grouped into buckets of about ``bucket_bytes`` (a
    parameter larger than that gets a bucket of its own)."""
    buckets: list[_Bucket] = []
    by_dtype: dict[np.dtype, list[Parameter]] = {}
    sizes: dict[np.dtype, int] = {}
    for p in params:
        dtype = p.data.dtype
        pending = by_dtype.setdefault(dtype, [])
        if pending and sizes[dtype] + p.data.nbytes > bucket_bytes:
            buckets.append(_Bucket(dtype, pending))
            pending = by_dtype[dtype] = []
            sizes[dtype] = 0
        pending.append(p)
        sizes[dtype] = sizes.get(dtype, 0) + p.data.nbytes
    buckets.extend(_Bucket(dtype, pending) for dtype, pending in by_dtype.items() if pending)
    return buckets


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: ``model = DistributedDataParallel(net)``.

    At construction every rank checks that it holds the same parameters (names, shapes, dtypes)
    and takes rank 0's values. Call ``model.average_gradients()`` after ``loss.backward()`` and
    before ``optimizer.step()`` (with ``weight=`` the rank's example or token count when the
    ranks' losses average over different numbers). Calling the wrapper calls ``module``; save
    ``model.module``. In a single process (world size 1) it is a pass-through and nothing is copied.
    """

    def __init__(self, module: Module, bucket_mb: float = 25.0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a dlpy.nn.Module, got "
                            f"{type(module).__name__}")
        if bucket_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be > 0, got {bucket_mb}")
        group.init()
        self.module = module
        self.world_size = group.world_size()
        self.comm_seconds = 0.0  # time spent in allreduce, for measuring the communication share
        self.buckets: list[_Bucket] = []
        if self.world_size > 1:
            self._check_same_parameters()
            self.buckets = make_buckets(module.parameters(), int(bucket_mb * 2**20))
            self.broadcast_parameters()

    @property
    def config(self) -> Any:
        return getattr(self.module, "config", None)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def _check_same_parameters(self) -> None:
        mine = [(name, p.data.shape, str(p.data.dtype))
                for name, p in self.module.named_parameters()]
        every = group.comm().allgather(mine)
        for other_rank, theirs in enumerate(every):
            if theirs != mine:
                difference = next(((a, b) for a, b in zip(mine, theirs) if a != b),
                                  (f"{len(mine)} parameters", f"{len(theirs)} parameters"))
                raise ValueError(
                    f"DistributedDataParallel: rank {group.rank()} and rank {other_rank} hold "
                    f"different models: {difference[0]} vs {difference[1]}")

    def broadcast_parameters(self, root: int = 0) -> None:
        """Overwrite every rank's parameters with rank ``root``'s (one Bcast per bucket)."""
        if self.world_size == 1:
            return
        for bucket in self.buckets:
            bucket.pack_parameters()
            group.comm().Bcast(bucket.buffer, root=root)
            bucket.unpack_parameters()

    def average_gradients(self, weight: float = 1.0) -> None:
        """Replace each parameter's gradient by its mean over the ranks (one Allreduce per
        bucket). Afterwards ``p.grad`` is a view into a bucket, overwritten by the next call.

        ``weight``: this rank's share, e.g. the number of examples (or masked tokens) its loss
        averaged over; the result is sum_r weight_r * grad_r / sum_r weight_r, the gradient of
        the mean over all the ranks' examples even when the ranks saw different numbers.
        """
        if weight < 0 or not np.isfinite(weight):
            raise ValueError(f"DistributedDataParallel.average_gradients: weight must be a "
                             f"finite number >= 0, got {weight}")
        if self.world_size == 1:
            return
        from mpi4py import MPI

        for bucket in self.buckets:
            bucket.pack_gradients(float(weight))
        start = time.perf_counter()
        for bucket in self.buckets:
            group.comm().Allreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
        self.comm_seconds += time.perf_counter() - start
        for bucket in self.buckets:
            bucket.unpack_gradients()
