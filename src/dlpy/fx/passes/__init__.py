"""torch.fx.passes: graph passes (shape_prop.ShapeProp)."""

from dlpy.fx.passes import shape_prop

__all__ = ["shape_prop"]
