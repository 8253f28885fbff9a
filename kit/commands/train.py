"""``python -m kit train``: fit one model (or every fold) from a recipe, a JSON config and flags, resumable.

Precedence, lowest first: TrainConfig defaults < ``--recipe`` (with its override for ``--competition``) <
``--config FILE.json`` < explicit flags < ``--set KEY=JSON``. Every flag defaults to None, so only the flags given
on the command line override.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kit.commands.checks import add_rerun_flags

__all__ = ["HELP", "FLAGS", "configure", "config_values", "run"]

HELP = ("train a segmentation model on tiles (index.csv) or full images from a recipe and flags; --folds all trains "
        "every fold into OUT/fold<k> and pools one OOF; resumes from last.pt")

#: flag -> TrainConfig field; defaults and help come from the field (kit.options), types from its annotation
FLAGS = {
    "--tiles": "tiles_dir", "--data": "data_dir", "--competition": "competition", "--arch": "arch",
    "--encoder": "encoder", "--encoder-weights": "encoder_weights", "--num-classes": "num_classes", "--loss": "loss",
    "--augment": "augment", "--size": "image_size", "--resize-mode": "resize_mode", "--multi-scale": "multi_scale",
    "--group": "fold_group", "--stratify": "fold_stratify", "--max-minutes": "max_minutes",
    "--stain-jitter": "stain_jitter", "--color-transfer": "color_transfer", "--epochs": "epochs",
    "--batch-size": "batch_size", "--lr": "max_lr", "--min-lr": "min_lr", "--optimizer": "optimizer",
    "--schedule": "schedule", "--warmup-epochs": "warmup_epochs", "--fold": "fold", "--n-folds": "n_folds",
    "--amp": "amp", "--workers": "num_workers", "--init-from": "init_from", "--seed": "seed", "--notes": "notes",
    "--early-stopping": "early_stopping", "--grad-accum": "grad_accum", "--clip-grad": "clip_grad",
    "--validation": "validation", "--val-every": "val_every", "--val-max-windows": "val_max_windows",
}
#: flags whose values the field's annotation cannot parse
_TYPES = {
    "--size": str,  # TrainConfig parses 352 / 480x640
    "--multi-scale": lambda text: tuple(int(v) for v in text.split(",")),
    "--stratify": lambda text: None if text.lower() == "none" else text,
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the train flags; anything else goes through ``--config FILE.json`` or ``--set key=json``."""
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, oof.npz); with --folds: "
                        "the recipe's folder holding fold<k>/ and the pooled oof.npz")
    parser.add_argument("--recipe", help="shipped recipe name or recipe file (python -m kit recipes); flags override")
    parser.add_argument("--config", help="JSON file with TrainConfig fields (over the recipe; flags override it)")
    parser.add_argument("--folds", help="'all' or fold numbers such as 0,2,4: one run folder per fold, one pooled OOF")
    parser.add_argument("--fold-per-gpu", action="store_true",
                        help="with --folds: run the folds in parallel processes, one per visible GPU")
    parser.add_argument("--smoke", action="store_true", help="CI sizes: tiny model, 64² images, 2 short epochs")
    from kit.commands.flags import add_field_flags
    from kit.train.config import TrainConfig

    add_field_flags(parser, TrainConfig, FLAGS, explicit=True, types=_TYPES)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="any other TrainConfig field, e.g. --set model_kwargs='{\"prediction_map\": 0}'")
    parser.add_argument("--gpus", type=int, default=1, help="processes for DistributedDataParallel (Kaggle T4 ×2: 2)")
    add_rerun_flags(parser, "run")


def _config_file(path: str) -> dict:
    """The ``--config`` JSON object, or a ValueError naming the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"--config {path} not found")
    try:
        values = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"--config {path} is not valid JSON ({err})") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path} must hold a JSON object of TrainConfig fields, got {type(values).__name__}")
    return values


def _tiles_competition(values: dict) -> None:
    """Take the competition from the tiles' tiling.json when none is given; refuse a contradiction."""
    from kit.artifacts.tiles import TILING_FILE, read_tiling

    tiling = read_tiling(values["tiles_dir"], missing_ok=True) if values.get("tiles_dir") else None
    if tiling is None:
        return
    made_for = tiling.get("competition")
    if made_for and values.get("competition") not in (None, made_for):
        raise ValueError(f"--competition {values['competition']} but the tiles in {values['tiles_dir']} were cut "
                         f"from {made_for} ({Path(values['tiles_dir']) / TILING_FILE})")
    if made_for:
        values["competition"] = made_for


def config_values(args: argparse.Namespace) -> dict:
    """TrainConfig fields from the recipe, the config file, the explicit flags and ``--set``, in that order."""
    from kit.commands.flags import field_values
    from kit.recipes import load_recipe

    values = load_recipe(args.recipe, args.competition).train_values() if args.recipe else {}
    if args.config:
        values.update(_config_file(args.config))
    values.update({name: value for name, value in field_values(args, FLAGS).items() if value is not None})
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=JSON")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    values["out_dir"] = args.out
    return values


def run(args: argparse.Namespace) -> int:
    """Build the TrainConfig, train one fold or every fold asked, print the summary."""
    from kit.commands.checks import number, output_folder
    from kit.train import TrainConfig, run_training
    from kit.train.builders import default_encoder_weights
    from kit.train.folds import train_folds

    output_folder(args.out)
    number(args.gpus, "--gpus", 1)
    values = config_values(args)
    _tiles_competition(values)
    config = TrainConfig.from_dict(values)
    if "encoder_weights" not in values:  # imagenet where the encoder has such weights
        config = config.replace(encoder_weights=default_encoder_weights(config))
    config = config.smoke() if args.smoke else config
    if args.folds is None:
        summary = run_training(config, world_size=args.gpus, rerun=args.rerun)
        print(f"best val Dice {summary['best_dice']:.4f} at epoch {summary['best_epoch']} of {summary['epochs']}")
        return 0
    devices = None
    if args.fold_per_gpu:
        import torch

        if torch.cuda.device_count() < 2:
            raise ValueError(f"--fold-per-gpu needs 2 or more GPUs; {torch.cuda.device_count()} visible")
        devices = [str(i) for i in range(torch.cuda.device_count())]
    summaries = train_folds(config, args.folds, world_size=args.gpus, devices=devices, rerun=args.rerun)
    for fold, summary in summaries.items():
        state = "unfinished (rerun to resume)" if summary is None else (
            f"best val Dice {summary['best_dice']:.4f} at epoch {summary['best_epoch']} of {summary['epochs']}")
        print(f"fold {fold}: {state}")
    return 0
