"""Pipeline parallelism over MPI (torch.distributed.pipelining's ideas, a simplified API).

    from dlpy.distributed.pipelining import pipeline, SplitPoint, ScheduleGPipe, Schedule1F1B
    pipe = pipeline(net, split_spec={"4": SplitPoint.BEGINNING})   # a Sequential, 2 stages
    stage = pipe.build_stage(dist.get_rank())                     # rank r runs stage r
    schedule = Schedule1F1B(stage, n_microbatches=4, loss_fn=F.cross_entropy)
    if stage.is_first:  schedule.step(x)
    elif stage.is_last: schedule.step(target=y, losses=losses)
    else:               schedule.step()
    opt.step()                                                     # over stage.submodule

The batch is split into ``n_microbatches`` equal micro-batches along the first axis. Each stage
runs its part of the model on a micro-batch and sends the activation to the next stage
(point-to-point MPI, non-blocking sends); the last stage computes ``loss_fn(output, target)``
per micro-batch; backward sends each activation's gradient back the same way. The parameter
gradients add up over the micro-batches and are divided by their number (torch's
``scale_grads=True``): with a mean loss, the gradient of the whole batch's mean loss.
GPipe runs every forward, then every backward (each stage holds all micro-batches' activations);
1F1B starts backward as soon as the last stage can and then alternates, so stage s holds at most
``num_stages - s`` micro-batches' activations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from dlpy.device import as_device
from dlpy.distributed import torch_api
from dlpy.nn.container import Sequential
from dlpy.nn.module import Module
from dlpy.tensor import Tensor

__all__ = ["Pipe", "PipelineStage", "Schedule1F1B", "ScheduleGPipe", "SplitPoint",
           "pipeline", "split_sequential"]

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_HEADER = 10  # int64: dtype index, ndim, up to 8 sizes


class SplitPoint(enum.Enum):
    BEGINNING = 1  # the stage starts at this module
    END = 2  # the stage ends after it


def split_sequential(module: Sequential, split_spec: dict[str, SplitPoint] | Sequence[int]
                     ) -> list[Sequential]:
    """The stages of a Sequential: ``split_spec`` maps a child's name to where a new stage
    begins (torch's {name: SplitPoint}), or lists the indices that begin a stage."""
    name = "pipeline"
    if not isinstance(module, Sequential):
        raise TypeError(f"{name}: expected an nn.Sequential (or pass a list of stages), got "
                        f"{type(module).__name__}")
    names = list(module._modules)
    starts: set[int] = set()
    if isinstance(split_spec, dict):
        for key, point in split_spec.items():
            if key not in names:
                raise ValueError(f"{name}: split_spec names {key!r}, which is not a child of "
                                 f"the Sequential ({names})")
            if not isinstance(point, SplitPoint):
                raise TypeError(f"{name}: split_spec[{key!r}] must be a SplitPoint, got "
                                f"{point!r}")
            starts.add(names.index(key) + (point is SplitPoint.END))
    else:
        starts = {int(i) for i in split_spec}
    bad = sorted(i for i in starts if not 0 < i < len(names))
    if bad:
        raise ValueError(f"{name}: a split at position {bad[0]} leaves an empty stage (the "
                         f"Sequential has {len(names)} children)")
    bounds = [0, *sorted(starts), len(names)]
    children = list(module._modules.values())
    return [Sequential(*children[a:b]) for a, b in zip(bounds, bounds[1:])]


class Pipe:
    """The stages of a split model: ``pipe.build_stage(stage_index)``, ``num_stages``,
    ``split_gm`` is the list of stage modules."""

    def __init__(self, stages: list[Module]):
        self.split_gm = stages
        self.num_stages = len(stages)

    def get_stage_module(self, stage_index: int) -> Module:
        return self.split_gm[stage_index]

    def build_stage(self, stage_index: int, device: Any = None, group: Any = None
                    ) -> PipelineStage:
        return PipelineStage(self.get_stage_module(stage_index), stage_index,
                             self.num_stages, device, group=group)


def pipeline(module: Sequential | Sequence[Module],
             split_spec: dict[str, SplitPoint] | Sequence[int] | None = None,
             mb_args: Any = None) -> Pipe:
    """Split a Sequential at ``split_spec`` (or take a list of stage modules as they are)."""
    if isinstance(module, Sequential) and split_spec is not None:
        return Pipe(split_sequential(module, split_spec))
    if isinstance(module, (list, tuple)):
        for i, m in enumerate(module):
            if not isinstance(m, Module):
                raise TypeError(f"pipeline: stage {i} must be an nn.Module, got "
                                f"{type(m).__name__}")
        return Pipe(list(module))
    raise TypeError("pipeline: give a Sequential with split_spec, or a list of stage modules "
                    f"(dlpy does not trace pipe_split() markers), got {type(module).__name__}")


class PipelineStage:
    """Stage ``stage_index`` of ``num_stages``, run by the rank of that index in ``group``."""

    def __init__(self, submodule: Module, stage_index: int, num_stages: int, device: Any = None,
                 input_args: Any = None, output_args: Any = None, group: Any = None):
        name = "PipelineStage"
        if not isinstance(submodule, Module):
            raise TypeError(f"{name}: submodule must be an nn.Module, got "
                            f"{type(submodule).__name__}")
        as_device(device, name)  # the CPU (a string, a device or None); any other raises
        pg = torch_api._group_of(name, group)
        if pg is None:
            raise ValueError(f"{name}: this rank is not a member of group")
        if num_stages != pg.size():
            raise ValueError(f"{name}: num_stages={num_stages}, but the group has {pg.size()} "
                             "ranks (dlpy runs one stage per rank)")
        if not 0 <= stage_index < num_stages:
            raise ValueError(f"{name}: stage_index={stage_index} is not in [0, {num_stages})")
        if stage_index != pg.rank():
            raise ValueError(f"{name}: stage_index={stage_index} on group rank {pg.rank()} "
                             "(stage s runs on group rank s)")
        self.submodule, self.stage_index, self.num_stages = submodule, stage_index, num_stages
        self.group = pg
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1
        self.peak_activation_bytes = 0  # set by a schedule's step(measure_memory=True)
        self.peak_live_microbatches = 0


class _Schedule:
    """What GPipe and 1F1B share: micro-batches, the forward and backward of one, messages."""

    def __init__(self, stage: PipelineStage, n_microbatches: int,
                 loss_fn: Callable | None = None, scale_grads: bool = True):
        name = type(self).__name__
        if not isinstance(stage, PipelineStage):
            raise TypeError(f"{name}: expected a PipelineStage, got {type(stage).__name__}")
        if isinstance(n_microbatches, bool) or not isinstance(n_microbatches, int) \
                or n_microbatches < 1:
            raise ValueError(f"{name}: n_microbatches must be an int >= 1, got "
                             f"{n_microbatches!r}")
        if stage.is_last and loss_fn is None:
            raise ValueError(f"{name}: the last stage needs loss_fn")
        self.stage, self.n, self.loss_fn, self.scale_grads = stage, n_microbatches, loss_fn, \
            scale_grads
        self.name = name

    # ------------------------------------------------------------- one micro-batch
    def step(self, *args: Any, target: Any = None, losses: list | None = None,
             measure_memory: bool = False) -> Tensor | None:
        """Forward and backward of every micro-batch; the parameter gradients accumulate in
        ``stage.submodule``. The first stage takes the batch (``args``), the last ``target``
        (and appends each micro-batch's loss to ``losses``); the last returns the output of
        the whole batch (the micro-batches' outputs joined)."""
        stage = self.stage
        if stage.is_first and not args:
            raise ValueError(f"{self.name}.step: the first stage needs the batch as arguments")
        if stage.is_last and target is None:
            raise ValueError(f"{self.name}.step: the last stage needs target=")
        self._inputs = _microbatches(self.name, "args", args, self.n) if stage.is_first else None
        self._targets = _microbatches(self.name, "target", (target,), self.n) \
            if stage.is_last else None
        self._live: dict[int, tuple[Tensor | None, Tensor]] = {}
        self._outputs: list[np.ndarray] = []
        self._sends: list[Any] = []
        self._keep: list[np.ndarray] = []  # what the sends read, alive until they are done
        self._losses = losses
        self._measure = measure_memory
        stage.peak_activation_bytes = stage.peak_live_microbatches = 0
        try:
            self._run()
        finally:
            for request in self._sends:
                request.Wait()
            self._keep.clear()
        return Tensor(np.concatenate(self._outputs)) if stage.is_last else None

    def _forward(self, i: int) -> None:
        stage = self.stage
        if stage.is_first:
            inputs = [Tensor(a) if not isinstance(a, Tensor) else a for a in self._inputs[i]]
            held = None
        else:
            held = Tensor(self._receive(stage.stage_index - 1, 2 * i), requires_grad=True)
            inputs = [held]
        output = stage.submodule(*inputs)
        if not isinstance(output, Tensor):
            raise TypeError(f"{self.name}: stage {stage.stage_index} returned "
                            f"{type(output).__name__}; a stage must return one Tensor")
        if stage.is_last:
            self._outputs.append(output.data.copy())
            target = self._targets[i][0]
            loss = self.loss_fn(output, target)
            if self._losses is not None:
                self._losses.append(loss)
            output = loss
        else:
            self._send(output.data, stage.stage_index + 1, 2 * i)
        self._live[i] = (held, output)
        if self._measure:
            stage.peak_live_microbatches = max(stage.peak_live_microbatches, len(self._live))
            stage.peak_activation_bytes = max(stage.peak_activation_bytes,
                                              _graph_bytes([o for _, o in self._live.values()]))

    def _backward(self, i: int) -> None:
        stage = self.stage
        held, output = self._live.pop(i)
        scale = 1.0 / self.n if self.scale_grads else 1.0
        if stage.is_last:
            output.backward(np.full(output.shape, scale, dtype=output.dtype))
        else:
            output.backward(self._receive(stage.stage_index + 1, 2 * i + 1))
        if held is not None:
            grad = held.grad.data if held.grad is not None else np.zeros_like(held.data)
            self._send(grad, stage.stage_index - 1, 2 * i + 1)

    # ------------------------------------------------------------- messages
    def _send(self, array: np.ndarray, peer: int, tag: int) -> None:
        array = np.ascontiguousarray(array)
        if array.dtype not in _DTYPES or array.ndim > _HEADER - 2:
            raise TypeError(f"{self.name}: a stage's activations must be float32 or float64 "
                            f"with at most {_HEADER - 2} axes, got {array.dtype} "
                            f"{array.shape}")
        header = np.zeros(_HEADER, dtype=np.int64)
        header[0], header[1] = _DTYPES.index(array.dtype), array.ndim
        header[2:2 + array.ndim] = array.shape
        comm = self.stage.group.comm
        self._sends += [comm.Isend(header, dest=peer, tag=tag),
                        comm.Isend(array, dest=peer, tag=tag)]
        self._keep += [header, array]

    def _receive(self, peer: int, tag: int) -> np.ndarray:
        comm = self.stage.group.comm
        header = np.empty(_HEADER, dtype=np.int64)
        comm.Recv(header, source=peer, tag=tag)
        ndim = int(header[1])
        out = np.empty(tuple(int(s) for s in header[2:2 + ndim]), dtype=_DTYPES[header[0]])
        comm.Recv(out, source=peer, tag=tag)
        return out


class ScheduleGPipe(_Schedule):
    """Every micro-batch's forward, then every backward."""

    def _run(self) -> None:
        for i in range(self.n):
            self._forward(i)
        for i in range(self.n):
            self._backward(i)


class Schedule1F1B(_Schedule):
    """``num_stages - stage - 1`` forwards to fill the pipe, then one forward and one backward
    in turn, then the remaining backwards."""

    def _run(self) -> None:
        stage = self.stage
        warmup = min(self.n, stage.num_stages - stage.stage_index - 1)
        for i in range(warmup):
            self._forward(i)
        backward = 0
        for i in range(warmup, self.n):
            self._forward(i)
            self._backward(backward)
            backward += 1
        for i in range(backward, self.n):
            self._backward(i)


def _microbatches(name: str, what: str, values: tuple, n: int) -> list[list[Any]]:
    """``values`` (arrays or Tensors) each split into ``n`` equal parts along the first axis:
    one list of parts per micro-batch."""
    parts = []
    for value in values:
        array = value.data if isinstance(value, Tensor) else np.asarray(value)
        if array.ndim == 0 or len(array) % n:
            raise ValueError(f"{name}.step: {what} of shape {array.shape} does not split into "
                             f"{n} equal micro-batches along the first axis")
        pieces = np.split(array, n)
        parts.append([Tensor(p) if isinstance(value, Tensor) else p for p in pieces])
    return [list(mb) for mb in zip(*parts)]


def _graph_bytes(outputs: list[Tensor]) -> int:
    """The bytes of the activations the recorded graphs behind ``outputs`` hold: every
    recorded tensor's values and what its op saved for backward (each array once), less the
    arrays of the leaves (parameters, inputs) and views of them."""
    seen: set[int] = set()
    arrays: dict[int, tuple[int, int]] = {}  # id -> (id of its base, bytes)
    leaves: set[int] = set()
    stack = [t for t in outputs if t.op is not None]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        op = t.op
        for value in [t.data, *list(op.__dict__.values())[op._num_settings:]]:
            if isinstance(value, np.ndarray):
                arrays[id(value)] = (id(value.base), value.nbytes)
        for p in op.inputs:
            if p.op is None:
                leaves.add(id(p.data))
            else:
                stack.append(p)
    return sum(size for key, (base, size) in arrays.items()
               if key not in leaves and base not in leaves)
