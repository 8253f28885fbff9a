"""Datasets and folds: grouping, stratification, erosion, resize/crop, seeded augmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from kit.data import SegmentationDataset, erode_mask, make_folds, to_tensor


def test_folds_keep_groups_together_and_balance_strata():
    rng = np.random.default_rng(0)
    organs = ["kidney", "lung", "spleen", "prostate", "largeintestine"]
    table = pd.DataFrame({
        "id": np.repeat([f"img{i}" for i in range(25)], rng.integers(3, 9, 25)),
    })
    table["organ"] = table["id"].map({f"img{i}": organs[i % 5] for i in range(25)})
    folds = make_folds(table, n_folds=5, group="id", stratify="organ", seed=1)
    table["fold"] = folds
    assert table.groupby("id")["fold"].nunique().max() == 1
    per = table.drop_duplicates("id").groupby(["organ", "fold"]).size().unstack(fill_value=0)
    assert (per.max(axis=1) - per.min(axis=1)).max() <= 1  # five images per organ spread one per fold
    assert set(folds) == set(range(5))
    assert np.array_equal(folds, make_folds(table, 5, "id", "organ", seed=1))


def test_folds_reject_too_few_groups_and_missing_columns():
    table = pd.DataFrame({"id": ["a", "a", "b"]})
    with pytest.raises(ValueError, match="2 distinct 'id' values cannot fill 5 folds"):
        make_folds(table, 5)
    with pytest.raises(ValueError, match="fold column 'patient'"):
        make_folds(table, 2, group="patient")


def test_erode_shrinks_each_class_separately():
    mask = np.zeros((20, 20), np.uint8)
    mask[2:12, 2:12] = 1
    mask[12:19, 5:15] = 2
    out = erode_mask(mask, 1)
    assert (out == 1).sum() == 8 * 8
    assert (out == 2).sum() == 5 * 8
    assert erode_mask(mask, 0) is mask


def _write_pairs(folder, n=4, size=(24, 32)):
    rows = []
    for i in range(n):
        image = np.full((*size, 3), 40 * i, np.uint8)
        mask = np.zeros(size, np.uint8)
        mask[4:10, 4 + i : 12 + i] = 1
        cv2.imwrite(str(folder / f"img{i}.png"), image)
        cv2.imwrite(str(folder / f"mask{i}.png"), mask)
        rows.append({"id": f"img{i}", "image_path": str(folder / f"img{i}.png"),
                     "mask_path": str(folder / f"mask{i}.png")})
    return pd.DataFrame(rows)


def read_gray(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_dataset_resizes_and_normalises(tmp_path):
    items = _write_pairs(tmp_path)
    ds = SegmentationDataset(items, read_gray, size=(16, 16), mean=(0, 0, 0), std=(1, 1, 1))
    image, mask = ds[1]
    assert image.shape == (3, 16, 16) and image.dtype == torch.float32
    assert torch.allclose(image, torch.full_like(image, 40 / 255))
    assert mask.shape == (16, 16) and mask.dtype == torch.int64 and set(mask.unique().tolist()) <= {0, 1}


def test_random_crop_is_seeded_per_epoch(tmp_path):
    items = _write_pairs(tmp_path, size=(40, 40))
    ds = SegmentationDataset(items, read_gray, size=(16, 16), mode="crop", seed=5)
    first = ds[0][1]
    assert torch.equal(first, ds[0][1])
    ds.set_epoch(1)
    crops = {tuple(ds[0][1].flatten().tolist()) for _ in range(2)}
    assert len(crops) == 1
    with pytest.raises(ValueError, match="mode must be 'resize' or 'crop'"):
        SegmentationDataset(items, read_gray, mode="tile")


def test_dataset_names_mismatched_mask(tmp_path):
    items = _write_pairs(tmp_path, n=1)
    cv2.imwrite(items.loc[0, "mask_path"], np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match="mask .*mask0.png is \\(5, 5\\)"):
        SegmentationDataset(items, read_gray)[0]
    with pytest.raises(ValueError, match="lacks columns \\['mask_path'\\]"):
        SegmentationDataset(items.drop(columns="mask_path"), read_gray)


def test_to_tensor_layout():
    image = np.zeros((2, 3, 3), np.uint8)
    image[..., 0] = 255
    x = to_tensor(image, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert x.shape == (3, 2, 3)
    assert torch.allclose(x[0], torch.ones(2, 3)) and torch.allclose(x[1], -torch.ones(2, 3))
