"""torch.fx.passes: graph passes (shape_prop.ShapeProp, split_module.split_module)."""

from dlpy.fx.passes import shape_prop, split_module

__all__ = ["shape_prop", "split_module"]
