"""Trainer: exact resume, atomic checkpoints, NaN stop, schedule, early stopping, continue-training, runs log."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from kit.models.checkpoint import load_checkpoint
from kit.results import append_run, results_table
from kit.artifacts.oof import read_oof
from kit.train import TrainConfig, Trainer, learning_rate


class BlobDataset(Dataset):
    """Tiny images whose mask is where channel 0 is bright; ``poison_epoch`` makes that epoch's images NaN."""

    def __init__(self, n: int = 12, size: int = 16, seed: int = 0, poison_epoch: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.images = rng.normal(size=(n, 3, size, size)).astype(np.float32)
        self.masks = (self.images[:, 0] > 0.3).astype(np.int64)
        self.epoch = 0
        self.poison_epoch = poison_epoch
        self.items = pd.DataFrame({"id": [f"img{i // 3}" for i in range(n)], "tile": [f"t{i}" for i in range(n)]})

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = torch.from_numpy(self.images[i])
        if self.epoch == self.poison_epoch:
            image = image * float("nan")
        return image, torch.from_numpy(self.masks[i])


class ClassBlobs(Dataset):
    """64×64 images with a 3-class mask (0 background, 1 and 2 blobs) and a band of ignored (255) pixels."""

    def __init__(self, n: int = 2) -> None:
        rng = np.random.default_rng(4)
        self.images = rng.normal(size=(n, 3, 64, 64)).astype(np.float32)
        self.masks = np.zeros((n, 64, 64), dtype=np.int64)
        self.masks[:, 8:30, 8:30], self.masks[:, 36:60, 30:56], self.masks[:, :, :4] = 1, 2, 255
        self.items = pd.DataFrame({"id": [f"i{k}" for k in range(n)]})

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]), torch.from_numpy(self.masks[i])


def tiny_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout2d(0.2), nn.Conv2d(8, 1, 1)
    )


def config(tmp_path, name: str, **changes) -> TrainConfig:
    values = dict(out_dir=str(tmp_path / name), tiles_dir=str(tmp_path), epochs=2, batch_size=4, max_lr=1e-2,
                  min_lr=1e-5, loss="bce", channels_last=False, seed=3, validation="tiles")
    values.update(changes)
    return TrainConfig(**values)


def make_trainer(cfg: TrainConfig, poison_epoch: int | None = None) -> Trainer:
    return Trainer(cfg, model=tiny_model(), train_data=BlobDataset(poison_epoch=poison_epoch),
                   val_data=BlobDataset(n=6, seed=1))


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight = make_trainer(config(tmp_path, "straight"))
    straight.fit()
    first = make_trainer(config(tmp_path, "resumed"))
    first.fit(stop_after=1)
    assert load_checkpoint(tmp_path / "resumed" / "last.pt")["epoch"] == 1
    second = make_trainer(config(tmp_path, "resumed"))  # a fresh process would build a fresh trainer
    second.fit()
    assert second.epoch == straight.epoch == 2
    a, b = weights(straight), weights(second)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["val_dice"] for r in straight.history] == [r["val_dice"] for r in second.history]
    log = pd.read_csv(tmp_path / "resumed" / "log.csv")
    assert list(log["epoch"]) == [1, 2]


def test_interrupted_checkpoint_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    trainer = make_trainer(config(tmp_path, "run", epochs=3))
    trainer.fit(stop_after=1)
    real_save = torch.save

    def crash_midway(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    monkeypatch.setattr(torch, "save", real_save)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1
    leftovers = [p.name for p in (tmp_path / "run").iterdir() if ".tmp" in p.name]
    assert leftovers == []


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tmp_path):
    trainer = make_trainer(config(tmp_path, "run", epochs=3), poison_epoch=1)
    with pytest.raises(FloatingPointError, match=r"epoch 2.*last good checkpoint"):
        trainer.fit()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1


def test_cosine_schedule_runs_from_max_to_min_with_warmup():
    total = 100
    lrs = [learning_rate(s, total, 1e-4, 1e-7, warmup_steps=10) for s in range(total)]
    assert lrs[0] == pytest.approx(1e-7 + (1e-4 - 1e-7) / 10)
    assert lrs[9] == pytest.approx(1e-4)
    assert lrs[-1] == pytest.approx(1e-7)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    middle = learning_rate(10 + 89 // 2, total, 1e-4, 1e-7, warmup_steps=10)
    assert middle == pytest.approx((1e-4 + 1e-7) / 2, rel=0.05)
    with pytest.raises(ValueError, match="valid: cosine"):
        learning_rate(0, 10, 1e-4, schedule="linear-ish")


def test_trainer_applies_the_schedule_to_the_optimizer(tmp_path):
    trainer = make_trainer(config(tmp_path, "run", epochs=2, max_lr=1e-4, min_lr=1e-7))
    trainer.fit()
    assert trainer.step == trainer.total_steps == 2 * math.ceil(12 / 4)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-7)


def test_early_stopping_stops_after_patience(tmp_path):
    cfg = config(tmp_path, "run", epochs=10, max_lr=0.0, min_lr=0.0, early_stopping=2)
    torch.manual_seed(0)
    trainer = Trainer(cfg, model=nn.Conv2d(3, 1, 3, padding=1), train_data=BlobDataset(), val_data=BlobDataset(n=6))
    summary = trainer.fit()  # lr 0 and no batch-norm: validation never improves after the first epoch
    assert summary["epochs"] == 3
    assert summary["best_epoch"] == 1


def test_continue_training_from_a_checkpoint_with_a_new_recipe(tmp_path):
    first = make_trainer(config(tmp_path, "ce", loss="bce"))
    first.fit()
    cfg = config(tmp_path, "dice", loss="dice", init_from=str(tmp_path / "ce" / "best.pt"), epochs=1, max_lr=0.0,
                 min_lr=0.0)
    second = Trainer(cfg, model=tiny_model(seed=99), train_data=BlobDataset(), val_data=BlobDataset(n=6, seed=1))
    best = load_checkpoint(tmp_path / "ce" / "best.pt")["model"]
    for key, value in second.model.state_dict().items():
        assert torch.equal(value, best[key]), key
    bad = config(tmp_path, "bad", init_from=str(tmp_path / "ce" / "best.pt"))
    with pytest.raises(ValueError, match="do not fit"):
        Trainer(bad, model=nn.Conv2d(3, 1, 1), train_data=BlobDataset(), val_data=BlobDataset(n=6))


def test_oof_file_holds_probabilities_targets_and_ids(tmp_path):
    trainer = make_trainer(config(tmp_path, "run"))
    trainer.fit()
    images = read_oof(trainer.save_oof())
    assert [im.id for im in images] == [f"t{i}" for i in range(6)]
    assert all(im.probs.shape == (1, 16, 16) and im.probs.dtype == np.uint8 for im in images)
    truth = BlobDataset(n=6, seed=1).masks
    assert all(np.array_equal(im.targets[0], truth[i] * 255) for i, im in enumerate(images))


def test_config_rejects_unknown_keys_and_options(tmp_path):
    with pytest.raises(KeyError, match="unknown TrainConfig keys \\['epochz'\\]"):
        TrainConfig.from_dict({"tiles_dir": "x", "epochz": 3})
    with pytest.raises(ValueError, match="optimizer 'rmsprop' unknown; valid: adam, adamw, sgd"):
        TrainConfig(tiles_dir="x", optimizer="rmsprop")
    with pytest.raises(ValueError, match="needs tiles_dir"):
        TrainConfig()


def test_runs_log_appends_and_prints_a_markdown_table(tmp_path):
    runs = tmp_path / "runs.csv"
    append_run(runs, {"run": "a", "architecture": "pranet", "loss": "ce", "image_size": "480x640",
                      "augmentation": "light", "epochs": 3, "val_dice": 0.8812, "val_iou": 0.8, "notes": "first map"})
    append_run(runs, {"run": "b", "architecture": "unet", "encoder": "resnet34", "loss": "0.4*ce+0.6*dice",
                      "image_size": "512x512", "augmentation": "none", "epochs": 1, "val_dice": 0.5, "val_iou": 0.4})
    append_run(runs, {"run": "a", "architecture": "pranet", "loss": "ce", "image_size": "480x640",
                      "augmentation": "light", "epochs": 4, "val_dice": 0.9, "val_iou": 0.82, "notes": "rerun"})
    table = results_table(runs, sort_by="val_dice").splitlines()
    assert table[0].startswith("Architecture | Encoder | Loss")
    assert len(table) == 4
    assert table[2] == "pranet | - | ce | 480x640 | light | 4 | 0.900 | - | 0.820 | rerun"
    assert table[3].startswith("unet | resnet34 | 0.4*ce+0.6*dice | 512x512")
    with pytest.raises(KeyError, match="unknown result columns \\['dice'\\]"):
        append_run(runs, {"dice": 1})


def test_a_multilabel_model_trains_a_sigmoid_channel_per_class_and_its_checkpoint_says_so(tmp_path):
    from kit.train.builders import model_spec

    cfg = config(tmp_path, "neo", arch="neounet", encoder=None, competition="bkai-igh-neopolyp", num_classes=3,
                 loss="bce+dice", ignore_index=255, epochs=1, batch_size=2)
    assert cfg.mode == "multilabel" and model_spec(cfg)["num_classes"] == 2  # NeoUNet's card: no background channel
    trainer = Trainer(cfg, model=nn.Conv2d(3, 2, 1), train_data=ClassBlobs(n=4), val_data=ClassBlobs(n=4))
    trainer.fit()
    state = load_checkpoint(tmp_path / "neo" / "best.pt")
    assert state["output_contract"] == {"mode": "multilabel", "channels": ["neoplastic", "non-neoplastic"]}
    probs = read_oof(trainer.save_oof())[0].probs.astype(int)  # background + one channel per class
    assert probs.shape == (3, 64, 64) and np.abs(probs[0] + probs[1:].max(axis=0) - 255).max() <= 1
    assert np.isfinite(pd.read_csv(tmp_path / "neo" / "log.csv")["val_dice_non-neoplastic"]).all()
