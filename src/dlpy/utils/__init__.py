"""``torch.utils`` as dlpy spells it: ``dlpy.utils.checkpoint`` (activation checkpointing);
``benchmark`` (Timer, Compare), ``flop_counter`` (FlopCounterMode), ``module_tracker``,
``_pytree``, ``dlpack`` and ``hooks`` (RemovableHandle), imported on first use. Datasets and
loaders are ``dlpy.data``."""

import importlib

from dlpy.utils import checkpoint

_LAZY = ("_pytree", "benchmark", "dlpack", "flop_counter", "hooks", "module_tracker")
__all__ = ["benchmark", "checkpoint", "dlpack", "flop_counter", "hooks", "module_tracker"]


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"dlpy.utils.{name}")
    raise AttributeError(f"module 'dlpy.utils' has no attribute {name!r}")
