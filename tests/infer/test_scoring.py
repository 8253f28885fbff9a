"""Hold-out scorer: Dice from RLE runs against brute force, hand-checked submissions for each competition."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.infer_helpers import HUBMAP21, HUBMAP22, NEOPOLYP, tiny_sample
from kit.infer.scoring import labels_path, rle_dice, score_submission
from kit.rle import encode


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("score")
    return {slug: tiny_sample(slug, root / slug, n=8).out_dir for slug in (HUBMAP21, HUBMAP22, NEOPOLYP)}


def labels(data):
    return pd.read_csv(labels_path(data), dtype=str, keep_default_na=False)


def write(path, columns, rows):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False)
    return path


def test_rle_dice_matches_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(20):
        a, b = rng.random((2, 13, 17)) < rng.uniform(0.05, 0.6, (2, 1, 1))
        brute = 2 * (a & b).sum() / (a.sum() + b.sum())
        assert rle_dice(encode(a), encode(b)) == pytest.approx(brute)
    assert rle_dice("", "") == 1.0  # empty vs empty
    assert rle_dice("", "1 5") == 0.0 and rle_dice("1 5", None) == 0.0
    assert rle_dice("1 4", "3 4") == pytest.approx(0.5)  # pixels 1-4 vs 3-6: 2 shared of 4 + 4
    with pytest.raises(ValueError, match="odd number"):
        rle_dice("1 4 7", "")


@pytest.mark.parametrize("slug", [HUBMAP21, HUBMAP22, NEOPOLYP])
def test_the_labels_themselves_score_one(samples, tmp_path, slug):
    data, table = samples[slug], labels(samples[slug])
    rows = {HUBMAP21: lambda: table[["id", "encoding"]].values, HUBMAP22: lambda: table[["id", "rle"]].values,
            NEOPOLYP: lambda: table[["Id", "Expected"]].values}[slug]()
    columns = pd.read_csv(data / "sample_submission.csv").columns
    result = score_submission(slug, write(tmp_path / "s.csv", columns, rows), data)
    assert result["score"] == 1.0 and result["n_images"] == 2
    assert all(row["dice"] == 1.0 for row in result["per_image"])
    empty = score_submission(slug, write(tmp_path / "e.csv", columns, [(i, "") for i, _ in rows]), data)
    truth_empty = [r == "" for _, r in rows]
    assert empty["score"] == pytest.approx(np.mean(truth_empty))  # only empty truths score (1 each)


def test_hubmap2022_groups_and_a_hand_checked_mean(samples, tmp_path):
    data, table = samples[HUBMAP22], labels(samples[HUBMAP22])
    first, second = table["id"]
    rows = [(first, table["rle"][0]), (second, "")]  # perfect, then empty against a non-empty truth
    result = score_submission(HUBMAP22, write(tmp_path / "s.csv", ["id", "rle"], rows), data)
    assert result["score"] == pytest.approx(0.5)
    organs = dict(zip(table["id"], table["organ"]))
    assert result["by_group"][organs[first]] == 1.0 and result["by_group"][organs[second]] == 0.0


def test_neopolyp_rows_and_classes(samples, tmp_path):
    data, table = samples[NEOPOLYP], labels(samples[NEOPOLYP])
    rows = [(i, e if i.endswith("_0") else "") for i, e in zip(table["Id"], table["Expected"])]
    result = score_submission(NEOPOLYP, write(tmp_path / "s.csv", ["Id", "Expected"], rows), data)
    non_neo = [e for i, e in zip(table["Id"], table["Expected"]) if i.endswith("_1")]
    expected = (len(rows) / 2 + sum(e == "" for e in non_neo)) / len(rows)
    assert result["score"] == pytest.approx(expected)
    assert result["by_group"]["neoplastic"] == 1.0 and result["by_group"]["neoplastic (global)"] == 1.0


def test_custom_labels_with_an_empty_truth(tmp_path):
    labels_file = write(tmp_path / "labels.csv", ["id", "rle"], [("a", "1 4"), ("b", "")])
    sub = write(tmp_path / "s.csv", ["id", "rle"], [("a", "3 4"), ("b", "")])
    result = score_submission(HUBMAP22, sub, tmp_path, labels=labels_file)
    assert result["score"] == pytest.approx((0.5 + 1.0) / 2)


def test_mismatched_ids_and_broken_rle_are_named(tmp_path):
    labels_file = write(tmp_path / "labels.csv", ["id", "rle"], [("a", "1 4"), ("b", "")])
    with pytest.raises(ValueError, match="lacks 1 labelled ids, e.g. 'b'"):
        score_submission(HUBMAP22, write(tmp_path / "s.csv", ["id", "rle"], [("a", "")]), tmp_path, labels_file)
    with pytest.raises(ValueError, match="without labels"):
        score_submission(HUBMAP22, write(tmp_path / "s.csv", ["id", "rle"], [("a", ""), ("b", ""), ("c", "")]),
                         tmp_path, labels_file)
    with pytest.raises(ValueError, match="line 2"):
        score_submission(HUBMAP22, write(tmp_path / "s.csv", ["id", "rle"], [("a", "4 1 2 1"), ("b", "")]),
                         tmp_path, labels_file)
    with pytest.raises(FileNotFoundError, match="_scoring"):
        score_submission(HUBMAP22, tmp_path / "s.csv", tmp_path / "nowhere")
