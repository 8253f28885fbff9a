"""Plots of notebooks 02/03: band-wise thumbnails of images + RLE masks, previews from a submission, curves, weights."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

import kit.viz_infer as viz_infer
from tests.infer_helpers import HUBMAP21, NEOPOLYP, tiny_sample
from kit.infer.scoring import labels_path
from kit.io import read_image
from kit.rle import decode


def test_thumbnail_reads_in_bands_and_matches_a_whole_resize(tmp_path, monkeypatch):
    data = tiny_sample(HUBMAP21, tmp_path / "data").out_dir
    labels = pd.read_csv(labels_path(data), dtype=str, keep_default_na=False)
    image_id, rle = labels["id"][0], labels["encoding"][0]
    path = data / "test" / f"{image_id}.tiff"
    whole = read_image(path)
    h, w = whole.shape[:2]
    image, mask = viz_infer.thumbnail(path, [rle], "F", max_side=64)
    assert max(image.shape[:2]) == 64 and image.shape[:2] == mask.shape
    full = decode(rle, (h, w), "F")
    expected = cv2.resize(full, (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_NEAREST)
    assert np.array_equal(mask, expected)
    monkeypatch.setattr(viz_infer, "_BAND_PIXELS", w * 10)  # ~3 thumbnail rows per band
    banded_image, banded_mask = viz_infer.thumbnail(path, [rle], "F", max_side=64)
    assert banded_image.shape == image.shape and np.abs(banded_image.astype(int) - image).mean() < 2
    assert (banded_mask != mask).mean() < 0.02  # band borders may round a row differently


def test_previews_overlays_curves_and_weights(tmp_path):
    data = tiny_sample(NEOPOLYP, tmp_path / "data").out_dir
    labels = pd.read_csv(labels_path(data), dtype=str, keep_default_na=False)
    submission = tmp_path / "submission.csv"
    labels.to_csv(submission, index=False)  # a perfect submission
    image_id = labels["Id"][0].rpartition("_")[0]
    (preview,) = viz_infer.prediction_previews(NEOPOLYP, data, submission, [image_id], max_side=48)
    assert np.array_equal(preview["prediction"], preview["truth"]) and set(np.unique(preview["truth"])) <= {0, 1, 2}
    assert len([ax for ax in viz_infer.show_test_overlays([preview]).axes if ax.images]) == 2
    with pytest.raises(KeyError, match="no row"):
        viz_infer.prediction_previews(NEOPOLYP, data, submission, ["unknown"])
    curves = pd.DataFrame({"threshold": [0.1, 0.5, 0.1, 0.5], "group": ["all", "all", "lung", "lung"],
                           "dice": [0.5, 0.7, 0.4, 0.8]})
    assert len(viz_infer.plot_threshold_curves(curves, {"default": 0.5, "lung": 0.5}).axes[0].lines) == 4
    runs = pd.DataFrame({"run": ["a", "b"], "weight": [0.3, 0.7], "family_oof_dice": [0.8, 0.85]})
    assert len(viz_infer.plot_weights(runs).axes[0].patches) == 2
