"""torch.amp.GradScaler: dynamic loss scaling for float16 training.

``scale(loss)`` multiplies the loss by the scale S, so small float16 gradients do not flush to
zero; ``unscale_(opt)`` multiplies every gradient by 1/S (float32, as torch's
``S.double().reciprocal().float()``) and records whether one holds inf/NaN; ``step(opt)``
unscales if not done yet and skips ``opt.step()`` when one did; ``update()`` then halves S
(``backoff_factor``) after an overflow, or doubles it (``growth_factor``) after
``growth_interval`` clean steps in a row. The arithmetic is PyTorch's CPU kernels'
(``_amp_foreach_non_finite_check_and_unscale_``, ``_amp_update_scale_``), in float32.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from enum import Enum
from typing import Any

import numpy as np

from dlpy.device import device as _device
from dlpy.sparse_grad import SparseGrad
from dlpy.tensor import Tensor

__all__ = ["GradScaler", "OptState"]


class _NewScaleTypeError(TypeError, AttributeError):
    """A new_scale neither a float nor a Tensor: a TypeError, and torch's AttributeError (it
    reads ``new_scale.device``)."""


class OptState(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fresh_state() -> dict[str, Any]:
    return {"stage": OptState.READY, "found_inf_per_device": {}}


class GradScaler:
    """``GradScaler(device="cpu", init_scale=2**16, growth_factor=2.0, backoff_factor=0.5,
    growth_interval=2000, enabled=True)``: PyTorch's loss scaler (see the module docstring);
    ``enabled=False`` makes every method a pass-through (``step`` just steps). As torch's
    without CUDA, ``device="cuda"`` warns and disables the scaler."""

    def __init__(self, device: str = "cpu", init_scale: float = 2.0 ** 16,
                 growth_factor: float = 2.0, backoff_factor: float = 0.5,
                 growth_interval: int = 2000, enabled: bool = True) -> None:
        self._device = device
        self._enabled = bool(enabled)
        if device == "cuda":  # torch's GradScaler() default: disabled where CUDA is missing
            if self._enabled:
                warnings.warn("torch.cuda.amp.GradScaler is enabled, but CUDA is not available."
                              "  Disabling.", stacklevel=2)
            self._enabled = False
        elif str(device).partition(":")[0] != "cpu":  # "cpu", "cpu:0" or a dlpy.device
            raise RuntimeError(f"GradScaler: dlpy runs on the CPU only; got device={device!r} "
                               "(use 'cpu')")
        if self._enabled:  # torch raises AssertionError for these (and the misuse below)
            if growth_factor <= 1.0:
                raise AssertionError(f"GradScaler: growth_factor must be > 1.0, got "
                                     f"{growth_factor}")
            if backoff_factor >= 1.0:
                raise AssertionError(f"GradScaler: backoff_factor must be < 1.0, got "
                                     f"{backoff_factor}")
            self._init_scale = init_scale
            self._scale: np.ndarray | None = None  # a float32 0-d array, made by scale()
            self._growth_factor = growth_factor
            self._backoff_factor = backoff_factor
            self._growth_interval = growth_interval
            self._init_growth_tracker = 0
            self._growth_tracker: int | None = None
            self._per_optimizer_states: dict[int, dict[str, Any]] = defaultdict(_fresh_state)

    # ----------------------------------------------------------------- scaling
    def _check_started(self, name: str) -> None:
        if self._scale is None:
            raise AssertionError(f"GradScaler.{name}: no scale yet; call scaler.scale(loss) (and "
                                 "backward) earlier in the iteration")

    def scale(self, outputs):
        """``outputs`` (a tensor, or a list/tuple/iterable of them) times the scale (a float32
        number: a float32 loss stays float32)."""
        if not self._enabled:
            return outputs
        if self._scale is None:
            self._scale = np.array(self._init_scale, dtype=np.float32)
            self._growth_tracker = self._init_growth_tracker
        if isinstance(outputs, Tensor):
            return outputs * Tensor(self._scale.astype(np.float32))
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(x) for x in outputs)
        try:
            return map(self.scale, outputs)
        except TypeError:
            raise ValueError(f"GradScaler.scale: outputs must be a Tensor or an iterable of "
                             f"Tensors, got {type(outputs).__name__}") from None

    def _unscale_grads_(self, optimizer, inv_scale: np.ndarray, allow_fp16: bool) -> dict:
        """Every gradient times inv_scale (in place on .grad); torch's found_inf_per_device:
        {device("cpu"): a 0-d float32 tensor, 1.0 if a gradient held inf/NaN}, or {} when
        there was no gradient."""
        found_inf = None
        for group in optimizer.param_groups:
            for param in group["params"]:
                grad = param.grad
                if grad is None:
                    continue
                values = grad.values if isinstance(grad, SparseGrad) else grad.data
                if not allow_fp16 and values.dtype == np.float16:
                    raise ValueError("GradScaler.unscale_: attempting to unscale float16 "
                                     "gradients (keep the parameters float32: autocast casts "
                                     "them for the ops)")
                if found_inf is None:
                    found_inf = 0.0
                # in float32 (float64 for a float64 gradient: torch's CPU kernel's opmath type,
                # where 1e42 / 65536 is finite) and rounded to the gradient's dtype
                wide = values.astype(np.float64 if values.dtype == np.float64 else np.float32,
                                     copy=False)
                if not np.isfinite(wide).all():
                    found_inf = 1.0
                if inv_scale != 1.0:
                    unscaled = (wide * inv_scale.astype(wide.dtype)).astype(values.dtype,
                                                                            copy=False)
                    if isinstance(grad, SparseGrad):
                        grad.values = unscaled
                    else:
                        grad.data = unscaled
        if found_inf is None:
            return {}
        return {_device("cpu"): Tensor(np.array(found_inf, dtype=np.float32))}

    def unscale_(self, optimizer) -> None:
        """Divide ``optimizer``'s gradients by the scale, in place (once per step: before
        gradient clipping, say); records whether one held inf/NaN."""
        if not self._enabled:
            return
        self._check_started("unscale_")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.UNSCALED:
            raise RuntimeError("GradScaler.unscale_: already called on this optimizer since "
                               "the last update()")
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("GradScaler.unscale_: called after step(); call update() first")
        inv_scale = np.float32(1.0 / np.float64(self._scale))  # torch: double reciprocal
        state["found_inf_per_device"] = self._unscale_grads_(optimizer, inv_scale, False)
        state["stage"] = OptState.UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """``unscale_(optimizer)`` unless done, then ``optimizer.step(*args, **kwargs)`` unless
        a gradient held inf/NaN (then the step is skipped and None returned)."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            raise RuntimeError("GradScaler.step: a closure is not supported (as torch's)")
        self._check_started("step")
        state = self._per_optimizer_states[id(optimizer)]
        if state["stage"] is OptState.STEPPED:
            raise RuntimeError("GradScaler.step: already called since the last update()")
        if state["stage"] is OptState.READY:
            self.unscale_(optimizer)
        if not state["found_inf_per_device"]:
            raise AssertionError("GradScaler.step: no inf checks were recorded for this "
                                 "optimizer (none of its parameters has a gradient)")
        result = None
        if not sum(v.item() for v in state["found_inf_per_device"].values()):
            result = optimizer.step(*args, **kwargs)
        state["stage"] = OptState.STEPPED
        return result

    def update(self, new_scale=None) -> None:
        """The scale for the next iteration: ``new_scale`` if given (a float or a one-element
        Tensor), else backoff after an overflow in any optimizer this iteration, growth after
        ``growth_interval`` clean steps (torch's ``_amp_update_scale_``)."""
        if not self._enabled:
            return
        self._check_started("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise AssertionError("GradScaler.update: new_scale must be a float or a "
                                         "one-element Tensor without requires_grad")
                if new_scale.ndim:  # torch copies it into its 0-d scale
                    raise RuntimeError(f"GradScaler.update: new_scale of shape "
                                       f"{tuple(new_scale.shape)} does not broadcast to the "
                                       f"scale's shape ()")
                new_scale = new_scale.item()
            elif not isinstance(new_scale, float):  # as torch's: an int is refused too
                raise _NewScaleTypeError(f"GradScaler.update: new_scale must be a float or a "
                                         f"one-element Tensor, got {type(new_scale).__name__}")
            self._scale = np.array(new_scale, dtype=np.float32)
        else:
            found = [f.item() for s in self._per_optimizer_states.values()
                     for f in s["found_inf_per_device"].values()]
            if not found:
                raise AssertionError("GradScaler.update: no inf checks were recorded before "
                                     "update(); call scaler.step(optimizer) first")
            # the float32 scale times the factor (a double in torch's kernel) in float64,
            # rounded once: 58982.4 * 0.9 gives 53084.16015625, not 53084.15625
            scale = np.float64(np.float32(self._scale))
            if sum(found):
                self._scale = np.array(scale * float(self._backoff_factor), np.float32)
                self._growth_tracker = 0
            else:
                successful = self._growth_tracker + 1
                if successful == self._growth_interval:
                    grown = np.float32(scale * float(self._growth_factor))
                    if np.isfinite(grown):
                        self._scale = np.array(grown, dtype=np.float32)
                    self._growth_tracker = 0
                else:
                    self._growth_tracker = successful
        self._per_optimizer_states = defaultdict(_fresh_state)

    # ----------------------------------------------------------------- settings and state
    def get_scale(self) -> float:
        """The current scale (1.0 when disabled; init_scale as given before the first
        scale())."""
        if not self._enabled:
            return 1.0
        return self._init_scale if self._scale is None else float(self._scale)

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, new_factor: float) -> None:
        self._growth_factor = new_factor

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, new_factor: float) -> None:
        self._backoff_factor = new_factor

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, new_interval: int) -> None:
        self._growth_interval = new_interval

    def _get_growth_tracker(self) -> int:
        if not self._enabled:
            return 0
        return self._init_growth_tracker if self._growth_tracker is None else self._growth_tracker

    def is_enabled(self) -> bool:
        return self._enabled

    def state_dict(self) -> dict[str, Any]:
        """torch's keys: scale, growth_factor, backoff_factor, growth_interval,
        _growth_tracker ({} when disabled)."""
        if not self._enabled:
            return {}
        return {"scale": self.get_scale(), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor,
                "growth_interval": self._growth_interval,
                "_growth_tracker": self._get_growth_tracker()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load what ``state_dict`` (dlpy's or torch's) returned; a no-op when disabled."""
        if not self._enabled:
            return
        if len(state_dict) == 0:
            raise RuntimeError("GradScaler.load_state_dict: the state dict is empty (saved "
                               "from a disabled GradScaler?)")
        missing = {"scale", "growth_factor", "backoff_factor", "growth_interval",
                   "_growth_tracker"} - set(state_dict)
        if missing:
            raise KeyError(f"GradScaler.load_state_dict: missing keys {sorted(missing)}")
        # the values as given (an int scale stays an int until scale()), as torch's
        self._init_scale = state_dict["scale"]
        if self._scale is not None:
            self._scale = np.array(state_dict["scale"], dtype=np.float32)
        self._growth_factor = state_dict["growth_factor"]
        self._backoff_factor = state_dict["backoff_factor"]
        self._growth_interval = state_dict["growth_interval"]
        self._init_growth_tracker = state_dict["_growth_tracker"]
        if self._growth_tracker is not None:
            self._growth_tracker = int(state_dict["_growth_tracker"])

    # ----------------------------------------------------------------- torch's private helpers
    def _check_inf_per_device(self, optimizer) -> dict:
        """Record (and return) whether ``optimizer``'s gradients hold inf/NaN, unscaling none."""
        self._check_started("_check_inf_per_device")
        found = self._unscale_grads_(optimizer, np.float32(1.0), True)
        self._per_optimizer_states[id(optimizer)]["found_inf_per_device"] = found
        return found

    def _found_inf_per_device(self, optimizer) -> dict:
        """{device: 0-d float32 tensor} recorded by unscale_ for ``optimizer`` ({} if none)."""
        return self._per_optimizer_states[id(optimizer)]["found_inf_per_device"]

    def __getstate__(self) -> dict[str, Any]:
        """Picklable between iterations only; the scale and tracker are re-made lazily."""
        state = self.__dict__.copy()
        if self._enabled:
            if len(self._per_optimizer_states) != 0:
                raise AssertionError("A GradScaler instance may only be pickled at the beginning "
                                     "of an iteration, or at the end after scaler.update().")
            state["_init_scale"] = self.get_scale()
            state["_init_growth_tracker"] = self._get_growth_tracker()
            state["_scale"] = None
            state["_growth_tracker"] = None
        return state
