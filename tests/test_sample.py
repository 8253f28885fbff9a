"""Synthetic samples: exact competition layouts, decodable labels, hidden test labels, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio

from kit.__main__ import main
from kit.competitions import get_profile
from kit.io import open_image, read_image, read_neopolyp_mask, read_png_mask
from kit.rle import decode
from kit.sample import make_sample

SMALL = {"hubmap-kidney-segmentation": (3, (300, 420)), "hubmap-organ-segmentation": (5, 160),
         "bkai-igh-neopolyp": (5, 160)}


@pytest.fixture(scope="module", params=sorted(SMALL))
def sample(request, tmp_path_factory):
    slug = request.param
    n, size = SMALL[slug]
    out = tmp_path_factory.mktemp(slug)
    return slug, out, make_sample(slug, out, n=n, size=size, seed=7)


def test_layout_tables_and_images_agree(sample):
    slug, out, summary = sample
    profile = get_profile(slug)
    train = profile.read_table(out, "train")
    test = profile.read_table(out, "test")
    assert len(train) == summary.n_train and len(test) == summary.n_test
    for image_id in train[profile.id_column]:
        with open_image(profile.image_path(out, image_id, "train")) as reader:
            assert min(reader.shape) > 0
            if "img_height" in train:
                row = train[train[profile.id_column] == image_id].iloc[0]
                assert reader.shape == (row.img_height, row.img_width)
    for image_id in test[profile.id_column]:
        assert profile.image_path(out, image_id, "test").exists()
    submission = pd.read_csv(out / profile.sample_submission, dtype=str)
    assert tuple(submission.columns) == profile.submission_columns


def test_labels_decode_in_the_competition_order_inside_tissue(sample):
    slug, out, _ = sample
    profile = get_profile(slug)
    train = profile.read_table(out, "train")
    image_id = train[profile.id_column].iloc[0]
    image = read_image(profile.image_path(out, image_id, "train"))
    if profile.rle_column:
        mask = decode(train[profile.rle_column].iloc[0], image.shape[:2], profile.rle_order)
        glass = (image.min(axis=2) > 235) & (np.ptp(image, axis=2) < 8)
        assert mask.sum() > 0
        assert (mask.astype(bool) & glass).mean() < 0.001  # structures sit on tissue, not glass
        inside, around = image[mask > 0].mean(axis=0), image[(mask == 0) & ~glass].mean(axis=0)
        assert np.abs(inside - around).max() > 15  # structures stand out from tissue (learnable)
    else:
        classes = read_neopolyp_mask(profile.mask_path(out, image_id))
        assert classes.shape == image.shape[:2] and set(np.unique(classes)) - {0, 1, 2} == set()
        assert (classes > 0).any()


def test_test_labels_are_hidden_from_the_layout(sample):
    slug, out, summary = sample
    labels = pd.read_csv(out / "_scoring" / "test_labels.csv", dtype=str, keep_default_na=False)
    profile = get_profile(slug)
    if slug == "bkai-igh-neopolyp":
        assert len(labels) == 2 * summary.n_test and tuple(labels.columns) == ("Id", "Expected")
        gt = sorted((out / "_scoring" / "test_gt").glob("*.png"))
        assert len(gt) == summary.n_test and read_png_mask(gt[0]).max() <= 2
    else:
        assert len(labels) == summary.n_test and profile.rle_column in labels
    visible = {p.name for p in out.rglob("*.csv") if "_scoring" not in p.parts}
    assert "test_labels.csv" not in visible


def test_determinism_and_seed_dependence(tmp_path):
    a = make_sample("hubmap-organ-segmentation", tmp_path / "a", n=3, size=128, seed=1)
    b = make_sample("hubmap-organ-segmentation", tmp_path / "b", n=3, size=128, seed=1)
    c = make_sample("hubmap-organ-segmentation", tmp_path / "c", n=3, size=128, seed=2)
    assert (tmp_path / "a/train.csv").read_text() == (tmp_path / "b/train.csv").read_text()
    assert (tmp_path / "a/train.csv").read_text() != (tmp_path / "c/train.csv").read_text()
    for path in (tmp_path / "a/train_images").glob("*.tiff"):
        assert np.array_equal(read_image(path), read_image(tmp_path / "b/train_images" / path.name))
    assert a.n_train == b.n_train == c.n_train == 2


def test_2021_subdataset_slide_and_metadata(tmp_path):
    make_sample("hubmap-kidney-segmentation", tmp_path, n=2, size=(256, 384), seed=3)
    profile = get_profile("hubmap-kidney-segmentation")
    train = profile.read_table(tmp_path)
    with rasterio.open(profile.image_path(tmp_path, train.id.iloc[-1], "train")) as src:
        assert src.count == 1 and len(src.subdatasets) == 3
    info = pd.read_csv(tmp_path / profile.metadata_csv)
    assert {"image_file", "width_pixels", "height_pixels", "patient_number"} <= set(info.columns)


def test_cli_prints_an_honest_summary(tmp_path, capsys):
    assert main(["sample", "--competition", "bkai-igh-neopolyp", "--out", str(tmp_path), "--n", "3",
                 "--size", "96"]) == 0
    printed = capsys.readouterr().out
    assert "bkai-igh-neopolyp: 2 train + 1 test images" in printed and "_scoring" in printed
    with pytest.raises(ValueError, match="at least 2 images"):
        make_sample("bkai-igh-neopolyp", tmp_path / "x", n=1)
