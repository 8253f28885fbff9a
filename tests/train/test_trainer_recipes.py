"""Trainer recipe features: time budget, accumulation, clipping, AMP fallback, multi-scale, colour augmentation,
folds by patient, full-image NeoPolyp training from the CLI, and a 2-process DistributedDataParallel run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from kit.__main__ import main
from kit.augment import ColorTransfer, StainJitter
from kit.models.checkpoint import load_checkpoint
from kit.sample import make_sample
from kit.tiling import TileSettings, tile_dataset
from kit.artifacts.oof import read_oof
from kit.train import TrainConfig, Trainer, run_training
from kit.train.builders import amp_dtype, build_datasets
from kit.train.config import parse_size
from tests.infer_helpers import sample_tiles
from tests.train.test_trainer import BlobDataset, ClassBlobs, config, make_trainer

ORGANS = "hubmap-organ-segmentation"


def _plain_trainer(cfg: TrainConfig, batch_items: int = 12) -> Trainer:
    torch.manual_seed(0)  # no batch-norm, no dropout: the update depends only on the summed gradient
    return Trainer(cfg, model=nn.Conv2d(3, 1, 3, padding=1), train_data=BlobDataset(n=batch_items),
                   val_data=BlobDataset(n=6, seed=1))


def test_time_budget_stops_before_an_epoch_that_would_not_fit_and_stays_resumable(tmp_path):
    trainer = make_trainer(config(tmp_path, "run", epochs=5, max_minutes=1e-6))
    summary = trainer.fit()
    assert summary["epochs"] == 1 and summary["stopped"] == "time_budget"  # the first epoch always runs
    again = make_trainer(config(tmp_path, "run", epochs=5))
    assert again.fit()["epochs"] == 5 and again.stopped == "epochs"
    assert list(pd.read_csv(tmp_path / "run" / "log.csv")["epoch"]) == [1, 2, 3, 4, 5]


def test_gradient_accumulation_matches_the_bigger_batch(tmp_path):
    common = dict(epochs=1, optimizer="sgd", schedule="constant", max_lr=0.1, loss="bce")
    big = _plain_trainer(config(tmp_path, "big", batch_size=4, **common))
    big.fit()
    accumulated = _plain_trainer(config(tmp_path, "acc", batch_size=2, grad_accum=2, **common))
    accumulated.fit()
    assert big.step == accumulated.step == 3
    for (name, a), b in zip(big.model.state_dict().items(), accumulated.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_gradient_clipping_bounds_the_first_update(tmp_path):
    cfg = config(tmp_path, "clip", epochs=1, max_steps_per_epoch=1, optimizer="sgd", schedule="constant", max_lr=1.0,
                 clip_grad=1e-3)
    trainer = _plain_trainer(cfg)
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.fit()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    assert 0 < float((after - before).norm()) <= 1e-3 * 1.0001  # SGD's first step moves lr · clipped gradient


def test_amp_and_channels_last_are_gpu_only_and_fall_back_on_cpu(tmp_path, monkeypatch):
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert amp_dtype("bf16", cuda) is torch.bfloat16 and amp_dtype("fp16", cuda) is torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a Kaggle T4
    assert amp_dtype("auto", cuda) is torch.float16  # bf16 would only be emulated there
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))  # an H100
    assert amp_dtype("auto", cuda) is torch.bfloat16
    assert amp_dtype("off", cuda) is None and amp_dtype("fp16", cpu) is None and amp_dtype("auto", cpu) is None
    trainer = make_trainer(config(tmp_path, "amp", amp="fp16", channels_last=True, epochs=1))
    assert trainer.amp_dtype is None and not trainer.scaler.is_enabled()
    trainer.fit()
    assert trainer.model[0].weight.is_contiguous()  # channels_last is applied on CUDA only
    assert np.isfinite(trainer.history[0]["train_loss"])


def test_multi_scale_batches_train_at_every_listed_size(tmp_path):
    trainer = make_trainer(config(tmp_path, "ms", epochs=2, multi_scale=(8, 16, 24)))
    sizes = set()
    for epoch in range(2):
        trainer.train_data.set_epoch(epoch)
        trainer.train_loader.sampler.set_epoch(epoch)
        sizes |= {tuple(images.shape[-2:]) for images, _ in trainer.train_loader}
    assert len(sizes) >= 2 and sizes <= {(8, 8), (16, 16), (24, 24)}
    trainer.fit()
    assert trainer.epoch == 2 and np.isfinite(trainer.history[-1]["val_loss"])


def test_sizes_and_recipe_checks():
    assert parse_size("480x640") == (480, 640) and parse_size(352) == (352, 352) and parse_size([960, 1280]) == (
        960, 1280)
    with pytest.raises(ValueError, match="HEIGHTxWIDTH"):
        parse_size("big")
    for bad, message in [({"schedule": "step"}, "valid: cosine"), ({"resize_mode": "pad"}, "valid: resize, crop"),
                         ({"stain_jitter": 2.0}, "probability"), ({"grad_accum": 0}, ">= 1"),
                         ({"max_minutes": 0}, "max_minutes")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig(tiles_dir="x", **bad)
    smoke = TrainConfig(tiles_dir="x", arch="pranet", epochs=50, image_size=512).smoke()
    assert (smoke.arch, smoke.image_size, smoke.epochs, smoke.max_steps_per_epoch) == ("unet", (64, 64), 2, 2)


@pytest.fixture(scope="module")
def organ_tiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("organs")
    sample_tiles(ORGANS, root / "data", root / "tiles", TileSettings(sz=64, pixel_size=0.8), n=8, size=256, seed=2)
    return root


def test_stain_jitter_and_colour_transfer_join_the_training_augmentation(organ_tiles, tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "run"), tiles_dir=str(organ_tiles / "tiles"), augment="none",
                      stain_jitter=1.0, color_transfer=1.0)
    train, val = build_datasets(cfg)
    kinds = [type(t) for t in train.transform.transforms]
    assert kinds == [StainJitter, ColorTransfer]
    assert len(train.transform.transforms[1].reference_pool) == min(16, len(train))
    assert val.transform is None
    image, mask = train[0]
    raw = train.load(0)[1]
    assert torch.equal(mask, torch.from_numpy(raw).long())  # colour transforms leave the mask alone
    assert set(train.items["organ"]) | set(val.items["organ"]) <= {"kidney", "prostate", "largeintestine", "spleen",
                                                                     "lung"}
    assert not set(train.items["id"]) & set(val.items["id"])


def test_folds_group_tiles_by_patient_from_the_dataset_information(tmp_path):
    slides = "hubmap-kidney-segmentation"
    make_sample(slides, tmp_path / "data", n=6, size=(256, 384))
    tile_dataset(slides, tmp_path / "data", tmp_path / "tiles", "train", TileSettings(sz=64, reduce=2, filter=False),
                 progress=False)
    for fold in range(3):
        cfg = TrainConfig(out_dir=str(tmp_path / "run"), competition=slides, tiles_dir=str(tmp_path / "tiles"),
                          data_dir=str(tmp_path / "data"), fold_group="patient_number", n_folds=3, fold=fold)
        train, val = build_datasets(cfg)
        assert not set(train.items["patient_number"]) & set(val.items["patient_number"])
        assert val.items["patient_number"].nunique() == 1  # 3 patients in the sample, one per fold
        assert set(train.items["organ"]) == {""}  # 2021 has no organs: empty strings, not NaN


def test_cli_trains_neopolyp_full_images_with_random_crops_and_prints_results(tmp_path, capsys):
    make_sample("bkai-igh-neopolyp", tmp_path / "data", n=8, size=96)
    out = tmp_path / "runs" / "neo"
    code = main(["train", "--data", str(tmp_path / "data"), "--competition", "bkai-igh-neopolyp", "--out", str(out),
                 "--num-classes", "3", "--loss", "0.4*ce+0.6*dice", "--size", "64x96", "--resize-mode", "crop",
                 "--epochs", "1", "--batch-size", "4", "--encoder", "tu-test_resnet.r160_in1k",
                 "--encoder-weights", "none",  # the default, imagenet, needs a weights folder or the network
                 "--set", 'model_kwargs={"decoder_channels": [16, 16, 8, 8, 8]}', "--notes", "crop 64x96"])
    assert code == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["image_size"] == [64, 96] and saved["resize_mode"] == "crop" and saved["fold_stratify"] == "organ"
    images = read_oof(out)  # whole held-out images at their own size (crop mode predicts at the native scale)
    assert images and all(im.probs.shape[0] == 3 and im.targets.shape[0] == 2 and im.probs.shape[1:] == im.shape
                          for im in images)
    log = pd.read_csv(out / "log.csv")
    assert {"val_dice_neoplastic", "val_dice_non-neoplastic", "val_tile_dice"} <= set(log.columns)
    assert log["val_images"].iloc[-1] == len(images)
    capsys.readouterr()
    assert main(["results", "--runs", str(tmp_path / "runs" / "runs.csv")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("Architecture | Encoder | Loss") and "| 0.4*ce+0.6*dice | 64x96 |" in table[2]
    assert table[2].endswith("crop 64x96")


def test_two_process_ddp_run_on_cpu_writes_one_run_folder(organ_tiles, tmp_path):
    cfg = TrainConfig(out_dir=str(tmp_path / "runs" / "ddp"), tiles_dir=str(organ_tiles / "tiles"), seed=4).smoke()
    summary = run_training(cfg, world_size=2)  # spawned gloo workers, as a notebook cell would launch them
    assert summary["epochs"] == 2
    state = load_checkpoint(tmp_path / "runs" / "ddp" / "last.pt")
    assert state["epoch"] == 2 and state["step"] == 2 * 2  # max 2 steps per epoch on each rank
    assert not any(k.startswith("module.") for k in state["model"])  # saved unwrapped: inference loads it as is
    assert list(pd.read_csv(tmp_path / "runs" / "ddp" / "log.csv")["epoch"]) == [1, 2]
    assert (tmp_path / "runs" / "ddp" / "oof.npz").is_file() and (tmp_path / "runs" / "runs.csv").is_file()


def test_run_folder_is_self_contained_the_input_contract_travels_in_the_checkpoint(organ_tiles, tmp_path):
    from kit.artifacts.run_folder import read_run

    run = tmp_path / "runs" / "alone"
    cfg = TrainConfig(out_dir=str(run), tiles_dir=str(organ_tiles / "tiles"), seed=4).smoke().replace(epochs=1)
    run_training(cfg)
    assert json.loads((run / "tiling.json").read_text()) == json.loads((organ_tiles / "tiles" / "tiling.json")
                                                                        .read_text())
    assert (run / "stats.json").read_bytes() == (organ_tiles / "tiles" / "stats.json").read_bytes()
    stats = json.loads((run / "stats.json").read_text())
    contract = load_checkpoint(run / "best.pt")["input_contract"]
    assert {(run / n).stat().st_mode & 0o777 for n in ("best.pt", "last.pt", "stats.json", "config.json")} == {0o644}
    assert contract == {"classes": 1, "mean": stats["mean"], "std": stats["std"], "tiled": True, "window": 64,
                        "resize": None, "reduce": None, "pixel_size": pytest.approx(0.8), "source_pixel_size": None}
    config = json.loads((run / "config.json").read_text())
    config["tiles_dir"] = "/kaggle/input/notebooks/me/seg-kit-00-tiling/tiles"  # another kernel's mount on Kaggle
    (run / "config.json").write_text(json.dumps(config))
    assert read_run(run).contract == contract  # the run folder alone is enough
    for name in ("best.pt", "tiling.json"):  # an older run folder: no contract, no copies -> the tiles are needed
        (run / name).unlink()
    with pytest.raises(FileNotFoundError, match="names tiles_dir '/kaggle/input/notebooks/me/seg-kit-00-tiling"):
        read_run(run)


def test_wandb_is_optional(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    trainer = make_trainer(config(tmp_path, "run", epochs=1, wandb=True))
    with pytest.warns(UserWarning, match="wandb is not installed; logging to log.csv only"):
        trainer.fit()
    assert (tmp_path / "run" / "log.csv").is_file()


class TwoHeads(nn.Module):
    """Deep-supervision contract of kit.models: train() returns [main map, coarser side map]; eval() the main map."""

    def __init__(self) -> None:
        super().__init__()
        self.main, self.side = nn.Conv2d(3, 1, 3, padding=1), nn.Conv2d(3, 1, 3, stride=2, padding=1)

    def forward(self, x):
        return [self.main(x), self.side(x)] if self.training else self.main(x)


def test_deep_supervision_trains_every_output_and_validates_the_main_one(tmp_path):
    torch.manual_seed(0)
    model = TwoHeads()
    side_before = model.side.weight.detach().clone()
    trainer = Trainer(config(tmp_path, "ds", epochs=1, loss="0.5*bce+0.5*dice"), model=model,
                      train_data=BlobDataset(), val_data=BlobDataset(n=6, seed=1))
    trainer.fit()
    assert not torch.equal(model.side.weight, side_before)  # the half-size side map got gradients
    images = read_oof(trainer.save_oof())
    assert len(images) == 6 and images[0].probs.shape == (1, 16, 16)


def test_blazeneo_trains_its_binary_auxiliary_map_next_to_the_class_map(tmp_path):
    from kit.models import build_model

    model = build_model("blazeneo", num_classes=3)
    trainer = Trainer(config(tmp_path, "blazeneo", num_classes=3, loss="ce+dice", ignore_index=255, epochs=1,
                             batch_size=2, max_lr=1e-3), model=model, train_data=ClassBlobs(), val_data=ClassBlobs())
    model.train()
    images, masks = next(iter(trainer.train_loader))
    loss = trainer._forward_loss(images, masks)
    loss.backward()
    assert torch.isfinite(loss)
    for head in (model.head_1, model.head_2):  # the 1-channel auxiliary head and the class head
        grad = head.head.conv.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    classes, auxiliary = model(images)
    changed = auxiliary.detach().clone()
    changed[:, :, :, :4] = 30.0  # ignored pixels: no change to the loss
    same = trainer.loss_fn([classes.detach(), auxiliary.detach()], masks)
    assert torch.allclose(same, trainer.loss_fn([classes.detach(), changed], masks), atol=1e-6)


def test_training_uses_every_visible_gpu_and_shares_the_cores_among_loader_workers(monkeypatch):
    from kit.train import loader_workers, world_size_for

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # a Kaggle T4 x2 box: 4 cores, 2 GPUs
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert world_size_for(None) == 2 and loader_workers(None) == 2 and loader_workers(None, 1) == 4
    assert world_size_for(1) == 1 and loader_workers(0) == 0
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert world_size_for(None) == 1 and loader_workers(None) == 4  # at most 4 per process
    with pytest.raises(ValueError, match="GPUS must be >= 1"):
        world_size_for(0)
