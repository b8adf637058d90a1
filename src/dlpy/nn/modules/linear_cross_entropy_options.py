"""``torch.nn.modules.linear_cross_entropy_options``: LinearCrossEntropyOptions
(dlpy.ops.linear_cross_entropy's)."""

from dlpy.ops.linear_cross_entropy import LinearCrossEntropyOptions

__all__ = [
    "LinearCrossEntropyOptions",
]
