"""``torch.nn.modules`` as dlpy spells it: ``dlpy.nn.modules.module`` is ``dlpy.nn.module``
(Module, and the global hooks ``register_module_forward_hook`` and the others),
``dlpy.nn.modules.lazy`` is ``dlpy.nn.lazy`` (LazyModuleMixin); ``dlpy.nn.modules.utils``
holds ``_pair`` and ``consume_prefix_in_state_dict_if_present``."""

import sys

from dlpy.nn import lazy, module
from dlpy.nn.modules import utils

sys.modules[f"{__name__}.module"] = module
sys.modules[f"{__name__}.lazy"] = lazy

__all__ = ["lazy", "module", "utils"]
