"""``torch.nn.modules`` as dlpy spells it: ``dlpy.nn.modules.module`` is ``dlpy.nn.module``
(Module, and the global hooks ``register_module_forward_hook`` and the others)."""

import sys

from dlpy.nn import module

sys.modules[f"{__name__}.module"] = module

__all__ = ["module"]
