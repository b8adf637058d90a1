"""QConfig: which observer (or fake quantizer) watches a layer's activations and which its
weight, as torch.ao.quantization.qconfig; the defaults of torch's x86/fbgemm backend."""

from __future__ import annotations

from typing import Any, NamedTuple

from dlpy.ao.quantization.fake_quantize import (
    FakeQuantize,
    FusedMovingAvgObsFakeQuantize,
    default_fake_quant,
    default_fused_per_channel_wt_fake_quant,
    default_per_channel_weight_fake_quant,
    default_weight_fake_quant,
)
from dlpy.ao.quantization.observer import (
    HistogramObserver,
    MovingAverageMinMaxObserver,
    default_dynamic_quant_observer,
    default_observer,
    default_per_channel_weight_observer,
    default_weight_observer,
)

BACKENDS = ("x86", "fbgemm")


class QConfig(NamedTuple):
    """(activation, weight): factories (``Observer.with_args(...)``) called once per layer."""

    activation: Any
    weight: Any


default_qconfig = QConfig(activation=default_observer, weight=default_weight_observer)
default_per_channel_qconfig = QConfig(activation=default_observer,
                                      weight=default_per_channel_weight_observer)
default_qat_qconfig = QConfig(activation=default_fake_quant, weight=default_weight_fake_quant)
default_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                  weight=default_weight_observer)
per_channel_dynamic_qconfig = QConfig(activation=default_dynamic_quant_observer,
                                      weight=default_per_channel_weight_observer)


def _check_backend(name: str, backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"{name}: backend must be one of {list(BACKENDS)} (torch's CPU "
                         f"engines that dlpy follows), got {backend!r}")


def get_default_qconfig(backend: str = "x86", version: int = 0) -> QConfig:
    """Post-training: a histogram observer on 7-bit activations (reduce_range, as fbgemm needs)
    and per-channel symmetric int8 weights."""
    _check_backend("get_default_qconfig", backend)
    return QConfig(activation=HistogramObserver.with_args(reduce_range=True),
                   weight=default_per_channel_weight_observer)


def get_default_qat_qconfig(backend: str = "x86", version: int = 1) -> QConfig:
    """Quantization-aware training: moving-average fake quantization of the activations
    (7-bit range) and per-channel symmetric fake-quantized weights; version 1 (torch's
    default) the fused modules, version 0 FakeQuantize."""
    _check_backend("get_default_qat_qconfig", backend)
    if version == 0:
        return QConfig(activation=FakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=True),
            weight=default_per_channel_weight_fake_quant)
    return QConfig(activation=FusedMovingAvgObsFakeQuantize.with_args(
        observer=MovingAverageMinMaxObserver, quant_min=0, quant_max=255, reduce_range=True),
        weight=default_fused_per_channel_wt_fake_quant)
