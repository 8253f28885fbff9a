"""Training: a declarative recipe (TrainConfig), the Trainer, multi-GPU launch, one-call runs, OOF reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.train.config import TrainConfig
from kit.train.distributed import fit_distributed, loader_workers, world_size_for
from kit.train.oof import oof_examples, oof_scores, read_oof
from kit.train.schedule import learning_rate
from kit.train.trainer import Trainer

__all__ = [
    "TrainConfig", "Trainer", "fit_distributed", "learning_rate", "loader_workers", "run_training", "read_oof",
    "oof_scores", "oof_examples", "world_size_for",
]


def run_training(config: TrainConfig, world_size: int | None = 1,
                 runs_log: str | Path | None = None) -> dict[str, Any]:
    """Fit (resuming if the run folder has ``last.pt``), save OOF probabilities, add a row to the runs log.

    ``world_size`` > 1 trains with DistributedDataParallel, then predicts OOF on one process; None: one process
    per visible GPU (:func:`kit.train.distributed.world_size_for`; 1 without GPUs).
    ``runs_log`` defaults to ``runs.csv`` beside the run folder. Returns the trainer's summary.
    """
    from kit.results import append_run

    world_size = world_size_for(world_size)
    if world_size > 1:
        fit_distributed(config, world_size)
        trainer = Trainer(config)
        trainer.resume(Path(config.out_dir) / "last.pt")
    else:
        trainer = Trainer(config)
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
