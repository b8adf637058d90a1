"""``torch.ao`` as dlpy spells it: ``dlpy.ao.quantization`` (quantized tensors, fake
quantization, observers, the eager-mode workflows) and ``dlpy.ao.nn`` (quantized, QAT and fused
layers), each imported on first use; ``dlpy.ao.qtensor`` (the quantized tensor and dtypes) is
light enough for ``import dlpy`` to load."""

import sys

_LAZY = ("nn", "quantization")
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        __import__(f"dlpy.ao.{name}")
        return sys.modules[f"dlpy.ao.{name}"]
    raise AttributeError(f"module 'dlpy.ao' has no attribute {name!r}")
