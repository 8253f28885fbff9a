"""Checkpoint I/O: the one slimmer that ensemble folders and models datasets share."""

from __future__ import annotations

import pytest
import torch

from kit.models.checkpoint import INFERENCE_KEYS, load_checkpoint, save_checkpoint, slim_checkpoint, slim_state


def test_one_slimmer_keeps_what_inference_needs(tmp_path):
    contract = {"classes": 1}
    state = {**{key: {"name": key} for key in INFERENCE_KEYS}, "model": {"w": torch.ones(2)},
             "input_contract": contract, "optimizer": {"big": torch.zeros(100)}, "rng": {}, "history": []}
    save_checkpoint(tmp_path / "best.pt", state)
    slim = slim_checkpoint(tmp_path / "best.pt", tmp_path / "slim.pt")
    assert sorted(slim) == sorted(INFERENCE_KEYS) and sorted(load_checkpoint(tmp_path / "slim.pt")) == sorted(slim)
    assert slim_state(state, "x", contract={"classes": 3})["input_contract"] == {"classes": 3}
    assert sorted(slim_state({"model": {}}, "x")) == ["model"]  # keys a checkpoint lacks are not invented
    with pytest.raises(ValueError, match="bad.pt lacks 'model'"):
        slim_state({"weights": {}}, "bad.pt")
    with pytest.raises(ValueError, match="nan.pt holds NaN/inf weights \\(w\\)"):
        slim_state({"model": {"w": torch.tensor([float("nan")])}}, "nan.pt")
