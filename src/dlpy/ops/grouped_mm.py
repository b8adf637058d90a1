"""torch's F.grouped_mm (the grouped GEMM of Mixture-of-Experts layers): one matrix product per
group, the groups cut out of a 2-D operand by offsets or stacked along a 3-D operand's first
axis."""

import numpy as np

from dlpy.amp.dtypes import float32_compute
from dlpy.ops.conv import _shape_of
from dlpy.ops.matmul import matmul
from dlpy.tensor import Op, Tensor, as_array, is_floating_dtype

NAME = "grouped_mm"


@float32_compute  # float16/bfloat16 arrays: float32 products, rounded output
class GroupedMatMul(Op):
    """out[o_i] = a[a_i] @ b[b_i] for each group i (index tuples from ``_groups``), zero
    elsewhere;  da[a_i] = g[o_i] @ b[b_i]^T,  db[b_i] = a[a_i]^T @ g[o_i]."""

    saves = ((0, 1), (1, 0))

    def __init__(self, groups, out_shape):
        self.groups, self.out_shape = groups, out_shape

    def forward(self, a, b):
        self.a, self.b = a, b
        out = np.zeros(self.out_shape, dtype=np.result_type(a, b))
        for a_index, b_index, out_index in self.groups:
            out[out_index] = a[a_index] @ b[b_index]
        return out

    def backward(self, grad_output):
        a, b, g = self.a, self.b, grad_output
        a_grad = np.zeros_like(a) if self.inputs[0].requires_grad else None
        b_grad = np.zeros_like(b) if self.inputs[1].requires_grad else None
        for a_index, b_index, out_index in self.groups:
            if a_grad is not None:
                a_grad[a_index] = g[out_index] @ b[b_index].T
            if b_grad is not None:
                b_grad[b_index] = a[a_index].T @ g[out_index]
        return a_grad, b_grad


def _ends(offs, length, what):
    """The group boundaries [(start, end), ...] from torch's offsets (each group's end)."""
    ends = as_array(offs)
    if ends.ndim != 1 or not np.issubdtype(ends.dtype, np.integer):
        raise ValueError(f"{NAME}: offs must be a 1-D integer (int32) array, got shape "
                         f"{ends.shape} and dtype {ends.dtype}")
    ends = [int(e) for e in ends]
    starts = [0, *ends[:-1]]
    if any(e < s for s, e in zip(starts, ends)) or (ends and (ends[0] < 0 or ends[-1] > length)):
        raise ValueError(f"{NAME}: offs must be non-decreasing within 0..{length} (the {what}), "
                         f"got {ends}")
    return list(zip(starts, ends))


def grouped_mm(mat_a, mat_b, *, offs=None, bias=None, out_dtype=None) -> Tensor:
    """torch's F.grouped_mm, with the group g of each case:

    a (M, K), b (G, K, N), offs cuts M: out (M, N), out[s:e] = a[s:e] @ b[g];
    a (G, M, K), b (G, K, N), no offs: out (G, M, N) = a @ b (a batched matmul);
    a (M, K), b (K, N), offs cuts K (the weight gradient): out (G, M, N), a[:, s:e] @ b[s:e];
    a (G, M, K), b (K, N), offs cuts N: out (M, N), out[:, s:e] = a[g] @ b[:, s:e].
    Rows / columns past offs[-1] are zero (torch leaves them unset). bias: not supported, as
    torch's; out_dtype must be None or mat_a's dtype, as torch's CPU kernel.
    """
    a_shape, b_shape = _shape_of(mat_a), _shape_of(mat_b)
    a_dtype, b_dtype = as_array(mat_a).dtype, as_array(mat_b).dtype
    if len(a_shape) not in (2, 3) or len(b_shape) not in (2, 3):
        raise ValueError(f"{NAME}: expected mat_a and mat_b 2-D or 3-D, got {a_shape} and "
                         f"{b_shape}")
    if not is_floating_dtype(a_dtype) or a_dtype != b_dtype:
        raise TypeError(f"{NAME}: expected mat_a and mat_b of one floating dtype, got {a_dtype} "
                        f"and {b_dtype}")
    if bias is not None:
        raise ValueError(f"{NAME}: bias is not supported yet (nor in torch)")
    if out_dtype is not None and np.dtype(out_dtype) != a_dtype:
        raise ValueError(f"{NAME}: out_dtype must be mat_a's dtype {a_dtype}, got {out_dtype}")
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{NAME}: the contraction axes must match, got mat_a {a_shape} and "
                         f"mat_b {b_shape}")
    if len(a_shape) == len(b_shape) == 3:
        if offs is not None:
            raise ValueError(f"{NAME}: offs is not used with 3-D mat_a and mat_b; give None")
        if a_shape[0] != b_shape[0]:
            raise ValueError(f"{NAME}: expected as many groups in mat_a as in mat_b, got "
                             f"{a_shape} and {b_shape}")
        return matmul(mat_a, mat_b)
    if offs is None:
        raise ValueError(f"{NAME}: offs is needed when mat_a or mat_b is 2-D, got mat_a "
                         f"{a_shape} and mat_b {b_shape}")
    everything = slice(None)
    if len(a_shape) == 2 and len(b_shape) == 3:
        bounds = _ends(offs, a_shape[0], "rows of mat_a")
        groups = [(slice(s, e), g, slice(s, e)) for g, (s, e) in enumerate(bounds)]
        out_shape, count = (a_shape[0], b_shape[2]), b_shape[0]
    elif len(a_shape) == 2:
        bounds = _ends(offs, a_shape[1], "columns of mat_a and rows of mat_b")
        groups = [((everything, slice(s, e)), slice(s, e), g) for g, (s, e) in enumerate(bounds)]
        out_shape, count = (len(bounds), a_shape[0], b_shape[1]), len(bounds)
    else:
        bounds = _ends(offs, b_shape[1], "columns of mat_b")
        groups = [(g, (everything, slice(s, e)), (everything, slice(s, e)))
                  for g, (s, e) in enumerate(bounds)]
        out_shape, count = (a_shape[1], b_shape[1]), a_shape[0]
    if len(bounds) != count:
        raise ValueError(f"{NAME}: expected {count} offsets (one per group), got {len(bounds)}")
    return GroupedMatMul(groups, out_shape)(mat_a, mat_b)
