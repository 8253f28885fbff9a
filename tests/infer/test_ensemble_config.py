"""ensemble.json: round trip, key and value errors, the predictor it builds from its checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
from kit.infer.model_input import ModelInput
from kit.infer.predictor import Member, Predictor


def make_config(**changes) -> EnsembleConfig:
    models = [
        EnsembleModel("unet_a", "a/best.pt", {"name": "tiny", "num_classes": 1, "kwargs": {}},
                      ModelInput(window=256, overlap=0.5, reduce=4, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))),
        EnsembleModel("whole_b", "b/best.pt", {}, ModelInput(window=None, size=1024, blend="constant")),
    ]
    values = dict(competition="hubmap-organ-segmentation", models=models, weights=[0.7, 0.3],
                  thresholds={"default": 0.4, "lung": 0.1}, tta=["flips"], min_area=50)
    values.update(changes)
    return EnsembleConfig(**values)


def test_config_round_trip_and_errors(tmp_path):
    config = make_config()
    assert config.tta == ["identity", "hflip", "vflip", "rot180"]  # presets are stored expanded
    path = tmp_path / "ensemble.json"
    config.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["ensemble.json"]  # no temporary file left behind
    loaded = EnsembleConfig.load(path)
    assert loaded == config
    assert loaded.models[0].input.mean == (0.5, 0.5, 0.5)
    broken = json.loads(path.read_text())
    broken["models"][0]["input"]["windw"] = 3
    path.write_text(json.dumps(broken))
    with pytest.raises(KeyError, match="models\\[0\\].input.*unknown keys \\['windw'\\]"):
        EnsembleConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        EnsembleConfig.load(path)
    with pytest.raises(FileNotFoundError):
        EnsembleConfig.load(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="weights"):
        make_config(weights=[1.0])
    with pytest.raises(ValueError, match="thresholds"):
        make_config(thresholds={"default": 2})
    with pytest.raises(KeyError, match="unknown TTA"):
        make_config(tta=["spin"])


def test_build_predictor_loads_checkpoints(tmp_path, monkeypatch):
    import kit.models.spec as spec_module

    def tiny(spec, encoder_weights=None):
        torch.manual_seed(123)  # different init: the checkpoint must overwrite it
        return torch.nn.Conv2d(3, spec["num_classes"], 3, padding=1)

    monkeypatch.setattr(spec_module, "build_model_from_spec", tiny)
    torch.manual_seed(0)
    net = torch.nn.Conv2d(3, 1, 3, padding=1)
    (tmp_path / "a").mkdir()
    torch.save({"model": net.state_dict(), "model_spec": {"name": "tiny", "num_classes": 1}},
               tmp_path / "a" / "best.pt")
    model = EnsembleModel("a", "a/best.pt", {}, ModelInput(window=16, overlap=0.25))
    config = EnsembleConfig("hubmap-kidney-segmentation", [model], tta=["hflip"])
    predictor = config.build_predictor(root=tmp_path, device="cpu")
    image = np.random.default_rng(3).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    direct = Predictor(Member(net, input=model.input), tta=["hflip"], device="cpu")
    assert np.array_equal(predictor.predict_probs(image), direct.predict_probs(image))
    with pytest.raises(FileNotFoundError):
        config.build_predictor(root=tmp_path / "elsewhere", device="cpu")
