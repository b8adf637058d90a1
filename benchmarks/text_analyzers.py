"""Analyser speed (essays/second) and agreement with the Kkma reference (token F1).

    python benchmarks/text_analyzers.py [--analyzer kiwi kkma] [--sample 400 40]

Needs ../shared/data/essays (aihub-writing-dev and kkma-reference-dev); says so when absent.
Analyses essay text only (no cache), on an evenly spaced sample of the dev essays. F1 is over
bags of morpheme forms per essay, summed over the sample (micro), sentence marks included.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from dlpy.essay.data import read_essays
from dlpy.text import get_analyzer, parse_reference_format, token_counts, token_f1

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "essays"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--analyzer", nargs="+", default=["kiwi", "kkma"])
    parser.add_argument("--sample", nargs="+", type=int, default=[400, 40],
                        help="essays per analyser (0: all)")
    args = parser.parse_args()
    essays_dir, reference_dir = args.data / "aihub-writing-dev", args.data / "kkma-reference-dev"
    if not essays_dir.is_dir() or not reference_dir.is_dir():
        print(f"no essay data at {args.data}: nothing to measure", file=sys.stderr)
        return 1
    essays = read_essays(essays_dir)
    for name, sample in zip(args.analyzer, args.sample + args.sample[-1:] * len(args.analyzer)):
        step = max(len(essays) // sample, 1) if sample else 1
        chosen = essays[::step][:sample or None]
        start = time.perf_counter()
        analyzer = get_analyzer(name)
        analyzer.analyze("워밍업 문장입니다.")  # model load and JIT warm-up are not timed
        load = time.perf_counter() - start
        predicted, reference = Counter(), Counter()
        exact = 0
        start = time.perf_counter()
        analyses = [analyzer.analyze(e.marked_text) for e in chosen]
        seconds = time.perf_counter() - start
        for essay, sentences in zip(chosen, analyses):
            ref_path = reference_dir / Path(essay.source).name
            ref = json.loads(ref_path.read_text(encoding="utf-8-sig"))["paragraph"]
            ref_counts = token_counts(parse_reference_format(ref)) + Counter({"#": 0})
            ref_counts["#"] += ref.count("@#@") + ref.startswith("#@")
            ours = token_counts(sentences)
            ours["#"] += len(sentences)
            predicted += ours
            reference += ref_counts
            exact += ours == ref_counts
        precision, recall, f1 = token_f1(predicted, reference)
        print(f"{name} ({analyzer.version}): {len(chosen)} essays in {seconds:.1f} s = "
              f"{len(chosen) / seconds:.2f} essays/s (model load {load:.1f} s); token F1 vs "
              f"Kkma reference {f1:.4f} (P {precision:.4f}, R {recall:.4f}); "
              f"identical bags {exact}/{len(chosen)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
