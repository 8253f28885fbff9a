"""Shared pieces of the tests: tiny samples and tiles, a tiny real checkpoint, a one-model ensemble.json."""

from __future__ import annotations

from pathlib import Path

import torch

from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
from kit.infer.model_input import ModelInput
from kit.sample import make_sample
from kit.tiling import TileSettings, tile_dataset

HUBMAP21, HUBMAP22, NEOPOLYP = "hubmap-kidney-segmentation", "hubmap-organ-segmentation", "bkai-igh-neopolyp"
SMALL = {HUBMAP21: 192, HUBMAP22: 96, NEOPOLYP: 96}  # 2021: 128x192 slides; 2022: 96² HPA; NeoPolyp: ~96 wide
TINY_SPEC = {"encoder_name": "tu-resnet10t", "encoder_depth": 3, "decoder_channels": [16, 8, 4]}


def tiny_sample(slug: str, folder: Path, n: int = 4):
    """A synthetic sample of ``slug`` with small images (1 test image for n=4, 2 for n=8)."""
    return make_sample(slug, folder, n=n, size=SMALL[slug])


def sample_tiles(slug: str, data_dir: Path, tiles_dir: Path, settings: TileSettings, n: int, size: int,
                 seed: int) -> Path:
    """A synthetic sample of ``slug`` in ``data_dir`` (``n`` images of ``size``) tiled into ``tiles_dir``."""
    make_sample(slug, data_dir, n=n, size=size, seed=seed)
    tile_dataset(slug, data_dir, tiles_dir, "train", settings, progress=False)
    return tiles_dir


def tiny_checkpoint(path: Path, num_classes: int = 1, seed: int = 0) -> Path:
    """A real kit model (U-Net, tiny timm encoder), random weights, saved the way the trainer saves them."""
    from kit.models.spec import build_model_from_spec

    torch.manual_seed(seed)
    spec = {"name": "unet", "num_classes": num_classes, "kwargs": dict(TINY_SPEC)}
    model = build_model_from_spec(spec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict(), "model_spec": spec}, path)
    return path


def default_input(slug: str) -> ModelInput:
    """Sliding windows for the HuBMAP slides and images, the whole image for NeoPolyp."""
    if slug == NEOPOLYP:
        return ModelInput(window=None, size=64)
    return ModelInput(window=64, overlap=0.25, reduce=2.0 if slug == HUBMAP21 else 1.0)


def tiny_ensemble(folder: Path, slug: str, **config) -> Path:
    """``folder/ensemble.json`` with one tiny model whose checkpoint sits at ``folder/models/tiny.pt``."""
    num_classes = 3 if slug == NEOPOLYP else 1
    tiny_checkpoint(folder / "models" / "tiny.pt", num_classes)
    model = EnsembleModel("tiny", "models/tiny.pt", {}, config.pop("input", default_input(slug)))
    EnsembleConfig(slug, [model], **config).save(folder / "ensemble.json")
    return folder / "ensemble.json"
