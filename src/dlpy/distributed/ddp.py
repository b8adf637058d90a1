"""DistributedDataParallel: the same model on every rank, gradients averaged after backward.

Every rank holds a full copy of the model and runs forward and backward on its own share of the
global batch. Before the optimiser step, ``average_gradients()`` sums the gradients over the
ranks and divides by the world size, so every rank takes the same step from the same parameters:
with equal local batches of mean losses, that is the gradient of the mean loss over the global
batch, and N ranks with local batch b follow one process with batch N x b.

The gradients travel in a few large contiguous buffers (buckets of ``bucket_mb``, 25 MB by
default, per dtype, in reverse parameter order), each summed with one in-place allreduce of
mpi4py's buffer API: one call per tensor would pay the latency of a collective hundreds of times
a step. As torch's, the averaging inside ``backward()`` overlaps with it: backward reaches the
last layers' parameters first, so the buckets hold the parameters last to first, and a bucket
whose every gradient is accumulated is sent at once (a non-blocking ``Iallreduce``) while
backward goes on to the earlier layers; the last gradient waits for what is still in flight.
Each later gradient's hook tests the requests in flight (MPI moves a non-blocking collective on
only inside its calls).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from dlpy.distributed import group
from dlpy.nn.module import Module, Parameter
from dlpy.sparse_grad import dense
from dlpy.tensor import Tensor, increment_version


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
    and takes rank 0's parameters and buffers. As torch's, the gradients are averaged over the
    ranks during ``loss.backward()`` of an output of this wrapper (once the last parameter's
    gradient has been accumulated), so ``loss.backward(); optimizer.step()`` needs nothing more;
    ``broadcast_buffers`` sends rank 0's buffers (BatchNorm statistics) before every forward.
    ``with model.no_sync():`` skips the averaging (gradient accumulation; the first backward
    after the block averages what accumulated). ``average_gradients(weight=...)`` averages
    explicitly: after a ``no_sync`` backward, or when some parameters got no gradient (then the
    backward cannot tell that it is done: without it, or ``find_unused_parameters=True``, the
    next forward raises, as torch's). Calling the wrapper calls ``module``; save ``model.module``
    (or the wrapper's state_dict, whose names start with ``module.``, as torch's). In a single
    process (world size 1) it is a pass-through and nothing is copied. ``overlap=False``
    (dlpy's) sends every bucket only once the whole backward is done, one blocking
    ``Allreduce`` each (the same sums: MPI adds the ranks' buffers in one order either way).
    ``device_ids``,
    ``output_device``, ``dim``, ``gradient_as_bucket_view`` and ``static_graph`` are accepted
    for torch's code and change nothing (CPU, and the gradients always end as views of a
    bucket).
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool | None = None, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False, *,
                 mixed_precision: Any = None, bucket_mb: float = 25.0,
                 forward_sync_buffers: bool | None = None, overlap: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a dlpy.nn.Module, got "
                            f"{type(module).__name__}")
        if mixed_precision is not None:
            raise ValueError("DistributedDataParallel: mixed_precision is not supported; "
                             "dlpy.distributed.fsdp's MixedPrecision is")
        if broadcast_buffers is None:  # torch 2.13: forward_sync_buffers, else True
            broadcast_buffers = True if forward_sync_buffers is None else forward_sync_buffers
        if bucket_cap_mb is not None:
            bucket_mb = bucket_cap_mb
        if bucket_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be > 0, got {bucket_mb}")
        group.init()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        if process_group is None or getattr(process_group, "comm", None) is None:
            self._comm = group.comm()
            self.world_size = group.world_size()
        else:  # a torch.distributed group (dlpy.distributed.new_group): its communicator
            self._comm = process_group.comm
            self.world_size = process_group.size()
        self.comm_seconds = 0.0  # time spent in allreduce, for measuring the communication share
        self.buckets: list[_Bucket] = []
        self.require_backward_grad_sync = True  # torch's flag; no_sync() clears it
        self._trainable = [p for p in module.parameters() if p.requires_grad]
        self._pending = False     # a forward ran that its backward has still to average
        self._ready: set[int] = set()  # ids of the parameters whose gradient is accumulated
        self._synced = False      # the last backward averaged the gradients
        self.overlap = bool(overlap)
        self._left: list[int] = []  # per bucket: its gradients still to be accumulated
        self._requests: list[tuple[_Bucket, Any]] = []  # buckets in flight, their requests
        self._next = 0
        if self.world_size > 1:
            self._check_same_parameters()
            # last to first: backward accumulates the last layers' gradients first
            self.buckets = make_buckets(list(module.parameters())[::-1], int(bucket_mb * 2**20))
            self._bucket_of = {id(p): i for i, bucket in enumerate(self.buckets)
                               for p in bucket.params}
            if init_sync:
                self.broadcast_parameters()
                self._broadcast_buffers()
            for p in self._trainable:
                p.register_post_accumulate_grad_hook(self._grad_ready)

    @property
    def config(self) -> Any:
        return getattr(self.module, "config", None)

    def forward(self, *args, **kwargs):
        if self.world_size == 1:
            return self.module(*args, **kwargs)
        if self._pending and self._ready:
            missing = [name for name, p in self.module.named_parameters()
                       if p.requires_grad and id(p) not in self._ready]
            self._pending = False
            self._drop_in_flight()
            raise RuntimeError(
                f"DistributedDataParallel: expected the previous backward to average the "
                f"gradients before a new forward, but {len(missing)} parameter(s) got no "
                f"gradient ({', '.join(missing[:5])}): pass find_unused_parameters=True, or "
                f"call average_gradients() after such a backward")
        if self.broadcast_buffers:
            self._broadcast_buffers()
        from dlpy.tensor import is_grad_enabled

        self._pending = is_grad_enabled() and self.require_backward_grad_sync
        self._ready, self._synced = set(), False
        output = self.module(*args, **kwargs)
        if self._pending and self.find_unused_parameters:
            # parameters the output does not depend on will get no gradient: ready already
            used = _leaves_reached(output)
            self._ready = {id(p) for p in self._trainable if id(p) not in used}
        if self._pending:
            self._left = [sum(p.requires_grad and id(p) not in self._ready for p in b.params)
                          for b in self.buckets]
            self._next = 0  # the next bucket to send: they go in order
        return output

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes of forwards run in this block keep their gradients local (they
        accumulate); the first backward after it averages the sum, as torch's."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _grad_ready(self, param: Parameter) -> None:
        """The post-accumulate hook of every trainable parameter: send a bucket once its
        gradients are all in (with ``overlap``), average once every parameter's is."""
        if not self._pending or id(param) in self._ready:
            return
        self._ready.add(id(param))
        if self.overlap:
            if self._requests:  # let MPI move what is in flight
                from mpi4py import MPI

                MPI.Request.Testall([request for _, request in self._requests])
            self._left[self._bucket_of[id(param)]] -= 1
            # in bucket order, as torch's reducer: every rank issues the collectives in one order
            while self._next < len(self.buckets) and self._left[self._next] == 0:
                self._send(self.buckets[self._next])
                self._next += 1
        if len(self._ready) == len(self._trainable):
            self._pending = False
            if self.overlap:
                self._finish()
            else:
                self._allreduce(1.0)
            self._synced = True

    def _send(self, bucket: _Bucket) -> None:
        """Pack one bucket's gradients and start its non-blocking allreduce. A gradient that
        is still a view of the bucket (the last average's, accumulated into) gets its own copy
        first: the rank's own gradients stay intact until the average replaces them, for
        ``average_gradients`` after a backward that did not reach every parameter."""
        from mpi4py import MPI

        for p in bucket.params:
            if isinstance(p.grad, Tensor) and p.grad.data.base is bucket.buffer:
                p.grad = p.grad.data.copy()
        bucket.pack_gradients(1.0)
        start = time.perf_counter()
        request = self._comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
        self.comm_seconds += time.perf_counter() - start
        self._requests.append((bucket, request))

    def _finish(self) -> None:
        """Wait for every bucket's allreduce (all are sent once every gradient is in) and
        unpack the averages."""
        from mpi4py import MPI

        start = time.perf_counter()
        requests, self._requests = self._requests, []
        MPI.Request.Waitall([request for _, request in requests])
        self.comm_seconds += time.perf_counter() - start
        for bucket, _ in requests:
            bucket.unpack_gradients()

    def _check_same_parameters(self) -> None:
        mine = [(name, p.data.shape, str(p.data.dtype))
                for name, p in self.module.named_parameters()]
        every = self._comm.allgather(mine)
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
            self._comm.Bcast(bucket.buffer, root=root)
            bucket.unpack_parameters()

    def _broadcast_buffers(self) -> None:
        """Rank 0's buffers (running statistics) into every rank's, in place (one bcast): a
        reference a user holds (``rm = bn.running_mean``) sees rank 0's values, as torch's."""
        buffers = [b for _, b in self.module.named_buffers() if b is not None]
        if not buffers:
            return
        root = self._comm.Get_rank() == 0
        arrays = self._comm.bcast([b.data for b in buffers] if root else None, root=0)
        if not root:
            for mine, value in zip(buffers, arrays):
                mine.data[...] = value
                increment_version(mine)  # (an op recorded before that saved it refuses backward)

    def average_gradients(self, weight: float = 1.0) -> None:
        """Replace each parameter's gradient by its mean over the ranks (one Allreduce per
        bucket). Afterwards ``p.grad`` is a view into a bucket, overwritten by the next call.

        ``weight``: this rank's share, e.g. the number of examples (or masked tokens) its loss
        averaged over; the result is sum_r weight_r * grad_r / sum_r weight_r, the gradient of
        the mean over all the ranks' examples even when the ranks saw different numbers. After
        a backward that averaged already (the default, as torch's) it does nothing with weight 1
        and raises with another weight: run that backward inside ``no_sync()``.
        """
        if weight < 0 or not np.isfinite(weight):
            raise ValueError(f"DistributedDataParallel.average_gradients: weight must be a "
                             f"finite number >= 0, got {weight}")
        if self.world_size == 1:
            return
        if self._synced:
            if weight != 1.0:
                raise RuntimeError(
                    "DistributedDataParallel.average_gradients: the backward averaged the "
                    "gradients already (with equal weights); for a weighted average run the "
                    "forward and backward inside `with model.no_sync():`")
            return
        self._pending, self._ready = False, set()
        self._drop_in_flight()
        self._allreduce(float(weight))

    def _drop_in_flight(self) -> None:
        """Complete the buckets a backward that did not reach every parameter sent, and drop
        their sums: the averaging starts again from the ranks' own gradients (kept intact)."""
        if self._requests:
            from mpi4py import MPI

            requests, self._requests = self._requests, []
            MPI.Request.Waitall([request for _, request in requests])

    def _allreduce(self, weight: float) -> None:
        from mpi4py import MPI

        for bucket in self.buckets:
            bucket.pack_gradients(weight)
        start = time.perf_counter()
        for bucket in self.buckets:
            self._comm.Allreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)
        self.comm_seconds += time.perf_counter() - start
        for bucket in self.buckets:
            bucket.unpack_gradients()


def _leaves_reached(output: Any) -> set[int]:
    """The ids of the leaf tensors (parameters) that ``output``'s recorded graph reaches."""

    stack, seen_ops, leaves = [output], set(), set()
    while stack:
        item = stack.pop()
        if isinstance(item, Tensor):
            op = item.op
            if op is None:
                leaves.add(id(item))
            elif id(op) not in seen_ops:
                seen_ops.add(id(op))
                stack.extend(getattr(op, "inputs", ()))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return leaves
