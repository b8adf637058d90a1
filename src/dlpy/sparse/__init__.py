"""torch.sparse's namespace: ``dlpy.sparse.mm``, ``addmm``, ``sum``, ``softmax``,
``log_softmax``, ``sampled_addmm``, ``spdiags``, ``check_sparse_tensor_invariants``. The
sparse tensor and its ops live in dlpy/sparse_tensor.py; this module is imported on first
use."""

from dlpy.sparse_tensor import (  # noqa: F401 - the namespace
    SparseTensor,
    check_sparse_tensor_invariants,
    log_softmax,
    sampled_addmm,
    softmax,
    spdiags,
    sum,
)
from dlpy.sparse_tensor import sparse_addmm as addmm  # (the sparse operand's gradient sparse)
from dlpy.sparse_tensor import sparse_mm as mm
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


def _sparse_requiring_grad(obj, layouts, anyway: bool = False) -> bool:
    """Whether ``obj`` is a tensor of one of the sparse ``layouts`` that requires grad (or
    ``anyway``); dlpy's sparse tensors are their own classes, beside Tensor."""
    return (isinstance(getattr(obj, "layout", None), type(next(iter(layouts))))
            and obj.layout in layouts
            and (anyway or bool(getattr(obj, "requires_grad", False))))


def as_sparse_gradcheck(gradcheck):
    """torch.sparse.as_sparse_gradcheck: wrap ``gradcheck`` (torch.autograd.gradcheck, or a
    functools.partial of it) so that it takes functions of sparse tensors (COO, CSR, CSC, BSR,
    BSC) and functions returning them. Each sparse input that requires grad is passed to
    ``gradcheck`` as its values (a strided tensor; every element specified, unless
    ``masked=True``, which checks only the specified ones), rebuilt into the sparse tensor
    inside the function; each sparse output that requires grad is made dense
    (``to_dense(masked_grad=masked)``). ``gradcheck`` itself sees strided tensors only."""
    import dlpy

    def gradcheck_with_sparse_support(func, inputs, **kwargs):
        """gradcheck(func, inputs, **kwargs) for sparse inputs and outputs (``masked``: check
        the specified elements only)."""
        masked = kwargs.pop("masked", False)
        layouts = {dlpy.sparse_coo, dlpy.sparse_csr, dlpy.sparse_csc, dlpy.sparse_bsr,
                   dlpy.sparse_bsc}
        compressed = layouts - {dlpy.sparse_coo}
        blocked = {dlpy.sparse_bsr, dlpy.sparse_bsc}
        marker = "__STRIDED_REPRESENTATION__"

        def to_strided(args):
            args = args if isinstance(args, (list, tuple)) else (args,)
            flat = []
            for obj in args:
                if not _sparse_requiring_grad(obj, layouts):
                    flat.append(obj)
                    continue
                d = {"layout": obj.layout, "shape": obj.shape}
                if not masked:  # every element specified (zeros where none was)
                    batch = obj.ndim - obj.dense_dim() - obj.sparse_dim()
                    blocksize = (obj.values().shape[batch + 1:batch + 3]
                                 if obj.layout in blocked else None)
                    full = dlpy.ones(obj.shape, dtype=dlpy.bool).to_sparse(
                        layout=obj.layout, blocksize=blocksize, dense_dim=obj.dense_dim())
                    obj = obj.to_dense().sparse_mask(full)
                if obj.layout is dlpy.sparse_coo:
                    d.update(indices=obj._indices(), is_coalesced=obj.is_coalesced())
                    values = obj._values()
                elif obj.layout in (dlpy.sparse_csr, dlpy.sparse_bsr):
                    d.update(compressed_indices=obj.crow_indices(),
                             plain_indices=obj.col_indices())
                    values = obj.values()
                else:
                    d.update(compressed_indices=obj.ccol_indices(),
                             plain_indices=obj.row_indices())
                    values = obj.values()
                flat.extend((marker, d, values.requires_grad_(True)))
            return tuple(flat)

        def from_strided(args):
            restored, args = [], list(args)
            while args:
                a = args.pop(0)
                if isinstance(a, str) and a == marker:
                    d, values = args.pop(0), args.pop(0)
                    if d["layout"] is dlpy.sparse_coo:
                        a = dlpy.sparse_coo_tensor(d["indices"], values, size=d["shape"],
                                                   is_coalesced=d["is_coalesced"])
                    elif d["layout"] in compressed:
                        a = dlpy.sparse_compressed_tensor(
                            d["compressed_indices"], d["plain_indices"], values,
                            size=d["shape"], layout=d["layout"])
                    else:
                        raise NotImplementedError(f"conversion of {d['layout']} strided "
                                                  f"representation to tensor")
                restored.append(a)
            return tuple(restored)

        def func_wrapper(*args, **kwargs):
            outputs = func(*from_strided(args), **kwargs)
            many = isinstance(outputs, (list, tuple))
            # dlpy's gradcheck takes its finite differences under no_grad, where no output
            # requires grad: there every sparse output is made dense
            numeric = not dlpy.is_grad_enabled()
            strided = tuple(
                o.to_dense(masked_grad=masked)
                if _sparse_requiring_grad(o, layouts, numeric) else o
                for o in (tuple(outputs) if many else (outputs,)))
            return strided if many else strided[0]

        return gradcheck(func_wrapper, to_strided(inputs), **kwargs)

    return gradcheck_with_sparse_support


__all__ += ["as_sparse_gradcheck"]
