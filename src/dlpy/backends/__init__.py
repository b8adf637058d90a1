"""``torch.backends``: the switches of torch's native backends, kept as plain settable flags.

dlpy computes with numpy on the CPU, so none of these backends is available and the flags
change nothing; scripts that set them (``dlpy.backends.cudnn.benchmark = True``) run unchanged.
"""

from dlpy.backends import (
    cpu,
    cuda,
    cudnn,
    cusparselt,
    kleidiai,
    mha,
    miopen,
    mkl,
    mkldnn,
    mps,
    nnpack,
    openmp,
    opt_einsum,
    quantized,
)

__all__ = ["cpu", "cuda", "cudnn", "cusparselt", "kleidiai", "mha", "miopen", "mkl", "mkldnn",
           "mps", "nnpack", "openmp", "opt_einsum", "quantized"]
