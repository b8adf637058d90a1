"""Check an exported Kiwi vector file against Kiwi itself: load time, and the cosine error of
the saved (6 significant digits) vectors on random pairs.

    dlpy text export-kiwi-vectors /tmp/kiwi.vec
    python benchmarks/text_kiwi_vectors.py /tmp/kiwi.vec [--pairs 20000]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from dlpy.text import get_analyzer, load_vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--pairs", type=int, default=20_000)
    args = parser.parse_args()
    start = time.perf_counter()
    wv = load_vectors(args.path)
    print(f"{args.path}: {len(wv)} x {wv.dim} loaded in {time.perf_counter() - start:.2f} s, "
          f"skipped {wv.skipped}")
    kiwi = get_analyzer("kiwi").kiwi
    rng = np.random.default_rng(2)
    first, second = rng.integers(0, len(wv), (2, args.pairs))
    def key(word: str) -> tuple[str, str]:
        return tuple(word.rsplit("/", 1))  # type: ignore[return-value]

    theirs = []
    for a, b in zip(first.tolist(), second.tolist()):
        try:
            theirs.append(kiwi.morpheme_similarity(key(wv.words[a]), key(wv.words[b])))
        except ValueError:  # an ambiguous form/tag (several senses): compare by id is not
            theirs.append(np.nan)  # possible from the file alone; leave the pair out
    theirs = np.array(theirs)
    ours = np.einsum("ij,ij->i", wv.vectors[first].astype(np.float64),
                     wv.vectors[second].astype(np.float64))
    ok = ~np.isnan(theirs)
    errors = np.abs(theirs[ok] - ours[ok])
    print(f"cosine error vs Kiwi on {ok.sum()} pairs: mean {errors.mean():.2e}, "
          f"max {errors.max():.2e}")
    norms = np.linalg.norm(wv.vectors, axis=1)
    mean_cos = float(np.mean(ours))
    print(f"norms {norms.min():.4f}..{norms.max():.4f}; mean raw cosine of random pairs "
          f"{mean_cos:.3f} (the common direction: centre before use)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
