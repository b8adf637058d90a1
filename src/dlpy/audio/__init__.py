"""torchaudio's counterpart: ``dlpy.audio.functional`` (spectrograms, filter banks, decibels,
mu-law, resampling, deltas, masking, lfilter), ``dlpy.audio.transforms`` (the nn.Modules with
torchaudio's names and state-dict keys) and ``load``/``save``/``info`` for WAV files through
the standard library's ``wave`` module."""

from dlpy.audio import functional, transforms
from dlpy.audio.io import AudioMetaData, info, load, save
from dlpy.version import AUDIO_VERSION as __version__

__all__ = ["AudioMetaData", "__version__", "functional", "info", "load", "save", "transforms"]
