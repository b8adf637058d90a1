"""dlpy.utils.benchmark: Timer's run counts with a fake clock, Measurement statistics and reprs
and Compare's tables against torch 2.13's for the same times
(tests/fixtures/benchmark_compare.json, made by make_benchmark_fixtures.py)."""

import json
import re
from pathlib import Path

import pytest

from dlpy.utils.benchmark import Compare, Measurement, TaskSpec, Timer

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "benchmark_compare.json").read_text())
TICK = 2.0 ** -10  # seconds a fake run takes: a power of two, so sums are exact


class FakeClock:
    """The time is the number of statement runs times TICK."""

    def __init__(self):
        self.runs = 0

    def run(self):
        self.runs += 1

    def __call__(self):
        return self.runs * TICK


def make_timer(**kwargs):
    clock = FakeClock()
    timer = Timer("run()", setup="import math", timer=clock, globals={"run": clock.run},
                  **kwargs)
    return timer, clock


def test_timeit_counts_runs():
    timer, clock = make_timer(label="fake")
    m = timer.timeit(number=300)
    assert clock.runs == 3 + 300  # warm-up: number // 100 runs
    assert m.number_per_run == 300 and m.raw_times == [300 * TICK]
    assert m.times == [TICK] and m.median == TICK and m.mean == TICK and m.iqr == 0
    assert m.stmt == "run()" and m.label == "fake" and m.num_threads == 1


def test_blocked_autorange_blocks_until_min_run_time():
    timer, clock = make_timer()
    calls = []
    m = timer.blocked_autorange(callback=lambda number, t: calls.append((number, t)),
                                min_run_time=0.25)
    # one run (TICK ~ 1 ms) is above min_run_time / 1000 and the fake clock has no
    # overhead: blocks of one run, until 0.25 s = 256 ticks are measured
    assert m.number_per_run == 1 and len(m.raw_times) == 256
    assert calls == [(1, TICK)] * 256
    assert clock.runs == 1 + 256  # the block-size probe, then the blocks
    assert m.median == TICK and not m.has_warnings


def test_adaptive_autorange_stops_on_a_small_iqr():
    timer, clock = make_timer()
    m = timer.adaptive_autorange(threshold=0.1, min_run_time=0.01)
    # blocks of 1 run; after 0.01 s (11 blocks of TICK) the IQR (0) is below 10%
    assert m.number_per_run == 1 and len(m.raw_times) == 11
    assert m.meets_confidence(0.1)


def test_timer_dedents_and_refuses_bad_arguments():
    timer = Timer("""
        x = 1
        y = x + 1
    """, setup="pass")
    assert timer._task_spec.stmt == "x = 1\ny = x + 1"
    assert Timer("dlpy.ones(2) + torch.ones(2)").timeit(3).number_per_run == 3
    with pytest.raises(ValueError, match="only a `str` stmt"):
        Timer(lambda: 1)
    with pytest.raises(ValueError, match="global_setup is C\\+\\+ only"):
        Timer("pass", global_setup="#include <x>")
    with pytest.raises(ValueError, match="num_threads must be a positive int, got 0"):
        Timer("pass", num_threads=0)
    with pytest.raises(NotImplementedError, match="blocked_autorange"):
        Timer("pass").repeat()


def fixture_measurements():
    return [Measurement(case["number_per_run"], case["raw_times"], TaskSpec(**case["spec"]))
            for case in FIXTURE["cases"]]


def test_measurement_statistics_and_repr_equal_torch():
    for m, ref in zip(fixture_measurements(), FIXTURE["stats"]):
        assert m.median == pytest.approx(ref["median"], rel=1e-12)
        assert m.mean == pytest.approx(ref["mean"], rel=1e-12)
        assert m.iqr == pytest.approx(ref["iqr"], rel=1e-9, abs=1e-18)
        assert m.significant_figures == ref["significant_figures"]
        assert m.has_warnings == ref["has_warnings"]
        first, rest = repr(m).split("\n", 1)
        assert re.fullmatch(r"<dlpy\.utils\.benchmark\.Measurement object at 0x[0-9a-f]+>",
                            first)
        assert rest == ref["repr"]
    merged = Measurement.merge(fixture_measurements()[:2] * 2)
    assert [m.number_per_run for m in merged] == [1, 1] and len(merged[0].times) == 18


@pytest.mark.parametrize("setting", ["plain", "trim", "colorize", "rowwise", "highlight"])
def test_compare_tables_equal_torch(setting, capsys):
    compare = Compare([m for m in fixture_measurements() if m.label is not None])
    if setting == "rowwise":
        compare.colorize(rowwise=True)
    elif setting == "trim":
        compare.trim_significant_figures()
    elif setting != "plain":
        getattr(compare, {"colorize": "colorize", "highlight": "highlight_warnings"}[setting])()
    assert str(compare) == FIXTURE["tables"][setting]
    compare.print()
    assert capsys.readouterr().out == FIXTURE["tables"][setting] + "\n"
    with pytest.raises(ValueError, match="Expected an instance of `Measurement`"):
        Compare([1.0])
