"""torch.ao.nn: ``intrinsic`` (fused float layers), ``qat`` (layers with fake-quantized
weights, trainable), ``quantized`` (integer layers; ``quantized.dynamic`` for dynamic
quantization) and ``quantizable`` (LSTM and MultiheadAttention decomposed for observers)."""

from dlpy.ao.nn import intrinsic, qat, quantizable, quantized

__all__ = ["intrinsic", "qat", "quantizable", "quantized"]
