"""Essay scorer speed: the data path (reading, analysis from the cache, features), one training
epoch, and scoring one essay with the bundled model.

    python benchmarks/essay_speed.py [--data ../shared/data/essays/aihub-writing-dev]

Uses the AI Hub dev essays when present (run `dlpy essay preprocess` first so analysis comes
from the cache); without them it says so and times the bundled examples only.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dlpy.essay.commands import BUNDLED_MODEL
from dlpy.essay.config import EssayConfig as TrainConfig
from dlpy.essay.features import doc_from_text
from dlpy.essay.scorer import load_scorer
from dlpy.essay.train import train
from dlpy.text import get_analyzer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays" / \
    "aihub-writing-dev"
EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "dlpy" / "essay" / "examples"


def time_scoring(repeats: int) -> None:
    scorer = load_scorer(BUNDLED_MODEL)
    analyzer = get_analyzer("kiwi")
    for path in sorted(EXAMPLES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        prompt = scorer.prompts[2]
        prompt_text = scorer.featurizer.prompt_texts.get(prompt, "")
        doc_from_text(text, prompt, prompt_text, analyzer=analyzer)  # warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            doc = doc_from_text(text, prompt, prompt_text, analyzer=analyzer)
            scorer.predict([doc])
            times.append(time.perf_counter() - start)
        print(f"score {path.name:12s} ({len(text):5d} chars): median "
              f"{1000 * np.median(times):6.1f} ms (analysis + features + model)")


def time_training(data: Path, epochs: int) -> None:
    from dlpy.essay.data import read_essays
    from dlpy.essay.features import docs_from_records

    start = time.perf_counter()
    records = read_essays(data)
    docs = docs_from_records(records, show_progress=False)
    print(f"read + analysis (cached) + spacing (cached): {len(docs)} essays in "
          f"{time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    [d.ngram_counts() for d in docs]
    [d.statistics() for d in docs]
    print(f"n-gram counts and statistics: {time.perf_counter() - start:.1f} s")
    scorer = train(docs, TrainConfig(epochs=epochs, patience=epochs), show_progress=False,
                   log=print)
    print(f"training: {scorer.info['seconds_per_epoch']:.1f} s per epoch, "
          f"{scorer.info['prepare_seconds']:.1f} s to fit the featurizer and encode")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    time_scoring(args.repeats)
    if args.data.exists():
        time_training(args.data, args.epochs)
    else:
        print(f"{args.data} not found: training time not measured (needs the AI Hub essays)")


if __name__ == "__main__":
    main()
