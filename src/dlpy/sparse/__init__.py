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

__all__ = ["SparseTensor", "addmm", "check_sparse_tensor_invariants", "log_softmax", "mm",
           "sampled_addmm", "softmax", "spdiags", "sum"]
