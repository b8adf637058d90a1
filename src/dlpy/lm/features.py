"""Pooled features of many texts from a pretrained LM, cached on disk.

    features = cached_pooled_features(lm, texts)     # (n, d_model) float32

The key is (SHA-256 of the LM's weights and tokenizer files, the pooling, SHA-256 of the text):
re-export the LM or change the text and the entry is simply not found. One `.npy` file per
text, written atomically (dlpy.io.atomic_write_bytes), as dlpy.text.cache does for analyses:

    <root>/lm-features/<lm sha256[:16]>-mean-w<window>/<text sha[:2]>/<text sha>.npy

`root` is dlpy.text.cache.default_cache_dir() (`DLPY_CACHE_DIR`, else ~/.cache/dlpy). Entries
read once are also kept in memory for the life of the process, so the folds of a CV and the
arms of an ablation read each essay's features once.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlpy.io import atomic_write_bytes
from dlpy.text.cache import default_cache_dir, sha256_bytes

_MEMORY: dict[tuple[str, str], np.ndarray] = {}


class FeatureCache:
    """Pooled features of one LM (one pooling), keyed by the text's SHA-256."""

    def __init__(self, lm, root: str | os.PathLike | None = None,
                 max_len: int | None = None) -> None:
        window = min(max_len or lm.model.lm_config.max_len, lm.model.lm_config.max_len)
        self.name = f"{lm.fingerprint()[:16]}-mean-w{window}"
        self.directory = Path(root if root is not None else default_cache_dir()) \
            / "lm-features" / self.name
        self.dim = lm.model.lm_config.d_model

    def path_for(self, text_sha256: str) -> Path:
        return self.directory / text_sha256[:2] / f"{text_sha256}.npy"

    def get(self, text_sha256: str) -> np.ndarray | None:
        """The cached vector, or None when absent or unreadable (a damaged entry is a miss)."""
        key = (self.name, text_sha256)
        if key in _MEMORY:
            return _MEMORY[key]
        try:
            vector = np.load(self.path_for(text_sha256), allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if vector.shape != (self.dim,) or vector.dtype != np.float32:
            return None
        _MEMORY[key] = vector
        return vector

    def put(self, text_sha256: str, vector: np.ndarray) -> None:
        vector = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        buffer = io.BytesIO()
        np.save(buffer, vector, allow_pickle=False)
        atomic_write_bytes(self.path_for(text_sha256), buffer.getvalue())
        _MEMORY[(self.name, text_sha256)] = vector


def cached_pooled_features(lm, texts: Sequence[str], use_cache: bool = True,
                           show_progress: bool = False, batch_size: int = 16,
                           chunk: int = 64) -> np.ndarray:
    """(len(texts), d_model) float32: lm.pooled_features of every text (whole text, in
    windows of the LM's max_len tokens), each text computed once per LM and then read from the
    cache. The missing texts are computed `chunk` at a time and stored as each chunk ends, so
    an interrupted run keeps what it computed."""
    from dlpy.progress import progress

    texts = list(texts)
    out = np.zeros((len(texts), lm.model.lm_config.d_model), dtype=np.float32)
    if not use_cache:
        for start in range(0, len(texts), chunk):
            out[start:start + chunk] = lm.pooled_features(texts[start:start + chunk], batch_size)
        return out
    cache = FeatureCache(lm)
    keys = [sha256_bytes(t.encode("utf-8")) for t in texts]
    missing: dict[str, list[int]] = {}  # text sha -> positions (a duplicate text once)
    for i, key in enumerate(keys):
        vector = cache.get(key)
        if vector is None:
            missing.setdefault(key, []).append(i)
        else:
            out[i] = vector
    todo = list(missing)
    bar = progress(total=len(todo), desc="LM features", enabled=show_progress and bool(todo),
                   unit="essay")
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]
        vectors = lm.pooled_features([texts[missing[k][0]] for k in part], batch_size)
        for key, vector in zip(part, vectors):
            cache.put(key, vector)
            out[missing[key]] = vector
        bar.update(len(part))
    bar.close()
    return out
