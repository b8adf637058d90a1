"""torch.ao.quantization.qconfig_mapping: ``QConfigMapping``, which QConfig each part of a
model gets (globally, per module or function type, per module name or name pattern, per
(module name, type, call index)), and the default mappings of torch's x86 / fbgemm backend.

dlpy's defaults hold the global QConfig and the entries dlpy's observers can express: the
transposed convolutions (per-tensor weights, as torch's ``qconfig_transpose``) and layer norm
(float weights: a PlaceholderObserver). torch's fixed-qparams entries (sigmoid, tanh,
softmax, hardsigmoid), "reshape" (reuse the input's observer) and PReLU (quint8 weights) need
observers dlpy lacks and are left out."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from dlpy import functional as F
from dlpy import nn
from dlpy.ao.quantization.fake_quantize import default_weight_fake_quant
from dlpy.ao.quantization.observer import PlaceholderObserver, default_weight_observer
from dlpy.ao.quantization.qconfig import QConfig, get_default_qat_qconfig, get_default_qconfig
from dlpy.ops import ArgAssertionError

__all__ = ["QConfigMapping", "get_default_qat_qconfig_mapping", "get_default_qconfig_mapping"]

_GLOBAL_DICT_KEY = ""
_OBJECT_TYPE_DICT_KEY = "object_type"
_MODULE_NAME_REGEX_DICT_KEY = "module_name_regex"
_MODULE_NAME_DICT_KEY = "module_name"
_MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY = "module_name_object_type_order"
# torch's backends: the two dlpy follows, the two it refuses (dlpy's get_default_qconfig)
_TORCH_BACKENDS = ["fbgemm", "x86", "qnnpack", "onednn"]


class _QConfigMappingAssertionError(ArgAssertionError):
    """A backend or version torch does not know: torch's AssertionError."""


class QConfigMapping:
    """Which QConfig (or None: leave in float) each part of a model gets, most specific
    first: (module name, object type, index) > module name > module name regex > object
    type > global. Each ``set_*`` returns the mapping, for chaining."""

    def __init__(self):
        self.global_qconfig: Any = None
        self.object_type_qconfigs: OrderedDict = OrderedDict()
        self.module_name_regex_qconfigs: OrderedDict = OrderedDict()
        self.module_name_qconfigs: OrderedDict = OrderedDict()
        self.module_name_object_type_order_qconfigs: OrderedDict = OrderedDict()

    def set_global(self, global_qconfig) -> QConfigMapping:
        """The QConfig of everything no other entry covers."""
        self.global_qconfig = global_qconfig
        return self

    def set_object_type(self, object_type, qconfig) -> QConfigMapping:
        """The QConfig of a module class, a function, or a method name (a string)."""
        self.object_type_qconfigs[object_type] = qconfig
        return self

    def set_module_name_regex(self, module_name_regex: str, qconfig) -> QConfigMapping:
        """The QConfig of the modules whose qualified names match the pattern (the first
        pattern set wins)."""
        self.module_name_regex_qconfigs[module_name_regex] = qconfig
        return self

    def set_module_name(self, module_name: str, qconfig) -> QConfigMapping:
        """The QConfig of one module, by its qualified name."""
        self.module_name_qconfigs[module_name] = qconfig
        return self

    def set_module_name_object_type_order(self, module_name: str, object_type, index: int,
                                          qconfig) -> QConfigMapping:
        """The QConfig of the ``index``-th call of ``object_type`` inside module
        ``module_name``."""
        self.module_name_object_type_order_qconfigs[(module_name, object_type, index)] = qconfig
        return self

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for name in ("global_qconfig", "object_type_qconfigs", "module_name_regex_qconfigs",
                     "module_name_qconfigs", "module_name_object_type_order_qconfigs"):
            lines.append(f" {name}")
            value = getattr(self, name)
            if isinstance(value, OrderedDict) and value:
                lines.extend(f"  {key}: {qconfig}" for key, qconfig in value.items())
            else:
                lines.append(f"  {value}")
        return "\n".join(lines) + "\n)"

    def to_dict(self) -> dict[str, Any]:
        """``{"": global, "object_type": [(type, qconfig)], "module_name_regex": [...],
        "module_name": [...], "module_name_object_type_order": [(name, type, index,
        qconfig)]}``, as torch's."""
        return {
            _GLOBAL_DICT_KEY: self.global_qconfig,
            _OBJECT_TYPE_DICT_KEY: list(self.object_type_qconfigs.items()),
            _MODULE_NAME_REGEX_DICT_KEY: list(self.module_name_regex_qconfigs.items()),
            _MODULE_NAME_DICT_KEY: list(self.module_name_qconfigs.items()),
            _MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY: [
                (*key, qconfig)
                for key, qconfig in self.module_name_object_type_order_qconfigs.items()],
        }

    @classmethod
    def from_dict(cls, qconfig_dict: dict[str, Any]) -> QConfigMapping:
        """The mapping ``to_dict`` describes (missing keys: nothing set)."""
        conf = cls()
        if _GLOBAL_DICT_KEY in qconfig_dict:
            conf.set_global(qconfig_dict[_GLOBAL_DICT_KEY])
        for object_type, qconfig in qconfig_dict.get(_OBJECT_TYPE_DICT_KEY, []):
            conf.set_object_type(object_type, qconfig)
        for regex, qconfig in qconfig_dict.get(_MODULE_NAME_REGEX_DICT_KEY, []):
            conf.set_module_name_regex(regex, qconfig)
        for name, qconfig in qconfig_dict.get(_MODULE_NAME_DICT_KEY, []):
            conf.set_module_name(name, qconfig)
        for name, object_type, index, qconfig in qconfig_dict.get(
                _MODULE_NAME_OBJECT_TYPE_ORDER_DICT_KEY, []):
            conf.set_module_name_object_type_order(name, object_type, index, qconfig)
        return conf


def _get_default_qconfig_mapping(is_qat: bool, backend: str, version: int) -> QConfigMapping:
    if backend not in _TORCH_BACKENDS:
        raise _QConfigMappingAssertionError(
            f"backend: {backend} not supported. backend must be one of {_TORCH_BACKENDS}")
    if version not in ((0, 1) if is_qat else (0,)):
        name = "get_default_qat_qconfig" if is_qat else "get_default_qconfig"
        raise _QConfigMappingAssertionError(
            f"Version number: {version} in {name} is not supported. Version number must be "
            f"{'0 or 1' if is_qat else '0'}")
    qconfig = get_default_qat_qconfig(backend, version) if is_qat else \
        get_default_qconfig(backend, version)
    default_weight = default_weight_fake_quant if is_qat else default_weight_observer
    # per-channel weights do not fit fbgemm's transposed convolutions: per-tensor ones there
    qconfig_transpose = QConfig(activation=qconfig.activation, weight=default_weight)
    # layer norm keeps float weights
    qconfig_layernorm = QConfig(activation=qconfig.activation, weight=PlaceholderObserver)
    return (QConfigMapping().set_global(qconfig)
            .set_object_type(nn.ConvTranspose1d, qconfig_transpose)
            .set_object_type(nn.ConvTranspose2d, qconfig_transpose)
            .set_object_type(nn.ConvTranspose3d, qconfig_transpose)
            .set_object_type(F.conv_transpose1d, qconfig_transpose)
            .set_object_type(F.conv_transpose2d, qconfig_transpose)
            .set_object_type(F.conv_transpose3d, qconfig_transpose)
            .set_object_type(F.layer_norm, qconfig_layernorm)
            .set_object_type(nn.LayerNorm, qconfig_layernorm))


def get_default_qconfig_mapping(backend: str = "x86", version: int = 0) -> QConfigMapping:
    """The default mapping for post-training quantization on ``backend`` (see the module's
    docstring for the entries)."""
    return _get_default_qconfig_mapping(False, backend, version)


def get_default_qat_qconfig_mapping(backend: str = "x86", version: int = 1) -> QConfigMapping:
    """The default mapping for quantization-aware training on ``backend``."""
    return _get_default_qconfig_mapping(True, backend, version)
