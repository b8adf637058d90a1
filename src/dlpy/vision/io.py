"""torchvision.io's names. dlpy decodes and encodes no images or videos (torchvision does it
with libjpeg, libpng and FFmpeg): the readers, decoders and writers raise NotImplementedError.
The module imports, as libraries import it up front and decode only when asked
(transformers' video utilities)."""

from __future__ import annotations

import enum

__all__ = ["ImageReadMode", "decode_image", "decode_jpeg", "decode_png", "encode_jpeg",
           "encode_png", "read_file", "read_image", "read_video", "read_video_timestamps",
           "write_file", "write_jpeg", "write_png", "write_video"]


class ImageReadMode(enum.Enum):
    """How a decoded image's channels are laid out (torchvision's values)."""

    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4


def _unsupported(name: str):
    def function(*args, **kwargs):
        raise NotImplementedError(f"torchvision.io.{name}: dlpy has no image or video codecs "
                                  "(decode with PIL and convert with torch.from_numpy)")
    function.__name__ = name
    function.__doc__ = f"torchvision.io.{name}: raises NotImplementedError (no codecs in dlpy)."
    return function


decode_image = _unsupported("decode_image")
decode_jpeg = _unsupported("decode_jpeg")
decode_png = _unsupported("decode_png")
encode_jpeg = _unsupported("encode_jpeg")
encode_png = _unsupported("encode_png")
read_file = _unsupported("read_file")
read_image = _unsupported("read_image")
read_video = _unsupported("read_video")
read_video_timestamps = _unsupported("read_video_timestamps")
write_file = _unsupported("write_file")
write_jpeg = _unsupported("write_jpeg")
write_png = _unsupported("write_png")
write_video = _unsupported("write_video")
