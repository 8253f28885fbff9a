"""ensemble.json from run folders: model inputs from recipes + tiles, families, OOF pooling, round trip."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.ensemble.test_search import constructed_case
from tests.infer_helpers import HUBMAP22, tiny_checkpoint
from kit.artifacts.oof import OofImage, write_oof
from kit.artifacts.run_folder import describe_runs, find_runs, read_run
from kit.ensemble.build import build_ensemble, family_of
from kit.ensemble.pool import pool_oof
from kit.infer.ensemble_config import EnsembleConfig
from kit.infer.model_input import model_input_for
from kit.models.checkpoint import load_checkpoint
from kit.train import TrainConfig

TILING = {"competition": HUBMAP22, "split": "train", "sz": 64, "reduce": 2.0, "pixel_size": None, "stride": None}
STATS = {"mean": [0.8, 0.7, 0.75], "std": [0.1, 0.2, 0.15]}


def test_model_input_from_recipe_and_tiles():
    recipe = {"image_size": [32, 32], "resize_mode": "resize"}
    tiles = model_input_for(recipe, {**TILING, "sz": 64, "reduce": 4.0}, STATS)
    assert (tiles.window, tiles.reduce, tiles.mean, tiles.std) == (32, 8.0, (0.8, 0.7, 0.75), (0.1, 0.2, 0.15))
    native = model_input_for({"image_size": None}, TILING, None, window=128, overlap=0.5, margin=8, blend="pyramid")
    assert (native.window, native.reduce, native.overlap, native.margin, native.blend) == (128, 2.0, 0.5, 8, "pyramid")
    assert native.mean == (0.485, 0.456, 0.406)  # no stats.json: ImageNet, as the training datasets did
    microns = model_input_for({"image_size": [128, 128]}, {**TILING, "pixel_size": 0.8})
    assert microns.pixel_size == pytest.approx(0.4) and microns.window == 128
    physical = model_input_for({"image_size": None}, TILING, source_pixel_size=0.4)  # reduce 2 of 0.4 µm/px
    assert physical.pixel_size == pytest.approx(0.8) and physical.scale_for(100, 100, pixel_size=0.2) == 4.0
    crop = model_input_for({"image_size": [48, 48], "resize_mode": "crop"}, TILING)
    assert (crop.window, crop.reduce) == (48, 2.0)  # random crops keep the tile scale
    frames = model_input_for({"image_size": [64, 80], "resize_mode": "resize"})
    assert (frames.window, frames.size) == (None, (64, 80))  # exactly what the training dataset fed it
    assert model_input_for({"image_size": [64, 80], "resize_mode": "crop"}).size is None
    with pytest.raises(ValueError, match="not square"):
        model_input_for({"image_size": [64, 80]}, TILING)


def test_families_ignore_fold_and_seed():
    base = TrainConfig(tiles_dir="t", out_dir="runs/a").to_dict()
    assert family_of(base) == family_of({**base, "fold": 3, "seed": 7, "out_dir": "runs/b", "notes": "x"})
    assert family_of(base) != family_of({**base, "loss": "dice"})


def table(ids, probs, groups=None):
    probs = np.asarray(probs, np.uint8).reshape(len(ids), 1, 1, 2)
    groups = groups or [""] * len(ids)
    return [OofImage(i, p, ((p > 100) * 255).astype(np.uint8), g) for i, p, g in zip(ids, probs, groups)]


def test_pool_oof_joins_folds_averages_seeds_and_aligns_families():
    fold0 = table(["a", "b"], [[200, 0], [0, 200]])
    fold1 = table(["c"], [[200, 200]])
    seed1 = table(["c"], [[100, 0]])  # same id as fold1, same family: averaged
    other = table(["d", "c", "a"], [[1, 1], [2, 2], [3, 3]])
    order, runs, images = pool_oof([fold0, fold1, seed1, other], ["A", "A", "A", "B"])
    assert order == ["A", "B"] and [im.id for im in images] == ["a", "c"]  # b lacks a B map, d an A map
    assert [r[0, 0].tolist() for r in runs[0]] == [[200, 0], [150, 100]]
    assert [r[0, 0].tolist() for r in runs[1]] == [[3, 3], [2, 2]]
    assert images[0].targets.shape == (1, 1, 2)
    with pytest.raises(ValueError, match="share no image id"):
        pool_oof([table(["a"], [[1, 1]]), table(["z"], [[1, 1]])], ["A", "B"])


def constructed_oof(n: int = 6, size: int = 8):
    """Two runs that separate foreground from background only when blended about 50/50 (:func:`constructed_case`
    as uint8 maps: 0.5 -> 128, 0.9 -> 230)."""
    (a, b), targets = constructed_case(n, size)
    a, b = (np.rint(run * 255).astype(np.uint8) for run in (a, b))
    return a[:, None], b[:, None], targets


def make_run(root, name, probs, targets, ids, organs, tiles="tiles", **recipe):
    run = root / "runs" / name
    config = TrainConfig(out_dir=str(run), tiles_dir=tiles, competition=HUBMAP22, arch="unet", encoder=None,
                         model_kwargs={}, image_size=(64, 64), **recipe)
    run.mkdir(parents=True)
    config.save(run / "config.json")
    state = load_checkpoint(tiny_checkpoint(run / "weights.pt"))
    torch.save({**state, "optimizer": {"state": {}, "big": torch.zeros(1000)}}, run / "best.pt")
    write_oof(run / "oof.npz", [OofImage(i, p, (t[None] * 255).astype(np.uint8), g)
                                for i, p, t, g in zip(ids, probs, targets, organs)])
    (run / "log.csv").write_text("epoch,lr,train_loss,val_loss,val_dice,val_iou,seconds\n1,0.1,1,1,0.25,0.2,1\n")
    return run


@pytest.fixture
def two_families(tmp_path):
    (tmp_path / "tiles").mkdir()
    (tmp_path / "tiles" / "tiling.json").write_text(json.dumps(TILING))
    (tmp_path / "tiles" / "stats.json").write_text(json.dumps(STATS))
    a, b, targets = constructed_oof()
    ids = [f"t{i}" for i in range(6)]
    organs = ["kidney"] * 3 + ["lung"] * 3
    run_a = make_run(tmp_path, "a", a, targets, ids, organs, loss="bce")
    # family B: two folds (disjoint halves of the ids)
    b0 = make_run(tmp_path, "b0", b[:3], targets[:3], ids[:3], organs[:3], loss="dice", fold=0)
    b1 = make_run(tmp_path, "b1", b[3:], targets[3:], ids[3:], organs[3:], loss="dice", fold=1)
    return tmp_path, [run_a, b0, b1]


def test_build_round_trip_weights_thresholds_and_a_self_contained_folder(two_families):
    root, runs = two_families  # the recipes name "tiles", relative to the folder that holds runs/
    build = build_ensemble(runs, root / "out" / "ensemble.json", tta="flips", min_area=5, fill_holes=True)
    config = build.config
    assert config.weights == pytest.approx([0.5, 0.25, 0.25])  # family B's 0.5 shared by its two folds
    assert set(config.thresholds) == {"default", "kidney", "lung"}
    assert 115 / 255 < config.thresholds["default"] < 128 / 255 and config.oof_score == pytest.approx(1.0)
    assert [m.checkpoint for m in config.models] == ["models/a.pt", "models/b0.pt", "models/b1.pt"]
    assert config.models[0].input.reduce == 2.0 and config.models[0].input.window == 64
    assert config.models[0].input.mean == tuple(STATS["mean"])
    assert config.tta == ["identity", "hflip", "vflip", "rot180"]
    assert build.runs["family_oof_dice"].tolist()[1] == build.runs["family_oof_dice"].tolist()[2] < 1.0
    assert set(build.curves["group"]) == {"all", "kidney", "lung"} and build.curves["dice"].max() == 1.0
    assert EnsembleConfig.load(root / "out" / "ensemble.json").to_dict() == config.to_dict()
    assert "optimizer" not in load_checkpoint(root / "out" / "models" / "a.pt")  # slim copy
    moved = shutil.move(root / "out", root / "elsewhere")  # the folder is self-contained
    predictor = EnsembleConfig.load(root / "elsewhere" / "ensemble.json").build_predictor(root=moved, device="cpu")
    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    assert predictor.predict_probs(image).shape == (1, 20, 28)  # reduce 2


def test_run_discovery_description_and_errors(two_families, tmp_path):
    root, runs = two_families
    assert find_runs(root / "runs") == sorted(runs)
    described = describe_runs(runs)
    assert described["loss"].tolist() == ["bce", "dice", "dice"] and described["best_val_dice"].tolist() == [0.25] * 3
    a, _, targets = constructed_oof()
    # tiles without organs (2021): the trainer writes "nan" groups, which mean no per-organ thresholds
    moved = make_run(root, "moved", a, targets, [f"t{i}" for i in range(6)], ["nan"] * 6, tiles="moved_tiles")
    with pytest.raises(FileNotFoundError, match="names tiles_dir 'moved_tiles', but no tiling.json"):
        build_ensemble([moved], tmp_path / "x" / "ensemble.json")
    assert set(build_ensemble([moved], tmp_path / "y" / "ensemble.json", tiles_dir=root / "tiles").config.thresholds) \
        == {"default"}
    built = build_ensemble(runs[:1], tmp_path / "x" / "ensemble.json", tiles_dir=root / "tiles", per_group=False)
    assert set(built.config.thresholds) == {"default"}
    with pytest.raises(FileNotFoundError, match="no run folder"):
        find_runs(tmp_path / "x")


def test_runs_and_tiles_of_attached_kernel_outputs_are_found_under_the_kaggle_input(two_families, tmp_path,
                                                                                     monkeypatch):
    root, runs = two_families  # stands in for /kaggle/input: kernel 00's tiles and kernel 01's runs attached
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(root))
    (tmp_path / "working").mkdir()
    monkeypatch.chdir(tmp_path / "working")  # no runs/ nor tiles/ here
    assert find_runs("runs") == sorted(runs)  # RUNS_ROOT "runs" is absent locally: the input root is searched
    probs, _, targets = constructed_oof()
    moved = make_run(root, "moved", probs, targets, [f"t{i}" for i in range(6)], ["nan"] * 6,
                     tiles="gone/tiles")  # a name that exists neither as given nor beside the run folder
    run = read_run(moved)
    assert run.contract["tiled"] and run.contract["mean"] == STATS["mean"]  # via the tiling.json under the input root
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="no run folder"):
        find_runs("runs")
    with pytest.raises(FileNotFoundError, match="names tiles_dir 'gone/tiles', but no tiling.json"):
        read_run(moved)
