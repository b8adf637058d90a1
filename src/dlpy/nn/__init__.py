"""Layers with their parameters inside: Module, Parameter and the layers."""

from dlpy.nn import (
    init,  # torch.nn.init: kaiming_uniform_, xavier_normal_, ...
    utils,  # torch.nn.utils: clip_grad_norm_, parameters_to_vector, ...
)
from dlpy.nn.attention import MultiHeadAttention
from dlpy.nn.container import (
    ModuleDict,
    ModuleList,
    ParameterDict,
    ParameterList,
    Sequential,
)
from dlpy.nn.conv import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose1d,
    ConvTranspose2d,
    Flatten,
    MaxPool1d,
    MaxPool2d,
    MaxUnpool2d,
    Unflatten,
)
from dlpy.nn.embedding import Embedding
from dlpy.nn.linear import (
    ELU,
    GELU,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from dlpy.nn.loss import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)
from dlpy.nn.module import (
    Module,
    Parameter,
    load_checkpoint,
    load_npz,
    read_meta,
    save_checkpoint,
    save_npz,
)
from dlpy.nn.norm import BatchNorm1d, BatchNorm2d, BatchNorm3d, Dropout, LayerNorm
from dlpy.nn.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from dlpy.nn.rnn import GRU, LSTM, RNN
from dlpy.nn.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "GELU", "Dropout", "Identity", "LayerNorm", "Linear", "Module", "Parameter", "ReLU",
    "Sigmoid", "Tanh", "load_npz", "read_meta", "save_npz",
    "Conv2d", "Embedding", "Flatten", "MaxPool2d", "ModuleList", "Sequential",
    "load_checkpoint", "save_checkpoint",
    "MultiHeadAttention", "LearnedPositionalEmbedding", "SinusoidalPositionalEncoding",
    "TransformerEncoder", "TransformerEncoderLayer",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "utils",
    "init", "ModuleDict", "ParameterDict", "ParameterList",
    "ELU", "Hardtanh", "LeakyReLU", "LogSoftmax", "SiLU", "Softmax", "Softplus",
    "HuberLoss", "KLDivLoss", "NLLLoss", "SmoothL1Loss",
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv1d", "Unflatten",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool1d", "MaxUnpool2d",
    "GRU", "LSTM", "RNN",
]
