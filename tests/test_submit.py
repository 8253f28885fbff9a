"""Submission rows, writer and validator for the three competitions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kit.competitions import get_profile
from kit.submit import (
    mask_rows,
    read_sample_ids,
    rle_rows,
    row_ids,
    validate_submission,
    write_fallback_submission,
    write_submission,
)

# competitions.md §5.2 worked example: H=3, W=4
WORKED = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=np.uint8)
HUBMAP21, HUBMAP22, NEOPOLYP = "hubmap-kidney-segmentation", "hubmap-organ-segmentation", "bkai-igh-neopolyp"


def write_sample(path, profile, ids):
    id_column, rle_column = get_profile(profile).submission_columns
    pd.DataFrame({id_column: ids, rle_column: ""}).to_csv(path, index=False)
    return path


def test_rows_use_the_profile_pixel_order():
    assert mask_rows(HUBMAP21, "aa", WORKED) == [("aa", "3 5 12 1")]  # column-major
    assert mask_rows(HUBMAP22, "10078", WORKED) == [("10078", "3 5 12 1")]
    classes = WORKED.copy()
    classes[2, 3] = 2  # one non-neoplastic pixel
    rows = mask_rows(NEOPOLYP, "img", classes)
    assert rows == [("img_0", "2 2 6 1 9 2"), ("img_1", "12 1")]  # row-major, _0 neoplastic, _1 non-neoplastic
    assert row_ids(NEOPOLYP, "img") == ["img_0", "img_1"]
    assert rle_rows(NEOPOLYP, "img", ["1 2", ""]) == [("img_0", "1 2"), ("img_1", "")]
    with pytest.raises(ValueError, match="needs 2"):
        rle_rows(NEOPOLYP, "img", ["1 2"])


@pytest.mark.parametrize("profile", [HUBMAP21, HUBMAP22, NEOPOLYP])
def test_write_follows_sample_order_and_validates(tmp_path, profile):
    image_ids = ["b2", "a1", "c3"]
    ids = [i for image in image_ids for i in row_ids(profile, image)]
    sample = write_sample(tmp_path / "sample_submission.csv", profile, ids)
    rows = {}
    for image in reversed(image_ids):  # written in another order than the sample's
        rows.update(mask_rows(profile, image, WORKED))
    path = write_submission(rows, tmp_path / "submission.csv", profile, sample)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(table.columns) == list(get_profile(profile).submission_columns)
    assert table.iloc[:, 0].tolist() == ids
    validate_submission(path, profile, sample, dict.fromkeys(image_ids, WORKED.shape))
    fallback = write_fallback_submission(tmp_path / "fallback.csv", profile, sample)
    assert (pd.read_csv(fallback, dtype=str, keep_default_na=False).iloc[:, 1] == "").all()
    validate_submission(fallback, profile, sample, dict.fromkeys(image_ids, (1, 1)))


def test_writer_refuses_incomplete_rows(tmp_path):
    sample = write_sample(tmp_path / "s.csv", HUBMAP22, ["1", "2"])
    with pytest.raises(ValueError, match="missing ids \\['2'\\]"):
        write_submission({"1": ""}, tmp_path / "sub.csv", HUBMAP22, sample)
    with pytest.raises(ValueError, match="extra ids \\['3'\\]"):
        write_submission({"1": "", "2": "", "3": ""}, tmp_path / "sub.csv", HUBMAP22, sample)
    with pytest.raises(ValueError, match="appears twice"):
        write_submission([("1", ""), ("1", "1 2")], tmp_path / "sub.csv", HUBMAP22)
    assert not (tmp_path / "sub.csv").exists()
    with pytest.raises(ValueError, match="expects \\['id', 'rle'\\]"):
        read_sample_ids(HUBMAP22, write_sample(tmp_path / "s21.csv", HUBMAP21, ["1"]))


GOOD = "id,rle\n1,1 2 10 3\n2,\n3,5 1\n"
SIZES = {"1": (4, 4), "2": (4, 4), "3": (4, 4)}


@pytest.mark.parametrize(
    "content, message",
    [
        ("id,rle\n1,1 2 10 3\n2,\n", "id '3' of sample_submission is missing"),
        (GOOD + "4,\n", "id '4' is not in sample_submission"),
        ("id,rle\n2,\n1,1 2 10 3\n3,5 1\n", "line 2: id '2' is out of order"),
        ("id,predicted\n1,1 2 10 3\n2,\n3,5 1\n", "header 'id,predicted', expected 'id,rle'"),
        ("id,rle\n1,1 2 10\n2,\n3,5 1\n", "line 2 \\(id '1'\\): RLE has an odd number of tokens"),
        ("id,rle\n1,10 3 1 2\n2,\n3,5 1\n", "line 2 \\(id '1'\\): RLE runs are unsorted"),
        ("id,rle\n1,1 2 10 3\n2,15 3\n3,5 1\n", "line 3 \\(id '2'\\): RLE run ends at pixel 17, past the end"),
        ("id,rle\n1,1 2 10 x\n2,\n3,5 1\n", "line 2 \\(id '1'\\): RLE token 'x' is not an integer"),
        ("id,rle\n1,1 2.5\n2,\n3,5 1\n", "line 2 \\(id '1'\\): RLE token '2.5' is not an integer"),
        ("id,rle\n1,1 2 10 3\n1,\n3,5 1\n", "line 3: id '1' duplicates line 2"),
        ("id,rle\n1,0 2\n2,\n3,5 1\n", "starts must be >= 1"),
    ],
)
def test_validator_rejects_broken_submissions(tmp_path, content, message):
    sample = write_sample(tmp_path / "sample.csv", HUBMAP22, ["1", "2", "3"])
    path = tmp_path / "submission.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        validate_submission(path, HUBMAP22, sample, SIZES)


def test_validator_accepts_nan_as_empty(tmp_path):
    sample = write_sample(tmp_path / "sample.csv", HUBMAP22, ["1", "2", "3"])
    path = tmp_path / "submission.csv"
    path.write_text("id,rle\n1,1 2 10 3\n2,NaN\n3,nan\n")
    validate_submission(path, HUBMAP22, sample, SIZES)
    path.write_text(GOOD)
    validate_submission(path, HUBMAP22)  # without sample or sizes: format checks only
    with pytest.raises(ValueError, match="no image size for id '3'"):
        validate_submission(path, HUBMAP22, sample, {"1": (4, 4), "2": (4, 4)})
    with pytest.raises(FileNotFoundError):
        validate_submission(tmp_path / "none.csv", HUBMAP22)


def test_validator_neopolyp_ids_and_bounds(tmp_path):
    sample = write_sample(tmp_path / "sample.csv", NEOPOLYP, ["a_0", "a_1"])
    path = tmp_path / "submission.csv"
    path.write_text("Id,Expected\na_0,1 12\na_1,12 2\n")
    with pytest.raises(ValueError, match="line 3 \\(id 'a_1'\\): RLE run ends at pixel 13"):
        validate_submission(path, NEOPOLYP, sample, {"a": (3, 4)})
    path.write_text("Id,Expected\na_0,1 12\na_1,\n")
    validate_submission(path, NEOPOLYP, sample, {"a": (3, 4)})
    path.write_text("Id,Expected\na_0,\na_2,\n")
    with pytest.raises(ValueError, match="<image id>_<class 0..1>"):
        validate_submission(path, NEOPOLYP, None, {"a": (3, 4)})
