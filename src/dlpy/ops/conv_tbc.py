"""torch's F.conv_tbc: a 1-D convolution on time-batch-channel inputs (fairseq's layout), as
conv1d between two transposes."""

from dlpy.ops.conv import _shape_of, conv1d
from dlpy.ops.shape import permute
from dlpy.tensor import Tensor


def conv_tbc(input: Tensor, weight: Tensor, bias: Tensor, pad: int = 0) -> Tensor:  # noqa: A002
    """input (T, B, C_in), weight (kw, C_in, C_out), bias (C_out,) -> (T + 2 pad - kw + 1, B,
    C_out): out[t, b] = bias + sum_j input[t + j - pad, b] @ weight[j] (zero-padded input)."""
    x_shape, w_shape, b_shape = _shape_of(input), _shape_of(weight), _shape_of(bias)
    if len(x_shape) != 3 or len(w_shape) != 3 or x_shape[2] != w_shape[1] \
            or b_shape != (w_shape[2],):
        raise ValueError(f"conv_tbc: expected input (T, B, C_in), weight (kw, C_in, C_out) and "
                         f"bias (C_out,), got {x_shape}, {w_shape} and {b_shape}")
    out = conv1d(permute(input, (1, 2, 0)), permute(weight, (2, 1, 0)), bias, padding=pad)
    return permute(out, (2, 0, 1))
