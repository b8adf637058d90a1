"""``torch.nn.modules.lazy``: LazyModuleMixin, the lazy modules' base, and ``is_lazy`` (whether a
parameter or buffer is still uninitialized) (dlpy.nn.lazy's)."""

from dlpy.nn.lazy import LazyModuleMixin, is_lazy  # noqa: F401

__all__ = ["LazyModuleMixin"]
