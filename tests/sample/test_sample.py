"""Synthetic samples: exact competition layouts, decodable labels, hidden test labels, determinism, re-runs."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
import rasterio

from kit.__main__ import main
from kit.competitions import get_profile
from kit.io import read_image, read_neopolyp_mask, read_png_mask
from kit.rle import decode, encode
from kit.sample import make_sample
from kit.sample.histology import STYLES, HistologySlide
from kit.sample.hubmap2021 import slide_rle

SMALL = {"hubmap-kidney-segmentation": (3, (256, 384)), "hubmap-organ-segmentation": (5, 256),
         "bkai-igh-neopolyp": (3, 256)}
SLUGS = sorted(SMALL)


def _make(slug, out, seed=7, **kw):
    n, size = SMALL[slug]
    return make_sample(slug, out, n=kw.pop("n", n), size=kw.pop("size", size), seed=seed, **kw)


@pytest.fixture(scope="module", params=SLUGS)
def sample(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    return request.param, out, _make(request.param, out)


def _image_dims(slug, out, table, split):
    """Expected (height, width) per id from the competition's own tables (None where it has none)."""
    profile = get_profile(slug)
    if slug == "hubmap-organ-segmentation":
        return {r.id: (r.img_height, r.img_width) for r in table.itertuples()}
    if slug == "hubmap-kidney-segmentation":
        info = pd.read_csv(out / profile.metadata_csv)
        return {f[: -len(".tiff")]: (h, w) for f, h, w in zip(info.image_file, info.height_pixels, info.width_pixels)}
    return dict.fromkeys(table[profile.id_column])


def _glass(image):
    return (image.min(axis=2) > 230) & (np.ptp(image, axis=2) < 12)


def _colour_overlap(a, b):
    """Overlap (0 disjoint .. 1 identical) of the colour histograms (8 levels per channel) of two pixel sets."""
    hist = [np.bincount((p // 32 * [64, 8, 1]).sum(axis=1), minlength=512) / len(p) for p in (a, b)]
    return float(np.minimum(*hist).sum())


def test_tables_images_and_submission_follow_the_layout(sample):
    slug, out, summary = sample
    profile = get_profile(slug)
    tables = {split: profile.read_table(out, split) for split in ("train", "test")}
    assert (len(tables["train"]), len(tables["test"])) == (summary.n_train, summary.n_test)
    for split, table in tables.items():
        dims = _image_dims(slug, out, table, split)
        for image_id in table[profile.id_column]:
            image = read_image(profile.image_path(out, image_id, split))
            assert image.dtype == np.uint8 and image.shape[2] == 3
            assert dims[image_id] in (None, image.shape[:2])
            if profile.train_mask_pattern and split == "train":
                assert read_image(profile.mask_path(out, image_id)).shape == image.shape
    submission = pd.read_csv(out / profile.sample_submission, dtype=str, keep_default_na=False)
    assert tuple(submission.columns) == profile.submission_columns
    assert (submission.iloc[:, 1] == "").all()
    test_ids = list(tables["test"][profile.id_column])
    expected = [f"{i}_{c}" for i in test_ids for c in (0, 1)] if slug == "bkai-igh-neopolyp" else test_ids
    assert sorted(submission.iloc[:, 0]) == sorted(expected)
    if slug == "hubmap-organ-segmentation":
        train, test = tables["train"], pd.read_csv(out / profile.test_csv)
        assert list(train.columns) == ["id", "organ", "data_source", "img_height", "img_width", "pixel_size",
                                       "tissue_thickness", "rle", "age", "sex"]
        assert list(test.columns) == list(train.columns[:7]) and set(train.data_source) == {"HPA"}
        hubmap = test[test.data_source == "Hubmap"]
        assert len(hubmap) and all(r.pixel_size == profile.pixel_size(r.organ, "Hubmap") for r in hubmap.itertuples())
    assert {p.as_posix() for p in out.rglob("*") if p.is_file()} >= {(out / f).as_posix() for f in summary.files}


def test_labels_decode_in_the_competition_order_on_tissue_and_stand_out(sample):
    """Right RLE order: the decoded structures sit on tissue and their colours differ from the tissue around
    them (a learnability proxy); masks decoded in the wrong order do not stand out."""
    slug, out, _ = sample
    profile = get_profile(slug)
    train = profile.read_table(out, "train")
    for row in train.itertuples():
        image = read_image(profile.image_path(out, getattr(row, profile.id_column), "train"))
        if profile.rle_column is None:
            classes = read_neopolyp_mask(profile.mask_path(out, row.id))
            masks = {"right": classes > 0}
        else:
            rle = getattr(row, profile.rle_column)
            masks = {o: decode(rle, image.shape[:2], o).astype(bool) for o in ("F", "C")
                     if image.shape[0] == image.shape[1] or o == profile.rle_order}
            masks["right"] = masks.pop(profile.rle_order)
        overlap = {}
        for name, mask in masks.items():
            around = cv2.dilate(mask.view(np.uint8), np.ones((15, 15), np.uint8)).astype(bool) & ~mask
            overlap[name] = _colour_overlap(image[mask].astype(int), image[around & ~_glass(image)].astype(int))
        right = masks["right"]
        assert right.mean() > 0.005
        assert (right & _glass(image)).mean() < 0.2 * right.mean()  # structures lie on tissue
        assert overlap["right"] < 0.5
        if len(overlap) > 1:
            assert overlap["right"] < min(v for k, v in overlap.items() if k != "right") - 0.2


def test_2021_polygons_match_the_rle_and_one_slide_keeps_rgb_in_subdatasets(tmp_path):
    _make("hubmap-kidney-segmentation", tmp_path, n=3)
    profile = get_profile("hubmap-kidney-segmentation")
    train = profile.read_table(tmp_path)
    counts = []
    for image_id, rle in zip(train.id, train.encoding):
        path = profile.image_path(tmp_path, image_id, "train")
        with rasterio.open(path) as src:
            counts.append(src.count)
            shape = (src.height, src.width)
            if src.count == 1:
                assert len(src.subdatasets) == 3
                with rasterio.open(src.subdatasets[1]) as green:
                    assert np.array_equal(green.read(1), read_image(path)[..., 1])
        drawn = np.zeros(shape, np.uint8)
        for feature in json.loads(path.with_suffix(".json").read_text()):
            ring = np.array(feature["geometry"]["coordinates"][0], np.int32)
            cv2.fillPoly(drawn, [ring], 1)
        mask = decode(rle, shape, "F")
        assert shape[0] != shape[1] and 2 * (drawn & mask).sum() / (drawn.sum() + mask.sum()) > 0.9
    assert sorted(counts) == [1, 3]
    info = pd.read_csv(tmp_path / profile.metadata_csv)
    assert list(info.columns[:4]) == ["image_file", "width_pixels", "height_pixels",
                                      "anatomical_structures_segmention_file"]
    assert len(info) == 3 and "bmi_kg/m^2" in info and (info.percent_cortex + info.percent_medulla == 100).all()


def test_test_labels_are_hidden_and_consistent(sample):
    slug, out, summary = sample
    profile = get_profile(slug)
    labels = pd.read_csv(out / "_scoring" / "test_labels.csv", dtype=str, keep_default_na=False)
    visible = [p for p in out.rglob("*") if "_scoring" not in p.parts]
    assert not any("test_labels" in p.name or p.suffix == ".png" for p in visible)
    if slug == "bkai-igh-neopolyp":
        assert tuple(labels.columns) == ("Id", "Expected") and len(labels) == 2 * summary.n_test
        for gt in (out / "_scoring" / "test_gt").glob("*.png"):
            classes = read_png_mask(gt)
            assert read_image(profile.image_path(out, gt.stem, "test")).shape[:2] == classes.shape
            for channel, label in ((0, 1), (1, 2)):
                rle = labels.set_index("Id").loc[f"{gt.stem}_{channel}", "Expected"]
                assert np.array_equal(decode(rle, classes.shape, "C"), (classes == label).view(np.uint8))
    else:
        train_columns = list(pd.read_csv(out / profile.train_csv, nrows=0).columns)
        assert list(labels.columns) == train_columns and len(labels) == summary.n_test
        assert (labels[profile.rle_column] != "").all()


@pytest.mark.parametrize("slug", SLUGS)
def test_same_seed_same_files_other_seed_other_files(slug, tmp_path):
    runs = {name: _make(slug, tmp_path / name, seed=seed) for name, seed in (("a", 3), ("b", 3), ("c", 4))}
    profile = get_profile(slug)
    a, b, c = (tmp_path / name for name in runs)
    assert runs["a"].files == runs["b"].files
    for name in runs["a"].files:
        if name.endswith((".csv", ".json")):
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
        else:
            assert np.array_equal(read_image(a / name), read_image(b / name)), name
    table_a, table_c = profile.read_table(a), profile.read_table(c)
    assert list(table_a[profile.id_column]) != list(table_c[profile.id_column])
    first_a = read_image(profile.image_path(a, table_a[profile.id_column].iloc[0]))
    first_c = read_image(profile.image_path(c, table_c[profile.id_column].iloc[0]))
    assert first_a.shape != first_c.shape or not np.array_equal(first_a, first_c)


def test_rerun_is_a_no_op_and_other_parameters_replace_the_sample(tmp_path):
    first = _make("bkai-igh-neopolyp", tmp_path, n=5)
    stamp = {f: (tmp_path / f).stat().st_mtime_ns for f in first.files}
    again = _make("bkai-igh-neopolyp", tmp_path, n=5)
    assert again.reused and "nothing rewritten" in str(again)
    assert {f: (tmp_path / f).stat().st_mtime_ns for f in first.files} == stamp
    smaller = _make("bkai-igh-neopolyp", tmp_path, n=3)
    on_disk = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert on_disk == sorted(smaller.files + ["_scoring/sample.json"])
    other = _make("hubmap-organ-segmentation", tmp_path, n=3, size=128)  # another competition: old one removed
    assert not (tmp_path / "train").exists() and not (tmp_path / "train_gt").exists()
    assert len(get_profile(other.slug).read_table(tmp_path)) == other.n_train == 2


def test_bad_requests_raise_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="at least 2 images"):
        make_sample("bkai-igh-neopolyp", tmp_path / "a", n=1)
    with pytest.raises(ValueError, match="unknown option"):
        make_sample("bkai-igh-neopolyp", tmp_path / "a", n=3, subdatasets=True)
    with pytest.raises(ValueError, match="size"):
        make_sample("hubmap-organ-segmentation", tmp_path / "a", n=3, size=(128, 256))
    with pytest.raises(KeyError, match="unknown competition"):
        make_sample("no-such-competition", tmp_path / "a")
    foreign = tmp_path / "b" / "train_images" / "1.tiff"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"not ours")
    with pytest.raises(ValueError, match="did not write"):
        make_sample("hubmap-organ-segmentation", tmp_path / "b", n=3, size=128)
    assert foreign.read_bytes() == b"not ours"


@pytest.mark.parametrize("style", sorted(STYLES))
def test_slides_render_the_same_in_bands_as_whole(style):
    slide = HistologySlide(300, 420, seed=5, style=style, scale=0.8 if style != "glomerulus" else 1.0)
    whole, mask = slide.render(0, 0, 300, 420), slide.mask(0, 0, 300, 420)
    rows = np.concatenate([slide.render(y, 0, min(128, 300 - y), 420) for y in range(0, 300, 128)])
    window = slide.render(37, 91, 200, 250)
    assert np.array_equal(whole, rows) and np.array_equal(whole[37:237, 91:341], window)
    assert slide_rle(slide, "F")[0] == encode(mask, "F") and slide_rle(slide, "C")[0] == encode(mask, "C")
    assert 0 < mask.mean() < 0.5 and not (mask.astype(bool) & ~slide.tissue(0, 0, 300, 420)).any()


def test_cli_prints_an_honest_summary(tmp_path, capsys):
    assert main(["sample", "--competition", "hubmap-kidney-segmentation", "--out", str(tmp_path), "--n", "2",
                 "--size", "128x192", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "hubmap-kidney-segmentation" in printed and "1 train + 1 test" in printed and "_scoring" in printed
    assert get_profile("hubmap-kidney-segmentation").read_table(tmp_path).shape[0] == 1
    assert main(["sample", "--competition", "bkai-igh-neopolyp", "--out", str(tmp_path / "x"), "--n", "1"]) == 2
    assert "at least 2 images" in capsys.readouterr().err
