"""Training: a declarative recipe (TrainConfig), the Trainer, multi-GPU launch, one-call runs, OOF reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.artifacts.run_folder import CONFIG_FILE, LAST_FILE, RUN_FILES, read_config
from kit.artifacts.tiles import INDEX_FILE, TILING_FILE
from kit.fsutil import remove_stale_temps
from kit.train.config import TrainConfig
from kit.train.distributed import fit_distributed, loader_workers, world_size_for
from kit.train.oof import oof_examples, oof_scores
from kit.train.schedule import learning_rate
from kit.train.trainer import Trainer

__all__ = [
    "TrainConfig", "Trainer", "fit_distributed", "learning_rate", "loader_workers", "run_training", "run_fingerprint",
    "oof_scores", "oof_examples", "world_size_for",
]


#: recipe fields that may change between the calls of one run (a resumed run keeps its fingerprint otherwise)
RESUMABLE_CHANGES = ("out_dir", "max_minutes", "progress", "notes", "num_workers", "wandb", "val_every",
                     "val_max_windows")


def run_fingerprint(config: TrainConfig) -> dict[str, Any]:
    """The recipe (without :data:`RESUMABLE_CHANGES`) and the inputs: hashes of the tiles' index.csv and
    tiling.json, or the data folder's file sizes for full-image training (mounts may change file times)."""
    from kit.fingerprint import file_hash

    recipe = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
    inputs: dict[str, Any] = {}
    if config.tiles_dir is not None:
        tiles = Path(config.tiles_dir)
        inputs = {n: file_hash(tiles / n) for n in (INDEX_FILE, TILING_FILE) if (tiles / n).is_file()}
    elif config.data_dir is not None:
        data = Path(config.data_dir)
        inputs = {str(p.relative_to(data)): p.stat().st_size for p in sorted(data.rglob("*"))
                  if p.is_file() and not p.name.startswith(".") and not p.relative_to(data).parts[0].startswith("_")}
    return json.loads(json.dumps({"recipe": recipe, "inputs": inputs}))


def _check_run_folder(config: TrainConfig, rerun: str) -> dict[str, Any]:
    """Refuse to resume a run folder made by another recipe or from other inputs (see :mod:`kit.fingerprint`);
    returns the fingerprint to record."""
    from kit.fingerprint import check_rerun

    out = Path(config.out_dir)
    fingerprint = run_fingerprint(config)
    previous = None
    if (out / CONFIG_FILE).is_file():  # a run folder older than fingerprints: compare the recipe alone
        try:
            old = read_config(out)
        except ValueError:
            old = {CONFIG_FILE: "unreadable"}
        recipe = {k: v for k, v in old.items() if k not in RESUMABLE_CHANGES}
        previous = {"recipe": recipe, "inputs": fingerprint["inputs"]}
    check_rerun(out, fingerprint, (out / LAST_FILE).is_file(), RUN_FILES, rerun, "run folder", previous)
    remove_stale_temps(out)
    return fingerprint


def run_training(config: TrainConfig, world_size: int | None = 1, runs_log: str | Path | None = None,
                 rerun: str = "refuse") -> dict[str, Any]:
    """Fit (resuming if the run folder has ``last.pt``), save OOF probabilities, add a row to the runs log.

    ``world_size`` > 1 trains with DistributedDataParallel, then predicts OOF on one process; None: one process
    per visible GPU (:func:`kit.train.distributed.world_size_for`; 1 without GPUs).
    ``runs_log`` defaults to ``runs.csv`` beside the run folder. Returns the trainer's summary.
    ``rerun``: what to do with a run folder made by another recipe or from other inputs: "refuse" (ValueError
    listing the differences), "resume-anyway" or "fresh" (its training files deleted first).
    """
    from kit.fingerprint import record_fingerprint
    from kit.results import append_run

    world_size = world_size_for(world_size)
    fingerprint = _check_run_folder(config, rerun)
    if world_size > 1:
        record_fingerprint(config.out_dir, fingerprint)
        fit_distributed(config, world_size)
        trainer = Trainer(config)
        trainer.resume(Path(config.out_dir) / LAST_FILE)
    else:
        trainer = Trainer(config)  # builds the model and data first: a bad recipe leaves the folder untouched
        record_fingerprint(config.out_dir, fingerprint)
        trainer.fit()
    trainer.save_oof()
    summary = trainer.summary()
    validated = [r for r in summary["history"] if r["val_dice"] == r["val_dice"]]  # NaN: epoch not validated
    best = max(validated, key=lambda r: r["val_dice"]) if validated else {}
    per_class = {k[len("val_dice_"):]: v for k, v in best.items() if k.startswith("val_dice_")}
    size = "x".join(map(str, config.image_size)) if config.image_size else "native"
    if config.multi_scale:
        size += " (multi-scale " + ",".join(map(str, config.multi_scale)) + ")"
    notes = config.notes
    if summary.get("stopped") == "time_budget":
        notes = f"{notes}; stopped by the time budget" if notes else "stopped by the time budget"
    append_run(
        runs_log or Path(config.out_dir).parent / "runs.csv",
        {
            "run": Path(config.out_dir).name, "architecture": config.arch, "encoder": config.encoder or "",
            "loss": config.loss, "image_size": size, "augmentation": config.augment, "epochs": summary["epochs"],
            "val_dice": best.get("val_dice", ""), "val_iou": best.get("val_iou", ""), "notes": notes,
            "val_dice_per_class": " · ".join(f"{k} {v:.3f}" for k, v in per_class.items()),
            "val_tile_dice": best.get("val_tile_dice", ""),
        },
    )
    return summary
