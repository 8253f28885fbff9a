"""Test-split runner: each competition end to end, fallback first, budget, errors, Kaggle mounts, post-processing."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

import kit.infer.runner as runner
from tests.infer_helpers import HUBMAP21, HUBMAP22, NEOPOLYP, tiny_ensemble, tiny_sample
from kit.competitions import get_profile
from kit.infer.merge import encode_probs, upsample
from kit.infer.postprocess import clean_probs
from kit.infer.runner import Budget, predict_submission
from kit.infer.scoring import score_submission
from kit.rle import decode
from kit.submit import read_sample_ids, validate_submission


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("samples")
    return {slug: tiny_sample(slug, root / slug).out_dir for slug in (HUBMAP21, HUBMAP22, NEOPOLYP)}


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.mark.parametrize("slug, options", [
    (HUBMAP21, {}),  # streamed RLE from a BigTIFF slide at reduce 2
    (HUBMAP22, {"min_area": 30, "fill_holes": True, "thresholds": {"default": 0.5, "kidney": 0.4}}),
    (NEOPOLYP, {"tta": ["identity", "hflip"]}),  # argmax, Id,Expected rows <id>_0 / <id>_1
])
def test_each_competition_end_to_end(samples, tmp_path, slug, options):
    data = samples[slug]
    ensemble = tiny_ensemble(tmp_path / "models", slug, **options)
    out = tmp_path / "submission.csv"
    report = predict_submission(slug, ensemble, data, out, device="cpu", progress=False)
    profile = get_profile(slug)
    table = report.table()
    assert report.predicted == len(table) >= 1 and set(table["status"]) == {"predicted"}
    assert read(out)[profile.submission_columns[0]].tolist() == read_sample_ids(profile, data / "sample_submission.csv")
    sizes = dict(zip(table["image_id"], zip(table["height"], table["width"])))
    validate_submission(out, profile, data / "sample_submission.csv", sizes)
    assert table["foreground"].between(0, 1).all() and (table["seconds"] > 0).all()
    if slug == HUBMAP22:  # organ from test.csv picks its threshold
        expected = [0.4 if organ == "kidney" else 0.5 for organ in table["organ"]]
        assert table["threshold"].tolist() == expected and table["organ"].notna().all()
    if slug == NEOPOLYP:
        assert all(i.endswith(("_0", "_1")) for i in read(out)["Id"])
    assert 0.0 <= score_submission(slug, out, data)["score"] <= 1.0


def test_fallback_is_written_before_the_models_load(samples, tmp_path, monkeypatch):
    data = samples[HUBMAP22]

    def broken(*args, **kwargs):
        raise RuntimeError("checkpoint unreadable")

    monkeypatch.setattr(runner.EnsembleConfig, "build_predictor", broken)
    out = tmp_path / "submission.csv"
    with pytest.raises(RuntimeError, match="unreadable"):
        predict_submission(HUBMAP22, tiny_ensemble(tmp_path, HUBMAP22), data, out, progress=False)
    validate_submission(out, HUBMAP22, data / "sample_submission.csv")
    assert (read(out)["rle"] == "").all() and len(read(out)) >= 1


class FakeClock:
    """Time moves only when an image is predicted (100 s each), so the budget test needs no real timing."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_budget_stops_in_time_and_leaves_a_valid_file(tmp_path, monkeypatch):
    data = tiny_sample(HUBMAP22, tmp_path / "data", n=8).out_dir  # two test images
    clock = FakeClock()
    real = runner._predict_rows

    def slow(*args):
        clock.now += 100.0
        return real(*args)

    monkeypatch.setattr(runner, "_predict_rows", slow)
    ensemble = tiny_ensemble(tmp_path / "models", HUBMAP22)
    out = tmp_path / "submission.csv"
    # 150 s: the first image takes 100 s, so the second (same size, 1.5 x 100 s expected) would overrun
    report = predict_submission(HUBMAP22, ensemble, data, out, budget_seconds=150, progress=False, clock=clock)
    assert report.table()["status"].tolist() == ["predicted", "budget"]
    rows = read(out)
    assert rows["rle"].iloc[0] != "" and rows["rle"].iloc[1] == ""
    validate_submission(out, HUBMAP22, data / "sample_submission.csv")
    none = predict_submission(HUBMAP22, ensemble, data, out, budget_seconds=0, progress=False, clock=clock)
    assert none.predicted == 0 and (read(out)["rle"] == "").all()


def test_missing_image_raises_or_keeps_the_fallback(tmp_path):
    data = tiny_sample(HUBMAP22, tmp_path / "data", n=8).out_dir
    first, second = read(data / "sample_submission.csv")["id"]
    (data / "test_images" / f"{first}.tiff").unlink()
    ensemble = tiny_ensemble(tmp_path / "models", HUBMAP22)
    out = tmp_path / "submission.csv"
    with pytest.raises(FileNotFoundError, match=f"{first}.tiff"):
        predict_submission(HUBMAP22, ensemble, data, out, progress=False)
    assert (read(out)["rle"] == "").all()  # the fallback is in place
    report = predict_submission(HUBMAP22, ensemble, data, out, skip_errors=True, progress=False)
    assert report.table().set_index("image_id")["status"].to_dict() == {first: "error", second: "predicted"}
    validate_submission(out, HUBMAP22, data / "sample_submission.csv")


def test_ensemble_of_another_competition_is_refused(samples, tmp_path):
    with pytest.raises(ValueError, match="built for 'bkai-igh-neopolyp'"):
        predict_submission(HUBMAP22, tiny_ensemble(tmp_path, NEOPOLYP), samples[HUBMAP22], tmp_path / "s.csv",
                           progress=False)


def test_data_and_ensemble_found_on_simulated_kaggle_mounts(samples, tmp_path, monkeypatch):
    root = tmp_path / "input"
    shutil.copytree(samples[NEOPOLYP], root / "competitions" / NEOPOLYP)
    tiny_ensemble(root / "datasets" / "someone" / "my-models", NEOPOLYP)
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(root))
    monkeypatch.chdir(tmp_path)
    report = predict_submission(NEOPOLYP, out=tmp_path / "submission.csv", progress=False)
    assert report.data_dir == root / "competitions" / NEOPOLYP and report.predicted >= 1


def test_budget_estimate():
    clock = FakeClock()
    budget = Budget(100, reserve=10, clock=clock)
    assert budget.allows(10**9)  # nothing timed yet
    clock.now = 40
    budget.record(1000, 40)  # 0.04 s per pixel
    assert budget.allows(500) and not budget.allows(1000)  # 40 + 1.5 * 20 + 10 = 80; 40 + 60 + 10 > 100
    assert Budget(None).allows(10**12)


def test_clean_probs_survives_upsampling():
    probs = np.zeros((24, 24), np.uint8)
    probs[2:5, 2:5] = 200  # 9-pixel speck: dropped at min_area 12
    probs[10:20, 10:20] = 220
    probs[14:16, 14:16] = 40  # a hole inside the big square: filled
    cleaned = clean_probs(probs, 0.5, min_area=12, fill=True)
    scale = 4.0
    full = decode(encode_probs(cleaned[None], (96, 96), scale, 0.5, "F")[0], (96, 96), "F")
    assert full[4:24, 4:24].sum() == 0  # the speck is gone at full resolution
    assert full[50:70, 50:70].all()  # the hole is filled
    raw = (upsample(probs[None], (96, 96), scale)[0] > 127.5)
    changed = np.kron((cleaned != probs).astype(np.uint8), np.ones((4, 4), np.uint8))
    near = cv2.dilate(changed, np.ones((9, 9), np.uint8))  # within one working pixel of a changed one
    assert np.array_equal(full[near == 0], raw[near == 0])  # elsewhere the smooth borders are untouched
    assert clean_probs(probs, 0.5) is probs  # nothing to clean: the same map


def test_one_worker_per_device_writes_the_same_file(tmp_path):
    data = tiny_sample(HUBMAP22, tmp_path / "data", n=8).out_dir  # two test images
    ensemble = tiny_ensemble(tmp_path / "models", HUBMAP22)
    one = predict_submission(HUBMAP22, ensemble, data, tmp_path / "one.csv", device="cpu", progress=False)
    two = predict_submission(HUBMAP22, ensemble, data, tmp_path / "two.csv", device=["cpu", "cpu"], progress=False)
    assert (tmp_path / "one.csv").read_text() == (tmp_path / "two.csv").read_text()
    assert two.table()["image_id"].tolist() == one.table()["image_id"].tolist() and two.predicted == 2


def test_truncated_hidden_image_keeps_the_good_rows_and_is_reported(tmp_path):
    data = tiny_sample(HUBMAP22, tmp_path / "data", n=12).out_dir
    ids = read(data / "sample_submission.csv")["id"].tolist()
    assert len(ids) >= 3
    bad = data / "test_images" / f"{ids[1]}.tiff"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])  # cut off mid-file, as a broken upload would be
    ensemble = tiny_ensemble(tmp_path / "models", HUBMAP22, thresholds={"default": 0.0})  # every pixel foreground
    out = tmp_path / "submission.csv"
    with pytest.raises(Exception) as raised:  # without skip_errors the error propagates ...
        predict_submission(HUBMAP22, ensemble, data, out, progress=False, flush_seconds=1e9)
    assert not isinstance(raised.value, AssertionError)
    rows = read(out).set_index("id")["rle"]
    assert rows[ids[0]] != "" and rows[ids[1]] == ""  # ... after the finished image's rows reached the file
    report = predict_submission(HUBMAP22, ensemble, data, out, skip_errors=True, progress=False, flush_seconds=1e9)
    status = report.table().set_index("image_id")
    assert status["status"].to_dict() == {i: "error" if i == ids[1] else "predicted" for i in ids}
    assert status.loc[ids[1], "error"] and status.loc[ids[1], "error"] in str(report)
    assert f"failed {ids[1]}: " in str(report) and [r.image_id for r in report.failed] == [ids[1]]
    validate_submission(out, HUBMAP22, data / "sample_submission.csv")
    rows = read(out).set_index("id")["rle"]
    assert rows[ids[1]] == "" and all(rows[i] != "" for i in ids if i != ids[1])
    assert out.stat().st_mode & 0o777 == 0o644  # world-readable, not mkstemp's 0600


def test_neopolyp_without_sample_submission_takes_the_ids_from_the_test_images(tmp_path):
    from kit.submit import sample_from_test_images

    data = tiny_sample(NEOPOLYP, tmp_path / "data", n=8).out_dir
    given = read(data / "sample_submission.csv")["Id"].tolist()
    (data / "sample_submission.csv").unlink()  # the Kaggle data has test/test/*.jpeg and no sample submission
    images = sorted(p.stem for p in (data / "test" / "test").glob("*.jpeg"))
    expected = [f"{i}_{c}" for i in images for c in (0, 1)]
    assert sorted(expected) == sorted(given) and len(images) >= 2
    out = tmp_path / "submission.csv"
    report = predict_submission(NEOPOLYP, tiny_ensemble(tmp_path / "models", NEOPOLYP), data, out, progress=False)
    assert read(out)["Id"].tolist() == expected and report.predicted == len(images)
    assert "no sample_submission.csv: ids of the test images" in str(report)
    validate_submission(out, NEOPOLYP, sample_from_test_images(NEOPOLYP, data))
    with pytest.raises(FileNotFoundError, match="sample_submission.csv not found, and the test images cannot"):
        hubmap21 = tiny_sample(HUBMAP21, tmp_path / "h21").out_dir  # 2021: ids only in sample_submission
        (hubmap21 / "sample_submission.csv").unlink()
        predict_submission(HUBMAP21, tiny_ensemble(tmp_path / "m21", HUBMAP21), hubmap21, out, progress=False)
