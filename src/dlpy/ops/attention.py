"""Scaled dot-product attention fused with its backward: the (seq_q, seq_k) weights are the largest
arrays of a Transformer, so forward computes them in place and backward reuses them."""

import numpy as np

from dlpy.amp.dtypes import float32_compute
from dlpy.device import MetaArray, meta_array
from dlpy.ops import broadcasts_to
from dlpy.ops.mask import where
from dlpy.ops.matmul import matmul
from dlpy.ops.shape import concat, swapaxes
from dlpy.ops.softmax import softmax
from dlpy.random import get_rng
from dlpy.tensor import Op, ShapeError, Tensor, as_array, is_floating_dtype


class MaskTypeError(TypeError, RuntimeError):
    """A mask or input of a dtype attention refuses: a TypeError, and torch's RuntimeError."""


def _heads(x, num_heads):
    """(batch, seq, heads * dim) -> a (batch, heads, seq, dim) view, no copy."""
    batch, seq, width = x.shape
    return x.reshape(batch, seq, num_heads, width // num_heads).transpose(0, 2, 1, 3)


def _split_heads(x, num_heads):
    """``_heads`` with recorded ops: (batch, seq, heads * dim) -> (batch, heads, seq, dim)."""
    batch, seq, width = x.shape
    return x.reshape(batch, seq, num_heads, width // num_heads).transpose((0, 2, 1, 3))


def _merge_heads(x):
    """(batch, heads, seq, dim) -> (batch, seq, heads * dim), recorded."""
    batch, heads, seq, dim = x.shape
    return x.transpose((0, 2, 1, 3)).reshape(batch, seq, heads * dim)


def _softmax_rows(p, safe, with_lse=False):
    """Softmax over the last axis of the scores ``p``, in place. ``safe``: a row whose every
    score is -inf gets zero weights (not NaN), as torch's. Returns each row's logsumexp and
    maximum of the scores (-inf both for such a row) when ``with_lse``, else (None, None)."""
    if not p.shape[-1]:  # no keys: empty rows (the output P v is zeros, as torch's)
        empty = np.full(p.shape[:-1], -np.inf, p.dtype) if with_lse else None
        return empty, None if empty is None else empty.copy()
    row_max = p.max(axis=-1, keepdims=True)
    max_scores = row_max[..., 0].copy() if with_lse else None
    if safe:
        row_max[np.isneginf(row_max)] = 0  # a fully masked row: exp(-inf) = 0, not NaN
    p -= row_max
    np.exp(p, out=p)
    total = p.sum(axis=-1, keepdims=True)
    lse = None
    if with_lse:
        with np.errstate(divide="ignore"):
            lse = (row_max + np.log(total))[..., 0]
    if safe:
        total[total == 0] = 1
    p *= 1 / total
    return lse, max_scores


def _scores_grad(g, v, out, p, keep=None):
    """The scores' gradient of out = P v, P = softmax(S) (times the dropout ``keep``):
    dS = P * (dP - rowsum(g * out)) with dP = g v^T; rowsum(g * out) = rowsum(P * dP)."""
    ds = np.matmul(g, v.swapaxes(-1, -2))  # dP, turned into dS in place
    if keep is not None:
        ds *= keep
    ds -= (g * out).sum(axis=-1, keepdims=True)
    ds *= p
    return ds


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class Attention(Op):
    """out = P v with P = softmax(q k^T * scale + mask), dropout optionally applied to P.

    Backward, with g the output gradient and D = rowsum(g * out) (equal to rowsum(P * dP), so no
    extra pass over P): dv = P^T g,  dP = g v^T,  dS = P * (dP - D),
    dq = dS k * scale,  dk = dS^T q * scale.

    Layouts (``num_heads``): None, q/k/v are (..., seq, dim); an int, they are (batch, seq,
    heads * dim) and the output is too; packed, one input (batch, seq, 3 * heads * dim) holds q, k
    and v side by side (self-attention after one fused projection). ``mask`` is additive (0 or
    -inf), broadcast to (..., seq_q, seq_k); a row with every key at -inf gets zero weights.
    """

    def __init__(self, scale, mask=None, num_heads=None, packed=False, keep=None,
                 with_lse=False):
        self.scale, self.mask, self.num_heads, self.packed = scale, mask, num_heads, packed
        self.keep = keep  # dropout: a (..., seq_q, seq_k) array of 0 or 1 / (1 - p), or None
        self.with_lse = with_lse  # keep each row's logsumexp and maximum: lse, max_scores

    def _views(self, arrays):
        """The (..., seq, dim) views of q, k, v inside the input (or gradient) arrays."""
        if self.packed:
            (qkv,) = arrays
            width = qkv.shape[-1] // 3
            arrays = [qkv[..., i * width:(i + 1) * width] for i in range(3)]
        if self.num_heads is None:
            return arrays
        return [_heads(x, self.num_heads) for x in arrays]

    def forward(self, *arrays):
        q, k, v = self._views(arrays)
        dtype = q.dtype
        self.q = q * dtype.type(self.scale)  # scaling q costs (seq, dim), scaling scores (seq, seq)
        self.k, self.v = k, v
        p = np.matmul(self.q, k.swapaxes(-1, -2))  # (..., seq_q, seq_k), softmax'd in place
        if self.mask is not None:
            p += self.mask
        # safe with or without a mask: a row whose every score is -inf (infinite q or k) gets
        # zero weights too, as torch's
        self.lse, self.max_scores = _softmax_rows(p, True, self.with_lse)
        self.p = p
        if self.keep is not None:
            p = p * self.keep
        self.weights = p  # what multiplied v: returned for inspection
        if self.num_heads is None:
            self.out = np.matmul(p, v)
            return self.out
        batch, seq_q = arrays[0].shape[:2]
        out = np.empty((batch, seq_q, self.num_heads * v.shape[-1]), dtype=dtype)
        self.out = _heads(out, self.num_heads)
        np.matmul(p, v, out=self.out)
        return out

    def use_unpacked(self, what, array):
        # what saved_tensors_hooks' unpack gave for an input or the output, as forward's views
        if what == "output":
            self.out = array if self.num_heads is None else _heads(array, self.num_heads)
            return
        if self.packed:
            q, self.k, self.v = self._views([array])
        else:
            view = array if self.num_heads is None else _heads(array, self.num_heads)
            if what:
                setattr(self, "kv"[what - 1], view)
                return
            q = view
        self.q = q * q.dtype.type(self.scale)

    def backward(self, grad_output):
        if self.num_heads is None:  # (..., seq, dim): plain results; the engine undoes broadcasting
            g = grad_output
            grads = [None, None, None]
        else:  # write into (batch, seq, heads * dim) buffers through head views: no copies back
            g = _heads(grad_output, self.num_heads)
            grads = [np.empty(t.shape, dtype=g.dtype) for t in self.inputs]
        q_grad, k_grad, v_grad = self._views(grads) if grads[0] is not None else grads
        v_grad = np.matmul(self.weights.swapaxes(-1, -2), g, out=v_grad)
        ds = _scores_grad(g, self.v, self.out, self.p, self.keep)
        q_grad = np.matmul(ds, self.k, out=q_grad)
        q_grad *= g.dtype.type(self.scale)
        k_grad = np.matmul(ds.swapaxes(-1, -2), self.q, out=k_grad)
        return tuple(grads) if grads[0] is not None else (q_grad, k_grad, v_grad)

    def backward_graph(self, grad_output, output):
        # backward's formulas with dlpy ops, P recomputed from q and k (create_graph)
        if self.packed:
            width = self.inputs[0].shape[-1] // 3
            q, k, v = (self.inputs[0][..., i * width:(i + 1) * width] for i in range(3))
        else:
            q, k, v = self.inputs
        g = grad_output
        if self.num_heads is not None:
            q, k, v, g = (_split_heads(t, self.num_heads) for t in (q, k, v, g))
        q = q * self.scale
        scores = matmul(q, swapaxes(k, -1, -2))
        alive = None
        if self.mask is not None:
            dead = np.isneginf(self.mask)
            # -inf as a large finite number: a fully masked row gets uniform weights, times 0
            scores = scores + np.where(dead, np.finfo(self.mask.dtype).min / 2, self.mask)
            if dead.all(axis=-1).any():
                alive = ~dead.all(axis=-1, keepdims=True)
        p = softmax(scores, -1) if alive is None else softmax(scores, -1) * alive
        dp = matmul(g, swapaxes(v, -1, -2))
        if self.keep is not None:
            dp = dp * self.keep
        ds = p * (dp - (dp * p).sum(-1, keepdims=True))
        v_grad = matmul(swapaxes(p if self.keep is None else p * self.keep, -1, -2), g)
        grads = [matmul(ds, k) * self.scale, matmul(swapaxes(ds, -1, -2), q), v_grad]
        if self.num_heads is not None:
            grads = [_merge_heads(t) for t in grads]
        return (concat(grads, -1),) if self.packed else tuple(grads)

    def describe(self) -> str:
        return "Attention" + (f"(heads={self.num_heads})" if self.num_heads else "")


@float32_compute  # float16/bfloat16 arrays: computed in float32, output rounded
class ScoresAttention(Op):
    """out = P v with P = softmax(scores + mask): attention from scores the caller made (and
    changed: flex_attention's score_mod), fused as Attention's. ``mask`` additive (0 / -inf);
    a row with every score at -inf gets zero weights. Backward: dv = P^T g,
    dscores = P * (g v^T - rowsum(g * out))."""

    def __init__(self, mask=None, with_lse=False):
        self.mask, self.with_lse = mask, with_lse

    def forward(self, scores, v):
        p = scores + self.mask if self.mask is not None else scores.copy()
        self.lse, self.max_scores = _softmax_rows(p, True, self.with_lse)
        self.p, self.v = p, v
        self.out = np.matmul(p, v)
        return self.out

    def backward(self, grad_output):
        v_grad = np.matmul(self.p.swapaxes(-1, -2), grad_output)
        return _scores_grad(grad_output, self.v, self.out, self.p), v_grad

    def backward_graph(self, grad_output, output):
        # backward's formulas with dlpy ops, P recomputed from the scores (create_graph)
        scores, v = self.inputs
        if self.mask is not None:
            scores = scores + self.mask
        dead = np.isneginf(scores.data)
        # -inf as a large finite number: a fully masked row gets uniform weights, times 0
        p = softmax(where(dead, np.finfo(scores.dtype).min / 2, scores),
                    -1) * ~dead.all(axis=-1, keepdims=True)
        dp = matmul(grad_output, swapaxes(v, -1, -2))
        return p * (dp - (dp * p).sum(-1, keepdims=True)), matmul(swapaxes(p, -1, -2),
                                                                  grad_output)


def group_heads(q, k, v, mask=None):
    """Grouped-query attention without copying k and v: q (..., Hq, L, E) becomes
    (..., Hkv, Hq / Hkv, L, E), k and v (..., Hkv, S, .) become (..., Hkv, 1, S, .), and an
    additive mask's head axis is split as q's: query head h attends with kv head
    h // (Hq / Hkv), as torch's repeat_interleave of k and v."""
    heads_q, heads_kv = q.shape[-3], k.shape[-3]
    group = heads_q // heads_kv
    q = q.reshape(*q.shape[:-3], heads_kv, group, *q.shape[-2:])
    k, v = (x.reshape(*x.shape[:-3], heads_kv, 1, *x.shape[-2:]) for x in (k, v))
    if mask is not None and mask.ndim >= 3:
        if mask.shape[-3] == 1:
            mask = mask[..., None, :, :]
        elif mask.shape[-3] == heads_q:
            mask = mask.reshape(*mask.shape[:-3], heads_kv, group, *mask.shape[-2:])
    return q, k, v, mask


def check_gqa(owner, q_shape, k_shape, v_shape, same_kv_heads=True):
    """enable_gqa=True: q, k, v of 3 or more axes, k's and v's heads dividing q's (and equal,
    with ``same_kv_heads``)."""
    if min(len(q_shape), len(k_shape), len(v_shape)) < 3 \
            or (same_kv_heads and k_shape[-3] != v_shape[-3]) \
            or not k_shape[-3] or not v_shape[-3] or q_shape[-3] % k_shape[-3] \
            or q_shape[-3] % v_shape[-3]:
        raise ShapeError(f"{owner}: enable_gqa=True expects q (..., Hq, L, E), k (..., Hkv, S, "
                         f"E), v (..., Hkv, S, Ev) with Hq a multiple of Hkv, got q {q_shape}, "
                         f"k {k_shape}, v {v_shape}")


def additive_mask(mask, dtype):
    """A boolean mask (True = not allowed) becomes 0 / -inf; a float mask is added as given."""
    # (not getattr(mask, "data"): a numpy array's .data is a memoryview, which bfloat16 breaks)
    mask = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if mask.dtype == np.bool_:
        return np.where(mask, -np.inf, 0.0).astype(dtype)
    if not is_floating_dtype(mask.dtype):
        raise MaskTypeError(f"attention: a mask must be boolean or float, got {mask.dtype}")
    return mask.astype(dtype, copy=False)


def attention(q, k, v, mask=None, num_heads=None, dropout_p=0.0, rng=None, return_weights=False,
              *, scale=None, enable_gqa=False, causal=None):
    """softmax(q k^T / sqrt(dim) + mask) v through the fused Attention op.

    q (..., seq_q, dim), k (..., seq_k, dim), v (..., seq_k, dim_v); or, with ``num_heads``,
    (batch, seq, heads * dim) each, heads split and merged without copies. ``mask`` is additive
    (see ``additive_mask``), broadcastable to (..., seq_q, seq_k). Dropout with probability
    ``dropout_p`` (drawn from ``rng``) is applied to the weights. ``scale`` replaces
    1 / sqrt(dim); ``enable_gqa``: q (..., Hq, seq_q, dim) against k, v with Hkv heads, Hq a
    multiple of Hkv (``group_heads``). Returns the output, or (output, weights) with the weights
    as a numpy array. ``causal``: whether the mask is sdpa's is_causal alone (a
    TorchDispatchMode is shown is_causal as the caller gave it).
    """
    shapes = [np.shape(as_array(x)) for x in (q, k, v)]
    if enable_gqa and num_heads is None:
        check_gqa("attention", *shapes)
        if mask is not None:
            mask = additive_mask(mask, q.dtype)
        out = attention(*group_heads(q, k, v, mask), dropout_p=dropout_p, rng=rng,
                        return_weights=return_weights, scale=scale)

        def merge(x):  # (..., Hkv, Hq / Hkv, L, .) -> (..., Hq, L, .); not -1: x may be empty
            return x.reshape(*x.shape[:-4], x.shape[-4] * x.shape[-3], *x.shape[-2:])

        if not return_weights:
            return merge(out)
        out, weights = out
        return merge(out), merge(weights)
    if num_heads is None:
        ok = all(len(s) >= 2 for s in shapes) and shapes[0][-1] == shapes[1][-1] \
            and shapes[1][-2] == shapes[2][-2] and _broadcastable(*(s[:-2] for s in shapes))
        expected = "q (..., seq_q, dim), k (..., seq_k, dim), v (..., seq_k, dim_v)"
    else:
        ok = all(len(s) == 3 and s[-1] % num_heads == 0 for s in shapes) \
            and shapes[0][0] == shapes[1][0] == shapes[2][0] and shapes[0][-1] == shapes[1][-1] \
            and shapes[1][1] == shapes[2][1]
        expected = f"q (batch, seq_q, {num_heads} * dim), k (batch, seq_k, {num_heads} * dim), " \
                   f"v (batch, seq_k, {num_heads} * dim_v)"
    if not ok:
        raise ShapeError(f"attention: expected {expected}, got q {shapes[0]}, k {shapes[1]}, "
                         f"v {shapes[2]}")
    head_dim = shapes[0][-1] // (num_heads or 1)
    scores_shape = _scores_shape(shapes[0], shapes[1], num_heads)
    op = Attention(1.0 / np.sqrt(head_dim) if scale is None else scale,
                   _checked_mask(mask, q, scores_shape), num_heads,
                   keep=_keep(dropout_p, rng, scores_shape, q))
    if causal is not None:
        op.causal = causal
    out = op(q, k, v)
    return (out, _weights(op, out)) if return_weights else out


def packed_attention(qkv, num_heads, mask=None, dropout_p=0.0, rng=None, return_weights=False):
    """Self-attention on q, k, v side by side in qkv (batch, seq, 3 * heads * dim), as one fused
    projection gives them: no split, and the gradient comes back as one array."""
    shape = np.shape(as_array(qkv))
    if len(shape) != 3 or shape[-1] % (3 * num_heads):
        raise ValueError(f"packed_attention: expected qkv (batch, seq, 3 * {num_heads} * dim), "
                         f"got {shape}")
    head_dim = shape[-1] // (3 * num_heads)
    scores_shape = (shape[0], num_heads, shape[1], shape[1])
    op = Attention(1.0 / np.sqrt(head_dim), _checked_mask(mask, qkv, scores_shape), num_heads,
                   packed=True, keep=_keep(dropout_p, rng, scores_shape, qkv))
    out = op(qkv)
    return (out, _weights(op, out)) if return_weights else out


def _weights(op, out):
    """The op's weights in the output's dtype (float16/bfloat16 inputs are computed in float32);
    under vmap a batched stand-in, as it is (its values are not read here)."""
    weights = op.weights
    return weights.astype(out.dtype, copy=False) if type(weights) is np.ndarray else weights


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _scores_shape(q_shape, k_shape, num_heads):
    if num_heads is not None:
        return (q_shape[0], num_heads, q_shape[1], k_shape[1])
    batch = np.broadcast_shapes(q_shape[:-2], k_shape[:-2])
    return (*batch, q_shape[-2], k_shape[-2])


def _checked_mask(mask, x, scores_shape):
    if mask is None:
        return None
    mask = additive_mask(mask, x.dtype)
    if not broadcasts_to(mask.shape, scores_shape):
        raise ShapeError(f"attention: mask {mask.shape} does not broadcast to the scores "
                         f"{scores_shape}")
    return mask


def _keep(dropout_p, rng, scores_shape, x):
    """The dropout mask times 1 / (1 - p) (None without dropout; zeros for p = 1, as torch's
    dropout drops everything then)."""
    if not 0 <= dropout_p <= 1:
        raise ShapeError(f"attention: dropout_p must be in [0, 1], got {dropout_p}")
    if not dropout_p:
        return None
    if dropout_p == 1:
        return np.zeros(scores_shape, dtype=x.dtype)
    if type(getattr(x, "data", None)) is MetaArray:  # torch draws nothing on meta
        return meta_array(scores_shape, x.dtype)
    rng = get_rng(rng)
    dtype = x.dtype
    keep = rng.random(scores_shape, dtype=np.float32 if dtype == np.float32 else np.float64)
    return np.where(keep >= dropout_p, 1 / (1 - dropout_p), 0).astype(dtype)
