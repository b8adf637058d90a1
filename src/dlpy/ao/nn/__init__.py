"""torch.ao.nn: ``intrinsic`` (fused float layers), ``qat`` (layers with fake-quantized
weights, trainable) and ``quantized`` (integer layers; ``quantized.dynamic`` for dynamic
quantization)."""

from dlpy.ao.nn import intrinsic, qat, quantized

__all__ = ["intrinsic", "qat", "quantized"]
