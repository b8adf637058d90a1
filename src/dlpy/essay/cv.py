"""Honest evaluation of the essay scorer: folds that keep every collection batch and every
duplicate text on one side, and the report of what a user will see.

    groups = evaluation_groups(docs)                # batch + duplicate text, merged
    result = cross_validate(docs, EssayConfig(), folds=5, groups=groups)
    table = full_report(predictions, docs, batches) # pooled, within batches, bands, per category

AI Hub numbered the essays as they were collected and scored, and scores move together within
such a run (about half the within-prompt variance lies between runs; docs/essay.md): folds that
split a run reward recognising the run, not judging the text. The essay id is used only to
build folds and to measure, never as a model input.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dlpy.essay.config import EssayConfig
from dlpy.essay.features import Doc
from dlpy.essay.metrics import (
    band_residuals,
    pearson,
    per_prompt_pearson,
    quadratic_weighted_kappa,
    report,
    rmse,
    within_group_pearson,
)


def stratified_split(prompts: Sequence[str], fraction: float, seed: int
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train, held out) indices with `fraction` of every prompt held out."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(prompts)
    held = []
    for name in sorted(set(labels.tolist())):
        members = rng.permutation(np.nonzero(labels == name)[0])
        held += members[:int(round(fraction * len(members)))].tolist()
    held_out = np.array(sorted(held), dtype=np.int64)
    train_index = np.setdiff1d(np.arange(len(labels)), held_out)
    return train_index, held_out


def stratified_folds(prompts: Sequence[str], folds: int, seed: int) -> np.ndarray:
    """A fold number per essay, every prompt spread evenly over the folds."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(prompts)
    fold_of = np.zeros(len(labels), dtype=np.int64)
    for name in sorted(set(labels.tolist())):
        members = rng.permutation(np.nonzero(labels == name)[0])
        fold_of[members] = np.arange(len(members)) % folds
    return fold_of


def essay_number(essay_id: str) -> int:
    """The number at the end of an essay id: 33982 for AI Hub's `ESSAY_33982`."""
    match = re.search(r"(\d+)\D*$", str(essay_id))
    if match is None:
        raise ValueError(f"essay id {essay_id!r} has no number; collection batches are runs of "
                         "consecutive numbered ids (AI Hub's info.essay_id)")
    return int(match.group(1))


def collection_batches(ids: Sequence[str], prompts: Sequence[str], gap: int = 50) -> np.ndarray:
    """A batch number per essay: within each prompt, essays sorted by the number in their id
    (AI Hub's `ESSAY_33982`), a jump of more than `gap` starting a new batch. AI Hub numbered the
    essays as they were collected and scored, and scores move together within such a run (about
    half the within-prompt variance of the 3,609 dev essays lies between runs; docs/essay.md)."""
    labels = np.asarray([str(p) for p in prompts])
    if len(ids) != labels.size:
        raise ValueError(f"collection_batches: {len(ids)} ids for {labels.size} prompts")
    numbers = np.array([essay_number(essay_id) for essay_id in ids], dtype=np.int64)
    batch = np.zeros(labels.size, dtype=np.int64)
    next_batch = 0
    for name in sorted(set(labels.tolist())):
        members = np.nonzero(labels == name)[0]
        members = members[np.argsort(numbers[members], kind="stable")]
        run = np.concatenate([[0], np.cumsum(np.diff(numbers[members]) > gap)])
        batch[members] = next_batch + run
        next_batch += int(run[-1]) + 1
    return batch


def grouped_folds(prompts: Sequence[str], groups: Sequence, folds: int, seed: int) -> np.ndarray:
    """A fold number per essay that keeps every group (e.g. a collection batch) in one fold and
    spreads each prompt over the folds as evenly as its groups allow: groups in a seeded order,
    largest first, each to the fold that has the fewest essays of that prompt so far (of those,
    the one with the fewest essays in all)."""
    fold_of = assign_groups(prompts, groups, folds, seed)
    empty = [k + 1 for k in range(folds) if not np.any(fold_of == k)]
    if empty:
        raise ValueError(f"grouped_folds: {len(set(np.asarray(groups).tolist()))} groups cannot "
                         f"fill {folds} folds (fold {empty[0]} is empty); use fewer folds or "
                         "smaller groups")
    return fold_of


def assign_groups(prompts: Sequence[str], groups: Sequence, folds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.asarray([str(p) for p in prompts])
    group_of = np.asarray(groups)
    if group_of.shape != labels.shape:
        raise ValueError(f"grouped_folds: {group_of.size} group labels for {labels.size} essays")
    fold_of = np.zeros(labels.size, dtype=np.int64)
    totals = np.zeros(folds, dtype=np.int64)
    for name in sorted(set(labels.tolist())):
        members = np.nonzero(labels == name)[0]
        names, inverse, sizes = np.unique(group_of[members], return_inverse=True,
                                          return_counts=True)
        order = rng.permutation(len(names))
        order = order[np.argsort(-sizes[order], kind="stable")]
        counts = np.zeros(folds, dtype=np.int64)
        for g in order:
            candidates = np.nonzero(counts == counts.min())[0]
            k = int(candidates[np.argmin(totals[candidates])])
            fold_of[members[inverse == g]] = k
            counts[k] += sizes[g]
            totals[k] += sizes[g]
    return fold_of


def text_key(text: str) -> str:
    """The duplicate key of a text: SHA-256 of it with whitespace runs made one space."""
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()


def duplicate_groups(docs: Sequence[Doc]) -> np.ndarray:
    """A group number per essay, equal for essays with the same text (whitespace aside)."""
    keys: dict[str, int] = {}
    return np.array([keys.setdefault(text_key(d.text), len(keys)) for d in docs],
                    dtype=np.int64)


def merge_groups(*labelings: Sequence) -> np.ndarray:
    """Connected components of several labelings: two essays share a group when any labeling
    puts them together (union-find over essays)."""
    n = len(labelings[0])
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for labels in labelings:
        first: dict = {}
        for i, label in enumerate(np.asarray(labels).tolist()):
            j = first.setdefault(label, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    roots = np.array([find(i) for i in range(n)])
    return np.unique(roots, return_inverse=True)[1].astype(np.int64)


def evaluation_groups(docs: Sequence[Doc], gap: int = 50) -> np.ndarray:
    """Collection batches and duplicate texts merged: what must never be split across folds."""
    batches = collection_batches([d.id for d in docs], [d.prompt for d in docs], gap)
    return merge_groups(batches, duplicate_groups(docs))


# --------------------------------------------------------------------------- reports

BANDS = ((0.0, 15.0), (15.0, 20.0), (20.0, 25.0), (25.0, 30.01))


def full_report(predictions, docs: Sequence[Doc], batches: np.ndarray | None = None,
                calibrated=None) -> dict:
    """Pooled RMSE, r, QWK (calibrated integers when given), r within batches, residuals by
    score band, and per category and per prompt: n, RMSE, r, r within batches."""
    p = np.asarray(predictions, dtype=np.float64)
    t = np.array([d.score for d in docs], dtype=np.float64)
    prompts = [d.prompt for d in docs]
    out = report(p, t, prompts)
    if calibrated is not None:
        out["qwk"] = quadratic_weighted_kappa(calibrated, np.clip(np.round(t), 0, 30))
    out["bands"] = band_residuals(p, t, BANDS)
    if batches is not None:
        out["batches"] = int(len(set(np.asarray(batches).tolist())))
        out["within_batch_pearson"] = within_group_pearson(p, t, batches)
    for key, labels in (("per_category", [d.category for d in docs]), ("per_prompt", prompts)):
        labels = np.asarray(labels)
        table = {}
        for name in sorted(set(labels.tolist())):
            m = labels == name
            row = {"n": int(m.sum()), "rmse": rmse(p[m], t[m]), "pearson": pearson(p[m], t[m])}
            if batches is not None:
                row["within_batch_pearson"] = within_group_pearson(p[m], t[m],
                                                                   np.asarray(batches)[m])
            table[name] = row
        out[key] = table
    return out


def format_report(result: dict) -> list[str]:
    """The report's lines as `dlpy essay cv/evaluate` print them."""
    lines = [f"  pooled: RMSE {result['rmse']:.3f}, r {result['pearson']:.3f}, QWK "
             f"{result['qwk']:.3f}"
             + (f", r within batches {result['within_batch_pearson']:.3f} "
                f"({result['batches']} batches)" if "within_batch_pearson" in result else "")]
    lines.append("  residual (prediction - score) by score band:")
    for name, row in result["bands"].items():
        if row["n"]:
            lines.append(f"    {name:>7s}: n {row['n']:6d}, mean {row['mean_residual']:+.2f}, "
                         f"RMSE {row['rmse']:.2f}")
    for key, title in (("per_category", "per category"), ("per_prompt", "per prompt")):
        lines.append(f"  {title}:")
        for name, row in result[key].items():
            within = f", within {row['within_batch_pearson']:.3f}" \
                if "within_batch_pearson" in row else ""
            lines.append(f"    {name}: n {row['n']}, RMSE {row['rmse']:.3f}, r "
                         f"{row['pearson']:.3f}{within}")
    return lines


# --------------------------------------------------------------------------- CV

def cross_validate(docs: Sequence[Doc], config: EssayConfig, folds: int = 5, vectors=None,
                   seed: int = 0, show_progress: bool = True,
                   log: Callable[[str], None] = print, groups: Sequence | None = None,
                   batches: Sequence | None = None,
                   map_fn: Callable[[Callable, Sequence[int]], Iterable | None] = map
                   ) -> dict | None:
    """k-fold CV: every essay predicted by a model that never saw it (its calibration fitted on
    that model's own validation split). With `groups` (e.g. evaluation_groups) every group stays
    in one fold and the validation splits hold out whole groups too; without, folds are
    stratified by prompt. `batches` only adds r within batches to the report. `fold_of` in the
    result gives each essay's fold.

    `map_fn(run_fold, range(folds))` runs the folds (each deterministic from the seeds, writing
    nothing); `distributed.map_gather` spreads them over MPI ranks. Where it returns None (the
    ranks other than 0) so does cross_validate."""
    from dlpy.essay.train import train

    docs = list(docs)
    if folds < 2 or folds > len(docs):
        raise ValueError(f"cross_validate: folds must lie in [2, {len(docs)}], got {folds}")
    prompts = [d.prompt for d in docs]
    if groups is None:
        fold_of = stratified_folds(prompts, folds, seed)
    else:
        groups = np.asarray(groups)
        fold_of = grouped_folds(prompts, groups, folds, seed)

    def run_fold(k: int) -> tuple[np.ndarray, np.ndarray, dict]:
        test_docs = [docs[i] for i in np.nonzero(fold_of == k)[0]]
        start = time.perf_counter()
        scorer = train([docs[i] for i in np.nonzero(fold_of != k)[0]], config, vectors=vectors,
                       show_progress=show_progress,
                       log=lambda s: log(f"[fold {k + 1}/{folds}] {s}"),
                       groups=None if groups is None else groups[fold_of != k])
        seconds = time.perf_counter() - start
        scores, _ = scorer.predict(test_docs)
        fold_report = report(scores, [d.score for d in test_docs], None, scorer.calibration)
        fold_report["seconds"] = seconds
        fold_report["seconds_per_epoch"] = scorer.info["seconds_per_epoch"]
        return scores, scorer.calibration(scores), fold_report

    results = map_fn(run_fold, range(folds))  # lazy with map: each fold's line as it ends
    if results is None:
        return None
    predictions = np.zeros(len(docs))
    calibrated = np.zeros(len(docs), dtype=np.int64)
    per_fold = []
    for k, (scores, integers, fold_report) in enumerate(results):
        test_index = np.nonzero(fold_of == k)[0]
        predictions[test_index] = scores
        calibrated[test_index] = integers
        per_fold.append(fold_report)
        log(f"[fold {k + 1}/{folds}] RMSE {fold_report['rmse']:.3f}, r "
            f"{fold_report['pearson']:.3f}, QWK {fold_report['qwk']:.3f}")
    pooled = full_report(predictions, docs, None if batches is None else np.asarray(batches),
                         calibrated)
    pooled["per_prompt_pearson"] = per_prompt_pearson(predictions, [d.score for d in docs],
                                                      prompts)
    pooled.update({"folds": per_fold, "config": config.to_dict(),
                   "seconds": float(sum(f["seconds"] for f in per_fold)),
                   "seconds_per_epoch": float(np.mean([f["seconds_per_epoch"]
                                                       for f in per_fold]))})
    pooled["predictions"] = predictions.tolist()
    pooled["fold_of"] = fold_of.tolist()
    pooled["ids"] = [d.id for d in docs]
    return pooled
