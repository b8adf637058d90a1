"""Eager-mode quantization workflows, as torch.ao.quantization:

    model.qconfig = get_default_qconfig("x86")       # QuantStub ... DeQuantStub inside model
    fuse_modules(model, [["conv", "relu"]], inplace=True)
    prepared = prepare(model)                         # observers after every quantizable layer
    for x in calibration_batches: prepared(x)         # calibrate
    quantized = convert(prepared)                     # integer layers

``prepare_qat`` swaps in layers with fake-quantized weights and fake-quantizes the activations
(train it, then ``convert``); ``quantize_dynamic`` swaps nn.Linear for dynamic int8 Linear.
"""

from __future__ import annotations

import copy
import warnings

from dlpy import nn
from dlpy.ao.nn import intrinsic, qat
from dlpy.ao.nn import quantized as nnq
from dlpy.ao.nn.quantized import dynamic as nnqd
from dlpy.ao.qtensor import (
    QTensor,
    per_channel_affine,
    per_channel_symmetric,
    qint8,
    quantize_per_channel,
    quantize_per_tensor,
)
from dlpy.ao.quantization.fuse_modules import fuse_modules, fuse_modules_qat  # noqa: F401
from dlpy.ao.quantization.qconfig import default_dynamic_qconfig


class QuantStub(nn.Module):
    """Marks where float becomes quantized: an identity until ``convert`` makes it Quantize."""

    def __init__(self, qconfig=None):
        super().__init__()
        if qconfig is not None:
            self.qconfig = qconfig

    def forward(self, x):
        return x


class DeQuantStub(QuantStub):
    """Marks where quantized becomes float again: an identity until ``convert``."""


class QuantWrapper(nn.Module):
    """module between a QuantStub and a DeQuantStub (its qconfig copied)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        qconfig = getattr(module, "qconfig", None)
        self.quant, self.dequant = QuantStub(qconfig), DeQuantStub(qconfig)
        self.module = module

    def forward(self, X):
        return self.dequant(self.module(self.quant(X)))


# float (or QAT) layer -> quantized layer; QAT swaps
STATIC_MAPPING = {
    nn.Linear: nnq.Linear, nn.Conv1d: nnq.Conv1d, nn.Conv2d: nnq.Conv2d,
    nn.Conv3d: nnq.Conv3d, nn.ConvTranspose1d: nnq.ConvTranspose1d,
    nn.ConvTranspose2d: nnq.ConvTranspose2d, nn.ReLU: nnq.ReLU, nn.ReLU6: nnq.ReLU6,
    nn.Hardswish: nnq.Hardswish, nn.ELU: nnq.ELU, nn.LeakyReLU: nnq.LeakyReLU,
    nn.Sigmoid: nnq.Sigmoid, nn.BatchNorm2d: nnq.BatchNorm2d, nn.BatchNorm3d: nnq.BatchNorm3d,
    nn.Dropout: nnq.Dropout, nn.MaxPool2d: nnq.MaxPool2d, nn.AvgPool2d: nnq.AvgPool2d,
    nn.AdaptiveAvgPool2d: nnq.AdaptiveAvgPool2d,
    intrinsic.LinearReLU: nnq.LinearReLU, intrinsic.ConvReLU1d: nnq.ConvReLU1d,
    intrinsic.ConvReLU2d: nnq.ConvReLU2d, intrinsic.ConvReLU3d: nnq.ConvReLU3d,
    intrinsic.BNReLU2d: nnq.BNReLU2d,
    qat.Linear: nnq.Linear, qat.Conv2d: nnq.Conv2d, qat.LinearReLU: nnq.LinearReLU,
    qat.ConvReLU2d: nnq.ConvReLU2d, qat.ConvBn2d: nnq.Conv2d, qat.ConvBnReLU2d: nnq.ConvReLU2d,
    QuantStub: nnq.Quantize, DeQuantStub: nnq.DeQuantize,
    nnq.FloatFunctional: nnq.QFunctional,
}
DYNAMIC_MAPPING = {nn.Linear: nnqd.Linear, nn.LSTM: nnqd.LSTM}
QAT_MAPPING = {nn.Linear: qat.Linear, nn.Conv2d: qat.Conv2d,
               intrinsic.LinearReLU: qat.LinearReLU, intrinsic.ConvReLU2d: qat.ConvReLU2d,
               intrinsic.ConvBn2d: qat.ConvBn2d, intrinsic.ConvBnReLU2d: qat.ConvBnReLU2d}
# modules prepare() gives an output observer (fused and QAT layers count as one); the others
# in STATIC_MAPPING keep their input's qparams (ReLU, ReLU6, pools, Dropout) or fix their own
# (Sigmoid: 1/256, as torch's quantized sigmoid)
OBSERVED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
            nn.ConvTranspose2d, nn.Hardswish, nn.ELU, nn.LeakyReLU,
            nn.BatchNorm2d, nn.BatchNorm3d, intrinsic.LinearReLU, intrinsic.ConvReLU1d,
            intrinsic.ConvReLU2d, intrinsic.ConvReLU3d, intrinsic.BNReLU2d, QuantStub)
_UNITS = (intrinsic.LinearReLU, intrinsic.ConvReLU1d, intrinsic.ConvReLU2d,
          intrinsic.ConvReLU3d, intrinsic.BNReLU2d, intrinsic.ConvBn2d, intrinsic.ConvBnReLU2d,
          qat.Linear, qat.Conv2d, nnq.FloatFunctional)


def propagate_qconfig_(module: nn.Module, qconfig_dict: dict | None = None) -> None:
    """Give every submodule a ``qconfig``: its own, the one ``qconfig_dict`` names for its type
    or dotted name, else its parent's."""
    qconfig_dict = qconfig_dict or {}

    def visit(current, inherited, prefix):
        qconfig = qconfig_dict.get(type(current), qconfig_dict.get(prefix, inherited))
        qconfig = current.__dict__.get("qconfig", qconfig)
        object.__setattr__(current, "qconfig", qconfig)
        for name, child in current.named_children():
            visit(child, qconfig, f"{prefix}.{name}" if prefix else name)

    visit(module, qconfig_dict.get("", None), "")


def _observer_hook(module, args, output):
    return module.activation_post_process(output)


def _add_observers(module: nn.Module) -> None:
    for child in module.children():
        qconfig = getattr(child, "qconfig", None)
        if isinstance(child, nnq.FloatFunctional) and qconfig is not None:
            child.activation_post_process = qconfig.activation()
        elif isinstance(child, OBSERVED) and not isinstance(child, DeQuantStub) \
                and qconfig is not None:
            child.activation_post_process = qconfig.activation()
            child.register_forward_hook(_observer_hook)
        if not isinstance(child, _UNITS):
            _add_observers(child)


def prepare(model: nn.Module, inplace: bool = False, allow_list=None,
            observer_non_leaf_module_list=None, prepare_custom_config_dict=None) -> nn.Module:
    """A copy of ``model`` (unless ``inplace``) with an observer (``activation_post_process``)
    on the output of every Linear / Conv2d / fused layer / QuantStub that has a qconfig."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"prepare: expected an nn.Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(model)
    propagate_qconfig_(model)
    if not any(getattr(m, "qconfig", None) is not None for m in model.modules()):
        warnings.warn("prepare: no submodule has a qconfig (set model.qconfig); nothing will "
                      "be observed", stacklevel=2)
    _add_observers(model)
    return model


def prepare_qat(model: nn.Module, mapping: dict | None = None, inplace: bool = False
                ) -> nn.Module:
    """Swap Linear / Conv2d / fused layers for their QAT forms (fake-quantized weights), then
    ``prepare`` (fake-quantized activations with a QAT qconfig). Train, then ``convert``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"prepare_qat: expected an nn.Module, got {type(model).__name__}")
    model = model if inplace else copy.deepcopy(model)
    propagate_qconfig_(model)
    _swap(model, QAT_MAPPING if mapping is None else mapping, lambda layer, cls:
          cls.from_float(layer))
    return prepare(model, inplace=True)


def _swap(module: nn.Module, mapping: dict, make) -> None:
    for name, child in list(module.named_children()):
        target = mapping.get(type(child))
        if target is not None and getattr(child, "qconfig", None) is not None:
            setattr(module, name, make(child, target))
        elif not isinstance(child, _UNITS):
            _swap(child, mapping, make)


def convert(module: nn.Module, mapping: dict | None = None, inplace: bool = False,
            remove_qconfig: bool = True) -> nn.Module:
    """Swap every observed layer for its quantized form (``mapping``: float type -> quantized
    type with ``from_float``), reading each observer's (scale, zero_point)."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"convert: expected an nn.Module, got {type(module).__name__}")
    module = module if inplace else copy.deepcopy(module)
    mapping = STATIC_MAPPING if mapping is None else mapping

    def make(layer, cls):
        if cls is nnq.ReLU:
            return nnq.ReLU()
        if not hasattr(cls, "from_float"):
            raise TypeError(f"convert: the mapping's {cls.__name__} (for "
                            f"{type(layer).__name__}) has no from_float")
        return cls.from_float(layer)

    _swap(module, mapping, make)
    for sub in module.modules():  # float layers left: a clear error if a QTensor reaches one
        if not list(sub.children()) and type(sub).__module__.startswith("dlpy.nn") \
                and not isinstance(sub, _PASS_THROUGH):
            sub.register_forward_pre_hook(_refuse_qtensor)
    if remove_qconfig:
        for sub in module.modules():
            sub.__dict__.pop("qconfig", None)
    return module


_PASS_THROUGH = (nn.Identity, nn.Flatten)  # float modules that work on QTensors as they are


def _refuse_qtensor(module, args) -> None:
    for value in args:
        if isinstance(value, QTensor):
            kinds = sorted({cls.__name__ for cls in STATIC_MAPPING})
            raise TypeError(
                f"{type(module).__name__}: got a QTensor, but dlpy has no quantized "
                f"{type(module).__name__}; put a DeQuantStub before it (and a QuantStub after) "
                f"so it runs in float. Quantized by convert: {', '.join(kinds)}")


def quantize(model: nn.Module, run_fn, run_args, mapping: dict | None = None,
             inplace: bool = False) -> nn.Module:
    """prepare, ``run_fn(prepared, *run_args)`` (calibration), convert."""
    prepared = prepare(model, inplace=inplace)
    prepared.eval()
    run_fn(prepared, *run_args)
    return convert(prepared, mapping, inplace=True)


def quantize_dynamic(model: nn.Module, qconfig_spec=None, dtype=qint8, mapping=None,
                     inplace: bool = False) -> nn.Module:
    """Swap the nn.Linear / nn.LSTM layers (``qconfig_spec``: a set of types or dotted names, or
    a dict of them -> QConfig; default {nn.Linear}) for dynamic int8 ones: int8 weights,
    activations quantized per call."""
    if dtype is not qint8:
        raise ValueError(f"quantize_dynamic: only dtype=dlpy.qint8 is supported, got {dtype!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_dynamic: expected an nn.Module, got {type(model).__name__}")
    qconfig_spec = {nn.Linear} if qconfig_spec is None else qconfig_spec
    if not isinstance(qconfig_spec, dict):
        qconfig_spec = dict.fromkeys(qconfig_spec, default_dynamic_qconfig)
    mapping = DYNAMIC_MAPPING if mapping is None else mapping
    unknown = [k for k in qconfig_spec if isinstance(k, type) and k not in mapping]
    if unknown:
        raise ValueError(f"quantize_dynamic: dlpy quantizes {[t.__name__ for t in mapping]} "
                         f"dynamically, got {[k.__name__ for k in unknown]}")
    model = model if inplace else copy.deepcopy(model)
    propagate_qconfig_(model, qconfig_spec)
    _swap(model, mapping, lambda layer, cls: cls.from_float(layer, layer.qconfig.weight()))
    for sub in model.modules():
        sub.__dict__.pop("qconfig", None)
    return model


def quantize_weight(layer: nn.Module, weight_observer=None) -> tuple[QTensor, nn.Module]:
    """(the layer's weight as qint8, the observer that chose its qparams): a QAT layer's
    weight_fake_quant, ``weight_observer``, or a fresh ``layer.qconfig.weight()``."""
    observer = getattr(layer, "weight_fake_quant", None) or weight_observer
    if observer is None:
        qconfig = getattr(layer, "qconfig", None)
        if qconfig is None:
            raise ValueError(f"quantize_weight: {type(layer).__name__} has no qconfig")
        observer = qconfig.weight()
    observer(layer.weight)
    post = getattr(observer, "activation_post_process", observer)
    scale, zero_point = post._qparams()
    weight = layer.weight.data
    if post.qscheme in (per_channel_affine, per_channel_symmetric):
        return quantize_per_channel(weight, scale, zero_point, post.ch_axis, qint8), observer
    return quantize_per_tensor(weight, float(scale[0]), int(zero_point[0]), qint8), observer


# fuse_modules and fuse_modules_qat live in fuse_modules.py (torch's module of them)
