"""Rebuild Kiwi's morpheme embeddings from the cosine similarities its public API exposes.

kiwipiepy's model carries unit-length morpheme embeddings (70,488 x 256 in kiwipiepy 0.24) but
only `Kiwi().morpheme_similarity(i, j)` reaches them. With X the unknown (n, d) embeddings and A
a few hundred anchor morphemes:

    S = X X_A^T          (n, A)   cosines of every morpheme against the anchors
    S_AA = X_A X_A^T = U diag(lam) U^T   keep the d non-zero eigenvalues
    X_hat = S U diag(lam)^-1/2           then X_hat X_hat^T = X X^T

so X_hat equals X up to a rotation: every cosine is kept. The vectors are unit length and share
a common direction (raw cosines are mostly positive): centre them before use
(`WordVectors.centered()`).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np

from dlpy.progress import progress

from .analysis import AnalyzerUnavailable, get_analyzer
from .vectors import WordVectors


@dataclass
class KiwiExportReport:
    num_words: int
    dim: int
    num_anchors: int
    seconds: float
    mean_cosine_error: float
    max_cosine_error: float
    check_pairs: int
    eigenvalue_gap: float  # eigenvalue dim+1 over eigenvalue 1: ~0 when the rank is exactly dim

    def __str__(self) -> str:
        return (f"{self.num_words} morphemes x {self.dim} dims from {self.num_anchors} anchors "
                f"in {self.seconds:.1f} s; cosine error on {self.check_pairs} random pairs: "
                f"mean {self.mean_cosine_error:.2e}, max {self.max_cosine_error:.2e}")


def _kiwi():
    try:
        kiwi = get_analyzer("kiwi").kiwi  # shares the analyser's model: loading one takes seconds
    except AnalyzerUnavailable as err:
        raise AnalyzerUnavailable("exporting Kiwi vectors needs kiwipiepy: "
                                  "pip install 'dlpy[korean]'") from err
    if kiwi.model_type not in ("cong", "cong-global"):
        raise RuntimeError(f"Kiwi model type {kiwi.model_type!r} has no morpheme embeddings; "
                           "kiwipiepy >= 0.21 with its default 'cong' model is needed")
    return kiwi


def num_embedded_morphemes(kiwi) -> int:
    """How many morpheme ids (0..n-1) have an embedding: found by binary search for the first id
    whose self-similarity is NaN (ids past the embedding table)."""
    def embedded(i: int) -> bool:
        try:
            return not math.isnan(kiwi.morpheme_similarity(i, i))
        except Exception:
            return False

    lo, hi = 0, 1
    while embedded(hi):
        hi *= 2
    while lo < hi:  # invariant: ids < lo embedded, id hi not
        mid = (lo + hi) // 2
        if embedded(mid):
            lo = mid + 1
        else:
            hi = mid
    return lo


def _similarities(kiwi, ids, anchors: list[int], show_progress: bool, desc: str) -> np.ndarray:
    similarity = kiwi.morpheme_similarity
    rows = np.empty((len(ids), len(anchors)), dtype=np.float64)
    for r, i in enumerate(progress(ids, total=len(ids), desc=desc, enabled=show_progress)):
        rows[r] = [similarity(i, a) for a in anchors]
    return rows


def reconstruct(kiwi, ids: list[int], *, num_anchors: int = 384, dim: int = 256,
                total: int | None = None, seed: int = 0,
                show_progress: bool = False) -> tuple[np.ndarray, float]:
    """Vectors (len(ids), dim) for morpheme `ids` whose dot products are Kiwi's cosines, and the
    eigenvalue gap. Anchors are drawn at random from all `total` embedded morphemes."""
    total = num_embedded_morphemes(kiwi) if total is None else total
    if num_anchors < dim:
        raise ValueError(f"reconstruct: expected num_anchors >= dim, got {num_anchors} < {dim}")
    if num_anchors > total:
        raise ValueError(f"reconstruct: expected num_anchors <= {total} morphemes, "
                         f"got {num_anchors}")
    rng = np.random.default_rng(seed)
    anchors = sorted(rng.choice(total, size=num_anchors, replace=False).tolist())
    anchor_block = _similarities(kiwi, anchors, anchors, False, "")
    anchor_block = (anchor_block + anchor_block.T) / 2
    eigenvalues, eigenvectors = np.linalg.eigh(anchor_block)  # ascending
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    if eigenvalues[dim - 1] <= 0:
        raise RuntimeError(f"reconstruct: the anchors span fewer than {dim} dimensions; "
                           "use more anchors")
    gap = float(max(eigenvalues[dim], 0.0) / eigenvalues[0]) if num_anchors > dim else 0.0
    projection = eigenvectors[:, :dim] / np.sqrt(eigenvalues[:dim])  # (A, dim)
    similarities = _similarities(kiwi, ids, anchors, show_progress, "kiwi vectors")
    return (similarities @ projection).astype(np.float32), gap


def cosine_errors(kiwi, ids: list[int], vectors: np.ndarray, num_pairs: int,
                  seed: int = 1) -> np.ndarray:
    """|Kiwi's cosine - dot product of the rebuilt vectors| on `num_pairs` random pairs."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(ids), num_pairs)
    second = rng.integers(0, len(ids), num_pairs)
    kiwi_cos = np.array([kiwi.morpheme_similarity(ids[a], ids[b])
                         for a, b in zip(first.tolist(), second.tolist())])
    ours = np.einsum("ij,ij->i", vectors[first].astype(np.float64),
                     vectors[second].astype(np.float64))
    return np.abs(kiwi_cos - ours)


def export_kiwi_vectors(out_path: str | os.PathLike | None = None, *, num_anchors: int = 384,
                        dim: int = 256, limit: int | None = None, check_pairs: int = 10_000,
                        seed: int = 0,
                        show_progress: bool = True) -> tuple[WordVectors, KiwiExportReport]:
    """Rebuild Kiwi's morpheme vectors, keyed `form/TAG` (empty forms, Kiwi's per-tag defaults,
    are left out; a repeated key keeps its first id), check them on random pairs and, when
    `out_path` is given, save them as a `.vec` (atomically). `limit` keeps the first ids only."""
    if num_anchors < dim:
        raise ValueError(f"export_kiwi_vectors: expected num_anchors >= dim, "
                         f"got {num_anchors} < {dim}")
    start = time.perf_counter()
    kiwi = _kiwi()
    total = num_embedded_morphemes(kiwi)
    words: list[str] = []
    ids: list[int] = []
    seen: set[str] = set()
    for i in range(total if limit is None else min(limit, total)):
        morpheme = kiwi.morpheme(i)
        key = f"{morpheme.form}/{morpheme.tag}"
        if morpheme.form and key not in seen:
            seen.add(key)
            words.append(key)
            ids.append(i)
    vectors, gap = reconstruct(kiwi, ids, num_anchors=num_anchors, dim=dim, total=total,
                               seed=seed, show_progress=show_progress)
    errors = cosine_errors(kiwi, ids, vectors, check_pairs)
    wv = WordVectors(words, vectors)
    if out_path is not None:
        wv.save(out_path)
    report = KiwiExportReport(len(words), dim, num_anchors, time.perf_counter() - start,
                              float(errors.mean()), float(errors.max()), check_pairs, gap)
    return wv, report
