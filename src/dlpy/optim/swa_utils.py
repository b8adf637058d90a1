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
averaged, as torch averages every parameter: frozen ones never change, so both agree.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np

from dlpy.nn.module import Module
from dlpy.tensor import increment_version

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


def _lerp(avg: np.ndarray, current: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """avg += weight * (current - avg), in place."""
    np.subtract(current, avg, out=scratch, casting="unsafe")
    scratch *= avg.dtype.type(weight)
    avg += scratch


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
    """avg = decay * avg + (1 - decay) * current, in place (torch's lerp form)."""
    decay = float(decay)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"get_ema_multi_avg_fn: decay must lie in [0, 1), got {decay}")

    scratch = _Scratch()

    def ema_update(averaged, current, num_averaged):
        for avg, cur in zip(averaged, current):
            _lerp(avg, cur, 1.0 - decay, scratch(avg))

    return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
    """The equal-weight mean: avg += (current - avg) / (num_averaged + 1), in place."""

    scratch = _Scratch()

    def swa_update(averaged, current, num_averaged):
        for avg, cur in zip(averaged, current):
            _lerp(avg, cur, 1.0 / (num_averaged + 1), scratch(avg))

    return swa_update


class AveragedModel(Module):
    """A copy of `model` whose parameters are the running average of `model`'s, updated by
    `update_parameters(model)`; calling it runs the copy's forward."""

    def __init__(self, model: Module, multi_avg_fn: MultiAvgFn | None = None):
        super().__init__()
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: expected a dlpy Module, got {type(model).__name__}")
        self.module = copy.deepcopy(model)
        self.multi_avg_fn = multi_avg_fn or get_swa_multi_avg_fn()
        self.n_averaged = 0

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Fold `model`'s current parameters into the average (the first call copies them)."""
        mine = dict(self.module.named_parameters())
        theirs = dict(model.named_parameters())
        if mine.keys() != theirs.keys():
            missing = sorted(mine.keys() - theirs.keys())
            extra = sorted(theirs.keys() - mine.keys())
            raise ValueError(f"AveragedModel.update_parameters: the model's parameters differ "
                             f"from the averaged copy's (missing {missing or 'none'}, "
                             f"unexpected {extra or 'none'})")
        averaged, current = [], []
        for name, param in mine.items():
            source = theirs[name].data
            if param.data.shape != source.shape:
                raise ValueError(f"AveragedModel.update_parameters: {name} has shape "
                                 f"{source.shape}, the averaged copy {param.data.shape}")
            if self.n_averaged == 0 or not param.requires_grad:
                np.copyto(param.data, source)
            else:
                averaged.append(param.data)
                current.append(source)
        if self.n_averaged > 0 and averaged:
            self.multi_avg_fn(averaged, current, self.n_averaged)
        for param in mine.values():  # changed in place, as torch's copy_ / lerp_ would
            increment_version(param)
        self.n_averaged += 1

    def state_dict(self) -> dict[str, np.ndarray]:
        """The averaged copy's parameters (as `module.state_dict()`) plus `n_averaged`."""
        return {**self.module.state_dict(), "n_averaged": np.asarray(self.n_averaged)}

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        state = dict(state)
        if "n_averaged" not in state:
            raise ValueError("AveragedModel.load_state_dict: no 'n_averaged' in the state")
        self.n_averaged = int(state.pop("n_averaged"))
        self.module.load_state_dict(state, strict=strict)
