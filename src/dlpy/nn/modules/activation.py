"""``torch.nn.modules.activation``: the activation modules (dlpy.nn.linear's) and
MultiheadAttention (dlpy.nn.attention's), the same classes as ``torch.nn``'s."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn.attention import MultiheadAttention
from dlpy.nn.init import (
    constant_,  # noqa: F401
    xavier_normal_,  # noqa: F401
    xavier_uniform_,  # noqa: F401
)
from dlpy.nn.linear import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    NonDynamicallyQuantizableLinear,  # noqa: F401
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)

__all__ = [
    "Threshold", "ReLU", "RReLU", "Hardtanh", "ReLU6", "Sigmoid", "Hardsigmoid", "Tanh", "SiLU",
    "Mish", "Hardswish", "ELU", "CELU", "SELU", "GLU", "GELU", "Hardshrink", "LeakyReLU",
    "LogSigmoid", "Softplus", "Softshrink", "MultiheadAttention", "PReLU", "Softsign",
    "Tanhshrink", "Softmin", "Softmax", "Softmax2d", "LogSoftmax",
]
