"""Optimisers and learning-rate schedules."""

from dlpy.optim import lr_scheduler, swa_utils
from dlpy.optim.optimizer import SGD, Adam, AdamW, Optimizer, SparseAdam, clip_grad_norm
from dlpy.optim.schedule import Constant, Cosine, Schedule, StepDecay, Warmup

__all__ = [
    "SGD", "Adam", "AdamW", "Constant", "Cosine", "Optimizer", "Schedule", "SparseAdam",
    "StepDecay", "Warmup", "clip_grad_norm", "lr_scheduler", "swa_utils",
]
