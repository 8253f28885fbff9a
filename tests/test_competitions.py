"""Competition profiles and Kaggle path resolution (simulated /kaggle/input)."""

from __future__ import annotations

import pandas as pd
import pytest

from kit.competitions import get_profile, list_competitions
from kit.paths import find_competition_data, find_dataset, find_file, kaggle_input_root, on_kaggle, working_root


def test_profiles_carry_rle_order_and_submission_format():
    assert list_competitions() == ["bkai-igh-neopolyp", "hubmap-kidney-segmentation", "hubmap-organ-segmentation"]
    assert get_profile("hubmap-kidney-segmentation").rle_order == "F"
    assert get_profile("hubmap-kidney-segmentation").submission_columns == ("id", "predicted")
    assert get_profile("hubmap-organ-segmentation").submission_columns == ("id", "rle")
    neo = get_profile("bkai-igh-neopolyp")
    assert neo.rle_order == "C" and neo.submission_columns == ("Id", "Expected") and neo.num_classes == 3
    assert get_profile("hubmap-organ-segmentation").pixel_size("prostate", "Hubmap") == 6.263
    with pytest.raises(KeyError, match="valid: bkai-igh-neopolyp, hubmap-kidney-segmentation"):
        get_profile("hubmap")
    with pytest.raises(KeyError, match="no pixel size for organ 'heart'"):
        get_profile("hubmap-organ-segmentation").pixel_size("heart")


def test_read_table_lists_missing_columns_and_names_the_file(tmp_path):
    profile = get_profile("hubmap-organ-segmentation")
    pd.DataFrame({"id": [1], "organ": ["kidney"], "rle": [""]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train.csv lacks columns \['data_source', 'img_height'"):
        profile.read_table(tmp_path)
    with pytest.raises(FileNotFoundError, match="test.csv"):
        profile.read_table(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        profile.read_table(tmp_path, "valid")


def test_ids_stay_strings_and_paths_follow_patterns(tmp_path):
    profile = get_profile("hubmap-organ-segmentation")
    pd.DataFrame({"id": ["0062"], "organ": ["kidney"], "data_source": ["HPA"], "img_height": [3],
                  "img_width": [3], "pixel_size": [0.4], "rle": ["1 2"]}).to_csv(tmp_path / "train.csv", index=False)
    assert profile.read_table(tmp_path)["id"].tolist() == ["0062"]
    assert profile.image_path(tmp_path, "0062") == tmp_path / "train_images" / "0062.tiff"
    assert get_profile("bkai-igh-neopolyp").mask_path(tmp_path, "ab") == tmp_path / "train_gt/train_gt/ab.jpeg"
    with pytest.raises(ValueError, match="stores masks as RLE"):
        profile.mask_path(tmp_path, "0062")


def test_neopolyp_table_comes_from_files_and_flags_missing_masks(tmp_path):
    profile = get_profile("bkai-igh-neopolyp")
    for folder in ("train/train", "train_gt/train_gt"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("a1", "b2"):
        (tmp_path / "train/train" / f"{name}.jpeg").write_bytes(b"x")
    (tmp_path / "train_gt/train_gt/a1.jpeg").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="1 training images have no mask, e.g. .*b2.jpeg"):
        profile.read_table(tmp_path)
    (tmp_path / "train_gt/train_gt/b2.jpeg").write_bytes(b"x")
    assert profile.read_table(tmp_path)["id"].tolist() == ["a1", "b2"]


def test_kaggle_mounts_new_then_legacy(tmp_path, monkeypatch):
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("KIT_KAGGLE_WORKING", str(tmp_path / "working"))
    assert kaggle_input_root() == tmp_path / "input" and working_root() == tmp_path / "working"
    assert not on_kaggle() or "KAGGLE_KERNEL_RUN_TYPE" in __import__("os").environ
    with pytest.raises(FileNotFoundError, match="(?s)competitions/bkai-igh-neopolyp.*input/bkai-igh-neopolyp"):
        find_competition_data("bkai-igh-neopolyp")
    legacy = tmp_path / "input" / "bkai-igh-neopolyp"
    legacy.mkdir(parents=True)
    assert find_competition_data("bkai-igh-neopolyp") == legacy
    new = tmp_path / "input" / "competitions" / "bkai-igh-neopolyp"
    new.mkdir(parents=True)
    assert find_competition_data("bkai-igh-neopolyp") == new
    assert on_kaggle()
    wheels = tmp_path / "input" / "datasets" / "someone" / "seg-kit-wheels"
    wheels.mkdir(parents=True)
    assert find_dataset("seg-kit-wheels") == wheels
    with pytest.raises(FileNotFoundError, match="dataset seg-kit-models not found"):
        find_dataset("seg-kit-models")
    (wheels / "ensemble.json").write_text("{}")
    assert find_file("ensemble.json") == wheels / "ensemble.json"
    with pytest.raises(FileNotFoundError, match="local data not here"):
        find_competition_data("bkai-igh-neopolyp", local=tmp_path / "local data not here")
