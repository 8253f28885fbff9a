"""Hostile and clumsy input, table-driven: every case is a command line, its exit code and a message fragment.

Each command runs in-process (``kit.__main__.main``) on one shared tiny world: a 2022 sample, its tiles, a
one-step training run and its ensemble. A case that needs a broken file copies what it breaks into its own folder.
``check`` (optional) asserts what must hold afterwards: no code ran, nothing already written was lost.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from kit.__main__ import main

SLUG = "hubmap-organ-segmentation"
TINY_MODEL = ["--encoder", "tu-resnet10t", "--set", 'model_kwargs={"encoder_depth": 3, "decoder_channels": [16, 8, 4]}',
              "--epochs", "1", "--batch-size", "4", "--set", "max_steps_per_epoch=1", "--set", "progress=false",
              "--amp", "off"]


class Payload:
    """A pickle whose loading creates ``marker``: stands for any code a hostile checkpoint would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@dataclass
class World:
    """The shared tiny files (read-only for cases: copy before breaking)."""

    root: Path
    data: Path
    tiles: Path
    run: Path
    models: Path  # folder of ensemble.json
    evil: Path  # a malicious checkpoint outside every folder the commands read
    marker: Path  # created if the malicious pickle ever runs

    def train(self, out: Path, *extra: str) -> list[str]:
        return ["train", "--out", str(out), "--tiles", str(self.tiles), *TINY_MODEL, "--encoder-weights", "none",
                *extra]  # from scratch unless a case names weights (the default, imagenet, needs a weights folder)

    def predict(self, out: Path, *extra: str, data: Path | None = None, models: Path | None = None) -> list[str]:
        return ["predict", "--competition", SLUG, "--data", str(data or self.data), "--ensemble",
                str(models or self.models), "--out", str(out), "--device", "cpu", *extra]

    def copy(self, name: str, tmp: Path) -> Path:
        """A private copy of the data, tiles, run or models folder."""
        return Path(shutil.copytree(getattr(self, name), tmp / name))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("world")
    marker = root / "CODE_RAN"
    evil = root / "evil.pt"
    torch.save({"model": Payload(marker)}, evil)
    data, tiles, run, models = root / "data", root / "tiles", root / "runs" / "r", root / "models"
    assert main(["sample", "--competition", SLUG, "--out", str(data), "--n", "6", "--size", "96"]) == 0
    assert main(["tile", "--competition", SLUG, "--data", str(data), "--out", str(tiles), "--sz", "32",
                 "--reduce", "1"]) == 0
    w = World(root, data, tiles, run, models, evil, marker)
    assert main(w.train(run)) == 0
    assert main(["ensemble", "--runs", str(run), "--out", str(models / "ensemble.json")]) == 0
    return w


def _ensemble_naming(w: World, tmp: Path, checkpoint: str) -> Path:
    """A copy of the models folder whose ensemble.json names ``checkpoint``."""
    models = w.copy("models", tmp)
    config = json.loads((models / "ensemble.json").read_text())
    config["models"][0]["checkpoint"] = checkpoint
    (models / "ensemble.json").write_text(json.dumps(config))
    return models


def _evil_inside(w: World, tmp: Path) -> Path:
    models = w.copy("models", tmp)
    config = json.loads((models / "ensemble.json").read_text())
    shutil.copy(w.evil, models / config["models"][0]["checkpoint"])
    return models


def _with_sample_id(w: World, tmp: Path, image_id: str) -> Path:
    data = w.copy("data", tmp)
    (data / "sample_submission.csv").write_text(f"id,rle\n{image_id},\n")
    return data


def _with_train_id(w: World, tmp: Path, image_id: str) -> Path:
    data = w.copy("data", tmp)
    train = data / "train.csv"
    lines = train.read_text().splitlines()
    first = lines[1].split(",", 1)
    lines[1] = f"{image_id},{first[1]}"
    train.write_text("\n".join(lines) + "\n")
    return data


@dataclass
class Case:
    """One bad input: how to build the command line, the exit code and a fragment of the one-line message."""

    name: str
    argv: Callable[[World, Path], list[str]]
    code: int
    fragment: str
    check: Callable[[World, Path], None] | None = field(default=None)


CASES = [
    # --- security: a checkpoint is data, never code; paths from files stay inside their folder
    Case("train --init-from a malicious pickle",
         lambda w, t: w.train(t / "r", "--init-from", str(w.evil)), 2, "refused"),
    Case("train --encoder-weights a malicious pickle",
         lambda w, t: w.train(t / "r", "--encoder-weights", str(shutil.copy(w.evil, t / "evil.pth"))), 2, "refused"),
    Case("predict: ensemble.json checkpoint ../evil.pt (outside the models folder)",
         lambda w, t: w.predict(t / "s.csv", models=_ensemble_naming(w, t, "../evil.pt")), 2, "without '..'"),
    Case("predict: ensemble.json checkpoint given as an absolute path",
         lambda w, t: w.predict(t / "s.csv", models=_ensemble_naming(w, t, str(w.evil))), 2, "must be relative"),
    Case("predict: a malicious checkpoint inside the models folder",
         lambda w, t: w.predict(t / "s.csv", models=_evil_inside(w, t)), 2, "refused"),
    Case("datasets build models: absolute checkpoint path in ensemble.json",
         lambda w, t: ["datasets", "build", "models", "--user", "me", "--out", str(t / "ds"), "--ensemble",
                       str(_ensemble_naming(w, t, str(w.evil)) / "ensemble.json")], 2, "must be relative"),
    Case("datasets build models: a malicious checkpoint inside the models folder",
         lambda w, t: ["datasets", "build", "models", "--user", "me", "--out", str(t / "ds"), "--ensemble",
                       str(_evil_inside(w, t) / "ensemble.json")], 2, "refused"),
    Case("predict: sample_submission id ../../escape",
         lambda w, t: w.predict(t / "s.csv", data=_with_sample_id(w, t, "../../escape")), 2, "not a plain file name"),
    Case("tile: train.csv id with a folder separator",
         lambda w, t: ["tile", "--competition", SLUG, "--data", str(_with_train_id(w, t, "sub/dir")), "--out",
                       str(t / "tiles")], 2, "not a plain file name"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_error_line(case: Case, world: World, tmp_path, capsys):
    argv = case.argv(world, tmp_path)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == case.code, f"{argv}: exit {code}, stderr {err[-2000:]}"
    assert "Traceback" not in err
    if case.code == 2:
        assert len(errors) == 1 and case.fragment in errors[0], err[-2000:]
    else:
        assert case.fragment in err, err[-2000:]
    if case.check is not None:
        case.check(world, tmp_path)
    assert not world.marker.exists(), "a checkpoint ran code"


def test_the_malicious_payload_is_live_and_never_runs(world, tmp_path):
    """The payload does run when unpickled the unsafe way (so the cases above prove something), and every kit
    entry point that reads a weights file refused it."""
    live = tmp_path / "RAN"
    pickle.loads(pickle.dumps(Payload(live)))
    assert live.exists()
    from kit.models.checkpoint import load_checkpoint
    from kit.models.weights import read_state_dict

    for reader in (load_checkpoint, read_state_dict):
        with pytest.raises(ValueError, match="refused"):
            reader(world.evil)
    assert not world.marker.exists()
    assert os.stat(world.run / "best.pt").st_mode & 0o777 == 0o644
