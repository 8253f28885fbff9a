"""kit.ensemble.estimate: the standard error of an OOF score over its fold groups."""

import numpy as np
import pytest

from kit.ensemble.estimate import fold_group_keys, grouped_standard_error, oof_uncertainty


def test_grouped_standard_error_counts_a_group_together():
    values = np.array([0.2, 0.4, 0.9, 0.5])
    assert grouped_standard_error(values, ["a", "b", "c", "d"]) == pytest.approx(values.std(ddof=1) / 2)
    residual = values - values.mean()  # groups {0, 1} and {2, 3}: sqrt(2 * ((r0 + r1)² + (r2 + r3)²)) / 4
    expected = np.sqrt(2 * ((residual[0] + residual[1]) ** 2 + (residual[2] + residual[3]) ** 2)) / 4
    assert grouped_standard_error(values, ["a", "a", "b", "b"]) == pytest.approx(expected)
    assert grouped_standard_error(values, ["a"] * 4) == 0.0
    with pytest.raises(ValueError, match="4 values but 3 group keys"):
        grouped_standard_error(values, ["a", "b", "c"])


def test_groups_come_from_the_recipe_and_unreadable_data_gives_none(tmp_path):
    from kit.sample import make_sample

    data = tmp_path / "data"
    make_sample("bkai-igh-neopolyp", data, n=8, size=64, seed=0)
    config = {"competition": "bkai-igh-neopolyp", "data_dir": str(data), "fold_group": None}
    ids = [p.stem for p in sorted((data / "train_gt" / "train_gt").glob("*.jpeg"))][:3]
    column, groups = fold_group_keys(config, ids)
    assert column == "id" and list(groups) == ids  # NeoPolyp folds are grouped by image
    estimate = oof_uncertainty(config, ids, [0.2, 0.5, 0.8])
    assert estimate.groups == 3 and estimate.standard_error == pytest.approx(np.std([0.2, 0.5, 0.8], ddof=1) / 3 ** .5)
    assert "over 3 id groups" in estimate.describe()
    assert fold_group_keys(config, ["not-an-image"]) is None
    assert oof_uncertainty({**config, "data_dir": str(tmp_path / "missing")}, ids, [0.2, 0.5, 0.8]) is None
