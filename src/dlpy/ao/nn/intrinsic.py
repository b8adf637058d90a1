"""torch.ao.nn.intrinsic: float layers fused by ``fuse_modules`` so that quantization treats
them as one (one requantization after the ReLU instead of two)."""

from __future__ import annotations

from dlpy import nn


class _Fused(nn.Sequential):
    """A layer followed by its activation, run as a Sequential."""

    layer_type: type = nn.Module

    def __init__(self, layer, relu):
        if not isinstance(layer, self.layer_type) or not isinstance(relu, nn.ReLU):
            raise TypeError(f"{type(self).__name__}: expected ({self.layer_type.__name__}, "
                            f"ReLU), got ({type(layer).__name__}, {type(relu).__name__})")
        super().__init__(layer, relu)


class LinearReLU(_Fused):
    layer_type = nn.Linear


class ConvReLU2d(_Fused):
    layer_type = nn.Conv2d
