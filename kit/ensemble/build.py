"""ensemble.json from training run folders: model entries, OOF-chosen weights and thresholds, slim checkpoints.

A run folder (the trainer's output) holds ``config.json``, ``best.pt`` (with ``model_spec`` and the model's input
contract: normalisation, scale, window, resize, classes) and ``oof.npz`` (uint8 probabilities, targets, ids,
groups = organ). How a model sees an image comes from that contract (:mod:`kit.models.contract`), so the run
folder alone is enough (on Kaggle, notebook 02 needs only the training kernel's output);
:func:`kit.infer.model_input.model_input_from_contract` is the pure translation into the predictor's settings.
The run folder is read through :mod:`kit.artifacts.run_folder`, the OOF files through :mod:`kit.artifacts.oof`.

Runs that differ only in fold and seed form one *family*: their OOF predictions are pooled (folds) or
averaged (seeds sharing ids), the family gets one weight, shared equally by its runs at inference. Families
are aligned on the ids they all hold, and :func:`kit.ensemble.search.search_ensemble` picks the weights and
the global + per-organ thresholds. :func:`build_ensemble` does the reading and writing: slim checkpoints
(:func:`kit.models.checkpoint.slim_checkpoint`) go to ``models/`` beside ensemble.json, referenced by relative
paths, so that folder is self-contained (:func:`kit.kernels.datasets.build_models_dataset` packs it flat for Kaggle).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kit.artifacts.oof import read_oof
from kit.artifacts.run_folder import BEST_FILE, RunFolder, read_run
from kit.ensemble.checks import check_run_fits, nonempty_share
from kit.ensemble.estimate import oof_uncertainty
from kit.ensemble.pool import blend_oof, pool_oof, submission_path_scores, threshold_curves
from kit.ensemble.search import SearchResult, search_ensemble
from kit.fsutil import remove_stale_temps, swap_folder
from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
from kit.infer.model_input import ModelInput, model_input_from_contract
from kit.models.checkpoint import slim_checkpoint

__all__ = ["DEFAULT_TTA", "EnsembleBuild", "family_of", "ensemble_config", "build_ensemble"]

#: TTA of a new ensemble: the flips that gained +0.02 hold-out Dice on real polyps (bench/RESULTS.md, "Real data")
DEFAULT_TTA = ("identity", "hflip", "vflip")

#: recipe fields that do not change what a model is (runs differing only here form one family)
FAMILY_IGNORES = ("out_dir", "fold", "seed", "notes", "init_from", "wandb", "num_workers", "max_steps_per_epoch")


@dataclass
class EnsembleBuild:
    """What :func:`build_ensemble` made: the config, the search result, Dice-vs-threshold curves, a runs table."""

    config: EnsembleConfig
    search: SearchResult
    curves: pd.DataFrame  # columns threshold, group ("all" or an organ), dice: the blended OOF, per-image mean
    runs: pd.DataFrame  # columns run, family, weight, family_oof_dice, checkpoint
    path: Path | None = None


def family_of(config: dict[str, Any]) -> str:
    """A key shared by recipes that differ only in fold, seed and bookkeeping (:data:`FAMILY_IGNORES`)."""
    return json.dumps({k: v for k, v in sorted(config.items()) if k not in FAMILY_IGNORES}, sort_keys=True)


def ensemble_config(
    competition: str,
    models: Sequence[EnsembleModel],
    weights: Sequence[float],
    search: SearchResult,
    per_group: bool = True,
    tta: str | Sequence[str] = DEFAULT_TTA,
    min_area: int = EnsembleConfig.min_area,
    fill_holes: bool = EnsembleConfig.fill_holes,
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


def _slim(run: RunFolder, target: Path) -> dict[str, Any]:
    """The slim checkpoint of ``run``'s ``best.pt`` at ``target``, with the run's input contract; its model_spec."""
    state = slim_checkpoint(run.path / BEST_FILE, target, run.contract)
    if "model_spec" not in state:
        raise ValueError(f"{run.path / BEST_FILE} lacks 'model_spec' (write it with the kit trainer)")
    return state["model_spec"]


def build_ensemble(
    run_dirs: Sequence[str | Path],
    out: str | Path = "ensemble.json",
    tta: str | Sequence[str] = DEFAULT_TTA,
    step: float = 0.1,
    per_group: bool = True,
    min_area: int = EnsembleConfig.min_area,
    fill_holes: bool = EnsembleConfig.fill_holes,
    window: int | None = None,
    overlap: float = ModelInput.overlap,
    margin: int = ModelInput.margin,
    blend: str = ModelInput.blend,
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
            spec = _slim(run, folder / f"{name}.pt")
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
        blends = blend_oof(oof, search.weights)  # once: scored, checked for foreground and plotted
        per_image = submission_path_scores(blends, images, config.thresholds)
        if per_image is not None:  # the printed OOF score is what the submission path scores on these images
            config.notes += f"; area-share estimate {config.oof_score:.4f}"
            config.oof_score = round(float(per_image.mean()), 6)
            spread = oof_uncertainty(images, per_image)
            config.oof_uncertainty = None if spread is None else asdict(spread)
        config.oof_nonempty = nonempty_share(blends, images, config.thresholds)
        config.save(out)
    table = pd.DataFrame({"run": names, "family": [order.index(f) for f in families], "weight": weights,
                          "family_oof_dice": [alone[order.index(f)] for f in families],
                          "checkpoint": [m.checkpoint for m in models]})
    curves = threshold_curves(blends, images, use_groups)
    return EnsembleBuild(config, search, curves, table, out)
