"""Layers with their parameters inside: Module, Parameter and the layers."""

from dlpy.nn import (
    grad,  # torch.nn.grad: conv2d_input, conv2d_weight, ...
    init,  # torch.nn.init: kaiming_uniform_, xavier_normal_, ...
    modules,  # torch.nn.modules: modules.module.register_module_forward_hook, ...
    utils,  # torch.nn.utils: clip_grad_norm_, parameters_to_vector, ...
)
from dlpy.nn.attention import MultiHeadAttention, MultiheadAttention
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
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    Flatten,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    MaxUnpool1d,
    MaxUnpool2d,
    MaxUnpool3d,
    Unflatten,
)
from dlpy.nn.distance import CosineSimilarity, PairwiseDistance
from dlpy.nn.embedding import Embedding, EmbeddingBag
from dlpy.nn.linear import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Bilinear,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    Identity,
    LeakyReLU,
    Linear,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from dlpy.nn.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineEmbeddingLoss,
    CrossEntropyLoss,
    CTCLoss,
    GaussianNLLLoss,
    HingeEmbeddingLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MarginRankingLoss,
    MSELoss,
    MultiLabelSoftMarginLoss,
    MultiMarginLoss,
    NLLLoss,
    NLLLoss2d,
    PoissonNLLLoss,
    SmoothL1Loss,
    SoftMarginLoss,
    TripletMarginLoss,
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
from dlpy.nn.norm import (
    AlphaDropout,
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    LocalResponseNorm,
    RMSNorm,
)
from dlpy.nn.padding import (
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
)
from dlpy.nn.positional import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from dlpy.nn.resample import (
    Fold,
    PixelShuffle,
    PixelUnshuffle,
    Unfold,
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
)
from dlpy.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from dlpy.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "GELU", "Dropout", "Identity", "LayerNorm", "Linear", "Module", "Parameter", "ReLU",
    "Sigmoid", "Tanh", "load_npz", "read_meta", "save_npz",
    "Conv2d", "Embedding", "Flatten", "MaxPool2d", "ModuleList", "Sequential",
    "load_checkpoint", "save_checkpoint",
    "MultiHeadAttention", "LearnedPositionalEmbedding", "SinusoidalPositionalEncoding",
    "TransformerEncoder", "TransformerEncoderLayer",
    "MultiheadAttention", "Transformer", "TransformerDecoder", "TransformerDecoderLayer",
    "BCEWithLogitsLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "utils",
    "grad", "init", "modules", "ModuleDict", "ParameterDict", "ParameterList",
    "ELU", "Hardtanh", "LeakyReLU", "LogSoftmax", "SiLU", "Softmax", "Softplus",
    "HuberLoss", "KLDivLoss", "NLLLoss", "NLLLoss2d", "SmoothL1Loss",
    "AdaptiveAvgPool2d", "AvgPool2d", "Conv1d", "Unflatten",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
    "AdaptiveAvgPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool1d", "MaxUnpool2d",
    "AdaptiveAvgPool3d", "AdaptiveMaxPool1d", "AdaptiveMaxPool3d", "AvgPool3d", "Conv3d",
    "ConvTranspose3d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool3d",
    "GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "RNNCell",
]
__all__ += [  # more activations, normalisations and dropouts, Bilinear
    "CELU", "GLU", "SELU", "AlphaDropout", "Bilinear", "Dropout1d", "Dropout2d", "Dropout3d",
    "GroupNorm", "Hardshrink", "Hardsigmoid", "Hardswish", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LocalResponseNorm", "LogSigmoid", "Mish", "PReLU", "ReLU6", "RMSNorm",
    "Softmin", "Softshrink", "Softsign", "Tanhshrink", "Threshold",
]
__all__ += [  # more losses, distances, padding, resampling, EmbeddingBag
    "BCELoss", "CosineEmbeddingLoss", "GaussianNLLLoss", "HingeEmbeddingLoss",
    "MarginRankingLoss", "MultiLabelSoftMarginLoss", "MultiMarginLoss", "PoissonNLLLoss",
    "SoftMarginLoss", "TripletMarginLoss", "CosineSimilarity", "PairwiseDistance",
    "EmbeddingBag", "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d",
    "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
    "ZeroPad3d", "Fold", "PixelShuffle", "PixelUnshuffle", "Unfold", "Upsample",
    "UpsamplingBilinear2d", "UpsamplingNearest2d",
]
__all__ += ["CTCLoss"]
from dlpy.nn.conv import LPPool1d, LPPool2d, LPPool3d  # noqa: E402
from dlpy.nn.linear import RReLU, Softmax2d  # noqa: E402
from dlpy.nn.loss import MultiLabelMarginLoss, TripletMarginWithDistanceLoss  # noqa: E402
from dlpy.nn.norm import FeatureAlphaDropout  # noqa: E402
from dlpy.nn.resample import ChannelShuffle  # noqa: E402

__all__ += [
    "ChannelShuffle", "FeatureAlphaDropout", "LPPool1d", "LPPool2d", "LPPool3d",
    "MultiLabelMarginLoss", "RReLU", "Softmax2d", "TripletMarginWithDistanceLoss",
]
from dlpy.nn.adaptive import AdaptiveLogSoftmaxWithLoss, ASMOutput  # noqa: E402

__all__ += ["AdaptiveLogSoftmaxWithLoss", "ASMOutput"]
from dlpy.nn.norm import SyncBatchNorm  # noqa: E402

__all__ += ["SyncBatchNorm"]
from dlpy.nn.pool_fractional import FractionalMaxPool2d, FractionalMaxPool3d  # noqa: E402

__all__ += ["FractionalMaxPool2d", "FractionalMaxPool3d"]
from dlpy.nn.norm import CrossMapLRN2d  # noqa: E402

__all__ += ["CrossMapLRN2d"]
from dlpy.nn import parameter  # noqa: E402,F401 - torch.nn.parameter
from dlpy.nn.lazy import (  # noqa: E402
    LazyBatchNorm1d,
    LazyBatchNorm2d,
    LazyBatchNorm3d,
    LazyConv1d,
    LazyConv2d,
    LazyConv3d,
    LazyConvTranspose1d,
    LazyConvTranspose2d,
    LazyConvTranspose3d,
    LazyInstanceNorm1d,
    LazyInstanceNorm2d,
    LazyInstanceNorm3d,
    LazyLinear,
    LazyModuleMixin,
    UninitializedBuffer,
    UninitializedParameter,
)
from dlpy.nn.module import Buffer  # noqa: E402
from dlpy.nn.rnn import RNNBase, RNNCellBase  # noqa: E402

__all__ += [
    "Buffer", "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d", "LazyConv1d",
    "LazyConv2d", "LazyConv3d", "LazyConvTranspose1d", "LazyConvTranspose2d",
    "LazyConvTranspose3d", "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
    "LazyLinear", "LazyModuleMixin", "RNNBase", "RNNCellBase", "UninitializedBuffer",
    "UninitializedParameter",
]
from dlpy.nn.linear_cross_entropy import (  # noqa: E402
    LinearCrossEntropyLoss,
    LinearCrossEntropyOptions,
)

__all__ += ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions"]
from dlpy.nn.container import Container  # noqa: E402

__all__ += ["Container"]
__all__ += ["DataParallel"]


def __getattr__(name: str):
    """torch.nn.DataParallel and torch.nn.parallel, loaded on first use (nn.parallel imports
    dlpy.distributed, which imports this package); torch.nn.functional (dlpy.functional)."""
    if name == "DataParallel":
        from dlpy.nn.parallel.data_parallel import DataParallel

        return DataParallel
    if name == "parallel":  # torch.nn.parallel.DistributedDataParallel without an import
        import dlpy.nn.parallel as parallel

        return parallel
    if name == "functional":  # torch.nn.functional, as torch's nn imports it: dlpy.functional
        import dlpy.nn.functional as functional

        return functional
    raise AttributeError(f"module 'dlpy.nn' has no attribute {name!r}")
