"""Learning-rate schedules: the report's step decay, cosine, warm-up, against PyTorch values."""

from pathlib import Path

import numpy as np
import pytest

from dlpy.nn import Parameter
from dlpy.optim import SGD, Constant, Cosine, StepDecay, Warmup

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "optim" / "optim.npz"


def test_step_decay_is_the_reports_formula():
    schedule = StepDecay(0.1)
    assert [schedule(e) for e in range(6)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert [schedule(e) for e in range(6)] == pytest.approx([0.1 / 10 ** (e // 2)
                                                             for e in range(6)])


def test_step_decay_and_cosine_match_torch():
    with np.load(FIXTURE) as data:
        step, cosine = data["schedule:step"], data["schedule:cosine"]
    np.testing.assert_allclose([StepDecay(0.1, 2, 10.0)(t) for t in range(10)], step, rtol=1e-12)
    np.testing.assert_allclose([Cosine(0.1, 10, min_lr=0.001)(t) for t in range(10)], cosine,
                               rtol=1e-9)


def test_cosine_with_warmup():
    schedule = Cosine(1.0, total_steps=6, warmup_steps=2)
    values = [schedule(t) for t in range(8)]
    assert values[:2] == pytest.approx([0.5, 1.0])  # linear warm-up
    assert values[2] == pytest.approx(1.0)  # the decay starts at base
    assert values[4] == pytest.approx(0.5)  # half-way through the 4 decay steps
    assert values[6:] == pytest.approx([0.0, 0.0])  # min_lr afterwards
    assert all(a >= b for a, b in zip(values[2:], values[3:]))


def test_warmup_then_constant_or_another_schedule():
    assert [Warmup(0.4, 4)(t) for t in range(6)] == pytest.approx(
        [0.1, 0.2, 0.3, 0.4, 0.4, 0.4])
    chained = Warmup(0.4, 2, after=StepDecay(0.4, step_size=1, factor=2.0))
    assert [chained(t) for t in range(5)] == pytest.approx([0.2, 0.4, 0.4, 0.2, 0.1])


def test_apply_sets_the_optimizer_lr():
    opt = SGD([Parameter(np.zeros(1))], lr=1.0)
    assert StepDecay(0.1).apply(opt, 3) == pytest.approx(0.01)
    assert opt.lr == pytest.approx(0.01)
    assert Constant(0.3).apply(opt, 7) == 0.3


@pytest.mark.parametrize("make, message", [
    (lambda: StepDecay(0.1, step_size=0), "step_size must be >= 1"),
    (lambda: Cosine(0.1, total_steps=5, warmup_steps=5), "warmup_steps < total_steps"),
    (lambda: Warmup(0.1, -1), "warmup_steps must be >= 0, got -1"),
    (lambda: StepDecay(0.1)(-1), "step must be >= 0, got -1"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
