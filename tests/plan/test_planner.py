"""The planner on the three synthetic samples: fingerprints and choices pinned, reasons printed, recipes valid."""

from __future__ import annotations

import json

import pytest

from kit.__main__ import main
from kit.plan import fingerprint, plan_recipe
from kit.recipes import check_recipe_file
from kit.sample import make_sample

SAMPLES = {  # competition -> make_sample options
    "hubmap-organ-segmentation": {"n": 6, "size": 256},
    "hubmap-kidney-segmentation": {"n": 4, "size": 480},
    "bkai-igh-neopolyp": {"n": 8, "size": 160},
}
#: what the planner chooses on each sample (t4x2, 9 hours); a change of rule or sample shows up here
PINNED = {
    "hubmap-organ-segmentation": {
        "tiling.reduce": 1.0, "tiling.sz": 256, "train.fold_group": "id", "train.loss": "0.5*bce+0.5*dice",
        "train.augment": "medium", "train.batch_size": 32, "train.epochs": 100, "folds": "all",
        "inference.margin": 32, "train.encoder": "resnet34"},
    "hubmap-kidney-segmentation": {
        "tiling.reduce": 3.0, "tiling.sz": 256, "train.fold_group": "patient_number", "train.loss": "0.5*bce+0.5*dice",
        "train.augment": "medium", "train.batch_size": 32, "train.epochs": 100, "folds": "all",
        "inference.margin": 32, "train.encoder": "resnet34"},
    "bkai-igh-neopolyp": {
        "tiling": None, "train.image_size": [128, 160], "train.fold_group": "id", "train.loss": "0.5*ce+0.5*dice",
        "train.augment": "light", "train.batch_size": 64, "train.epochs": 100, "folds": "all",
        "train.encoder": "resnet34"},
}


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("plan")
    for slug, options in SAMPLES.items():
        make_sample(slug, root / slug, seed=1, **options)
    return root


@pytest.mark.parametrize("slug", list(SAMPLES))
def test_plan_is_pinned_on_each_sample_and_prints_a_reason_per_choice(slug, samples, tmp_path, capsys):
    out = tmp_path / "recipe.json"
    assert main(["plan", "--competition", slug, "--data", str(samples / slug), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    recipe = json.loads(out.read_text())
    choices = {line.split(" = ")[0].strip(): line.split(" = ", 1)[1] for line in printed if " = " in line}
    assert set(choices) == set(PINNED[slug]) | {"inference.margin"} & set(choices)
    for key, value in PINNED[slug].items():
        shown, reason = choices[key].split("  # ", 1)
        assert json.loads(shown) == value, key
        assert len(reason) > 20 and recipe["reasons"][key] == reason
    assert check_recipe_file(out) == [slug]  # the planned recipe is a valid recipe
    assert recipe["fingerprint"]["sampled"] >= 3


def test_fingerprint_measures_the_sample(samples):
    fp = fingerprint("hubmap-organ-segmentation", samples / "hubmap-organ-segmentation")
    assert fp.pixel_size == {"median": 0.4, "min": 0.4, "max": 0.4} and fp.masks == "rle"
    assert 20 < fp.object_diameter["median"] < 80 and fp.objects_per_image >= 1
    assert 0 < fp.class_share["FTU"] < 0.5 and 0 < fp.tissue_share < 1
    polyp = fingerprint("bkai-igh-neopolyp", samples / "bkai-igh-neopolyp")
    assert set(polyp.class_share) == {"neoplastic", "non-neoplastic"} and polyp.masks == "files"


def test_gpu_and_hours_drive_batch_epochs_and_folds(samples):
    fp = fingerprint("hubmap-kidney-segmentation", samples / "hubmap-kidney-segmentation")
    big, _ = plan_recipe(fp, gpu="a100", hours=9)
    cpu, _ = plan_recipe(fp, gpu="cpu", hours=9)
    assert big["train"]["batch_size"] == 64 and cpu["train"]["batch_size"] == 8
    assert cpu["train"]["encoder_weights"] is None and big["train"]["encoder_weights"] == "imagenet"
    large = fp.__class__(**{**fp.to_dict(), "images": 200_000})
    short, choices = plan_recipe(large, gpu="t4", hours=0.5)
    assert short["folds"] == [0] and 3 <= short["train"]["epochs"] < 10
    assert "fold 0" in {c.key: c.reason for c in choices}["folds"]
    with pytest.raises(KeyError, match="t4x2"):
        plan_recipe(fp, gpu="tpu")


def test_plan_on_a_generic_profile_folder_groups_by_the_profile_column(tmp_path, capsys):
    from tests.test_profiles import CUSTOM, _write_folder

    data, profile = tmp_path / "data", tmp_path / "blobs.json"
    _write_folder(data)
    profile.write_text(json.dumps(CUSTOM))
    out = tmp_path / "recipe.json"
    assert main(["plan", "--competition", str(profile), "--data", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    recipe = json.loads(out.read_text())
    assert recipe["competition"] == str(profile) and recipe["tiling"] is None  # small mask files train whole
    assert recipe["train"]["fold_group"] == "video" and recipe["train"]["n_folds"] == 4  # 8 frames of 4 videos
    assert recipe["train"]["image_size"] == [64, 64] and recipe["train"]["loss"] == "0.5*bce+0.5*dice"
    assert 'train.fold_group = "video"  # 4 video values' in printed
    assert recipe["fingerprint"]["class_share"]["blob"] > 0 and recipe["fingerprint"]["objects_per_image"] == 1
    assert check_recipe_file(out) == [str(profile)]
