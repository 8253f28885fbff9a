"""Whole-image validation, per-image OOF, the one threshold rule and ignore_index, end to end on small samples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kit.__main__ import main
from kit.artifacts.oof import OofImage, combine_oof, read_oof, write_oof
from kit.competitions import get_profile
from kit.ensemble.build import build_ensemble
from kit.ensemble.estimate import grouped_standard_error
from kit.ensemble.search import dice_by_threshold
from kit.infer.merge import encode_probs
from kit.infer.merge import labels_from_probs as merged_labels
from kit.infer.postprocess import apply_threshold, clean_probs
from kit.infer.scoring import rle_dice
from kit.metrics import SegmentationMeter, dice_score, fraction_counts, labels_from_probs, threshold
from kit.models.checkpoint import load_checkpoint
from kit.rle import encode
from kit.sample import make_sample
from kit.tiling import TileSettings, tile_dataset
from kit.train import TrainConfig, Trainer
from kit.train.builders import build_datasets, fold_group_of, fold_items
from kit.train.oof import image_counts, score_images
from kit.train.validation import WholeImageValidator, working_targets
from tests.infer_helpers import sample_tiles
from tests.train.test_trainer import ClassBlobs

ORGANS = "hubmap-organ-segmentation"
TINY = {"decoder_channels": [16, 16, 8, 8, 8]}


def test_one_threshold_rule_pins_the_boundary_everywhere():
    levels = np.array([[126, 127, 128, 129]], np.uint8)  # 0.5 × 255 = 127.5: 128 is foreground, 127 is not
    expected = [[0, 0, 1, 1]]
    assert threshold(levels, 0.5).tolist() == expected
    assert apply_threshold(levels, 0.5).tolist() == expected  # post-processing
    assert merged_labels(levels[None].astype(np.float32), 0.5).tolist() == expected  # predictor bands (0–255 floats)
    assert labels_from_probs(torch.tensor(levels[None] / 255.0), 0.5).tolist() == expected  # trainer (floats)
    assert (clean_probs(levels, 0.5) > 127.5).astype(int).tolist() == expected
    assert encode_probs(levels[None], (1, 4), 1.0, 0.5, "C") == ["3 2"]  # the submission's RLE: pixels 3 and 4
    truth = np.full((1, 1, 4), 255, np.uint8)
    assert image_counts(OofImage("a", levels[None], truth), 0.5).tolist() == [[2.0, 0.0, 2.0]]  # OOF tables
    column = dice_by_threshold([levels / 255.0], [truth[0] / 255.0])[0, 127]  # ensemble search, t = 127.5 / 255
    assert column == pytest.approx(2 * 2 / (2 + 4))
    assert threshold(np.array([0.5, 0.5 + 1e-6]), 0.5).tolist() == [0, 1]  # floats: strictly greater


def test_ignore_index_is_skipped_by_the_metrics_and_training_runs_with_it(tmp_path):
    target = np.array([[1, 255], [0, 0]])
    meter = SegmentationMeter(2, ignore_index=255)
    meter.update(np.array([[1, 1], [0, 0]]), target)  # the prediction on the ignored pixel does not count
    assert meter.compute()["dice"] == 1.0
    assert dice_score(np.array([[1, 0], [0, 0]]), target, ignore_index=255) == 1.0
    assert dice_score(np.array([[1, 0], [0, 0]]), target) == pytest.approx(2 / 3)  # 255 read as foreground
    shares, valid = working_targets(target, (2, 2), classes=1, ignore_index=255)
    assert valid.tolist() == [[255, 0], [255, 255]]
    assert fraction_counts(np.array([[1, 1], [0, 0]]), shares, valid).tolist() == [[1.0, 0.0, 0.0]]
    config = TrainConfig(out_dir=str(tmp_path / "run"), tiles_dir=str(tmp_path), competition="bkai-igh-neopolyp",
                         num_classes=3, loss="ce+dice",
                         ignore_index=255, epochs=1, batch_size=2, max_lr=1e-2, channels_last=False,
                         validation="tiles")
    trainer = Trainer(config, model=nn.Conv2d(3, 3, 1), train_data=ClassBlobs(n=4), val_data=ClassBlobs(n=4))
    trainer.fit()
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert np.isfinite(log[["val_loss", "val_dice", "val_dice_neoplastic", "val_dice_non-neoplastic"]]).to_numpy().all()
    images = read_oof(trainer.save_oof())
    assert images[0].valid is not None and (images[0].valid[:, :2] == 0).all() and images[0].targets.shape[0] == 2


class Constant(nn.Module):
    """Logits ``value`` everywhere: a prediction known in advance (all foreground or none)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full((x.shape[0], 1, *x.shape[2:]), self.value) + 0 * self.dummy


@pytest.fixture(scope="module")
def organ_sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("organs")
    sample_tiles(ORGANS, root / "data", root / "tiles", TileSettings(sz=32, reduce=2.0), n=6, size=96, seed=2)
    return root


def organ_config(root, name: str, **changes) -> TrainConfig:
    values = dict(out_dir=str(root / name), competition=ORGANS, tiles_dir=str(root / "tiles"),
                  data_dir=str(root / "data"), n_folds=3, validation="images", batch_size=4, channels_last=False,
                  progress=False, loss="bce")
    return TrainConfig(**{**values, **changes})


def test_whole_image_validation_equals_scoring_hand_built_predictions(organ_sample):
    config = organ_config(organ_sample, "hand")
    _, val = build_datasets(config)
    validator = WholeImageValidator.create(config, val, torch.device("cpu"))
    assert sorted(im.id for im in validator.images) == sorted(set(val.items["id"]))
    masks = [im.read_mask() for im in validator.images]
    assert any(m.any() for m in masks)
    for value, hand_built in ((8.0, np.ones_like), (-8.0, np.zeros_like)):
        expected = np.mean([dice_score(hand_built(m), m) for m in masks])
        oof = validator.predict(Constant(value))
        assert all(im.scale == 2.0 and im.shape == m.shape for im, m in zip(oof, masks))
        # the area shares are stored as uint8 (share × 255): exact up to that rounding on boundary pixels
        assert score_images(oof)["dice"] == pytest.approx(expected, abs=1e-4)
        trainer = Trainer(config, model=Constant(value))  # the trainer's val_dice is that same score
        assert trainer.validate()["val_dice"] == pytest.approx(expected, abs=1e-4)


def test_val_every_and_the_window_cap(organ_sample):
    config = organ_config(organ_sample, "every", epochs=2, val_every=2, max_lr=1e-3)
    trainer = Trainer(config, model=nn.Conv2d(3, 1, 1))
    trainer.fit()
    log = pd.read_csv(organ_sample / "every" / "log.csv")
    assert log["val_dice"].isna().tolist() == [True, False] and log["val_images"].iloc[1] == 2
    assert load_checkpoint(organ_sample / "every" / "best.pt")["epoch"] == 2
    capped = WholeImageValidator.create(config.replace(val_max_windows=1), trainer.val_data, torch.device("cpu"))
    assert len(capped.subset) == 1 and len(capped.images) == 2  # at least one image; oof.npz keeps them all


SAMPLES = {  # competition: (sample options, training flags)
    "hubmap-organ-segmentation": ({"n": 8, "size": 160}, ["--loss", "bce"]),
    "hubmap-kidney-segmentation": ({"n": 4, "size": 480}, ["--loss", "bce"]),
    "bkai-igh-neopolyp": ({"n": 8, "size": 96}, ["--num-classes", "3", "--size", "64", "--loss", "ce"]),
}


@pytest.mark.parametrize("slug", list(SAMPLES))
def test_train_validates_whole_images_and_the_oof_score_matches_the_submission_path(slug, tmp_path):
    sample, flags = SAMPLES[slug]
    make_sample(slug, tmp_path / "data", seed=1, **sample)
    if slug != "bkai-igh-neopolyp":
        tile_dataset(slug, tmp_path / "data", tmp_path / "tiles", "train", TileSettings(sz=64, reduce=2.0),
                     progress=False)
        flags = flags + ["--tiles", str(tmp_path / "tiles")]
    run = tmp_path / "runs" / "r"
    assert main(["train", "--data", str(tmp_path / "data"), "--competition", slug, "--out", str(run), "--epochs", "2",
                 "--batch-size", "4", "--encoder", "tu-test_resnet.r160_in1k", "--encoder-weights", "none",
                 "--n-folds", "3", "--lr", "1e-2",
                 "--set", f"model_kwargs={json.dumps(TINY)}", "--set", "max_steps_per_epoch=3",
                 "--set", "validation=\"images\"", *flags]) == 0
    log = pd.read_csv(run / "log.csv")
    images = read_oof(run)
    assert (log["val_images"] == len(images)).all() and len(images) >= 1
    assert load_checkpoint(run / "best.pt")["epoch"] == int(log["val_dice"].idxmax()) + 1  # best.pt by whole images
    build = build_ensemble([run], tmp_path / "models" / "ensemble.json", tta="identity", step=0.5)  # as the OOF
    # the submission path on the held-out images: ensemble.json -> Predictor -> streamed RLE, scored against the
    # full-resolution truth; OOF maps, scales and thresholds must give notebook 02's number
    config = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    held_out = WholeImageValidator.create(config, build_datasets(config)[1], "cpu").images
    predictor = build.config.build_predictor(tmp_path / "models", device="cpu")
    profile, thresholds, rows = get_profile(slug), build.config.thresholds, []
    for image in held_out:
        mask = image.read_mask()
        level = thresholds.get(image.group, thresholds["default"])
        rles = predictor.predict_rle(image.path, level, profile.rle_order, image.pixel_size)
        rows += [rle_dice(rle, encode((mask == k + 1).astype(np.uint8), profile.rle_order))
                 for k, rle in enumerate(rles)]
    assert len(held_out) == len(images)
    assert build.config.oof_score == pytest.approx(np.mean(rows), abs=0.005)
    # beside it, its standard error over the fold groups of the held-out images (the recipe's grouping column)
    items, column = fold_items(config)[0], fold_group_of(config)
    keys = [dict(zip(items["id"].astype(str), items[column].astype(str)))[im.id] for im in held_out]
    per_image = np.asarray(rows).reshape(len(held_out), -1).mean(axis=1)
    assert build.config.oof_uncertainty == {"standard_error": pytest.approx(grouped_standard_error(per_image, keys),
                                                                            abs=0.005),
                                            "groups": len(set(keys)), "column": column}
    runs = pd.read_csv(tmp_path / "runs" / "runs.csv", dtype=str, keep_default_na=False)
    classes = profile.classes if len(profile.classes) > 1 else []  # per-class Dice beside the mean
    assert all(name in runs["val_dice_per_class"][0] for name in classes) and runs["val_tile_dice"][0]


def test_combine_oof_joins_folds_and_refuses_overlaps(tmp_path):
    def part(ids):
        return [OofImage(i, np.zeros((1, 2, 2), np.uint8), np.zeros((1, 2, 2), np.uint8)) for i in ids]

    joined = combine_oof([part(["b", "c"]), part(["a"])], names=["fold0", "fold1"])
    assert [im.id for im in joined] == ["a", "b", "c"]
    write_oof(tmp_path / "all.npz", joined)
    assert [im.id for im in read_oof(tmp_path / "all.npz")] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="'a' is in both fold0 and fold1"):
        combine_oof([part(["a"]), part(["a"])], names=["fold0", "fold1"])


def test_training_curves_show_per_class_dice_beside_the_mean_and_skip_unvalidated_epochs():
    from kit.viz import plot_history

    nan = float("nan")
    log = pd.DataFrame({"epoch": [1, 2, 3], "lr": [1e-3] * 3, "train_loss": [1.0, 0.8, 0.6],
                        "val_loss": [nan, 0.9, 0.7], "val_dice": [nan, 0.81, 0.82],
                        "val_dice_neoplastic": [nan, 0.62, 0.64], "val_dice_non-neoplastic": [nan, 1.0, 1.0],
                        "val_iou": [nan, 0.7, 0.71], "val_tile_dice": [nan, 0.9, 0.9], "val_images": [0, 5, 5],
                        "seconds": [1, 1, 1]})
    axis = plot_history(log).axes[1]
    labels = [line.get_label() for line in axis.lines]
    assert labels[:3] == ["Dice (whole images)", "Dice neoplastic", "Dice non-neoplastic"] and "tile Dice" in labels
    assert all(len(line.get_xdata()) == 2 for line in axis.lines if line.get_label().startswith("Dice"))
    assert "best Dice 0.820, epoch 3" in axis.get_title()


def test_tiles_without_their_source_images_fall_back_with_a_warning_or_fail_when_images_are_required(organ_sample):
    config = organ_config(organ_sample, "nodata", data_dir=str(organ_sample / "missing"), validation="auto")
    _, val = build_datasets(config)
    with pytest.warns(UserWarning, match="Validating on tiles instead"):
        assert WholeImageValidator.create(config, val, "cpu") is None
    with pytest.raises(FileNotFoundError, match="needs the source images and masks of the tiles .*missing"):
        WholeImageValidator.create(config.replace(validation="images"), val, "cpu")
