"""Hostile and clumsy input, table-driven: every case is a command line, its exit code and a message fragment.

Each command runs in-process (``kit.__main__.main``) on one shared tiny world: a 2022 sample, its tiles, a
one-step training run and its ensemble. A case that needs a broken file copies what it breaks into its own folder.
``check`` (optional) asserts what must hold afterwards: no code ran, nothing already written was lost.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import torch

from kit.__main__ import main
from kit.models.checkpoint import load_checkpoint

SLUG, KIDNEY, NEOPOLYP = "hubmap-organ-segmentation", "hubmap-kidney-segmentation", "bkai-igh-neopolyp"
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


def _edit_csv(path: Path, column: str, value: str, row: int = 0) -> Path:
    """Set one cell of a CSV (read and written as text, so nothing else changes)."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[row, column] = value
    table.to_csv(path, index=False)
    return path


def _data_with(w: World, tmp: Path, table: str, column: str, value: str) -> Path:
    data = w.copy("data", tmp)
    _edit_csv(data / table, column, value)
    return data


def _run_with_config(w: World, tmp: Path, **changes) -> Path:
    """A copy of the run folder whose config.json says something else."""
    run = w.copy("run", tmp)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, **changes}))
    return run


def _models_with(w: World, tmp: Path, bias: float | None = None, **changes) -> Path:
    """A copy of the models folder with ensemble.json fields changed and (``bias``) the head's bias set."""
    models = w.copy("models", tmp)
    config = json.loads((models / "ensemble.json").read_text())
    (models / "ensemble.json").write_text(json.dumps({**config, **changes}))
    if bias is not None:
        path = models / config["models"][0]["checkpoint"]
        state = load_checkpoint(path)
        key = [k for k in state["model"] if k.endswith("bias")][-1]
        state["model"][key].fill_(bias)
        torch.save(state, path)
    return models


def _broken_test_image(w: World, tmp: Path) -> Path:
    data = w.copy("data", tmp)
    for image in (data / "test_images").glob("*.tiff"):
        image.write_bytes(b"not a tiff")
    return data


def _neopolyp_truncated(tmp: Path) -> Path:
    data = tmp / "neo"
    assert main(["sample", "--competition", NEOPOLYP, "--out", str(data), "--n", "4", "--size", "64"]) == 0
    image = sorted((data / "train" / "train").glob("*.jpeg"))[0]
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    return data


def _kidney_wrong_size(tmp: Path) -> Path:
    data = tmp / "kidney"
    assert main(["sample", "--competition", KIDNEY, "--out", str(data), "--n", "4", "--size", "192"]) == 0
    _edit_csv(data / "HuBMAP-20-dataset_information.csv", "height_pixels", "999")
    return data


def _run_with_oof(w: World, tmp: Path, data: bytes) -> Path:
    run = w.copy("run", tmp)
    (run / "oof.npz").write_bytes(data)
    return run


def _file(tmp: Path) -> Path:
    path = tmp / "a_file"
    path.write_text("I am a file")
    return path


def _unchanged(*names: str) -> Callable[[World, Path], None]:
    """A check that the files ``names`` (relative to the case folder) hold what ``_remember`` saw."""
    def check(w: World, tmp: Path) -> None:
        for name in names:
            assert (tmp / name).read_bytes() == (tmp / f"{name}.before").read_bytes(), name
    return check


def _remember(tmp: Path, *names: str) -> None:
    for name in names:
        shutil.copy(tmp / name, tmp / f"{name}.before")


def _good_submission(tmp: Path) -> Path:
    out = tmp / "submission.csv"
    out.write_text("id,rle\n27905,1 5\n")
    _remember(tmp, "submission.csv")
    return out


def _run_rebuilt_with_broken_best(w: World, tmp: Path) -> list[str]:
    models = w.copy("models", tmp)
    _remember(tmp, "models/ensemble.json", "models/models/r.pt")
    run = w.copy("run", tmp)
    (run / "best.pt").write_bytes(b"truncated")
    return ["ensemble", "--runs", str(run), "--out", str(models / "ensemble.json")]


def _models_dataset_rebuilt_with_evil(w: World, tmp: Path) -> list[str]:
    build = ["datasets", "build", "models", "--user", "someone", "--out", str(tmp / "ds")]
    assert main([*build, "--ensemble", str(w.models / "ensemble.json")]) == 0
    for path in (tmp / "ds" / "models").iterdir():
        shutil.copy(path, tmp / f"{path.name}.before")
    return [*build, "--ensemble", str(_evil_inside(w, tmp) / "ensemble.json")]


def _previous_dataset_kept(w: World, tmp: Path) -> None:
    for path in (tmp / "ds" / "models").iterdir():
        assert path.read_bytes() == (tmp / f"{path.name}.before").read_bytes(), path.name


def _sample_over_user_files(w: World, tmp: Path) -> list[str]:
    data = w.copy("data", tmp)
    (data / "train_images" / "my_notes.txt").write_text("mine")
    (data / "mine.csv").write_text("a,b\n")
    return ["sample", "--competition", SLUG, "--out", str(data), "--n", "6", "--size", "96", "--seed", "1"]


def _user_files_kept(w: World, tmp: Path) -> None:
    assert (tmp / "data" / "train_images" / "my_notes.txt").read_text() == "mine"
    assert (tmp / "data" / "mine.csv").is_file()


def _tiles_with_leftover_temp(w: World, tmp: Path) -> list[str]:
    tiles = w.copy("tiles", tmp)
    (tiles / "images" / ".x_00001.png.abcd1234.tmp.png").write_bytes(b"half")
    return ["tile", "--competition", SLUG, "--data", str(w.data), "--out", str(tiles), "--sz", "32", "--reduce", "1"]


def _no_leftover_temp(w: World, tmp: Path) -> None:
    assert not list((tmp / "tiles" / "images").glob(".*.tmp*"))


def _tiles_after_input_change(w: World, tmp: Path, change: str) -> list[str]:
    data, tiles = w.copy("data", tmp), w.copy("tiles", tmp)
    if change == "table":
        _edit_csv(data / "train.csv", "age", "33")
    else:
        image = sorted((data / "train_images").glob("*.tiff"))[0]
        os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 10**9))
    return ["tile", "--competition", SLUG, "--data", str(data), "--out", str(tiles), "--sz", "32", "--reduce", "1"]


def _rerun(w: World, tmp: Path, *extra: str) -> list[str]:
    run = w.copy("run", tmp)
    _remember(tmp, "run/last.pt", "run/config.json")
    return w.train(run, *extra)


def _fold_is(fold: int) -> Callable[[World, Path], None]:
    def check(w: World, tmp: Path) -> None:
        assert json.loads((tmp / "run" / "config.json").read_text())["fold"] == fold
    return check


def _no_best(w: World, tmp: Path) -> None:
    assert not (tmp / "r" / "best.pt").exists() and not (tmp / "r" / "last.pt").exists()


def _fallback_left(w: World, tmp: Path) -> None:
    table = pd.read_csv(tmp / "s.csv", dtype=str, keep_default_na=False)
    assert len(table) == 1 and (table["rle"] == "").all()


def _init_checkpoint(tmp: Path, state: dict) -> str:
    path = tmp / "init.pt"
    torch.save(state, path)
    return str(path)


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
    # --- silent garbage: NaN, non-finite numbers, empty results that look valid
    Case("train --lr 1e12: NaN stops the run, nothing saved as best",
         lambda w, t: w.train(t / "r", "--lr", "1e12"), 2, "training stopped", _no_best),
    Case("train --lr inf", lambda w, t: w.train(t / "r", "--lr", "inf"), 2, "max_lr must be a finite number"),
    Case("train --min-lr above --lr", lambda w, t: w.train(t / "r", "--lr", "1e-3", "--min-lr", "1e-2"), 2,
         "min_lr 0.01 > max_lr 0.001"),
    Case("train --loss 1e400*bce", lambda w, t: w.train(t / "r", "--loss", "1e400*bce"), 2, "must be > 0 and finite"),
    Case("predict: NaN ensemble weight",
         lambda w, t: w.predict(t / "s.csv", models=_models_with(w, t, weights=[float("nan")])), 2,
         "finite non-negative"),
    Case("predict --budget-minutes nan", lambda w, t: w.predict(t / "s.csv", "--budget-minutes", "nan"), 2,
         "--budget-minutes must be a finite number"),
    Case("predict --skip-errors with every image failing: reasons, exit 2, fallback left",
         lambda w, t: w.predict(t / "s.csv", "--skip-errors", data=_broken_test_image(w, t)), 2,
         "every test image failed", _fallback_left),
    Case("predict: every prediction empty while the OOF said otherwise",
         lambda w, t: w.predict(t / "s.csv", models=_models_with(w, t, bias=-100.0, oof_nonempty=1.0)), 2,
         "are empty while 100% of the ensemble's OOF", _fallback_left),
    Case("tile: a half-truncated JPEG", lambda w, t: ["tile", "--competition", NEOPOLYP, "--data",
                                                      str(_neopolyp_truncated(t)), "--out", str(t / "tiles")],
         2, "truncated JPEG"),
    Case("tile --s-th 999", lambda w, t: ["tile", "--competition", SLUG, "--data", str(w.data), "--out",
                                          str(t / "tiles"), "--s-th", "999"], 2, "s_th (--s-th) must be"),
    Case("tile --s-th 255 keeps 0 tiles", lambda w, t: ["tile", "--competition", SLUG, "--data", str(w.data), "--out",
                                                        str(t / "tiles"), "--sz", "32", "--s-th", "255"],
         2, "tiles were kept"),
    # --- stale reruns
    Case("train into a run folder made with another fold and loss",
         lambda w, t: _rerun(w, t, "--fold", "1", "--loss", "dice"), 2, "recipe.fold: 0 -> 1; recipe.loss",
         _unchanged("run/last.pt", "run/config.json")),
    Case("train ... --fresh starts over", lambda w, t: _rerun(w, t, "--fold", "1", "--fresh"), 0, "", _fold_is(1)),
    Case("tile after train.csv changed", lambda w, t: _tiles_after_input_change(w, t, "table"), 2,
         "inputs.tables.train.csv"),
    Case("tile after an image changed", lambda w, t: _tiles_after_input_change(w, t, "image"), 2, "inputs.images."),
    # --- mismatches found at ensemble time, not in the hidden rerun
    Case("ensemble: a 3-class model on a binary competition",
         lambda w, t: ["ensemble", "--runs", str(_run_with_config(w, t, num_classes=3)), "--out",
                       str(t / "m" / "ensemble.json")], 2, "predicts 3 class map(s)"),
    Case("ensemble: a run labelled 2021 trained on 2022 tiles",
         lambda w, t: ["ensemble", "--runs", str(_run_with_config(w, t, competition=KIDNEY)), "--out",
                       str(t / "m" / "ensemble.json")], 2, "on tiles cut from hubmap-organ-segmentation"),
    Case("train: --competition contradicts the tiles",
         lambda w, t: w.train(t / "r", "--competition", KIDNEY), 2, "were cut from hubmap-organ-segmentation"),
    # --- lost work
    Case("sample rerun keeps the files the user put in its folders", _sample_over_user_files, 0, "",
         _user_files_kept),
    Case("predict keeps an existing submission when the ensemble cannot be loaded",
         lambda w, t: w.predict(_good_submission(t), models=_ensemble_naming(w, t, "../evil.pt")), 2,
         "without '..'", _unchanged("submission.csv")),
    Case("a failed ensemble rebuild keeps models/*.pt and ensemble.json", _run_rebuilt_with_broken_best, 2,
         "could not be read", _unchanged("models/ensemble.json", "models/models/r.pt")),
    Case("a failed datasets build models keeps the previous dataset", _models_dataset_rebuilt_with_evil, 2,
         "refused", _previous_dataset_kept),
    Case("kernels build validates before writing anything",
         lambda w, t: ["kernels", "build", "--user", "not/a user", "--out", str(t / "k")], 2, "--user must be",
         lambda w, t: not (t / "k").exists() or pytest.fail("kernels build wrote files")),
    Case("tile removes the temp files a killed run left in images/", _tiles_with_leftover_temp, 0, "",
         _no_leftover_temp),
    # --- one line, exit 2, naming the file / row / flag
    Case("tile --out is a file", lambda w, t: ["tile", "--competition", SLUG, "--data", str(w.data), "--out",
                                               str(_file(t))], 2, "is a file; expected a folder"),
    Case("sample --out under a file", lambda w, t: ["sample", "--competition", SLUG, "--out", str(_file(t) / "x")],
         2, "is a file, not a folder"),
    Case("train --out is a file", lambda w, t: w.train(_file(t)), 2, "is a file; expected a folder"),
    Case("ensemble --out under a file", lambda w, t: ["ensemble", "--runs", str(w.run), "--out",
                                                      str(_file(t) / "ensemble.json")], 2, "a_file is a file"),
    Case("predict --out is a folder", lambda w, t: w.predict(t), 2, "is a folder; expected a file name"),
    Case("train --encoder tu-nonexistent", lambda w, t: w.train(t / "r", "--encoder", "tu-nonexistent"), 2,
         "Unknown model (nonexistent)"),
    Case("train --init-from {'model': {}}", lambda w, t: w.train(t / "r", "--init-from",
                                                               _init_checkpoint(t, {"model": {}})), 2,
         "weights do not fit"),
    Case("train --init-from another architecture",
         lambda w, t: w.train(t / "r", "--init-from", _init_checkpoint(
             t, {"model": {"segmentation_head.0.weight": torch.zeros(2, 2, 1, 1)}})), 2, "weights do not fit"),
    Case("ensemble --step 0", lambda w, t: ["ensemble", "--runs", str(w.run), "--out", str(t / "e.json"), "--step",
                                            "0"], 2, "--step must be a finite number > 0"),
    Case("predict --device cuda:99", lambda w, t: w.predict(t / "s.csv", "--device", "cuda:99"), 2,
         "--device cuda:99"),
    Case("predict --device tpu9", lambda w, t: w.predict(t / "s.csv", "--device", "tpu9"), 2, "is not a device"),
    Case("predict: test.csv pixel_size 0",
         lambda w, t: w.predict(t / "s.csv", data=_data_with(w, t, "test.csv", "pixel_size", "0")), 2,
         "pixel_size must be a number > 0"),
    Case("predict: test.csv pixel_size empty names the image",
         lambda w, t: w.predict(t / "s.csv", data=_data_with(w, t, "test.csv", "pixel_size", "")), 2,
         "test image 27905"),
    Case("train --config holding invalid JSON names the file",
         lambda w, t: w.train(t / "r", "--config", str(_file(t))), 2, "a_file is not valid JSON"),
    Case("ensemble: garbage oof.npz names the file",
         lambda w, t: ["ensemble", "--runs", str(_run_with_oof(w, t, b"garbage")), "--out",
                       str(t / "m" / "ensemble.json")], 2, "OOF file"),
    Case("tile: img_height abc names the row",
         lambda w, t: ["tile", "--competition", SLUG, "--data", str(_data_with(w, t, "train.csv", "img_height",
                                                                                "abc")),
                       "--out", str(t / "tiles")], 2, "train.csv row 2"),
    Case("tile: a 2021 size mismatch names the dataset information file",
         lambda w, t: ["tile", "--competition", KIDNEY, "--data", str(_kidney_wrong_size(t)), "--out",
                       str(t / "tiles"), "--sz", "32"], 2, "HuBMAP-20-dataset_information.csv says"),
    Case("train on full images without --competition",
         lambda w, t: ["train", "--out", str(t / "r"), "--data", str(w.data), *TINY_MODEL, "--encoder-weights",
                       "none"], 2,
         "--competition bkai-igh-neopolyp"),
    Case("a bad flag value is one argparse line", lambda w, t: ["tile", "--competition", SLUG, "--data", "x",
                                                               "--out", "y", "--sz", "abc"], 2, "--sz: invalid int"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_one_error_line(case: Case, world: World, tmp_path, capsys):
    argv = case.argv(world, tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    err = capsys.readouterr().err
    errors = [line for line in re.split(r"[\r\n]", err) if line.startswith("error:")]
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


def test_every_output_file_is_world_readable(world):
    written = [p for folder in (world.data, world.tiles, world.run, world.models) for p in folder.rglob("*")
               if p.is_file()]
    assert len(written) > 20
    assert [p for p in written if p.stat().st_mode & 0o777 != 0o644] == []


def test_a_failed_best_checkpoint_write_is_redone_on_resume(tmp_path, monkeypatch):
    """A full disk while writing best.pt: the run stops, and the resumed run writes best.pt (never exit 0
    without it)."""
    import kit.artifacts.run_folder as run_folder_module
    from tests.train.test_trainer import config, make_trainer

    real_save = run_folder_module.save_checkpoint

    def disk_full_for_best(path, payload):
        if Path(path).name == "best.pt":
            raise OSError(28, "No space left on device")
        real_save(path, payload)

    monkeypatch.setattr(run_folder_module, "save_checkpoint", disk_full_for_best)
    with pytest.raises(OSError, match="No space"):
        make_trainer(config(tmp_path, "run", epochs=1)).fit()
    monkeypatch.setattr(run_folder_module, "save_checkpoint", real_save)
    assert not (tmp_path / "run" / "last.pt").exists()  # so the epoch is redone, not skipped
    resumed = make_trainer(config(tmp_path, "run", epochs=1))
    resumed.fit()
    assert (tmp_path / "run" / "best.pt").is_file() and resumed.epoch == 1


def test_swap_folder_keeps_the_old_folder_until_the_new_one_is_complete(tmp_path):
    from kit.fsutil import remove_stale_temps, swap_folder

    target = tmp_path / "models"
    target.mkdir()
    (target / "old.pt").write_text("old")
    with pytest.raises(OSError), swap_folder(target) as new:
        (new / "new.pt").write_text("half")
        raise OSError("disk full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"] and (target / "old.pt").read_text() == "old"
    with swap_folder(target) as new:
        (new / "new.pt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.pt"] and len(list(tmp_path.iterdir())) == 1
    # killed between the two renames of a swap: the next run puts the old folder back
    target.rename(tmp_path / ".models.abcd1234.tmp.old")
    (tmp_path / ".models.efgh5678.tmp").mkdir()
    (tmp_path / ".x.csv.ijkl9012.tmp.csv").write_text("half")
    (tmp_path / ".keep.tmp").write_text("the user's")
    removed = remove_stale_temps(tmp_path)
    assert sorted(p.name for p in removed) == [".models.efgh5678.tmp", ".x.csv.ijkl9012.tmp.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep.tmp", "models"]
