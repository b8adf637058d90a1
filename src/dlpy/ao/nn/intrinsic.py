"""torch.ao.nn.intrinsic: float layers fused by ``fuse_modules`` so that quantization treats
them as one (one requantization after the ReLU instead of two); ``fuse_modules_qat`` keeps a
conv's or linear's batch norm (ConvBn1d/2d/3d, ConvBnReLU1d/2d/3d, LinearBn1d) for
``prepare_qat`` (which folds ConvBn2d and ConvBnReLU2d while training)."""

from __future__ import annotations

from dlpy import nn


class _Fused(nn.Sequential):
    """A layer followed by its batch norm and / or activation, run as a Sequential."""

    layer_types: tuple = (nn.Module, nn.ReLU)

    def __init__(self, *layers):
        if len(layers) != len(self.layer_types) or not all(
                isinstance(layer, kind) for layer, kind in zip(layers, self.layer_types)):
            raise TypeError(f"{type(self).__name__}: expected "
                            f"({', '.join(t.__name__ for t in self.layer_types)}), got "
                            f"({', '.join(type(layer).__name__ for layer in layers)})")
        super().__init__(*layers)


class LinearReLU(_Fused):
    layer_types = (nn.Linear, nn.ReLU)


class ConvReLU1d(_Fused):
    layer_types = (nn.Conv1d, nn.ReLU)


class ConvReLU2d(_Fused):
    layer_types = (nn.Conv2d, nn.ReLU)


class ConvReLU3d(_Fused):
    layer_types = (nn.Conv3d, nn.ReLU)


class BNReLU2d(_Fused):
    layer_types = (nn.BatchNorm2d, nn.ReLU)


class BNReLU3d(_Fused):
    layer_types = (nn.BatchNorm3d, nn.ReLU)


class ConvBn1d(_Fused):
    layer_types = (nn.Conv1d, nn.BatchNorm1d)


class ConvBn2d(_Fused):
    layer_types = (nn.Conv2d, nn.BatchNorm2d)


class ConvBn3d(_Fused):
    layer_types = (nn.Conv3d, nn.BatchNorm3d)


class ConvBnReLU1d(_Fused):
    layer_types = (nn.Conv1d, nn.BatchNorm1d, nn.ReLU)


class ConvBnReLU2d(_Fused):
    layer_types = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU)


class ConvBnReLU3d(_Fused):
    layer_types = (nn.Conv3d, nn.BatchNorm3d, nn.ReLU)


class LinearBn1d(_Fused):
    layer_types = (nn.Linear, nn.BatchNorm1d)


__all__ = ["BNReLU2d", "BNReLU3d", "ConvBn1d", "ConvBn2d", "ConvBn3d", "ConvBnReLU1d",
           "ConvBnReLU2d", "ConvBnReLU3d", "ConvReLU1d", "ConvReLU2d", "ConvReLU3d", "LinearBn1d",
           "LinearReLU"]
