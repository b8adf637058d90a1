import numpy as np
import pytest

from dlpy.essay.metrics import (
    Calibration,
    pearson,
    per_prompt_pearson,
    quadratic_weighted_kappa,
    report,
    rmse,
    within_group_pearson,
)


def test_rmse_and_pearson_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    # deviations (-1, 0, 1) and (-5/3, -2/3, 7/3): r = 4 / sqrt(2 * 78 / 9)
    assert pearson([1, 2, 3], [1, 2, 5]) == pytest.approx(4 / np.sqrt(2 * 78 / 9))
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0


def test_within_group_pearson_by_hand():
    # deviations from the group means: (-1, 0, 1, -1, 1) and (-1, 1, 0, -2, 2): r = 5 / sqrt(40)
    groups = ["a", "a", "a", "b", "b"]
    assert within_group_pearson([1, 2, 3, 10, 12], [1, 3, 2, 0, 4], groups) == pytest.approx(
        5 / np.sqrt(40))
    # perfect ranking inside each group, levels the wrong way round: pooled r is negative
    prediction, target = [1, 2, 11, 12], [21, 22, 1, 2]
    assert within_group_pearson(prediction, target, [0, 0, 1, 1]) == pytest.approx(1.0)
    assert pearson(prediction, target) < 0
    with pytest.raises(ValueError, match="2 group labels for 4 essays"):
        within_group_pearson(prediction, target, [0, 1])


def test_qwk_by_hand():
    # O has (0,0), (1,1), (2,1); W = (i-j)^2 / 4; sum W*O = 1/4, sum W*E = 3/4 -> 1 - 1/3
    assert quadratic_weighted_kappa([0, 1, 2], [0, 1, 1], 0, 2) == pytest.approx(2 / 3)
    assert quadratic_weighted_kappa([3, 5, 7], [3, 5, 7]) == pytest.approx(1.0)
    # a rater that reverses the order does worse than chance
    assert quadratic_weighted_kappa([0, 1, 2], [2, 1, 0], 0, 2) < 0


def test_qwk_rejects_non_integers_and_out_of_range():
    with pytest.raises(ValueError, match="integers"):
        quadratic_weighted_kappa([1.5, 2], [1, 2])
    with pytest.raises(ValueError, match=r"\[0, 30\]"):
        quadratic_weighted_kappa([31, 2], [1, 2])
    with pytest.raises(ValueError, match="same length"):
        rmse([1, 2], [1, 2, 3])


def test_calibration_restores_the_spread():
    predictions = [24.9, 25.0, 25.1, 25.2]
    targets = [20, 24, 26, 30]
    calibration = Calibration.fit(predictions, targets)
    np.testing.assert_array_equal(calibration(predictions), targets)
    assert np.all(np.round(predictions) == 25)  # plain rounding gives one class
    again = Calibration.from_dict(calibration.to_dict())
    np.testing.assert_array_equal(again(predictions), targets)
    # beyond the extreme thresholds a prediction keeps its own rounding where that lies further out
    np.testing.assert_array_equal(again([10.0, 24.0, 40.0]), [10, 20, 30])


def test_calibration_pools_rare_tail_scores():
    # 1,000 held-out essays: one scored 3, four 12, the rest 16-28; the model shrinks toward 24
    rng = np.random.default_rng(0)
    targets = np.concatenate([[3.0], [12.0] * 4, rng.integers(16, 29, 995).astype(float)])
    predictions = 24 + 0.3 * (targets - 24) + rng.normal(0, 0.5, targets.size)
    old_style = Calibration.fit(predictions, targets, min_share=0.0)
    pooled = Calibration.fit(predictions, targets)  # 0.5 %: the tail needs 5 essays
    low_raw = predictions.min() - 0.5  # under every held-out prediction, e.g. a raw 18.7
    assert old_style([low_raw])[0] == 3  # one essay's score given to every lower prediction
    assert pooled.low == 12 and pooled([low_raw])[0] == min(12, round(low_raw))
    assert pooled([9.4])[0] == 9  # its own rounding where that lies lower still
    grid = np.linspace(0, 35, 701)
    assert np.all(np.diff(pooled(grid)) >= 0)  # never out of order
    assert pooled(grid).min() == 0 and pooled(grid).max() == 30
    # away from the tails the histogram is still matched
    inner = (targets >= 16)
    assert abs(np.mean(pooled(predictions[inner]) - np.round(targets[inner]))) < 0.5
    with pytest.raises(ValueError, match="min_share"):
        Calibration.fit(predictions, targets, min_share=0.7)
    # a model file written before the pooling keeps its old mapping
    legacy = Calibration.from_dict({"thresholds": [15.5, 20.0], "low": 3})
    np.testing.assert_array_equal(legacy([1.0, 16.0, 25.0]), [3, 4, 5])


def test_report_and_per_prompt():
    out = report([1, 2, 3, 4], [1, 2, 4, 3], ["a", "a", "b", "b"])
    assert out["n"] == 4
    assert out["per_prompt"] == {"a": pytest.approx(1.0), "b": pytest.approx(-1.0)}
    assert per_prompt_pearson([1, 2], [2, 1], ["x", "x"]) == {"x": pytest.approx(-1.0)}
