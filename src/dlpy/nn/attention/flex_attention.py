"""torch.nn.attention.flex_attention on numpy: attention whose scores a Python function changes
(``score_mod``) and whose pattern a mask function sets (``mask_mod``, kept in a ``BlockMask``).

Both functions run once, vectorised, on index tensors shaped to broadcast over the
(B, H, Q_LEN, KV_LEN) scores: b (B, 1, 1, 1), h (1, H, 1, 1), q_idx (1, 1, Q, 1),
kv_idx (1, 1, 1, KV), all int64 Tensors. They are dlpy ops, so a score_mod that reads a
captured Tensor (a learned bias table indexed by q_idx - kv_idx) sends it gradients, as torch.
The attention itself is dense: the fused kernel of ops/attention.py with the mask as 0 / -inf,
so a block with no allowed key costs as much as any other (torch's compiled kernels skip it);
the block structure (kv_num_blocks, kv_indices, ...) is kept for code that reads it.
"""

from __future__ import annotations

import inspect
import itertools
import math
from typing import NamedTuple

import numpy as np

from dlpy import func_batching as _batching
from dlpy import functional as F
from dlpy.device import as_device
from dlpy.ops import ArgAssertionError, ArgError, ArgTypeAssertionError, UnsupportedArgError
from dlpy.ops.attention import Attention, ScoresAttention, additive_mask, group_heads
from dlpy.ops.mask import where
from dlpy.ops.matmul import matmul
from dlpy.ops.shape import swapaxes
from dlpy.ops.softmax import softmax
from dlpy.tensor import Tensor, as_array, is_floating_dtype, is_grad_enabled, no_grad

__all__ = ["AuxOutput", "AuxRequest", "BlockMask", "and_masks", "create_block_mask",
           "create_mask", "flex_attention", "noop_mask", "or_masks"]

_DEFAULT_SPARSE_BLOCK_SIZE = 128
_BACKENDS = ("AUTO", "TRITON", "FLASH", "TRITON_DECODE")  # torch's kernel_options["BACKEND"]


class MaskModsError(TypeError, RuntimeError):
    """and_masks / or_masks given something that is not a mask_mod (torch: RuntimeError)."""


class MaskModResultError(TypeError, ValueError):
    """A mask_mod returned a Python bool, not a Tensor (torch's vmap: ValueError)."""


class AuxRequest(NamedTuple):
    """Which extra outputs flex_attention(return_aux=...) returns, as torch's."""

    lse: bool = False
    max_scores: bool = False


class AuxOutput(NamedTuple):
    """flex_attention's extra outputs: each row's logsumexp and maximum of the final scores,
    (B, Hq, L) Tensors without gradient, None where not requested."""

    lse: Tensor | None = None
    max_scores: Tensor | None = None


def noop_mask(b, h, q_idx, kv_idx) -> Tensor:
    """The mask_mod that allows every key: a scalar True."""
    return Tensor(np.ones((), dtype=bool))


def _check_mods(name, mask_mods):
    for fn in mask_mods:
        if not callable(fn):
            raise MaskModsError(f"{name}: every argument must be a mask_mod (a callable), got "
                                f"{fn!r}")


def and_masks(*mask_mods):
    """The mask_mod allowing what every one of ``mask_mods`` allows (True if none)."""
    _check_mods("and_masks", mask_mods)

    def and_mask(b, h, q_idx, kv_idx):
        result = Tensor(np.ones((), dtype=bool))
        for fn in mask_mods:
            result = result & fn(b, h, q_idx, kv_idx)
        return result

    return and_mask


def or_masks(*mask_mods):
    """The mask_mod allowing what any one of ``mask_mods`` allows (False if none)."""
    _check_mods("or_masks", mask_mods)

    def or_mask(b, h, q_idx, kv_idx):
        result = Tensor(np.zeros((), dtype=bool))
        for fn in mask_mods:
            result = result | fn(b, h, q_idx, kv_idx)
        return result

    return or_mask


def _indices(B, H, Q_LEN, KV_LEN):
    """b, h, q_idx, kv_idx as int64 Tensors shaped to broadcast to (B, H, Q_LEN, KV_LEN)."""
    return tuple(Tensor(np.arange(n).reshape([n if i == axis else 1 for i in range(4)]))
                 for axis, n in enumerate((B, H, Q_LEN, KV_LEN)))


def _num_positional(fn) -> int:
    """How many positional arguments without a default fn takes (torch's _get_mod_type)."""
    code = getattr(fn, "__code__", None)
    if code is not None:
        return code.co_argcount - len(getattr(fn, "__defaults__", None) or ())
    parameters = inspect.signature(fn).parameters.values()
    return sum(p.default is inspect.Parameter.empty and p.kind in (
        p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def _as_mask(name, result, shape) -> np.ndarray:
    """A mask_mod's result checked: a boolean Tensor (or array) broadcasting to ``shape``."""
    if isinstance(result, (bool, np.bool_)):
        raise MaskModResultError(f"{name}: the mask_mod returned the Python bool {result}, not a "
                                 "boolean Tensor; build it from the index Tensors (q_idx >= "
                                 "kv_idx, b == 0, a & b, a | b, ~a are element-wise)")
    mask = as_array(result)
    if mask.dtype != np.bool_:
        raise TypeError(f"{name}: a mask_mod must return a boolean Tensor, got {mask.dtype}")
    try:
        np.broadcast_shapes(mask.shape, shape)
    except ValueError:
        raise ValueError(f"{name}: the mask_mod's result {mask.shape} does not broadcast to "
                         f"(B, H, Q_LEN, KV_LEN) = {shape}") from None
    mask = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    return np.broadcast_to(mask, (*mask.shape[:2], *shape[2:]))  # B and H may stay 1


def _sizes(name, B, H, Q_LEN, KV_LEN):
    sizes = (1 if B is None else B, 1 if H is None else H, Q_LEN, KV_LEN)
    for label, n in zip(("B", "H", "Q_LEN", "KV_LEN"), sizes, strict=True):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name}: {label} must be an int >= 1, got {n!r}")
    return tuple(int(n) for n in sizes)


def create_mask(mod_fn, B, H, Q_LEN, KV_LEN, device=None) -> Tensor:
    """torch's create_mask: the (B, H, Q_LEN, KV_LEN) boolean mask of a mask_mod (4
    arguments), or of a score_mod (5: True where it leaves a zero score above -inf). B or H
    None means 1; ``device``: the CPU (a string, a device or None), any other a RuntimeError."""
    as_device(device, "create_mask")
    shape = _sizes("create_mask", B, H, Q_LEN, KV_LEN)
    kind = _num_positional(mod_fn)
    if kind == 4:
        mask = _as_mask("create_mask", mod_fn(*_indices(*shape)), shape)
    elif kind == 5:
        scores = mod_fn(Tensor(np.zeros(shape)), *_indices(*shape))
        mask = ~np.isneginf(as_array(scores))
    else:
        raise TypeError(f"create_mask: expected a mask_mod (b, h, q_idx, kv_idx) or a score_mod "
                        f"(score, b, h, q_idx, kv_idx), got {kind} positional arguments")
    return Tensor(np.broadcast_to(mask, shape).copy())


def _sliced_mask_mod_error(batch, head, token_q, token_kv):
    """The mask_mod of a sliced BlockMask (torch's): calling it raises."""
    raise RuntimeError("Cannot use mask_mod from a sliced BlockMask. When you slice a BlockMask "
                       "using [], the mask_mod attribute is reset. You must set it from the "
                       "original BlockMask's mask_mod.")


def _dense_to_ordered(dense):
    """Block rows as torch keeps them: how many blocks each row holds, and their column
    indices first (ascending), the absent columns after."""
    num_blocks = dense.sum(axis=-1, dtype=np.int32)
    indices = np.argsort(~dense, axis=-1, kind="stable").astype(np.int32)
    return Tensor(num_blocks), Tensor(indices)


class BlockMask:
    """torch's BlockMask, made by ``create_block_mask``: the attention pattern as blocks of
    BLOCK_SIZE = (Q_BLOCK, KV_BLOCK) positions, a block 'full' (every position allowed) or
    'partial' (some), as torch's attributes: kv_num_blocks / kv_indices (partial blocks of each
    query block row), full_kv_num_blocks / full_kv_indices, q_* / full_q_* (per key block
    column), int32 Tensors of (B, H, ...). dlpy also keeps the dense boolean ``mask``
    (B or 1, H or 1, Q_LEN, KV_LEN), which is what flex_attention applies.

    ``BlockMask(mask, BLOCK_SIZE, mask_mod)`` builds one from a boolean mask (its block
    structure broadcast to ``batch_heads`` = (B, H) if given); torch's constructor takes the
    block tensors instead.
    """

    def __init__(self, mask, BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE, mask_mod=None,
                 batch_heads=None, separate_full_blocks=True):
        mask = as_array(mask)
        if mask.dtype != np.bool_ or mask.ndim != 4:
            raise ValueError(f"BlockMask: expected a boolean (B, H, Q_LEN, KV_LEN) mask, got "
                             f"{mask.dtype} {mask.shape}")
        sizes = (BLOCK_SIZE, BLOCK_SIZE) if isinstance(BLOCK_SIZE, (int, np.integer)) \
            else tuple(BLOCK_SIZE)
        if len(sizes) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                  or n < 1 for n in sizes):
            raise ValueError(f"BlockMask: BLOCK_SIZE must be an int >= 1 or two of them, got "
                             f"{BLOCK_SIZE!r}")
        self.mask, self.mask_mod = mask, noop_mask if mask_mod is None else mask_mod
        self.BLOCK_SIZE = tuple(int(n) for n in sizes)
        self.seq_lengths = mask.shape[-2:]
        q_block, kv_block = self.BLOCK_SIZE
        # pad to whole blocks with False (torch's), count the allowed positions of each block
        rows, cols = -(-mask.shape[2] // q_block), -(-mask.shape[3] // kv_block)
        padded = np.zeros((*mask.shape[:2], rows * q_block, cols * kv_block), dtype=bool)
        padded[:, :, :mask.shape[2], :mask.shape[3]] = mask
        counts = padded.reshape(*mask.shape[:2], rows, q_block, cols, kv_block).sum(axis=(3, 5))
        full = counts == q_block * kv_block
        partial = (counts > 0) & ~full if separate_full_blocks else counts > 0
        if batch_heads is not None:
            full, partial = (np.broadcast_to(x, (*batch_heads, rows, cols))
                             for x in (full, partial))
        self._set_blocks(partial, full if separate_full_blocks else None)
        self._from_mask_mod = False  # create_block_mask's: mask_mod may be evaluated again
        self._additive = {}  # (B, H, dtype) -> the 0 / -inf mask flex_attention adds, made once

    def _set_blocks(self, partial, full):
        """The block tensors from the dense block masks (..., Q blocks, KV blocks): ``partial``
        (some positions allowed) and ``full`` (all; None: not kept apart, torch's
        separate_full_blocks=False)."""
        self._partial, self._full = partial, full
        self.kv_num_blocks, self.kv_indices = _dense_to_ordered(partial)
        self.q_num_blocks, self.q_indices = _dense_to_ordered(partial.swapaxes(-1, -2))
        self.full_kv_num_blocks = self.full_kv_indices = None
        self.full_q_num_blocks = self.full_q_indices = None
        if full is not None:
            self.full_kv_num_blocks, self.full_kv_indices = _dense_to_ordered(full)
            self.full_q_num_blocks, self.full_q_indices = _dense_to_ordered(
                full.swapaxes(-1, -2))

    def additive(self, dtype, batch=None, heads=None) -> np.ndarray:
        """The mask as 0 (allowed) / -inf, in ``dtype``, kept for the next call. ``batch`` /
        ``heads``: the call's sizes; a mask that create_block_mask made for one batch or head
        (B or H None) evaluates its mask_mod again on them, as torch's eager flex_attention
        (a mask_mod reading b or h then differs per batch or head)."""
        dtype = np.dtype(dtype)
        mask = self.mask
        again = self._from_mask_mod and ((batch or 1) > mask.shape[0] == 1
                                         or (heads or 1) > mask.shape[1] == 1)
        key = (batch, heads, dtype) if again else dtype
        if key not in self._additive:
            if again:
                shape = (batch or 1, heads or 1, *self.seq_lengths)
                mask = _as_mask("flex_attention", self.mask_mod(*_indices(*shape)), shape)
            self._additive[key] = additive_mask(~mask, dtype)
        return self._additive[key]

    def as_tuple(self, flatten: bool = True) -> tuple:
        """torch's: seq_lengths, the eight block tensors, torch's four dQ write-order fields
        (None: dlpy keeps none), BLOCK_SIZE and mask_mod; ``flatten``: the two pairs unpacked."""
        pairs = ((*self.seq_lengths,), self.BLOCK_SIZE) if flatten else \
            ((tuple(self.seq_lengths),), (self.BLOCK_SIZE,))
        return (*pairs[0], self.kv_num_blocks, self.kv_indices, self.full_kv_num_blocks,
                self.full_kv_indices, self.q_num_blocks, self.q_indices, self.full_q_num_blocks,
                self.full_q_indices, None, None, None, None, *pairs[1], self.mask_mod)

    def __getitem__(self, index) -> BlockMask:
        """torch's slicing: ``index`` (ints, slices, index Tensors) applied to the batch, head
        and query-block axes of the block tensors; an int keeps its axis (as a slice of one).
        The result keeps seq_lengths and BLOCK_SIZE; its mask_mod raises, so flex_attention
        refuses it, as torch's."""
        index = index if isinstance(index, tuple) else (index,)
        padded = (*index, slice(None), slice(None), slice(None))[:3]
        sizes = self._partial.shape[:3]
        index = tuple(
            (slice(i + n, i + n + 1) if -n <= i < 0 else slice(i, i + 1))
            if isinstance(i, (int, np.integer)) and not isinstance(i, bool)
            else (as_array(i) if isinstance(i, Tensor) else i)
            for i, n in zip(padded, sizes, strict=True))
        sliced = object.__new__(BlockMask)
        sliced.mask, sliced.mask_mod = None, _sliced_mask_mod_error
        sliced.BLOCK_SIZE, sliced.seq_lengths = self.BLOCK_SIZE, self.seq_lengths
        sliced._from_mask_mod, sliced._additive = False, {}
        sliced._set_blocks(self._partial[index],
                           None if self._full is None else self._full[index])
        return sliced

    @property
    def shape(self) -> tuple[int, ...]:
        return (*self.kv_indices.shape[:-2], *self.seq_lengths)

    def numel(self) -> int:
        """The number of positions (B * H * Q_LEN * KV_LEN), ignoring sparsity."""
        return math.prod(self.shape)

    def sparsity(self) -> float:
        """torch's: the percentage of the positions in blocks that are skipped (it counts
        padded blocks whole, so it can go below 0 for short sequences)."""
        computed = int(self.kv_num_blocks.data.sum()) + (
            0 if self.full_kv_num_blocks is None else int(self.full_kv_num_blocks.data.sum()))
        return 100 * (1 - computed * self.BLOCK_SIZE[0] * self.BLOCK_SIZE[1] / self.numel())

    def to_dense(self) -> Tensor:
        """The block-level mask (B, H, Q blocks, KV blocks), int32, 1 where a block is used."""
        used = self._partial if self._full is None else self._partial | self._full
        return Tensor(used.astype(np.int32))

    def to_string(self, grid_size=(20, 20), limit: int = 4) -> str:
        """torch's picture of the blocks: full, partial (░) and empty, per (batch, head)."""
        dense = self.to_dense().data
        *batch, rows, cols = dense.shape
        max_rows, max_cols = (grid_size, grid_size) if isinstance(grid_size, int) else \
            (rows, cols) if grid_size == -1 else grid_size
        row_step, col_step = max(1, -(-rows // max_rows)), max(1, -(-cols // max_cols))
        pictures = []
        for i, index in enumerate(itertools.product(*[range(n) for n in batch])):
            if i == limit:
                pictures += ["...", "To print out more, set BlockMask.to_string(limit=N)",
                             "You can also index (BlockMask[batch, head]) to choose a specific "
                             "batch or head"]
                break
            picture = f"{index}\n"
            for r in range(0, rows, row_step):
                for c in range(0, cols, col_step):
                    share = dense[index][r:r + row_step, c:c + col_step].mean()
                    picture += ("█" if share == 1 else " " if share == 0 else "░") * 2
                picture += "\n"
            pictures.append(picture)
        return "\n".join(pictures)

    def __str__(self) -> str:
        return (f"BlockMask(shape={self.shape}, sparsity={self.sparsity():.2f}%, \n"
                f"{self.to_string().strip()}\n)")

    def __repr__(self) -> str:
        fields = ["kv_num_blocks", "kv_indices", "full_kv_num_blocks", "full_kv_indices",
                  "q_num_blocks", "q_indices", "full_q_num_blocks", "full_q_indices"]
        lines = [f"    {name}={getattr(getattr(self, name), 'shape', None)}," for name in fields]
        lines += [f"    BLOCK_SIZE={self.BLOCK_SIZE},", f"    shape={self.shape},",
                  f"    sparsity={self.sparsity():.2f}%,",
                  f"    mask_mod={getattr(self.mask_mod, '__name__', self.mask_mod)}"]
        return "BlockMask(\n" + "\n".join(lines) + "\n)"


def create_block_mask(mask_mod, B, H, Q_LEN, KV_LEN, device=None,
                      BLOCK_SIZE=_DEFAULT_SPARSE_BLOCK_SIZE, _compile=False,
                      separate_full_blocks=True, **torch_options) -> BlockMask:
    """torch's create_block_mask: mask_mod(b, h, q_idx, kv_idx) -> a boolean Tensor, True
    where query q_idx may attend to key kv_idx, evaluated once on broadcast index tensors.
    B or H None: one block structure for every batch or head (flex_attention evaluates the
    mask_mod again for its batch and heads). ``device``: the CPU (a string, a device or None),
    any other a RuntimeError; ``separate_full_blocks=False``: every used block counted partial
    (full_* None), as torch's; torch's other kernel options (_compile, compute_dq_write_order,
    dq_kv_order) are accepted and change nothing."""
    as_device(device, "create_block_mask")
    shape = _sizes("create_block_mask", B, H, Q_LEN, KV_LEN)
    if not callable(mask_mod) or _num_positional(mask_mod) != 4:
        raise ArgTypeAssertionError(f"create_block_mask: expected a mask_mod (b, h, q_idx, "
                                    f"kv_idx), got {mask_mod!r}")
    unknown = set(torch_options) - {"compute_dq_write_order", "dq_kv_order"}
    if unknown:
        raise TypeError(f"create_block_mask: unexpected keyword arguments {sorted(unknown)}")
    mask = _as_mask("create_block_mask", mask_mod(*_indices(*shape)), shape)
    # the block structure is per batch and head, as torch's; the dense mask keeps size-1 axes
    block_mask = BlockMask(mask, BLOCK_SIZE, mask_mod, batch_heads=shape[:2],
                           separate_full_blocks=separate_full_blocks)
    block_mask._from_mask_mod = True
    return block_mask


def _check_inputs(query, key, value, block_mask, enable_gqa):
    """torch's checks of flex_attention's arguments, with torch's exception classes."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, Tensor):
            raise TypeError(f"flex_attention: {name} must be a Tensor, got {type(x).__name__}")
    if not all(is_floating_dtype(x.dtype) for x in (query, key, value)):
        raise TypeError(f"flex_attention: query, key and value must be floating point, got "
                        f"{query.dtype}, {key.dtype}, {value.dtype}")
    if query.ndim and key.ndim and query.shape[-1] != key.shape[-1]:
        raise ValueError(f"flex_attention: expected query and key/value to have the same "
                         f"embedding dimension, got E={query.shape[-1]} and E={key.shape[-1]}")
    if not query.ndim == key.ndim == value.ndim == 4:
        raise UnsupportedArgError(f"flex_attention: query, key and value must be 4-D (B, H, L, "
                                  f"E), got {query.shape}, {key.shape}, {value.shape}")
    (bq, hq, lq, _), (bk, hk, sk, _), (bv, hv, sv, _) = query.shape, key.shape, value.shape
    if not enable_gqa and hq != hk:
        raise ValueError(f"flex_attention: query and key/value have different numbers of heads, "
                         f"Hq={hq} and Hkv={hk}; set enable_gqa=True for grouped-query attention")
    if enable_gqa and hq % hk:
        raise ValueError(f"flex_attention: with enable_gqa the query heads must be a multiple of "
                         f"the key/value heads, got Hq={hq} and Hkv={hk}")
    if bq != bk:
        if block_mask is None:
            raise ValueError(f"flex_attention: key/value's batch {bk} differs from query's {bq}, "
                             "which needs a block_mask of query's batch")
        if isinstance(block_mask, BlockMask) and block_mask.kv_num_blocks.shape[0] != bq:
            raise ValueError(f"flex_attention: key/value's batch {bk} differs from query's "
                             f"{bq} and block_mask's {block_mask.kv_num_blocks.shape[0]}")
    if (bk, hk, sk) != (bv, hv, sv) or bk not in (1, bq):
        raise ArgError(f"flex_attention: expected key (B, Hkv, S, E) and value (B, Hkv, S, Ev), "
                       f"B query's or 1, got query {query.shape}, key {key.shape}, value "
                       f"{value.shape}")
    if block_mask is None:
        return
    if not isinstance(block_mask, BlockMask):
        raise TypeError(f"flex_attention: block_mask must be a BlockMask (create_block_mask), "
                        f"got {type(block_mask).__name__}")
    if block_mask.mask_mod is _sliced_mask_mod_error:
        raise RuntimeError("flex_attention: Cannot use mask_mod from a sliced BlockMask")
    if tuple(block_mask.seq_lengths) != (lq, sk):
        raise ValueError(f"flex_attention: block_mask was created for block_mask.shape="
                         f"{block_mask.shape} but got q_len={lq} and kv_len={sk}; create it "
                         "for these lengths")
    mask_b, mask_h = block_mask.mask.shape[:2]
    if mask_b not in (1, bq) or mask_h not in (1, hq):
        raise ValueError(f"flex_attention: block_mask.shape={block_mask.shape} does not fit "
                         f"query's batch {bq} and heads {hq}")


def _check_kernel_options(kernel_options, max_scores):
    """torch's checks of kernel_options (a dict of Triton settings dlpy otherwise ignores)."""
    if kernel_options is None:
        return
    if not isinstance(kernel_options, dict):
        raise TypeError(f"flex_attention: kernel_options must be a dict or None, got "
                        f"{type(kernel_options).__name__}")
    if "BACKEND" in kernel_options and kernel_options.get("FORCE_USE_FLEX_ATTENTION", False):
        raise ArgError("flex_attention: BACKEND cannot be combined with legacy "
                       "FORCE_USE_FLEX_ATTENTION")
    backend = kernel_options.get("BACKEND", "AUTO")
    if backend not in _BACKENDS:
        raise ValueError(f"flex_attention: invalid BACKEND value {backend!r}, must be one of "
                         f"{_BACKENDS}")
    for name in ("OUTPUT_LOGSUMEXP", "OUTPUT_MAX"):
        if name in kernel_options:
            raise ArgAssertionError(f"flex_attention: {name} must not be in kernel_options")
    if backend == "FLASH" and max_scores:
        raise UnsupportedArgError("flex_attention: returning max scores is not supported with "
                                  "BACKEND='FLASH'")


def _safe_softmax(scores):
    """softmax over the last axis with dlpy ops, a row of -inf only giving zeros (torch's
    _safe_softmax)."""
    dead = np.isneginf(scores.data)
    if not dead.any():
        return softmax(scores, -1)
    # -inf as a large finite number: a fully masked row gets uniform weights, times 0
    p = softmax(where(dead, np.finfo(scores.dtype).min / 2, scores), -1)
    return p * ~dead.all(axis=-1, keepdims=True)


def flex_attention(query: Tensor, key: Tensor, value: Tensor, score_mod=None, block_mask=None,
                   scale: float | None = None, enable_gqa: bool = False,
                   return_lse: bool = False, kernel_options=None, *, return_aux=None):
    """torch's flex_attention: softmax(score_mod(q k^T * scale) masked by block_mask) v.

    query (B, Hq, L, E), key (B, Hkv, S, E), value (B, Hkv, S, Ev) -> (B, Hq, L, Ev); Hkv = Hq
    unless ``enable_gqa`` (Hq a multiple of Hkv: query head h uses kv head h // (Hq / Hkv));
    key/value's batch may be 1 with a block_mask of query's batch. ``score_mod(score, b, h,
    q_idx, kv_idx)`` gets the scaled (B, Hq, L, S) scores and the index tensors (see the module)
    and returns the new scores; ``scale`` defaults to 1 / sqrt(E). A query with no allowed key
    gets zeros (and logsumexp -inf).

    Precision as torch's eager kernel: the scores in float64 for a float64 query, else
    float32 (key cast to it, key and value may have other float dtypes than the query); the
    softmax in the dtype of score_mod's result (float64 if it added a float64 table); the
    weights cast to the query's dtype times value in it; the output in the query's dtype.

    ``return_lse``: also return the (B, Hq, L) logsumexp of the final scores (differentiable
    where the scores are: a captured table that requires grad gets its gradient);
    ``return_aux=AuxRequest(lse=True, max_scores=True)``, torch's newer form: also return an
    AuxOutput (max_scores: each row's largest score, without gradient). ``kernel_options``:
    checked as torch's, otherwise ignored.
    """
    _check_inputs(query, key, value, block_mask, enable_gqa)
    if return_aux is not None and not isinstance(return_aux, AuxRequest):
        raise TypeError(f"flex_attention: return_aux must be an AuxRequest or None, got "
                        f"{return_aux!r}")
    if return_lse and return_aux is not None:
        raise ValueError("flex_attention: give return_lse or return_aux, not both "
                         "(return_lse is torch's older form of return_aux=AuxRequest(lse=True))")
    _check_kernel_options(kernel_options, return_aux is not None and return_aux.max_scores)
    if score_mod is not None and not callable(score_mod):
        raise TypeError(f"flex_attention: score_mod must be callable, got {score_mod!r}")
    batch, heads, seq_q, dim = query.shape
    seq_kv = key.shape[2]
    scale = 1.0 / math.sqrt(dim) if scale is None else float(scale)
    working = np.dtype(np.float64 if query.dtype == np.float64 else np.float32)
    fused = query.dtype == working  # float16 / bfloat16: weights rounded to it before P v
    q = query if query.dtype == working else query.to(working)
    k = key if key.dtype == working else key.to(working)
    v = value if value.dtype == query.dtype else value.to(query.dtype)
    grouped = key.shape[1] != heads  # GQA: heads as (Hkv, group), k and v not copied
    with_lse = return_lse or return_aux is not None
    scores = None
    if score_mod is None and fused:
        mask = None if block_mask is None else block_mask.additive(working, batch, heads)
        if grouped:
            q, k, v, mask = group_heads(q, k, v, mask)
        op = Attention(scale, mask, with_lse=with_lse)
        out = op(q, k, v)
    else:
        mask = None
        if grouped:
            q, k, v, _ = group_heads(q, k, v)
        scores = matmul(q * scale, swapaxes(k, -1, -2))  # (B, Hkv, group, L, S) or (B, H, L, S)
        full_shape = (batch, heads, seq_q, seq_kv)
        changed = scores.reshape(full_shape) if grouped else scores
        if score_mod is not None:
            changed = score_mod(changed, *_indices(*full_shape))
            if not isinstance(changed, Tensor) or changed.shape != full_shape:
                raise ValueError(f"flex_attention: score_mod must return a Tensor of the "
                                 f"scores' shape {full_shape}, got "
                                 f"{getattr(changed, 'shape', changed)!r}")
        post = np.result_type(changed.dtype, working)  # float32 scores + a float64 table
        if not is_floating_dtype(post):  # float32 scores + int64 indices: numpy's float64
            post = working
        if changed.dtype != post:
            changed = changed.to(post)
        if block_mask is not None:
            mask = block_mask.additive(post, batch, heads)
            if grouped:  # the head axis split as the query's (from the ungrouped shapes)
                mask = group_heads(query, key, value, mask)[3]
        scores = changed.reshape(scores.shape) if grouped else changed
        if fused:
            op = ScoresAttention(mask, with_lse=with_lse)
            out = op(scores, v if v.dtype == post else v.to(post))
            if out.dtype != query.dtype:
                out = out.to(query.dtype)
        else:
            op = None
            weights = _safe_softmax(scores if mask is None else scores + mask)
            out = matmul(weights.to(query.dtype), v)
    if grouped:
        out = out.reshape(batch, heads, seq_q, value.shape[-1])
    if not with_lse:
        return out
    needs_graph = is_grad_enabled() and any(
        x.requires_grad for x in (q, k, v) + (() if scores is None else (scores,)))
    if op is None or needs_graph or _batching.batch_sizes():
        # from dlpy ops: differentiable, and batched under vmap (where the fused op runs as a
        # batched copy whose statistics the caller cannot read)
        lse, max_scores = _row_statistics(q, k, scale, mask, scores, (batch, heads, seq_q))
    else:
        lse, max_scores = (Tensor(x.reshape(batch, heads, seq_q)) for x in (op.lse,
                                                                          op.max_scores))
    if return_lse:
        return out, lse
    return out, AuxOutput(lse if return_aux.lse else None,
                          max_scores if return_aux.max_scores else None)


def _row_statistics(q, k, scale, mask, scores, shape) -> tuple[Tensor, Tensor]:
    """Each query row's logsumexp (with the scores' gradient) and largest score (without, as
    torch's), computed with dlpy ops from the scores (``scores``, or q k^T scale) plus the
    mask. A row with no allowed key gets -inf for both (and no gradient)."""
    if scores is None:
        scores = matmul(q * scale, swapaxes(k, -1, -2))
    if mask is not None:
        scores = scores + mask
    with no_grad():
        top = scores.amax(-1, keepdim=True)
    alive = top > -np.inf
    # a fully masked row: its scores as 0 (finite, gradient 0 through where), its result -inf
    # (F.where: vmap's rule for a batched mask)
    shift = F.where(alive, top, 0.0)
    safe = F.where(alive, scores, 0.0)
    lse = (safe - shift).exp().sum(-1, keepdim=True).log() + shift
    lse = F.where(alive, lse, -np.inf)
    return lse.reshape(shape), top.reshape(shape)
