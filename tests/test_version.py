"""torch.version / torch.torch_version: dlpy's own version outside dlpy.compat, the PyTorch
version it follows (a TorchVersion, comparing as a version) as ``torch.__version__`` inside."""

import dlpy
from dlpy import compat
from dlpy.torch_version import TorchVersion
from dlpy.version import TORCH_API


def test_torch_version_compares_as_a_version():
    v = TorchVersion("2.13.0+dlpy.0.1.0")
    assert v > "2.2" and v >= (2, 13) and v < "2.13.1" and v > "2.13.0"
    assert not str.__gt__(v, "2.2")  # (letter by letter it would be smaller)
    assert TorchVersion("2.0.0a0") < "2.0" < TorchVersion("2.0.post1")
    assert TorchVersion("parrot") == "parrot" and TorchVersion("parrot") > "abc"


def test_compat_reads_the_torch_version_and_restores_dlpys():
    own = dlpy.__version__
    with compat.as_torch():
        import torch

        assert isinstance(torch.__version__, TorchVersion)
        assert torch.__version__.startswith(TORCH_API) and torch.__version__ >= "2.0"
        assert torch.version.__version__ == torch.__version__ and torch.version.cuda is None
    assert dlpy.__version__ == own and type(dlpy.__version__) is str


def test_matmul_allow_tf32_is_the_matmul_precision():
    matmul = dlpy.backends.cuda.matmul
    try:
        dlpy.set_float32_matmul_precision("medium")
        assert matmul.allow_tf32 is True
        matmul.allow_tf32 = False
        assert dlpy.get_float32_matmul_precision() == "highest"
        matmul.allow_tf32 = True
        assert dlpy.get_float32_matmul_precision() == "high"
    finally:
        dlpy.set_float32_matmul_precision("highest")
    assert dlpy.backends.cudnn.benchmark_limit is None
