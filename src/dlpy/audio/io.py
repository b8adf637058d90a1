"""WAV files without ffmpeg or sox: integer PCM (8-bit unsigned, 16/24/32-bit signed) through
the standard library's ``wave`` module, IEEE float (32/64-bit, which ``wave`` refuses) through a
small RIFF reader and writer here; samples via numpy. torchaudio's load/save/info signatures."""

from __future__ import annotations

import dataclasses
import os
import struct
import wave

import numpy as np

from dlpy.tensor import Tensor

__all__ = ["AudioMetaData", "info", "load", "save"]

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE


@dataclasses.dataclass
class AudioMetaData:
    """What info() reports: torchaudio's AudioMetaData fields."""

    sample_rate: int
    num_frames: int
    num_channels: int
    bits_per_sample: int
    encoding: str  # "PCM_U" (8-bit), "PCM_S" or "PCM_F"


def _chunks(path) -> tuple[int, int, int, int, int, int]:
    """(format tag, channels, rate, bits, data offset, data size) from a RIFF/WAVE header."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise ValueError(f"{path}: not a WAV file (no RIFF/WAVE header)")
        fmt = None
        while True:
            header = f.read(8)
            if len(header) < 8:
                raise ValueError(f"{path}: no data chunk")
            name, size = header[:4], struct.unpack("<I", header[4:])[0]
            if name == b"fmt ":
                body = f.read(size + (size & 1))
                tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
                if tag == _EXTENSIBLE and size >= 26:  # the real tag is the subformat's first 2
                    tag = struct.unpack("<H", body[24:26])[0]
                fmt = (tag, channels, rate, bits)
            elif name == b"data":
                if fmt is None:
                    raise ValueError(f"{path}: the data chunk comes before the fmt chunk")
                return fmt + (f.tell(), size)
            else:
                f.seek(size + (size & 1), os.SEEK_CUR)


def _encoding(tag: int, bits: int) -> str:
    return "PCM_F" if tag == _FLOAT else "PCM_U" if bits == 8 else "PCM_S"


def info(uri) -> AudioMetaData:
    """Sample rate, frames, channels, bits per sample and encoding of a WAV file."""
    tag, channels, rate, bits, _, size = _chunks(uri)
    return AudioMetaData(rate, size // (channels * bits // 8), channels, bits, _encoding(tag, bits))


def _samples(uri) -> tuple[np.ndarray, int, int, int]:
    """(frames, channels) in the file's own type, the rate, the format tag and bits."""
    tag, channels, rate, bits, offset, size = _chunks(uri)
    if tag == _FLOAT:
        if bits not in (32, 64):
            raise ValueError(f"{uri}: float WAV must be 32- or 64-bit, got {bits}")
        with open(uri, "rb") as f:
            f.seek(offset)
            data = np.frombuffer(f.read(size), f"<f{bits // 8}")
        return data[:len(data) // channels * channels].reshape(-1, channels), rate, tag, bits
    if tag != _PCM:
        raise ValueError(f"{uri}: only PCM and IEEE float WAV are supported, got format tag {tag}")
    with wave.open(os.fspath(uri), "rb") as f:
        width, raw = f.getsampwidth(), f.readframes(f.getnframes())
    if width == 3:  # 24-bit: three little-endian bytes, widened to the top of an int32
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        data = (triples[:, 0] << 8) | (triples[:, 1] << 16) | (triples[:, 2] << 24)
    else:
        data = np.frombuffer(raw, {1: "u1", 2: "<i2", 4: "<i4"}[width])
    return data.reshape(-1, channels), rate, tag, bits


def load(uri, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True,
         channels_first: bool = True, format: str | None = None) -> tuple[Tensor, int]:  # noqa: A002
    """(waveform (channels, frames) or (frames, channels), sample rate) of a WAV file;
    ``normalize`` gives float32 in [-1, 1) (integers divided by 2 ** (bits - 1), 8-bit
    unsigned centred at 128), otherwise integer files keep their type (24-bit as int32)."""
    if format not in (None, "wav"):
        raise ValueError(f"load: only WAV files are supported, got format {format!r}")
    data, rate, tag, bits = _samples(uri)
    end = None if num_frames < 0 else frame_offset + num_frames
    data = data[frame_offset:end]
    if normalize and tag == _PCM:
        if bits == 8:
            data = (data.astype(np.float32) - 128) / 128
        else:
            data = data.astype(np.float32) / np.float32(2 ** 31 if bits == 24 else 2 ** (bits - 1))
    elif normalize:
        data = data.astype(np.float32)
    return Tensor(np.ascontiguousarray(data.T if channels_first else data)), rate


_INTEGER_BITS = {np.dtype(np.uint8): 8, np.dtype(np.int16): 16, np.dtype(np.int32): 32}


def save(uri, src, sample_rate: int, channels_first: bool = True, format: str | None = None,  # noqa: A002
         encoding: str | None = None, bits_per_sample: int | None = None) -> None:
    """Write (channels, frames) (or (frames, channels)) as a WAV file: float input as 32-bit
    float unless ``encoding`` "PCM_S"/"PCM_U" (then clipped to [-1, 1] and scaled), integer
    input as PCM of its own width; ``bits_per_sample`` picks the width."""
    if format not in (None, "wav"):
        raise ValueError(f"save: only WAV files are supported, got format {format!r}")
    data = np.asarray(src.data if isinstance(src, Tensor) else src)
    if data.ndim == 1:
        data = data[None] if channels_first else data[:, None]
    if data.ndim != 2:
        raise ValueError(f"save: expected a 2-D waveform (channels, frames), got shape "
                         f"{data.shape}")
    frames = data.T if channels_first else data  # (frames, channels)
    if encoding is None:
        encoding = "PCM_F" if frames.dtype.kind == "f" else \
            "PCM_U" if frames.dtype == np.uint8 else "PCM_S"
    if encoding == "PCM_F":
        bits = bits_per_sample or 32
        if bits not in (32, 64):
            raise ValueError(f"save: PCM_F needs bits_per_sample 32 or 64, got {bits}")
        _write_float(uri, frames.astype(f"<f{bits // 8}"), int(sample_rate))
        return
    if encoding not in ("PCM_S", "PCM_U"):
        raise ValueError(f"save: encoding must be 'PCM_S', 'PCM_U' or 'PCM_F', got {encoding!r}")
    bits = bits_per_sample or (8 if encoding == "PCM_U" else _INTEGER_BITS.get(frames.dtype, 16))
    if (encoding == "PCM_U") != (bits == 8) or bits not in (8, 16, 32):
        raise ValueError(f"save: supported are PCM_U 8-bit and PCM_S 16/32-bit, got {encoding} "
                         f"{bits}-bit")
    if frames.dtype.kind == "f":
        scale = 2.0 ** (bits - 1)
        ints = np.clip(np.round(frames * scale), -scale, scale - 1)
        frames = (ints + 128).astype(np.uint8) if bits == 8 else ints.astype(f"<i{bits // 8}")
    else:
        frames = frames.astype(np.uint8 if bits == 8 else f"<i{bits // 8}")
    with wave.open(os.fspath(uri), "wb") as f:
        f.setnchannels(frames.shape[1])
        f.setsampwidth(bits // 8)
        f.setframerate(int(sample_rate))
        f.writeframes(np.ascontiguousarray(frames).tobytes())


def _write_float(uri, frames: np.ndarray, sample_rate: int) -> None:
    """An IEEE-float WAV (format tag 3) with a fact chunk, as sox and libsndfile write it."""
    channels, width = frames.shape[1], frames.dtype.itemsize
    payload = np.ascontiguousarray(frames).tobytes()
    fmt = struct.pack("<HHIIHHH", _FLOAT, channels, sample_rate, sample_rate * channels * width,
                      channels * width, width * 8, 0)
    fact = struct.pack("<I", frames.shape[0])
    body = (b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact"
            + struct.pack("<I", 4) + fact + b"data" + struct.pack("<I", len(payload)) + payload
            + b"\0" * (len(payload) & 1))  # chunks are word-aligned
    with open(uri, "wb") as f:
        f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
