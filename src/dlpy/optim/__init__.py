"""Optimisers and learning-rate schedules."""

from dlpy.optim import lr_scheduler, swa_utils
from dlpy.optim.adadelta import Adadelta
from dlpy.optim.adafactor import Adafactor
from dlpy.optim.adaptive import ASGD, Adagrad, Adamax, NAdam, RAdam, RMSprop, Rprop
from dlpy.optim.lbfgs import LBFGS
from dlpy.optim.muon import Muon
from dlpy.optim.optimizer import SGD, Adam, AdamW, Optimizer, SparseAdam, clip_grad_norm
from dlpy.optim.schedule import Constant, Cosine, Schedule, StepDecay, Warmup

__all__ = [
    "ASGD", "LBFGS", "Rprop", "SGD", "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW",
    "Adamax", "Constant",
    "Cosine", "Muon", "NAdam", "Optimizer",
    "RAdam", "RMSprop", "Schedule", "SparseAdam", "StepDecay", "Warmup", "clip_grad_norm",
    "lr_scheduler", "swa_utils",
]
