"""FractionalMaxPool2d / 3d, as torch.nn's: F.fractional_max_pool2d / 3d with the settings
kept; new samples every call (from ``rng`` or dlpy's generator) unless ``_random_samples`` was
given, which is then a buffer (saved in the state dict, as PyTorch's)."""

from __future__ import annotations

from dlpy.nn.module import Module
from dlpy.ops.conv import _ntuple
from dlpy.ops.pool_fractional import (
    fractional_max_pool2d,
    fractional_max_pool3d,
    output_ratios,
)
from dlpy.tensor import Tensor


class _FractionalMaxPoolNd(Module):
    """Max over ``kernel_size`` windows at pseudo-random starts, ``output_size`` or
    ``output_ratio`` (numbers in (0, 1)) times the input's size; one of the two."""

    nd = 2
    function = staticmethod(fractional_max_pool2d)

    def __init__(self, kernel_size, output_size=None, output_ratio=None,
                 return_indices: bool = False, _random_samples=None, *, rng=None):
        super().__init__()
        name, nd = type(self).__name__, self.nd
        self.kernel_size = _ntuple(kernel_size, nd, f"{name}: kernel_size")
        if (output_size is None) == (output_ratio is None):
            raise ValueError(f"{name}: give one of output_size and output_ratio, got "
                             f"{'both' if output_size is not None else 'neither'}")
        self.output_size = None if output_size is None else \
            _ntuple(output_size, nd, f"{name}: output_size")
        self.output_ratio = None if output_ratio is None else \
            output_ratios(name, nd, output_ratio)
        self.return_indices = bool(return_indices)
        self.rng = rng
        if _random_samples is not None:
            self.register_buffer("_random_samples", _random_samples)  # a Tensor: kept as is
        else:
            self._random_samples = None

    def forward(self, input: Tensor):
        return self.function(input, self.kernel_size, self.output_size, self.output_ratio,
                             self.return_indices, self._random_samples, rng=self.rng)
    # no extra_repr: torch prints FractionalMaxPool2d()


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling of (N, C, H, W) or (C, H, W); samples (N, C, 2)."""

    nd = 2
    function = staticmethod(fractional_max_pool2d)


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling of (N, C, T, H, W) or (C, T, H, W); samples (N, C, 3)."""

    nd = 3
    function = staticmethod(fractional_max_pool3d)
