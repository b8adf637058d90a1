"""Does the pretrained LM help EssayNet? Three arms on the folds `dlpy essay cv` uses (whole
collection batches and duplicate texts per fold, the same fold seed):

    none     the bundled model's settings: --epochs 3 --patience 1 --lr 5e-4
             --no-spacing-features, no deep part (--d-model 0)
    scratch  the same + the deep part trained from scratch (--d-model 32 --max-len 128: a
             1-layer transformer over Kiwi morphemes, embeddings learnt from zero)
    lm       the same as none + the pretrained LM's pooled features (--lm-features LM)

    OMP_NUM_THREADS=1 python benchmarks/essay_lm_ablation.py \
        --data ../shared/data/essays/aihub-train --category 글짓기 --category 대안제시 \
        --lm /tmp/lm-export --folds 5 --json ablation.json

Prints one row per arm (pooled r, r within batches, RMSE, QWK, mean residual of the essays
under 15, seconds) and a compact summary last. The LM features of every essay are computed
once before the arms (cached on disk: dlpy.lm.features) and their cost is printed. Accuracy
numbers, so nothing alternates; the seconds are wall time on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from dlpy.essay.config import EssayConfig
from dlpy.essay.cv import BANDS, collection_batches, cross_validate, evaluation_groups
from dlpy.io import atomic_write_bytes

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / "aihub-train"
BASE = EssayConfig(epochs=3, patience=1, lr=5e-4, spacing_features=False, d_model=0)
ARMS = ("none", "scratch", "lm")


def arm_config(arm: str, lm: str) -> EssayConfig:
    if arm == "none":
        return BASE
    if arm == "scratch":
        return replace(BASE, d_model=32, max_len=128)
    return replace(BASE, lm_features=lm)


def row(name: str, result: dict, seconds: float) -> str:
    low = result["bands"].get(f"<{BANDS[0][1]:g}", {})
    return (f"{name:8s} r {result['pearson']:.3f}  within {result['within_batch_pearson']:.3f}"
            f"  RMSE {result['rmse']:.3f}  QWK {result['qwk']:.3f}  <15 residual "
            f"{low.get('mean_residual', float('nan')):+.2f} (n {low.get('n', 0)})  "
            f"{seconds:.0f} s")


def load_docs(data: str, categories: list[str] | None):
    from dlpy.essay.data import read_essays
    from dlpy.essay.features import docs_from_records

    records = read_essays(data, categories=categories, skip_bad=True)
    if not records:
        raise ValueError(f"no essays in {data} for categories {categories}")
    docs = docs_from_records(records, "kiwi", show_progress=False, skip_bad=True)
    for doc in docs:
        doc.release(keep_morphemes=True)  # the scratch arm reads the morphemes
    return docs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--category", action="append", dest="categories",
                        help="keep only this category (repeatable), e.g. 글짓기")
    parser.add_argument("--lm", default="bundled",
                        help="the LM of the lm arm: 'bundled' or a folder (dlpy lm export)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold-seed", type=int, default=0)
    parser.add_argument("--batch-gap", type=int, default=50)
    parser.add_argument("--arms", default=",".join(ARMS),
                        help=f"comma-separated, of {', '.join(ARMS)} (default: all, in order)")
    parser.add_argument("--json", help="write every arm's CV report to this file")
    args = parser.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"--arms: unknown arm {unknown[0]!r}; expected some of {', '.join(ARMS)}")
    if not Path(args.data).exists():
        print(f"{args.data}: not found; this benchmark needs the AI Hub essays "
              "(../shared/data/essays)")
        return 1

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    start = time.perf_counter()
    docs = load_docs(args.data, args.categories)
    batches = collection_batches([d.id for d in docs], [d.prompt for d in docs], args.batch_gap)
    groups = evaluation_groups(docs, args.batch_gap)
    print(f"{len(docs)} essays ({', '.join(args.categories or ['all categories'])}), "
          f"{len(set(batches.tolist()))} collection batches, {len(set(groups.tolist()))} fold "
          f"groups, {args.folds} folds ({time.perf_counter() - start:.0f} s to read)", flush=True)
    reports: dict = {"essays": len(docs), "folds": args.folds, "categories": args.categories,
                     "lm": args.lm, "arms": {}}
    if "lm" in arms:
        from dlpy.essay.pretrained import load_lm
        from dlpy.lm.features import FeatureCache, cached_pooled_features
        from dlpy.text.cache import sha256_bytes

        lm = load_lm(args.lm)
        cache = FeatureCache(lm)
        texts = list(dict.fromkeys(d.text for d in docs))
        cached = sum(cache.get(sha256_bytes(t.encode("utf-8"))) is not None for t in texts)
        begin = time.perf_counter()
        cached_pooled_features(lm, texts, show_progress=True)
        seconds = time.perf_counter() - begin
        computed = len(texts) - cached
        per_thousand = 1000 * seconds / computed if computed else float("nan")
        print(f"LM features ({lm.weights_path}, step {lm.meta.get('step', '?')}): "
              f"{len(texts)} texts, {computed} computed, {cached} from the cache, "
              f"{seconds:.0f} s ({per_thousand:.0f} s per 1,000 essays computed)", flush=True)
        reports["lm_features"] = {"texts": len(texts), "computed": computed,
                                  "seconds": seconds, "step": lm.meta.get("step"),
                                  "tokens_seen": lm.meta.get("tokens_seen")}
    for arm in arms:
        config = arm_config(arm, args.lm)
        begin = time.perf_counter()
        result = cross_validate(docs, config, args.folds, seed=args.fold_seed,
                                show_progress=False, groups=groups, batches=batches,
                                log=lambda line, arm=arm: log(f"[{arm}] {line}"))
        seconds = time.perf_counter() - begin
        result["wall_seconds"] = seconds
        reports["arms"][arm] = result
        print(row(arm, result, seconds), flush=True)
        if args.json:  # after every arm: a cut run keeps what it finished
            atomic_write_bytes(args.json, json.dumps(reports, indent=1, ensure_ascii=False)
                               .encode("utf-8"))
    print("summary: " + "; ".join(
        f"{arm} r {r['pearson']:.3f} within {r['within_batch_pearson']:.3f} RMSE "
        f"{r['rmse']:.3f}" for arm, r in reports["arms"].items())
        + f" ({len(docs)} essays, {args.folds} batch-grouped folds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
