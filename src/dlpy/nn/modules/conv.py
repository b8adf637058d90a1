"""``torch.nn.modules.conv``: the convolutions (dlpy.nn.conv's) and their lazy forms
(dlpy.nn.lazy's), with the bases programs subclass: ``_ConvNd`` (torch's positional constructor,
``_conv_forward``), ``_ConvTransposeNd`` (``_output_padding``), ``_LazyConvXdMixin``, and
torch's deprecated ``_ConvTransposeMixin``."""

import warnings

from dlpy import functional as F  # noqa: F401
from dlpy.nn import init  # noqa: F401
from dlpy.nn.conv import (  # noqa: F401
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    _ConvNd,
    _ConvTransposeNd,
)
from dlpy.nn.lazy import (
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyModuleMixin,  # noqa: F401
    UninitializedParameter,  # noqa: F401
)
from dlpy.nn.lazy import _LazyConvMixin as _LazyConvXdMixin  # noqa: F401
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)
from dlpy.nn.modules.utils import (
    _pair,  # noqa: F401
    _reverse_repeat_tuple,  # noqa: F401
    _single,  # noqa: F401
    _triple,  # noqa: F401
)

__all__ = [
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d",
]


class _ConvTransposeMixin(_ConvTransposeNd):
    """torch's deprecated internal base of the transposed convolutions: a _ConvTransposeNd
    whose construction warns (FutureWarning), as torch's."""

    def __init__(self, *args, **kwargs) -> None:
        warnings.warn("`_ConvTransposeMixin` is a deprecated internal class. Please consider "
                      "using public APIs.", FutureWarning, stacklevel=2)
        super().__init__(*args, **kwargs)
