"""The models dataset: slim checkpoints named by ensemble.json."""

from __future__ import annotations

import json

import pytest

from kit.kernels import build_models_dataset


def test_models_dataset_packs_slim_checkpoints_named_by_ensemble_json(tmp_path):
    import torch

    from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
    from kit.models.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "runs" / "unet"
    spec = {"name": "unet", "num_classes": 1, "kwargs": {}}
    save_checkpoint(run / "best.pt", {"model": {"w": torch.ones(2)}, "model_spec": spec, "optimizer": {"big": 1}})
    ensemble = tmp_path / "runs" / "ensemble.json"
    EnsembleConfig("hubmap-kidney-segmentation", [EnsembleModel("Unet r34", "unet/best.pt")]).save(ensemble)
    folder = build_models_dataset(tmp_path / "models", "someuser", ensemble)
    config = EnsembleConfig.load(folder / "ensemble.json")
    assert config.models[0].checkpoint == "00_unet-r34.pt"
    assert sorted(p.name for p in folder.iterdir()) == ["00_unet-r34.pt", "dataset-metadata.json", "ensemble.json"]
    state = load_checkpoint(folder / "00_unet-r34.pt")
    assert sorted(state) == ["model", "model_spec"] and torch.equal(state["model"]["w"], torch.ones(2))
    assert json.loads((folder / "dataset-metadata.json").read_text())["id"] == "someuser/seg-kit-models"
    (run / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="model 0 \\('Unet r34'\\) checkpoint"):
        build_models_dataset(tmp_path / "models2", "someuser", ensemble)
    with pytest.raises(FileNotFoundError, match="run notebook 02"):
        build_models_dataset(tmp_path / "models3", "someuser", tmp_path / "nowhere.json")
