"""``torch.nn.modules.sparse``: Embedding and EmbeddingBag (dlpy.nn.embedding's)."""

from dlpy import functional as F  # noqa: F401
from dlpy.nn import init  # noqa: F401
from dlpy.nn.embedding import (
    Embedding,
    EmbeddingBag,
)
from dlpy.nn.module import (
    Module,  # noqa: F401
    Parameter,  # noqa: F401
)

__all__ = [
    "Embedding", "EmbeddingBag",
]
