"""torch.ao.quantization as dlpy spells it: quantized tensors, fake quantization (with
straight-through and LSQ gradients), observers, QConfig and the eager-mode workflows (prepare /
calibrate / convert, prepare_qat, quantize_dynamic, fuse_modules), following torch's CPU
(fbgemm / x86) arithmetic."""

from dlpy.ao.qtensor import (
    QDtype,
    QTensor,
    dequantize,
    per_channel_affine,
    per_channel_symmetric,
    per_tensor_affine,
    per_tensor_symmetric,
    qint8,
    qint32,
    quantize_per_channel,
    quantize_per_tensor,
    quint8,
)
from dlpy.ao.quantization.fake_quantize import (
    FakeQuantize,
    FusedMovingAvgObsFakeQuantize,
    _fake_quantize_learnable_per_tensor_affine,
    default_fake_quant,
    default_fused_act_fake_quant,
    default_fused_per_channel_wt_fake_quant,
    default_fused_wt_fake_quant,
    default_per_channel_weight_fake_quant,
    default_weight_fake_quant,
    disable_fake_quant,
    disable_observer,
    enable_fake_quant,
    enable_observer,
    fake_quantize_per_channel_affine,
    fake_quantize_per_tensor_affine,
)
from dlpy.ao.quantization.fuse_modules import fuse_known_modules
from dlpy.ao.quantization.observer import (
    HistogramObserver,
    MinMaxObserver,
    MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver,
    ObserverBase,
    PerChannelMinMaxObserver,
    PlaceholderObserver,
    default_dynamic_quant_observer,
    default_histogram_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)
from dlpy.ao.quantization.qconfig import (
    QConfig,
    default_dynamic_qconfig,
    default_per_channel_qconfig,
    default_qat_qconfig,
    default_qconfig,
    get_default_qat_qconfig,
    get_default_qconfig,
    per_channel_dynamic_qconfig,
)
from dlpy.ao.quantization.qconfig_mapping import (
    QConfigMapping,
    get_default_qat_qconfig_mapping,
    get_default_qconfig_mapping,
)
from dlpy.ao.quantization.quantize import (
    DeQuantStub,
    QuantStub,
    QuantWrapper,
    convert,
    fuse_modules,
    fuse_modules_qat,
    prepare,
    prepare_qat,
    propagate_qconfig_,
    quantize,
    quantize_dynamic,
)

__all__ = [
    "DeQuantStub", "FakeQuantize", "FusedMovingAvgObsFakeQuantize", "HistogramObserver",
    "MinMaxObserver", "MovingAverageMinMaxObserver", "MovingAveragePerChannelMinMaxObserver",
    "ObserverBase", "PerChannelMinMaxObserver", "PlaceholderObserver", "QConfig",
    "QConfigMapping", "QDtype",
    "QTensor", "QuantStub", "QuantWrapper", "_fake_quantize_learnable_per_tensor_affine",
    "convert", "default_dynamic_qconfig", "default_dynamic_quant_observer", "default_fake_quant",
    "default_fused_act_fake_quant", "default_fused_per_channel_wt_fake_quant",
    "default_fused_wt_fake_quant", "default_histogram_observer", "default_observer",
    "default_per_channel_qconfig", "default_per_channel_weight_fake_quant",
    "default_per_channel_weight_observer",
    "default_qat_qconfig", "default_qconfig", "default_weight_fake_quant",
    "default_weight_observer", "dequantize", "disable_fake_quant", "disable_observer",
    "enable_fake_quant", "enable_observer", "fake_quantize_per_channel_affine",
    "fake_quantize_per_tensor_affine", "fuse_known_modules", "fuse_modules", "fuse_modules_qat",
    "get_default_qat_qconfig", "get_default_qat_qconfig_mapping", "get_default_qconfig",
    "get_default_qconfig_mapping", "per_channel_affine",
    "per_channel_dynamic_qconfig", "per_channel_symmetric", "per_tensor_affine",
    "per_tensor_symmetric", "prepare", "prepare_qat", "propagate_qconfig_", "qint32", "qint8",
    "quantize", "quantize_dynamic", "quantize_per_channel", "quantize_per_tensor", "quint8",
]
