"""Competition profiles: layouts, CSV checks, RLE order, classes, submission format, pixel sizes."""

from __future__ import annotations

import pandas as pd
import pytest

from kit.competitions import get_profile, list_competitions

KIDNEY, ORGANS, POLYP = "hubmap-kidney-segmentation", "hubmap-organ-segmentation", "bkai-igh-neopolyp"


def test_profiles_carry_rle_order_classes_and_submission_format():
    assert list_competitions() == [POLYP, KIDNEY, ORGANS]
    kidney, organs, polyp = get_profile(KIDNEY), get_profile(ORGANS), get_profile(POLYP)
    assert (kidney.rle_order, organs.rle_order, polyp.rle_order) == ("F", "F", "C")
    assert (kidney.rle_column, organs.rle_column, polyp.rle_column) == ("encoding", "rle", None)
    assert kidney.submission_columns == ("id", "predicted")
    assert organs.submission_columns == ("id", "rle")
    assert polyp.submission_columns == ("Id", "Expected")
    assert kidney.classes == ("glomerulus",) and organs.classes == ("FTU",)
    assert polyp.classes == ("neoplastic", "non-neoplastic") and polyp.num_classes == 3 and kidney.num_classes == 1
    assert kidney.metadata_csv == "HuBMAP-20-dataset_information.csv" and organs.metadata_csv is None
    assert {p.sample_submission for p in (kidney, organs, polyp)} == {"sample_submission.csv"}
    assert len({kidney, organs, polyp}) == 3  # frozen profiles stay hashable despite the pixel-size dict
    with pytest.raises(KeyError, match="valid: bkai-igh-neopolyp, hubmap-kidney-segmentation"):
        get_profile("hubmap")


def test_pixel_sizes_follow_the_data_page():
    organs = get_profile(ORGANS)
    assert organs.pixel_size("prostate", "Hubmap") == 6.263
    assert organs.pixel_size("largeintestine", "hubmap") == 0.2290  # data_source letter case does not matter
    assert all(organs.pixel_size(o, "HPA") == 0.4 for o in ("kidney", "largeintestine", "lung", "spleen", "prostate"))
    with pytest.raises(KeyError, match=r"no pixel size for organ 'heart' from 'HPA'.*'HPA': \['kidney'"):
        organs.pixel_size("heart")
    with pytest.raises(KeyError, match="known: none"):
        get_profile(KIDNEY).pixel_size("kidney")


def test_image_and_mask_paths_follow_patterns(tmp_path):
    assert get_profile(KIDNEY).image_path(tmp_path, "aaa0") == tmp_path / "train" / "aaa0.tiff"
    assert get_profile(KIDNEY).image_path(tmp_path, "aaa0", "test") == tmp_path / "test" / "aaa0.tiff"
    assert get_profile(ORGANS).image_path(tmp_path, "0062") == tmp_path / "train_images" / "0062.tiff"
    assert get_profile(ORGANS).image_path(tmp_path, "10078", "test") == tmp_path / "test_images" / "10078.tiff"
    polyp = get_profile(POLYP)
    assert polyp.image_path(tmp_path, "ab") == tmp_path / "train/train/ab.jpeg"
    assert polyp.image_path(tmp_path, "ab", "test") == tmp_path / "test/test/ab.jpeg"
    assert polyp.mask_path(tmp_path, "ab") == tmp_path / "train_gt/train_gt/ab.jpeg"
    with pytest.raises(ValueError, match="stores masks as RLE in train.csv"):
        get_profile(ORGANS).mask_path(tmp_path, "0062")
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'valid'"):
        polyp.image_path(tmp_path, "ab", "valid")


def _organ_row(image_id="0062", **extra):
    row = {"id": image_id, "organ": "kidney", "data_source": "HPA", "img_height": 3, "img_width": 3,
           "pixel_size": 0.4, "tissue_thickness": 4, "rle": "1 2"}
    return {**row, **extra}


def test_read_table_lists_missing_columns_and_names_the_file(tmp_path):
    profile = get_profile(ORGANS)
    pd.DataFrame({"id": [1], "organ": ["kidney"], "rle": [""]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train.csv lacks columns \['data_source', 'img_height'"):
        profile.read_table(tmp_path)
    with pytest.raises(FileNotFoundError, match="test.csv not found"):
        profile.read_table(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        profile.read_table(tmp_path, "valid")
    (tmp_path / "test.csv").write_bytes(b"")
    with pytest.raises(ValueError, match="test.csv is not a readable CSV"):
        profile.read_table(tmp_path, "test")


def test_ids_stay_strings_and_must_be_unique(tmp_path):
    profile = get_profile(ORGANS)
    pd.DataFrame([_organ_row("0062"), _organ_row("10")]).to_csv(tmp_path / "train.csv", index=False)
    table = profile.read_table(tmp_path)
    assert table["id"].tolist() == ["0062", "10"] and table["rle"].tolist() == ["1 2", "1 2"]
    pd.DataFrame([_organ_row("7"), _organ_row("7")]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train.csv: 'id' values must be unique; repeated: \['7'\]"):
        profile.read_table(tmp_path)
    pd.DataFrame([_organ_row("7"), _organ_row(None)]).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match=r"train.csv: empty 'id' in row\(s\) \[3\]"):
        profile.read_table(tmp_path)


def test_kidney_test_ids_come_from_the_sample_submission(tmp_path):
    profile = get_profile(KIDNEY)
    pd.DataFrame({"id": ["b9a3865fc", "0486052bb"], "predicted": ["", ""]}).to_csv(
        tmp_path / "sample_submission.csv", index=False)
    assert profile.read_table(tmp_path, "test")["id"].tolist() == ["b9a3865fc", "0486052bb"]
    pd.DataFrame({"id": ["b9a3865fc"], "encoding": ["1 5"]}).to_csv(tmp_path / "train.csv", index=False)
    assert profile.read_table(tmp_path).to_dict("records") == [{"id": "b9a3865fc", "encoding": "1 5"}]


def test_neopolyp_table_comes_from_files_and_flags_missing_masks(tmp_path):
    profile = get_profile(POLYP)
    with pytest.raises(FileNotFoundError, match="train/train not found"):
        profile.read_table(tmp_path)
    for folder in ("train/train", "train_gt/train_gt", "test/test"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("b2", "a1"):
        (tmp_path / "train/train" / f"{name}.jpeg").write_bytes(b"x")
    (tmp_path / "train_gt/train_gt/a1.jpeg").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="1 training images have no mask, e.g. .*b2.jpeg"):
        profile.read_table(tmp_path)
    (tmp_path / "train_gt/train_gt/b2.jpeg").write_bytes(b"x")
    table = profile.read_table(tmp_path)
    assert list(table.columns) == ["id", "image_path", "mask_path"] and table["id"].tolist() == ["a1", "b2"]
    assert table["mask_path"].tolist() == [str(profile.mask_path(tmp_path, i)) for i in ("a1", "b2")]
    with pytest.raises(FileNotFoundError, match="no .jpeg images in .*test/test"):
        profile.read_table(tmp_path, "test")
    (tmp_path / "test/test/c3.jpeg").write_bytes(b"x")
    test = profile.read_table(tmp_path, "test")
    assert list(test.columns) == ["id", "image_path"] and test["image_path"].tolist() == [
        str(tmp_path / "test/test/c3.jpeg")]
