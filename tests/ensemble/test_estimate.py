"""kit.ensemble.estimate: the standard error of an OOF score over its fold groups."""

import numpy as np
import pytest

from kit.artifacts.oof import OofImage
from kit.ensemble.estimate import grouped_standard_error, oof_uncertainty


def test_grouped_standard_error_counts_a_group_together():
    values = np.array([0.2, 0.4, 0.9, 0.5])
    assert grouped_standard_error(values, ["a", "b", "c", "d"]) == pytest.approx(values.std(ddof=1) / 2)
    residual = values - values.mean()  # groups {0, 1} and {2, 3}: sqrt(2 * ((r0 + r1)² + (r2 + r3)²)) / 4
    expected = np.sqrt(2 * ((residual[0] + residual[1]) ** 2 + (residual[2] + residual[3]) ** 2)) / 4
    assert grouped_standard_error(values, ["a", "a", "b", "b"]) == pytest.approx(expected)
    assert grouped_standard_error(values, ["a"] * 4) == 0.0
    with pytest.raises(ValueError, match="4 values but 3 group keys"):
        grouped_standard_error(values, ["a", "b", "c"])


def test_the_spread_uses_the_fold_groups_training_recorded():
    probs, targets = np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8)
    images = [OofImage(f"im{k}", probs, targets, fold_group=group, fold_column="sequence")
              for k, group in enumerate(["s1", "s1", "s2"])]
    estimate = oof_uncertainty(images, [0.2, 0.5, 0.8])
    assert estimate.groups == 2 and estimate.column == "sequence"
    assert estimate.standard_error == pytest.approx(grouped_standard_error([0.2, 0.5, 0.8], ["s1", "s1", "s2"]))
    assert "over 2 sequence groups" in estimate.describe()
    unrecorded = [OofImage("tile-0", probs, targets), *images[1:]]  # tile entries and older files carry no group
    assert oof_uncertainty(unrecorded, [0.2, 0.5, 0.8]) is None
