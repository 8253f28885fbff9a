"""kit.ensemble.estimate: cross-fitted OOF Dice and the grouped standard error."""

import numpy as np
import pytest

from kit.ensemble.estimate import cross_fitted_dice, group_parts, grouped_standard_error, oof_estimate


def test_group_parts_keep_groups_whole_and_balance_the_images():
    keys = ["a"] * 4 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2 + ["e"]
    parts = group_parts(keys, parts=3)
    for key in set(keys):
        assert len({p for k, p in zip(keys, parts) if k == key}) == 1
    assert sorted(np.bincount(parts)) == [4, 4, 4]
    assert set(group_parts(["x", "y"], parts=5)) == {0, 1}


def test_cross_fitted_dice_scores_each_part_at_the_level_the_other_parts_choose():
    table = np.zeros((4, 255))
    table[:2, 10], table[:2, 200] = 0.9, 0.5  # part 0 is best at level 10, fair at 200
    table[2:, 10], table[2:, 200] = 0.1, 0.8  # part 1 is best at level 200, poor at 10
    parts = np.array([0, 0, 1, 1])
    in_sample = table.mean(axis=0).max()  # level 200: (0.5 + 0.8) / 2
    assert in_sample == pytest.approx(0.65)
    # part 0 at part 1's level 200 (0.5), part 1 at part 0's level 10 (0.1)
    assert cross_fitted_dice(table, parts) == pytest.approx(0.3)
    organs = np.array(["k", "s", "k", "s"])  # per organ: the other part's images of that organ choose
    assert cross_fitted_dice(table, parts, organs) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="two parts"):
        cross_fitted_dice(table, np.zeros(4))


def test_grouped_standard_error_counts_a_group_together():
    values = np.array([0.2, 0.4, 0.9, 0.5])
    assert grouped_standard_error(values, ["a", "b", "c", "d"]) == pytest.approx(values.std(ddof=1) / 2)
    residual = values - values.mean()  # groups {0, 1} and {2, 3}: sqrt(2 * (r0 + r1)² + (r2 + r3)²) / 4
    expected = np.sqrt(2 * ((residual[0] + residual[1]) ** 2 + (residual[2] + residual[3]) ** 2)) / 4
    assert grouped_standard_error(values, ["a", "a", "b", "b"]) == pytest.approx(expected)
    assert grouped_standard_error(values, ["a"] * 4) == 0.0


def test_oof_estimate_without_a_threshold_reports_the_error_only():
    estimate = oof_estimate(None, [0.2, 0.4, 0.9, 0.5], ["a", "a", "b", "b"], "sequence")
    assert estimate.cross_fitted is None and estimate.groups == 2 and estimate.column == "sequence"
    assert estimate.standard_error > 0
