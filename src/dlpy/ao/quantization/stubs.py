"""torch.ao.quantization.stubs (also torch.quantization.stubs): QuantStub, DeQuantStub and
QuantWrapper, the markers of where a model's quantized region starts and ends (defined in
dlpy.ao.quantization.quantize)."""

from dlpy.ao.quantization.quantize import DeQuantStub, QuantStub, QuantWrapper

__all__ = ["DeQuantStub", "QuantStub", "QuantWrapper"]
