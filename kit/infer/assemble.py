"""ensemble.json from training run folders: model entries, OOF-chosen weights and thresholds, slim checkpoints.

A run folder (the trainer's output) holds ``config.json``, ``best.pt`` (with ``model_spec`` and the model's input
contract: normalisation, scale, window, resize, classes) and ``oof.npz`` (uint8 probabilities, targets, ids,
groups = organ). How a model sees an image comes from that contract (:mod:`kit.models.contract`), so the run
folder alone is enough (on Kaggle, notebook 02 needs only the training kernel's output);
:func:`model_input_from_contract` is the pure translation into the predictor's settings.

Runs that differ only in fold and seed form one *family*: their OOF predictions are pooled (folds) or
averaged (seeds sharing ids), the family gets one weight, shared equally by its runs at inference. Families
are aligned on the ids they all hold, and :func:`kit.infer.ensemble.search_ensemble` picks the weights and
the global + per-organ thresholds. :func:`build_ensemble` does the reading and writing: slim checkpoints
(weights, model_spec, input contract) go to ``models/`` beside ensemble.json, referenced by relative paths, so that
folder is a self-contained models dataset.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kit.fsutil import remove_stale_temps, swap_folder
from kit.infer.ensemble import EnsembleConfig, EnsembleModel, SearchResult, search_ensemble
from kit.infer.ensemble_checks import check_run_fits, nonempty_share
from kit.infer.oof_pool import pool_oof, submission_path_score, threshold_curves
from kit.infer.predictor import ModelInput
from kit.paths import find_step_output, kaggle_input_root
from kit.train.oof import read_oof

__all__ = ["RunFolder", "EnsembleBuild", "find_runs", "describe_runs", "read_tiles", "read_run", "model_input_for",
           "model_input_from_contract", "family_of", "ensemble_config", "build_ensemble"]

#: recipe fields that do not change what a model is (runs differing only here form one family)
FAMILY_IGNORES = ("out_dir", "fold", "seed", "notes", "init_from", "wandb", "num_workers", "max_steps_per_epoch")


@dataclass
class RunFolder:
    """A training run folder read back: its recipe and its model's input contract (:mod:`kit.models.contract`)."""

    path: Path
    name: str
    config: dict[str, Any]
    contract: dict[str, Any]


@dataclass
class EnsembleBuild:
    """What :func:`build_ensemble` made: the config, the search result, Dice-vs-threshold curves, a runs table."""

    config: EnsembleConfig
    search: SearchResult
    curves: pd.DataFrame  # columns threshold, group ("all" or an organ), dice: the blended OOF, per-image mean
    runs: pd.DataFrame  # columns run, family, weight, family_oof_dice, checkpoint
    path: Path | None = None


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from None


def _tiles_folder(run_dir: Path, named: str) -> Path:
    """The tiles folder a recipe names: as given, or relative to the run folder or the folders above it."""
    candidates = [Path(named)] if Path(named).is_absolute() else [
        Path(named), run_dir / named, run_dir.parent / named, run_dir.parent.parent / named]
    for candidate in candidates:
        if (candidate / "tiling.json").is_file():
            return candidate
    try:  # on Kaggle: the tiling kernel's output attached as a source
        return find_step_output(named, "tiling.json")
    except FileNotFoundError:
        pass
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{run_dir / 'config.json'} names tiles_dir {named!r}, but no tiling.json is in "
                            f"{tried} nor under {kaggle_input_root()}: pass tiles_dir= (the folder notebook 00 wrote)")


def find_runs(root: str | Path) -> list[Path]:
    """Run folders under ``root`` (or ``root`` itself) that hold ``oof.npz`` and ``best.pt``, sorted.

    A ``root`` that does not exist is looked for under the Kaggle input root instead (the output of a training
    kernel attached as a source).
    """
    root = Path(root)
    if not root.exists():
        root = kaggle_input_root()
    found = sorted({p.parent for p in root.rglob("oof.npz") if (p.parent / "best.pt").is_file()})
    if not found:
        raise FileNotFoundError(f"no run folder (oof.npz + best.pt) under {root}: train first (notebook 01)")
    return found


def describe_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """One row per run folder: recipe essentials and the best validation Dice of its ``log.csv``."""
    rows = []
    for run_dir in map(Path, run_dirs):
        config = _json(run_dir / "config.json")
        row = {"run": str(run_dir), **{k: config.get(k) for k in ("arch", "encoder", "loss", "image_size", "fold")}}
        log = run_dir / "log.csv"
        if log.is_file():
            history = pd.read_csv(log)
            row.update(epochs=len(history), best_val_dice=float(history["val_dice"].max()) if len(history) else None)
        rows.append(row)
    return pd.DataFrame(rows)


def read_tiles(folder: str | Path) -> tuple[dict[str, Any], dict[str, Any] | None, float | None]:
    """(``tiling.json``, ``stats.json`` or None, µm/px of the tiled images or None) of a tiles folder."""
    from kit.tiling import tiles_source_pixel_size

    folder = Path(folder)
    stats_path = folder / "stats.json"
    tiling = _json(folder / "tiling.json")
    return (tiling, _json(stats_path) if stats_path.is_file() else None,
            tiles_source_pixel_size(folder, tiling.get("competition")))


def read_run(run_dir: str | Path, tiles_dir: str | Path | None = None) -> RunFolder:
    """Read ``config.json`` of a run folder and the input contract of its model.

    The contract comes from ``best.pt`` (the trainer stores it there); run folders written before that fall back
    to the ``tiling.json``/``stats.json`` copies in the run folder, then to the tiles folder the recipe names.
    ``tiles_dir`` forces reading the contract's ingredients from that tiles folder.
    """
    from kit.models.checkpoint import load_checkpoint
    from kit.models.contract import CONTRACT_KEY, check_contract, input_contract

    run_dir = Path(run_dir)
    config = _json(run_dir / "config.json")
    best = run_dir / "best.pt"
    if tiles_dir is None and best.is_file():
        state = load_checkpoint(best)
        if isinstance(state, dict) and CONTRACT_KEY in state:
            contract = check_contract(state[CONTRACT_KEY], str(best))
            return RunFolder(run_dir, run_dir.name, config, contract)
    named = tiles_dir or config.get("tiles_dir")
    if named is None:
        return RunFolder(run_dir, run_dir.name, config, input_contract(config))
    folder = run_dir if tiles_dir is None and (run_dir / "tiling.json").is_file() else _tiles_folder(run_dir,
                                                                                                      str(named))
    return RunFolder(run_dir, run_dir.name, config, input_contract(config, *read_tiles(folder)))


def model_input_from_contract(
    contract: dict[str, Any],
    window: int | None = None,
    overlap: float = 0.25,
    margin: int = 0,
    blend: str = "gaussian",
    physical_scale: bool = True,
) -> ModelInput:
    """How inference must feed a model with this input contract (pure).

    Tile-trained: sliding windows of the training side (or ``window``) at the tiles' scale; with
    ``physical_scale`` and a known pixel size of the tiled images a ``reduce`` becomes a target µm/px, so test
    images of another pixel size (2022 HuBMAP) are rescaled. Image-trained: the whole image resized to the
    training (height, width), probabilities resized back.
    """
    mean, std = tuple(contract["mean"]), tuple(contract["std"])
    if not contract["tiled"]:
        resize = contract["resize"]
        return ModelInput(window=None, size=tuple(resize) if resize else None, mean=mean, std=std)
    side = window or contract["window"]
    if side is None:
        raise ValueError("the training size is not square: pass window= for the sliding window")
    common = dict(window=int(side), overlap=overlap, margin=margin, mean=mean, std=std, blend=blend)
    if contract["pixel_size"]:
        return ModelInput(pixel_size=float(contract["pixel_size"]), **common)
    if physical_scale and contract["source_pixel_size"]:
        return ModelInput(pixel_size=float(contract["reduce"]) * float(contract["source_pixel_size"]), **common)
    return ModelInput(reduce=float(contract["reduce"]), **common)


def model_input_for(
    config: dict[str, Any],
    tiling: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
    window: int | None = None,
    overlap: float = 0.25,
    margin: int = 0,
    blend: str = "gaussian",
    source_pixel_size: float | None = None,
) -> ModelInput:
    """How inference must feed the model a training recipe made on ``tiling`` tiles with ``stats`` (pure):
    :func:`kit.models.contract.input_contract` then :func:`model_input_from_contract`."""
    from kit.models.contract import input_contract

    contract = input_contract(config, tiling, stats, source_pixel_size)
    return model_input_from_contract(contract, window, overlap, margin, blend)


def family_of(config: dict[str, Any]) -> str:
    """A key shared by recipes that differ only in fold, seed and bookkeeping (:data:`FAMILY_IGNORES`)."""
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in FAMILY_IGNORES}, sort_keys=True)


def ensemble_config(
    competition: str,
    models: Sequence[EnsembleModel],
    weights: Sequence[float],
    search: SearchResult,
    per_group: bool = True,
    tta: str | Sequence[str] = "identity",
    min_area: int = 0,
    fill_holes: bool = False,
    out_reduce: float | None = None,
    notes: str = "",
) -> EnsembleConfig:
    """The EnsembleConfig of ``models`` with per-model ``weights`` and the search's thresholds (pure)."""
    thresholds = {"default": 0.5 if search.threshold is None else round(search.threshold, 6)}
    if per_group:
        thresholds.update({k: round(v, 6) for k, v in search.group_thresholds.items()})
    score = search.group_score if per_group and search.group_score is not None else search.score
    return EnsembleConfig(competition, list(models), [round(float(w), 6) for w in weights], thresholds,
                          [tta] if isinstance(tta, str) else list(tta), int(min_area), bool(fill_holes),
                          out_reduce, round(float(score), 6), notes)


def _unique_names(runs: Sequence[RunFolder]) -> list[str]:
    names: list[str] = []
    for run in runs:
        name = run.name if run.name not in names else f"{run.path.parent.name}_{run.name}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def _slim_checkpoint(run: RunFolder, target: Path) -> dict[str, Any]:
    """Copy weights, model_spec, input and output contracts of ``best.pt`` to ``target`` (atomic); returns the
    model_spec."""
    from kit.models.checkpoint import load_checkpoint, non_finite_tensors, save_checkpoint
    from kit.models.contract import CONTRACT_KEY, OUTPUT_KEY

    state = load_checkpoint(run.path / "best.pt")
    if not isinstance(state, dict) or "model" not in state or "model_spec" not in state:
        raise ValueError(f"{run.path / 'best.pt'} lacks 'model' or 'model_spec' (write it with the kit trainer)")
    bad = non_finite_tensors(state["model"])
    if bad:
        raise ValueError(f"{run.path / 'best.pt'} holds NaN/inf weights ({', '.join(bad[:3])}): retrain the run")
    save_checkpoint(target, {"model": state["model"], "model_spec": state["model_spec"], CONTRACT_KEY: run.contract,
                             **({OUTPUT_KEY: state[OUTPUT_KEY]} if OUTPUT_KEY in state else {})})
    return state["model_spec"]


def build_ensemble(
    run_dirs: Sequence[str | Path],
    out: str | Path = "ensemble.json",
    tta: str | Sequence[str] = "identity",
    step: float = 0.1,
    per_group: bool = True,
    min_area: int = 0,
    fill_holes: bool = False,
    window: int | None = None,
    overlap: float = 0.25,
    margin: int = 0,
    blend: str = "gaussian",
    out_reduce: float | None = None,
    tiles_dir: str | Path | None = None,
    physical_scale: bool = True,
) -> EnsembleBuild:
    """Read the run folders, search weights and thresholds on their OOF predictions, write ensemble.json.

    Slim checkpoints go to ``<folder of out>/models/<run>.pt``. ``per_group`` adds per-organ thresholds
    (and picks the weights for them); ``window``/``overlap``/``margin``/``blend`` set the sliding window
    of tile-trained models; ``tiles_dir`` overrides the tiles folder the recipes name. ``physical_scale``:
    models tiled with a ``reduce`` from images of one known pixel size (2022 HPA, 0.4 µm/px) work at the
    matching µm/px, so each test image is rescaled by its own ``pixel_size`` (False: the plain ``reduce``).
    """
    if not run_dirs:
        raise ValueError("build_ensemble needs at least one run folder")
    runs = [read_run(d, tiles_dir) for d in run_dirs]
    competitions = {r.config.get("competition") for r in runs}
    if len(competitions) != 1:
        raise ValueError(f"the runs belong to different competitions: {sorted(map(str, competitions))}")
    for run in runs:
        check_run_fits(run, physical_scale)
    families = [family_of(r.config) for r in runs]
    order, oof, images = pool_oof([read_oof(r.path) for r in runs], families)
    targets, valid = [im.targets for im in images], [im.valid for im in images]
    groups = np.asarray([im.group for im in images])
    use_groups = per_group and bool(set(groups) - {""})
    search = search_ensemble(oof, targets, groups if use_groups else None, step=step, valid=valid)
    members = [families.count(f) for f in families]
    weights = [search.weights[order.index(f)] / n for f, n in zip(families, members)]
    out = Path(out)
    names = _unique_names(runs)
    remove_stale_temps(out.parent)
    models = []
    with swap_folder(out.parent / "models") as folder:  # the old models/ and ensemble.json stay until both are new
        for run, name in zip(runs, names):
            spec = _slim_checkpoint(run, folder / f"{name}.pt")
            models.append(EnsembleModel(name, f"models/{name}.pt", spec, model_input_from_contract(
                run.contract, window, overlap, margin, blend, physical_scale)))
        alone = [float(search_ensemble([r], targets, valid=valid).score) for r in oof]
        notes = (f"OOF over {len(targets)} images of {len(order)} model families "
                 f"({', '.join(f'{n}: {w:.2f}' for n, w in zip(names, weights))})")
        competition = next(iter(competitions))
        if competition:  # a profile file stores its slug: predict checks it against the profile it is given
            from kit.competitions import get_profile

            competition = get_profile(competition).slug
        config = ensemble_config(competition, models, weights, search, use_groups, tta, min_area,
                                 fill_holes, out_reduce, notes)
        exact = submission_path_score(oof, search.weights, images, config.thresholds)
        if exact is not None:  # the printed OOF score is what the submission path scores on these images
            config.notes += f"; area-share estimate {config.oof_score:.4f}"
            config.oof_score = round(exact, 6)
        config.oof_nonempty = nonempty_share(oof, search.weights, images, config.thresholds)
        config.save(out)
    table = pd.DataFrame({"run": names, "family": [order.index(f) for f in families], "weight": weights,
                          "family_oof_dice": [alone[order.index(f)] for f in families],
                          "checkpoint": [m.checkpoint for m in models]})
    curves = threshold_curves(oof, search.weights, images, use_groups)
    return EnsembleBuild(config, search, curves, table, out)
