"""``torch.nn.modules.channelshuffle``: ChannelShuffle (dlpy.nn.resample's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.module import Module  # noqa: F401
from dlpy.nn.resample import ChannelShuffle

__all__ = [
    "ChannelShuffle",
]
