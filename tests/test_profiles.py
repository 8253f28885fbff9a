"""Competition profile files: the built-ins as JSON, field checks, mask colours, a custom folder end to end."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from kit.__main__ import main
from kit.competitions import (
    PROFILES, REQUIRED_FIELDS, get_profile, list_competitions, load_profile, profile_from_dict, register_profile,
)
from kit.io import colour_mask_to_classes

CUSTOM = {
    "slug": "blobs", "title": "bright blobs", "classes": ["blob"], "mask_colours": {"blob": 255},
    "rle_order": "C", "id_column": "id", "submission_columns": ["id", "rle"],
    "train_image_pattern": "train/images/{id}.png", "train_mask_pattern": "train/masks/{id}.png",
    "test_image_pattern": "test/images/{id}.png", "metadata_csv": "groups.csv", "metadata_id_column": "frame",
    "group_column": "video",
}


def test_builtin_profiles_are_the_shipped_json_files():
    assert list_competitions() == ["bkai-igh-neopolyp", "hubmap-kidney-segmentation", "hubmap-organ-segmentation"]
    polyp = get_profile("bkai-igh-neopolyp")
    assert polyp.mask_reader == "neopolyp_hsv" and polyp.classes == ("neoplastic", "non-neoplastic")
    assert get_profile("hubmap-organ-segmentation").pixel_size("kidney", "Hubmap") == 0.5
    with pytest.raises(KeyError, match=r"unknown competition 'hubmap-organ'.*did you mean 'hubmap-organ-segmentation'"):
        get_profile("hubmap-organ")


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_a_profile_missing_a_field_is_rejected_naming_it(tmp_path, missing):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({k: v for k, v in CUSTOM.items() if k != missing}))
    with pytest.raises(ValueError, match=rf"profile.json lacks required field '{missing}'"):
        load_profile(path)


def test_profile_values_are_checked():
    with pytest.raises(ValueError, match="lacks field 'mask_colours' for class 'blob'"):
        profile_from_dict({**CUSTOM, "mask_colours": {}})
    with pytest.raises(ValueError, match="lacks field 'train_mask_pattern'.*'train_csv' \\+ 'rle_column'"):
        profile_from_dict({k: v for k, v in CUSTOM.items() if k != "train_mask_pattern"})
    with pytest.raises(ValueError, match="field 'rle_order' must be"):
        profile_from_dict({**CUSTOM, "rle_order": "row"})
    with pytest.raises(ValueError, match="unknown field 'mask_colors'"):
        profile_from_dict({**CUSTOM, "mask_colors": {}})
    with pytest.raises(ValueError, match='field \'test_image_pattern\' must be a path pattern holding "{id}"'):
        profile_from_dict({**CUSTOM, "test_image_pattern": "test/*.png"})
    with pytest.raises(ValueError, match="field 'metadata_csv' must be a path relative to the data folder"):
        profile_from_dict({**CUSTOM, "metadata_csv": "../outside.csv"})
    assert main(["predict", "--competition", "nope.json", "--data", "x"]) == 2  # one line, exit 2


def test_register_profile_from_python_refuses_a_taken_name():
    profile = register_profile({**CUSTOM, "slug": "blobs-registered"})
    try:
        assert get_profile("blobs-registered") is profile and "blobs-registered" in list_competitions()
        with pytest.raises(ValueError, match="registered twice"):
            register_profile(profile)
    finally:
        PROFILES._items.pop("blobs-registered")


def test_nearest_colour_masks_threshold_grey_at_127_and_match_rgb():
    grey = np.array([[0, 127, 128, 255]], dtype=np.uint8)
    assert colour_mask_to_classes(grey, [255]).tolist() == [[0, 0, 1, 1]]
    rgb = np.array([[[250, 10, 5], [3, 240, 20], [10, 10, 10]]], dtype=np.uint8)
    assert colour_mask_to_classes(rgb, [[255, 0, 0], [0, 255, 0]]).tolist() == [[1, 2, 0]]


def _write_folder(root, n_train=8, n_test=2, size=64):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            frame = f"{split[:2]}{i}"
            image = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
            mask = np.zeros((size, size), np.uint8)
            cv2.circle(mask, (int(rng.integers(16, 48)), int(rng.integers(16, 48))), 10, 250, -1)
            image[mask > 0] = 220
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / split / "images" / f"{frame}.png"), image)
            if split == "train":
                (root / split / "masks").mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(root / split / "masks" / f"{frame}.png"), mask)
    pd.DataFrame({"frame": [f"tr{i}" for i in range(n_train)], "video": [i // 2 for i in range(n_train)]}).to_csv(
        root / "groups.csv", index=False)
    pd.DataFrame({"id": [f"te{i}" for i in range(n_test)], "rle": ""}).to_csv(root / "sample_submission.csv",
                                                                              index=False)


def test_custom_profile_file_trains_and_predicts_end_to_end(tmp_path):
    from kit.ensemble.build import build_ensemble
    from kit.train import TrainConfig, run_training
    from kit.train.builders import build_datasets

    data, profile = tmp_path / "data", tmp_path / "blobs.json"
    _write_folder(data)
    profile.write_text(json.dumps(CUSTOM))
    config = TrainConfig(out_dir=str(tmp_path / "run"), competition=str(profile), data_dir=str(data), n_folds=2,
                         fold_stratify=None, loss="0.5*bce+0.5*dice", progress=False).smoke()
    train, val = build_datasets(config)
    videos = set(train.items["video"]), set(val.items["video"])
    assert not videos[0] & videos[1]  # folds grouped by the profile's group_column
    image, mask = val[0]
    assert set(np.unique(mask.numpy())) <= {0, 1}
    run_training(config)
    build_ensemble([tmp_path / "run"], tmp_path / "models" / "ensemble.json")
    assert json.loads((tmp_path / "models" / "ensemble.json").read_text())["competition"] == "blobs"
    out = tmp_path / "submission.csv"
    assert main(["predict", "--competition", str(profile), "--data", str(data), "--ensemble",
                 str(tmp_path / "models"), "--out", str(out), "--device", "cpu"]) == 0
    submission = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert submission.columns.tolist() == ["id", "rle"] and submission["id"].tolist() == ["te0", "te1"]
