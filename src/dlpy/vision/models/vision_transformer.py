"""torchvision's VisionTransformer (Dosovitskiy et al. 2020): patches from a strided
convolution, a class token, learned position embeddings, pre-norm encoder blocks; module names
as torchvision (conv_proj, class_token, encoder.layers.encoder_layer_<i>, heads.head)."""

from __future__ import annotations

import math

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.nn import init
from dlpy.random import get_rng
from dlpy.tensor import default_dtype
from dlpy.vision.models._weights import load_weights, weights_path


def _mlp_block(hidden_dim: int, mlp_dim: int, dropout: float, rng) -> nn.Sequential:
    """torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout (children 0 to 4)."""
    mlp = nn.Sequential(nn.Linear(hidden_dim, mlp_dim, rng=rng), nn.GELU(),
                        nn.Dropout(dropout, rng=rng), nn.Linear(mlp_dim, hidden_dim, rng=rng),
                        nn.Dropout(dropout, rng=rng))
    for linear in (mlp[0], mlp[3]):
        init.xavier_uniform_(linear.weight, generator=rng)
        init.normal_(linear.bias, 0.0, 1e-6, generator=rng)
    return mlp


class EncoderBlock(nn.Module):
    """x + attention(ln_1(x)), then + mlp(ln_2(.)): (N, seq, hidden_dim) -> the same."""

    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, rng=None):
        super().__init__()
        self.num_heads = num_heads
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads,
                                                    dropout=attention_dropout, batch_first=True,
                                                    rng=rng)
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = _mlp_block(hidden_dim, mlp_dim, dropout, rng)

    def forward(self, x):
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = x + self.dropout(y)
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """pos_embedding (1, seq_length, hidden_dim) added, dropout, the blocks, a final LayerNorm."""

    def __init__(self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int,
                 mlp_dim: int, dropout: float = 0.0, attention_dropout: float = 0.0, rng=None):
        super().__init__()
        self.pos_embedding = nn.Parameter(get_rng(rng).normal(0.0, 0.02, (1, seq_length,
                                                                          hidden_dim)),
                                          dtype=default_dtype())
        self.dropout = nn.Dropout(dropout, rng=rng)
        self.layers = nn.Sequential()
        for i in range(num_layers):
            self.layers.add_module(f"encoder_layer_{i}", EncoderBlock(
                num_heads, hidden_dim, mlp_dim, dropout, attention_dropout, rng=rng))
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x):
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """torchvision.models.VisionTransformer(image_size, patch_size, num_layers, num_heads,
    hidden_dim, mlp_dim, dropout, attention_dropout, num_classes, representation_size): x
    (N, 3, image_size, image_size) -> (N, num_classes), the class token's final state through
    ``heads``."""

    def __init__(self, image_size: int, patch_size: int, num_layers: int, num_heads: int,
                 hidden_dim: int, mlp_dim: int, dropout: float = 0.0,
                 attention_dropout: float = 0.0, num_classes: int = 1000,
                 representation_size: int | None = None, rng=None):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"VisionTransformer: image_size must be divisible by patch_size, "
                             f"got image_size={image_size}, patch_size={patch_size}")
        self.config = {"image_size": image_size, "patch_size": patch_size,
                       "num_layers": num_layers, "num_heads": num_heads,
                       "hidden_dim": hidden_dim, "mlp_dim": mlp_dim, "dropout": dropout,
                       "attention_dropout": attention_dropout, "num_classes": num_classes,
                       "representation_size": representation_size}
        self.image_size, self.patch_size, self.hidden_dim = image_size, patch_size, hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, patch_size, stride=patch_size, rng=rng)
        self.class_token = nn.Parameter(np.zeros((1, 1, hidden_dim)), dtype=default_dtype())
        self.seq_length = (image_size // patch_size) ** 2 + 1
        self.encoder = Encoder(self.seq_length, num_layers, num_heads, hidden_dim, mlp_dim,
                               dropout, attention_dropout, rng=rng)
        self.heads = nn.Sequential()
        if representation_size is None:
            self.heads.add_module("head", nn.Linear(hidden_dim, num_classes, rng=rng))
        else:
            self.heads.add_module("pre_logits", nn.Linear(hidden_dim, representation_size,
                                                          rng=rng))
            self.heads.add_module("act", nn.Tanh())
            self.heads.add_module("head", nn.Linear(representation_size, num_classes, rng=rng))
        # torchvision's initialisation: LeCun-normal patches, zero head
        fan_in = 3 * patch_size * patch_size
        init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1.0 / fan_in), generator=rng)
        init.zeros_(self.conv_proj.bias)
        init.zeros_(self.heads.head.weight)
        init.zeros_(self.heads.head.bias)

    def forward(self, x):
        n, _, h, w = x.shape
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(f"VisionTransformer: expected images of {self.image_size}x"
                             f"{self.image_size}, got an input of shape {x.shape}")
        x = self.conv_proj(x)  # (N, hidden_dim, h / patch, w / patch)
        x = F.swapaxes(F.reshape(x, (n, self.hidden_dim, -1)), 1, 2)  # (N, patches, hidden)
        x = F.concat([F.expand(self.class_token, (n, 1, self.hidden_dim)), x], axis=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


def vit_b_16(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VisionTransformer:
    """ViT-B/16: 224x224 images, 16x16 patches, 12 layers, 12 heads, width 768, MLP 3072."""
    path = weights_path(weights, "vit_b_16")
    model = VisionTransformer(224, 16, 12, 12, 768, 3072, num_classes=num_classes, rng=rng,
                              **kwargs)
    return load_weights(model, path)


def vit_b_32(*, weights=None, num_classes: int = 1000, rng=None, **kwargs) -> VisionTransformer:
    """ViT-B/32: as ViT-B/16 with 32x32 patches."""
    path = weights_path(weights, "vit_b_32")
    model = VisionTransformer(224, 32, 12, 12, 768, 3072, num_classes=num_classes, rng=rng,
                              **kwargs)
    return load_weights(model, path)
