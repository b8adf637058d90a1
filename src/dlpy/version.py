"""``torch.version``: the versions a program may ask about. dlpy follows PyTorch 2.13's API, so
``__version__`` is that version with dlpy's own as its local part ("2.13.0+dlpy.0.1.0"): what
``torch.__version__`` reads under dlpy.compat, where version gates such as
``torch.__version__ >= "2.0"`` take PyTorch 2.13's branch. No CUDA, ROCm or XPU build."""

from __future__ import annotations

import dlpy
from dlpy.torch_version import TorchVersion

__all__ = ["__version__", "cuda", "debug", "git_version", "hip", "rocm", "xpu"]

TORCH_API = "2.13.0"  # the PyTorch release whose API and numbers dlpy is checked against
__version__ = TorchVersion(f"{TORCH_API}+dlpy.{dlpy.__version__}")
# torchvision's and torchaudio's releases made for that torch: dlpy.vision's and dlpy.audio's
# ``__version__`` (``torchvision.__version__`` under dlpy.compat)
VISION_VERSION = TorchVersion(f"0.28.0+dlpy.{dlpy.__version__}")
AUDIO_VERSION = TorchVersion(f"{TORCH_API}+dlpy.{dlpy.__version__}")
debug = False
cuda: str | None = None
git_version = "unknown"
hip: str | None = None
rocm: str | None = None
xpu: str | None = None
