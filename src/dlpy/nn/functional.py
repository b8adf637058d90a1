"""torch.nn.functional's path for ``import dlpy as torch`` code: ``dlpy.nn.functional`` is
``dlpy.functional`` itself (``import dlpy.nn.functional as F`` and ``dlpy.nn.functional.relu``
alike)."""

import sys

from dlpy import functional as _functional

sys.modules[__name__] = _functional
