"""``torch.nn.modules`` as dlpy spells it: ``dlpy.nn.modules.module`` is ``dlpy.nn.module``
(Module, and the global hooks ``register_module_forward_hook`` and the others),
``dlpy.nn.modules.lazy`` is ``dlpy.nn.lazy`` (LazyModuleMixin)."""

import sys

from dlpy.nn import lazy, module

sys.modules[f"{__name__}.module"] = module
sys.modules[f"{__name__}.lazy"] = lazy

__all__ = ["lazy", "module"]
