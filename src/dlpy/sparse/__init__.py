"""torch.sparse's namespace: ``dlpy.sparse.mm``, ``addmm``, ``sum``, ``softmax``,
``log_softmax``, ``sampled_addmm``, ``spdiags``, ``check_sparse_tensor_invariants``. The
sparse tensor and its ops live in dlpy/sparse_tensor.py; this module is imported on first
use."""

from dlpy.sparse_tensor import (  # noqa: F401 - the namespace
    SparseTensor,
    addmm,
    check_sparse_tensor_invariants,
    log_softmax,
    mm,
    sampled_addmm,
    softmax,
    spdiags,
    sum,
)
from dlpy.tensor import Tensor

__all__ = ["SparseTensor", "addmm", "check_sparse_tensor_invariants", "log_softmax", "mm",
           "sampled_addmm", "softmax", "spdiags", "sum"]


class _CudaOnlyError(NotImplementedError):
    """A torch.sparse function that has kernels only for CUDA (a NotImplementedError, which
    is a RuntimeError, as torch's on the CPU)."""


def spsolve(input, other, *, left: bool = True):
    """torch.sparse.spsolve: solve ``input @ x = other`` for a sparse CSR ``input``. torch
    computes it only with CUDA's cuDSS; on the CPU (dlpy's device) it has no kernel, and
    dlpy raises its NotImplementedError for every layout, as torch's CPU build does. Use
    ``torch.linalg.solve(input.to_dense(), other)``."""
    layout = {"sparse_csr": "SparseCsrCPU", "sparse_coo": "SparseCPU"}.get(
        str(getattr(input, "layout", "")).replace("torch.", ""), "CPU")
    raise _CudaOnlyError(f"Could not run 'aten::_spsolve' with arguments from the '{layout}' "
                         f"backend: torch.sparse.spsolve has only a CUDA (cuDSS) kernel; use "
                         f"torch.linalg.solve(input.to_dense(), other)")


class SparseSemiStructuredTensor(Tensor):
    """torch.sparse.SparseSemiStructuredTensor: a 2:4 semi-structured sparse matrix, which
    torch builds only on CUDA (CUTLASS or cuSPARSELt kernels). dlpy has the classes, for
    ``isinstance``; ``to_sparse_semi_structured`` refuses CPU tensors, as torch's."""

    _FORCE_CUTLASS = False

    def __new__(cls, *args, **kwargs):
        raise RuntimeError(f"{cls.__name__}: 2:4 semi-structured sparsity needs CUDA, which "
                           f"dlpy lacks")


class SparseSemiStructuredTensorCUTLASS(SparseSemiStructuredTensor):
    """The CUTLASS-kernel form of SparseSemiStructuredTensor (CUDA only)."""


class SparseSemiStructuredTensorCUSPARSELT(SparseSemiStructuredTensor):
    """The cuSPARSELt-kernel form of SparseSemiStructuredTensor (CUDA only)."""


def to_sparse_semi_structured(original_tensor, transposed: bool = False):
    """torch.sparse.to_sparse_semi_structured: a dense 2:4-sparse matrix as a
    SparseSemiStructuredTensor. CUDA only: a CPU tensor (every dlpy tensor) is torch's
    RuntimeError."""
    device = getattr(original_tensor, "device", "cpu")
    raise RuntimeError(f"Error original_tensor.device= {device} is not supported! Only CUDA "
                       f"tensors are currently supported.")


__all__ += ["SparseSemiStructuredTensor", "SparseSemiStructuredTensorCUSPARSELT",
            "SparseSemiStructuredTensorCUTLASS", "spsolve", "to_sparse_semi_structured"]
