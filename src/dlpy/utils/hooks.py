"""``torch.utils.hooks``: ``RemovableHandle``, the handle every ``register_*_hook`` returns
(``isinstance(h, torch.utils.hooks.RemovableHandle)``; ``RemovableHandle(hooks_dict,
extra_dict=...)`` for a hook dict of one's own)."""

from dlpy.hooks import RemovableHandle

__all__ = ["RemovableHandle"]
