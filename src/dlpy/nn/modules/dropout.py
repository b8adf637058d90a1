"""``torch.nn.modules.dropout``: the dropouts and their base ``_DropoutNd`` (``p``, ``inplace``)
(dlpy.nn.norm's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.norm import (  # noqa: F401
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    _DropoutNd,
)

__all__ = [
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
]
