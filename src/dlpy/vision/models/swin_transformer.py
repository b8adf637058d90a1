"""torchvision's Swin Transformer (Liu et al. 2021) and Swin V2 (2022): attention inside
non-overlapping windows, shifted by half a window every other block (a mask keeps the rolled
regions apart), a learned relative position bias (V2: from a small MLP over log-spaced
coordinates, cosine attention with a learned logit scale, post-norm); patch merging halves the
grid between stages. Module names and buffers as torchvision (features.<i>.<j>.attn.qkv,
relative_position_index, relative_coords_table, ...)."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.tensor import Tensor, default_dtype
from dlpy.vision.models._weights import load_weights, weights_path
from dlpy.vision.ops import MLP, Permute, StochasticDepth


def _patch_merging_pad(x):
    """(..., H, W, C) -> (..., ceil(H / 2), ceil(W / 2), 4C): the 2x2 neighbours side by side
    (zero-padded to even sizes) in torchvision's order (0,0), (1,0), (0,1), (1,1)."""
    h, w = x.shape[-3], x.shape[-2]
    if h % 2 or w % 2:
        x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
    return F.concat([x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :], x[..., 0::2, 1::2, :],
                     x[..., 1::2, 1::2, :]], axis=-1)


class PatchMerging(nn.Module):
    """LayerNorm over the merged 4C, then Linear 4C -> 2C (no bias)."""

    def __init__(self, dim: int, norm_layer=nn.LayerNorm, rng=None):
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, rng=rng)
        self.norm = norm_layer(4 * dim)

    def forward(self, x):
        return self.reduction(self.norm(_patch_merging_pad(x)))


class PatchMergingV2(PatchMerging):
    """Linear 4C -> 2C, then LayerNorm over 2C."""

    def __init__(self, dim: int, norm_layer=nn.LayerNorm, rng=None):
        nn.Module.__init__(self)
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False, rng=rng)
        self.norm = norm_layer(2 * dim)

    def forward(self, x):
        return self.norm(self.reduction(_patch_merging_pad(x)))


def _shift_mask(pad_h: int, pad_w: int, window_size, shift_size) -> np.ndarray:
    """(windows, N, N): 0 between positions of the same region of the rolled grid, -100
    between positions that the roll brought together from different regions."""
    regions = np.zeros((pad_h, pad_w))
    count = 0
    for h0, h1 in ((0, -window_size[0]), (-window_size[0], -shift_size[0]),
                   (-shift_size[0], None)):
        for w0, w1 in ((0, -window_size[1]), (-window_size[1], -shift_size[1]),
                       (-shift_size[1], None)):
            regions[h0:h1, w0:w1] = count
            count += 1
    regions = regions.reshape(pad_h // window_size[0], window_size[0], pad_w // window_size[1],
                              window_size[1]).transpose(0, 2, 1, 3)
    regions = regions.reshape(-1, window_size[0] * window_size[1])
    return np.where(regions[:, None, :] - regions[:, :, None] != 0, -100.0, 0.0)


def shifted_window_attention(input, qkv_weight, proj_weight, relative_position_bias,
                             window_size, num_heads: int, shift_size, attention_dropout=0.0,
                             dropout=0.0, qkv_bias=None, proj_bias=None, logit_scale=None,
                             training: bool = True, rng=None):
    """torchvision.ops' (W-)MSA: input (B, H, W, C), padded to whole windows, rolled back by
    shift_size (no shift where a window covers the padded grid), attention with
    relative_position_bias (1, heads, N, N) inside each window, rolled forward, cropped."""
    b, h, w, c = input.shape
    pad_r = (window_size[1] - w % window_size[1]) % window_size[1]
    pad_b = (window_size[0] - h % window_size[0]) % window_size[0]
    x = F.pad(input, (0, 0, 0, pad_r, 0, pad_b)) if pad_r or pad_b else input
    pad_h, pad_w = h + pad_b, w + pad_r
    shift = [0 if window_size[0] >= pad_h else shift_size[0],
             0 if window_size[1] >= pad_w else shift_size[1]]
    if sum(shift) > 0:
        x = F.roll(x, (-shift[0], -shift[1]), (1, 2))
    rows, cols = pad_h // window_size[0], pad_w // window_size[1]
    num_windows, n = rows * cols, window_size[0] * window_size[1]
    x = F.reshape(x, (b, rows, window_size[0], cols, window_size[1], c))
    x = F.reshape(F.permute(x, (0, 1, 3, 2, 4, 5)), (b * num_windows, n, c))
    if logit_scale is not None and qkv_bias is not None:
        keep = np.ones(qkv_bias.shape[0])
        keep[qkv_bias.shape[0] // 3: 2 * qkv_bias.shape[0] // 3] = 0.0  # no key bias
        qkv_bias = qkv_bias * Tensor(keep.astype(qkv_bias.dtype))
    qkv = F.linear(x, qkv_weight, qkv_bias)
    qkv = F.permute(F.reshape(qkv, (b * num_windows, n, 3, num_heads, c // num_heads)),
                    (2, 0, 3, 1, 4))
    q, k, v = qkv[0], qkv[1], qkv[2]  # (B * windows, heads, N, C / heads)
    if logit_scale is not None:
        attn = F.normalize(q, dim=-1) @ F.swapaxes(F.normalize(k, dim=-1), -2, -1)
        attn = attn * F.exp(F.clamp(logit_scale, max=math.log(100.0)))
    else:
        attn = (q * (c // num_heads) ** -0.5) @ F.swapaxes(k, -2, -1)
    attn = attn + relative_position_bias
    if sum(shift) > 0:
        mask = _shift_mask(pad_h, pad_w, window_size, shift).astype(attn.dtype)
        attn = F.reshape(attn, (b, num_windows, num_heads, n, n)) + Tensor(mask[None, :, None])
        attn = F.reshape(attn, (b * num_windows, num_heads, n, n))
    attn = F.dropout(F.softmax(attn, dim=-1), attention_dropout, training, rng=rng)
    x = F.reshape(F.swapaxes(attn @ v, 1, 2), (b * num_windows, n, c))
    x = F.dropout(F.linear(x, proj_weight, proj_bias), dropout, training, rng=rng)
    x = F.reshape(x, (b, rows, cols, window_size[0], window_size[1], c))
    x = F.reshape(F.permute(x, (0, 1, 3, 2, 4, 5)), (b, pad_h, pad_w, c))
    if sum(shift) > 0:
        x = F.roll(x, (shift[0], shift[1]), (1, 2))
    return x[:, :h, :w, :] if pad_r or pad_b else x


def _relative_position_index(window_size) -> np.ndarray:
    """(N * N,) int64: the bias-table row of each (query, key) offset in a window."""
    coords = np.stack(np.meshgrid(np.arange(window_size[0]), np.arange(window_size[1]),
                                  indexing="ij")).reshape(2, -1)
    relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0)
    relative[:, :, 0] += window_size[0] - 1
    relative[:, :, 1] += window_size[1] - 1
    relative[:, :, 0] *= 2 * window_size[1] - 1
    return relative.sum(-1).reshape(-1).astype(np.int64)


def _relative_position_bias(table, index: np.ndarray, window_size):
    """table (rows, heads) gathered at index -> (1, heads, N, N)."""
    n = window_size[0] * window_size[1]
    return F.unsqueeze(F.permute(F.reshape(table[index], (n, n, -1)), (2, 0, 1)), 0)


class ShiftedWindowAttention(nn.Module):
    """qkv and proj Linear layers, a ((2 Wh - 1)(2 Ww - 1), heads) relative position bias
    table (truncated N(0, 0.02)) and its index buffer; (B, H, W, C) -> the same."""

    def __init__(self, dim: int, window_size, shift_size, num_heads: int,
                 qkv_bias: bool = True, proj_bias: bool = True, attention_dropout: float = 0.0,
                 dropout: float = 0.0, rng=None):
        super().__init__()
        if len(window_size) != 2 or len(shift_size) != 2:
            raise ValueError(f"{type(self).__name__}: window_size and shift_size must have "
                             f"length 2, got {window_size!r} and {shift_size!r}")
        self.window_size, self.shift_size = list(window_size), list(shift_size)
        self.num_heads = num_heads
        self.attention_dropout, self.dropout, self.rng = attention_dropout, dropout, rng
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias, rng=rng)
        self.proj = nn.Linear(dim, dim, bias=proj_bias, rng=rng)
        self.define_relative_position_bias_table()
        self.register_buffer("relative_position_index",
                             _relative_position_index(self.window_size))

    def define_relative_position_bias_table(self):
        rows = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = nn.Parameter(np.zeros((rows, self.num_heads)),
                                                         dtype=default_dtype())
        init.trunc_normal_(self.relative_position_bias_table, std=0.02, generator=self.rng)

    def get_relative_position_bias(self):
        return _relative_position_bias(self.relative_position_bias_table,
                                       self.relative_position_index.data, self.window_size)

    def forward(self, x):
        return shifted_window_attention(
            x, self.qkv.weight, self.proj.weight, self.get_relative_position_bias(),
            self.window_size, self.num_heads, self.shift_size, self.attention_dropout,
            self.dropout, self.qkv.bias, self.proj.bias, self._logit_scale(), self.training,
            self.rng)

    def _logit_scale(self):
        return None


class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """Cosine attention scaled by exp(logit_scale) (at most 100); the bias 16 sigmoid(cpb_mlp(
    relative_coords_table)) from a Linear(2, 512), ReLU, Linear(512, heads) MLP; no key
    bias."""

    def __init__(self, dim: int, window_size, shift_size, num_heads: int,
                 qkv_bias: bool = True, proj_bias: bool = True, attention_dropout: float = 0.0,
                 dropout: float = 0.0, rng=None):
        super().__init__(dim, window_size, shift_size, num_heads, qkv_bias, proj_bias,
                         attention_dropout, dropout, rng)
        self.logit_scale = nn.Parameter(np.full((num_heads, 1, 1), math.log(10.0)),
                                        dtype=default_dtype())
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 512, rng=rng), nn.ReLU(),
                                     nn.Linear(512, num_heads, bias=False, rng=rng))
        if qkv_bias:
            length = self.qkv.bias.shape[0] // 3
            self.qkv.bias.data[length:2 * length] = 0.0

    def define_relative_position_bias_table(self):
        # computed in float32 as torchvision's buffer
        wh, ww = self.window_size
        h = np.arange(-(wh - 1), wh, dtype=np.float32)
        w = np.arange(-(ww - 1), ww, dtype=np.float32)
        table = np.stack(np.meshgrid(h, w, indexing="ij")).transpose(1, 2, 0)[None].copy()
        table[..., 0] /= np.float32(wh - 1)
        table[..., 1] /= np.float32(ww - 1)
        table *= np.float32(8.0)
        table = np.sign(table) * np.log2(np.abs(table) + np.float32(1.0)) / np.float32(3.0)
        self.register_buffer("relative_coords_table", table.astype(np.float32))

    def get_relative_position_bias(self):
        table = F.reshape(self.cpb_mlp(self.relative_coords_table), (-1, self.num_heads))
        bias = _relative_position_bias(table, self.relative_position_index.data,
                                       self.window_size)
        return 16 * F.sigmoid(bias)

    def _logit_scale(self):
        return self.logit_scale


class SwinTransformerBlock(nn.Module):
    """x + drop(attn(norm1(x))), then + drop(mlp(norm2(.))) (MLP: dim -> mlp_ratio dim ->
    dim, GELU); (B, H, W, C) -> the same."""

    def __init__(self, dim: int, num_heads: int, window_size, shift_size,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, attention_dropout: float = 0.0,
                 stochastic_depth_prob: float = 0.0, norm_layer=nn.LayerNorm,
                 attn_layer=ShiftedWindowAttention, rng=None):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = attn_layer(dim, window_size, shift_size, num_heads,
                               attention_dropout=attention_dropout, dropout=dropout, rng=rng)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row", rng=rng)
        self.norm2 = norm_layer(dim)
        self.mlp = MLP(dim, [int(dim * mlp_ratio), dim], activation_layer=nn.GELU,
                       dropout=dropout, rng=rng)
        for module in self.mlp.modules():
            if isinstance(module, nn.Linear):
                init.xavier_uniform_(module.weight, generator=rng)
                init.normal_(module.bias, std=1e-6, generator=rng)

    def forward(self, x):
        x = x + self.stochastic_depth(self.attn(self.norm1(x)))
        return x + self.stochastic_depth(self.mlp(self.norm2(x)))


class SwinTransformerBlockV2(SwinTransformerBlock):
    """Post-norm: x + drop(norm1(attn(x))), then + drop(norm2(mlp(.)))."""

    def __init__(self, dim: int, num_heads: int, window_size, shift_size,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, attention_dropout: float = 0.0,
                 stochastic_depth_prob: float = 0.0, norm_layer=nn.LayerNorm,
                 attn_layer=ShiftedWindowAttentionV2, rng=None):
        super().__init__(dim, num_heads, window_size, shift_size, mlp_ratio, dropout,
                         attention_dropout, stochastic_depth_prob, norm_layer, attn_layer, rng)

    def forward(self, x):
        x = x + self.stochastic_depth(self.norm1(self.attn(x)))
        return x + self.stochastic_depth(self.norm2(self.mlp(x)))


class SwinTransformer(nn.Module):
    """torchvision.models.SwinTransformer(patch_size, embed_dim, depths, num_heads, window_size,
    mlp_ratio, dropout, attention_dropout, stochastic_depth_prob, num_classes, norm_layer,
    block, downsample_layer): x (N, 3, H, W) -> (N, num_classes). Block i of n drops its
    branches with probability stochastic_depth_prob * i / (n - 1) while training. Linear
    layers truncated N(0, 0.02), zero bias, as torchvision."""

    def __init__(self, patch_size, embed_dim: int, depths, num_heads, window_size,
                 mlp_ratio: float = 4.0, dropout: float = 0.0, attention_dropout: float = 0.0,
                 stochastic_depth_prob: float = 0.1, num_classes: int = 1000, norm_layer=None,
                 block=None, downsample_layer=PatchMerging, rng=None):
        super().__init__()
        if not depths or len(depths) != len(num_heads):
            raise ValueError("SwinTransformer: depths and num_heads must be non-empty and of "
                             f"the same length, got {depths!r} and {num_heads!r}")
        self.num_classes = num_classes
        block = block or SwinTransformerBlock
        if norm_layer is None:
            def norm_layer(size):
                return nn.LayerNorm(size, eps=1e-5)
        layers = [nn.Sequential(
            nn.Conv2d(3, embed_dim, tuple(patch_size), stride=tuple(patch_size), rng=rng),
            Permute([0, 2, 3, 1]), norm_layer(embed_dim))]
        total, block_id = sum(depths), 0
        for stage, depth in enumerate(depths):
            dim = embed_dim * 2 ** stage
            blocks = []
            for i in range(depth):
                blocks.append(block(
                    dim, num_heads[stage], window_size=list(window_size),
                    shift_size=[0 if i % 2 == 0 else w // 2 for w in window_size],
                    mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout,
                    stochastic_depth_prob=stochastic_depth_prob * block_id / max(total - 1, 1),
                    norm_layer=norm_layer, rng=rng))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
            if stage < len(depths) - 1:
                layers.append(downsample_layer(dim, norm_layer, rng=rng))
        self.features = nn.Sequential(*layers)
        num_features = embed_dim * 2 ** (len(depths) - 1)
        self.norm = norm_layer(num_features)
        self.permute = Permute([0, 3, 1, 2])
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.head = nn.Linear(num_features, num_classes, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.trunc_normal_(module.weight, std=0.02, generator=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)

    def forward(self, x):
        x = self.avgpool(self.permute(self.norm(self.features(x))))
        return self.head(self.flatten(x))


_CONFIGS = {  # embed_dim, depths, num_heads, window_size, stochastic_depth_prob, v2
    "swin_t": (96, [2, 2, 6, 2], [3, 6, 12, 24], [7, 7], 0.2, False),
    "swin_s": (96, [2, 2, 18, 2], [3, 6, 12, 24], [7, 7], 0.3, False),
    "swin_b": (128, [2, 2, 18, 2], [4, 8, 16, 32], [7, 7], 0.5, False),
    "swin_v2_t": (96, [2, 2, 6, 2], [3, 6, 12, 24], [8, 8], 0.2, True),
    "swin_v2_s": (96, [2, 2, 18, 2], [3, 6, 12, 24], [8, 8], 0.3, True),
    "swin_v2_b": (128, [2, 2, 18, 2], [4, 8, 16, 32], [8, 8], 0.5, True),
}


def _swin(name: str, weights, num_classes: int, rng, **kwargs) -> SwinTransformer:
    path = weights_path(weights, name)
    embed_dim, depths, heads, window, sd, v2 = _CONFIGS[name]
    if v2:
        kwargs.setdefault("block", SwinTransformerBlockV2)
        kwargs.setdefault("downsample_layer", PatchMergingV2)
    model = SwinTransformer([4, 4], embed_dim, depths, heads, window,
                            stochastic_depth_prob=kwargs.pop("stochastic_depth_prob", sd),
                            num_classes=num_classes, rng=rng, **kwargs)
    return load_weights(model, path)


def swin_t(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin-T: width 96, depths (2, 2, 6, 2), 7x7 windows (28.3 M parameters)."""
    return _swin("swin_t", weights, num_classes, rng, **kwargs)


def swin_s(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin-S: width 96, depths (2, 2, 18, 2), 7x7 windows (49.6 M parameters)."""
    return _swin("swin_s", weights, num_classes, rng, **kwargs)


def swin_b(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin-B: width 128, depths (2, 2, 18, 2), 7x7 windows (87.8 M parameters)."""
    return _swin("swin_b", weights, num_classes, rng, **kwargs)


def swin_v2_t(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin V2-T: width 96, depths (2, 2, 6, 2), 8x8 windows (28.4 M parameters)."""
    return _swin("swin_v2_t", weights, num_classes, rng, **kwargs)


def swin_v2_s(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin V2-S: width 96, depths (2, 2, 18, 2), 8x8 windows."""
    return _swin("swin_v2_s", weights, num_classes, rng, **kwargs)


def swin_v2_b(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> SwinTransformer:
    """Swin V2-B: width 128, depths (2, 2, 18, 2), 8x8 windows."""
    return _swin("swin_v2_b", weights, num_classes, rng, **kwargs)
