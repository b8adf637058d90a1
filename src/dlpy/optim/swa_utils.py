"""Weight averaging, as in torch.optim.swa_utils: a running average of a model's parameters.

The last iterate of a noisy optimiser wanders around a minimum; the average of the iterates sits
nearer to it. `AveragedModel` keeps a copy of the model whose parameters are that average:
either the equal-weight mean of every update so far (stochastic weight averaging, the default)
or an exponential moving average (`multi_avg_fn=get_ema_multi_avg_fn(decay)`).

    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for batch in batches:
        loss = ...; loss.backward(); optimizer.step()
        averaged.update_parameters(model)
    predictions = averaged(batch)              # the averaged copy's forward
    model.load_state_dict(averaged.module.state_dict())   # or keep the average

The first `update_parameters` copies the model's parameters (torch's behaviour), so an EMA has
no warm-up bias toward the initial weights. Updates run in place with one scratch array per
parameter. Parameters that do not require a gradient (frozen embeddings) are copied, not
averaged, as torch averages every parameter: frozen ones never change, so both agree. Buffers
(BatchNorm's running statistics) are copied from the model at each update, or averaged with the
parameters with ``use_buffers=True`` (an integer buffer by the same formula, truncated).

The classic SWA loop (PyTorch's documentation)::

    swa_model = AveragedModel(model)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
    swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    for epoch in range(100):
        for x, y in loader: ...; optimizer.step()
        if epoch > swa_start:
            swa_model.update_parameters(model); swa_scheduler.step()
        else:
            scheduler.step()
    update_bn(loader, swa_model)    # BatchNorm statistics for the averaged weights
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from dlpy.device import as_device
from dlpy.nn.module import Module
from dlpy.optim.lr_scheduler import LRScheduler, _param_groups, _per_group
from dlpy.tensor import Tensor, increment_version, no_grad

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn",
           "get_ema_avg_fn", "get_swa_avg_fn"]

# multi_avg_fn(averaged, current, num_averaged): update the `averaged` arrays in place
MultiAvgFn = Callable[[Sequence[np.ndarray], Sequence[np.ndarray], int], None]


class _Scratch:
    """One reusable temporary per averaged array (so an update allocates nothing)."""

    def __init__(self):
        self.arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, like: np.ndarray) -> np.ndarray:
        kept = self.arrays.get(id(like))
        if kept is None or kept[0] is not like:
            kept = self.arrays[id(like)] = (like, np.empty_like(like))
        return kept[1]


def _arrays(values: Sequence) -> list[np.ndarray]:
    """The arrays behind tensors (or arrays, kept): the update writes into them."""
    return [v.data if isinstance(v, Tensor) else v for v in values]


def _lerp(avg: np.ndarray, current: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """avg += weight * (current - avg), in place (an integer array: the step truncated)."""
    if avg.dtype.kind in "iub":
        avg += np.trunc((current - avg) * weight).astype(avg.dtype)
        return
    np.subtract(current, avg, out=scratch, casting="unsafe")
    if weight < 0.5:  # torch's lerp: from the nearer end
        scratch *= avg.dtype.type(weight)
        avg += scratch
    else:
        scratch *= avg.dtype.type(1.0 - weight)
        np.subtract(current, scratch, out=avg, casting="unsafe")


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """avg = decay * avg + (1 - decay) * current, in place (torch's lerp form)."""
    decay = float(decay)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay must lie in [0, 1), got {decay}")

    scratch = _Scratch()

    def ema_update(averaged, current, num_averaged):
        for avg, cur in zip(_arrays(averaged), _arrays(current)):
            if avg.dtype.kind in "iub":  # torch's formula for integers, cast back
                avg[...] = avg * decay + cur * (1.0 - decay)
            else:
                _lerp(avg, cur, 1.0 - decay, scratch(avg))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The equal-weight mean: avg += (current - avg) / (num_averaged + 1), in place."""

    scratch = _Scratch()

    def swa_update(averaged, current, num_averaged):
        if isinstance(num_averaged, Tensor) and num_averaged.data.dtype.kind in "iub":
            # torch's 1 / (n + 1) of an integer tensor: a float32 weight
            weight = float(np.float32(1.0) / np.float32(int(num_averaged) + 1))
        else:
            weight = 1.0 / (float(num_averaged) + 1)
        for avg, cur in zip(_arrays(averaged), _arrays(current)):
            _lerp(avg, cur, weight, scratch(avg))

    return swa_update


def _swa_mean() -> MultiAvgFn:
    """The default mean on the CPU, as torch's there (``get_swa_avg_fn`` then ``copy_``):
    avg = avg + (current - avg) / (n + 1), divided exactly; an integer array truncated."""
    scratch = _Scratch()

    def mean_update(averaged, current, num_averaged):
        count = int(num_averaged) + 1
        for avg, cur in zip(_arrays(averaged), _arrays(current)):
            if avg.dtype.kind in "iub":
                avg[...] = np.trunc(avg + (cur - avg) / count)
                continue
            diff = scratch(avg)
            np.subtract(cur, avg, out=diff, casting="unsafe")
            diff /= avg.dtype.type(count)
            avg += diff

    return mean_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """One array's EMA, returned: decay * avg + (1 - decay) * current (``avg_fn=``)."""
    decay = float(decay)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"get_ema_avg_fn: decay must lie in [0, 1), got {decay}")
    return lambda avg, current, num_averaged: decay * avg + (1.0 - decay) * current


def get_swa_avg_fn() -> Callable:
    """One array's equal-weight mean, returned: avg + (current - avg) / (num_averaged + 1)."""
    return lambda avg, current, num_averaged: avg + (current - avg) / (num_averaged + 1)


class AveragedModel(Module):
    """A copy of `model` whose parameters (and with ``use_buffers`` its buffers) are the running
    average of `model`'s, updated by `update_parameters(model)`; calling it runs the copy's
    forward. ``avg_fn(avg, current, n)`` returns one tensor's new average; ``multi_avg_fn``
    updates lists of tensors in place (give one or neither: the equal-weight mean); both get
    ``n``, the buffer ``n_averaged`` (an int64 0-d tensor, saved in ``state_dict``)."""

    def __init__(self, model: Module, device: Any = None, avg_fn: Callable | None = None,
                 multi_avg_fn: MultiAvgFn | None = None, use_buffers: bool = False):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: expected a dlpy Module, got {type(model).__name__}")
        if callable(device) and avg_fn is None and multi_avg_fn is None:
            # dlpy's older AveragedModel(model, multi_avg_fn) positional form
            device, multi_avg_fn = None, device
        as_device(device, "AveragedModel")  # the CPU ("cpu", "cpu:0", a device) or None
        if avg_fn is not None and multi_avg_fn is not None:
            raise ValueError("AveragedModel: give avg_fn or multi_avg_fn, not both")
        self.module = copy.deepcopy(model)
        self.register_buffer("n_averaged", np.zeros((), dtype=np.int64))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self._mean_update = None if avg_fn or multi_avg_fn else _swa_mean()
        self.use_buffers = bool(use_buffers)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold `model`'s current parameters (all of them, frozen ones too, as torch) into the
        average; the first call copies them."""
        mine = dict(self.module.named_parameters())
        theirs = dict(model.named_parameters())
        if mine.keys() != theirs.keys():
            missing = sorted(mine.keys() - theirs.keys())
            extra = sorted(theirs.keys() - mine.keys())
            raise ValueError(f"AveragedModel.update_parameters: the model's parameters differ "
                             f"from the averaged copy's (missing {missing or 'none'}, "
                             f"unexpected {extra or 'none'})")
        my_buffers = dict(self.module.named_buffers())
        their_buffers = dict(model.named_buffers())
        if my_buffers.keys() != their_buffers.keys():
            raise ValueError(f"AveragedModel.update_parameters: the model's buffers "
                             f"{sorted(their_buffers)} differ from the averaged copy's "
                             f"{sorted(my_buffers)}")
        pairs = [(param, theirs[name]) for name, param in mine.items()]
        for name, param in mine.items():
            if param.data.shape != theirs[name].data.shape:
                raise ValueError(f"AveragedModel.update_parameters: {name} has shape "
                                 f"{theirs[name].data.shape}, the averaged copy "
                                 f"{param.data.shape}")
        buffer_pairs = [(b, their_buffers[name]) for name, b in my_buffers.items()
                        if b is not None]
        if self.use_buffers:
            pairs += buffer_pairs
        else:  # buffers kept in step with the model (torch's)
            for mine_b, theirs_b in buffer_pairs:
                np.copyto(mine_b.data, theirs_b.data, casting="unsafe")
        n = int(self.n_averaged.data)
        if n == 0:
            for avg, cur in pairs:
                np.copyto(avg.data, cur.data, casting="unsafe")
        elif pairs:
            averaged = [Tensor(avg.data) for avg, _ in pairs]  # the same memory
            current = [Tensor(cur.data) for _, cur in pairs]
            multi_avg_fn = self.multi_avg_fn or self._mean_update
            if multi_avg_fn is not None:
                multi_avg_fn(averaged, current, self.n_averaged)
            else:
                for avg, cur in zip(averaged, current):
                    avg.copy_(self.avg_fn(avg, cur, self.n_averaged))
            for (avg, _), view in zip(pairs, averaged):
                if view.data is not avg.data:  # rebound rather than written in place
                    np.copyto(avg.data, view.data, casting="unsafe")
        for param in mine.values():  # changed in place, as torch's copy_ / lerp_ would
            increment_version(param)
        self.n_averaged.data[...] = n + 1


def update_bn(loader: Iterable, model: Module, device: Any = None) -> None:
    """Recompute the BatchNorm running statistics of ``model`` (an ``AveragedModel`` after SWA)
    with one pass over ``loader``: each BatchNorm forgets its statistics and, with momentum
    None for the pass, averages those of every batch equally (PyTorch's cumulative average);
    momenta and the train/eval mode are put back. A batch is an input or a tuple/list whose
    first entry is the input. Without gradients (PyTorch records them and throws them away)."""
    from dlpy.nn.norm import _BatchNorm  # (dlpy.nn imports optim's users lazily too)

    as_device(device, "update_bn")
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        with no_grad():
            for batch in loader:
                if isinstance(batch, (list, tuple)):
                    batch = batch[0]
                model(batch if isinstance(batch, Tensor) else Tensor(np.asarray(batch)))
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr to ``swa_lr`` (one or one per group, kept in the group as
    ``"swa_lr"``) over ``anneal_epochs`` steps, then holds it, as PyTorch's: at step k,
    t = min(1, k / anneal_epochs), alpha = (1 - cos(pi t)) / 2 ("cos") or t ("linear"), and
    lr = alpha swa_lr + (1 - alpha) lr0, lr0 recovered from the group's current lr (so SWALR
    takes over from whatever schedule ran before it)."""

    def __init__(self, optimizer, swa_lr: float | Sequence[float], anneal_epochs: int = 10,
                 anneal_strategy: str = "cos", last_epoch: int = -1):
        groups = _param_groups("SWALR", optimizer)
        swa_lrs = _per_group("SWALR", "swa_lr", swa_lr, len(groups))
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"SWALR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int) \
                or anneal_epochs < 0:
            raise ValueError(f"SWALR: anneal_epochs must be an integer >= 0, got "
                             f"{anneal_epochs!r}")
        for group, value in zip(groups, swa_lrs):
            group["swa_lr"] = value
        self.anneal_epochs = anneal_epochs
        self._anneal_strategy = anneal_strategy  # (PyTorch's state key)
        super().__init__(optimizer, last_epoch)  # (counts _step_count, as PyTorch's)

    def _anneal(self, t: float) -> float:
        return (1.0 - math.cos(math.pi * t)) / 2.0 if self._anneal_strategy == "cos" else t

    def get_lr(self) -> list[float]:
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self._anneal(max(0.0, min(1.0, (step - 1) / max(1, self.anneal_epochs))))
        alpha = self._anneal(max(0.0, min(1.0, step / max(1, self.anneal_epochs))))
        lrs = []
        for group in self.optimizer.param_groups:
            swa_lr = group["swa_lr"]
            start = swa_lr if prev_alpha == 1 else \
                (group["lr"] - prev_alpha * swa_lr) / (1.0 - prev_alpha)
            lrs.append(float(swa_lr * alpha + start * (1.0 - alpha)))
        return lrs

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """The step count and settings; the lrs come from the optimiser's own state (SWALR
        follows the group's current lr), as PyTorch's."""
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(f"SWALR.load_state_dict: unexpected keys {unknown}")
        self.__dict__.update(state)
