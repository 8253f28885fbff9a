"""``python -m kit train``: fit one model from a recipe (flags or a JSON config), resumable."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["HELP", "configure", "run"]

HELP = "train a segmentation model on tiles (index.csv) or full images; resumes from the run folder's last.pt"

_FLAGS = {  # flag -> (TrainConfig field, type)
    "--tiles": ("tiles_dir", str), "--data": ("data_dir", str), "--competition": ("competition", str),
    "--arch": ("arch", str), "--encoder": ("encoder", str), "--encoder-weights": ("encoder_weights", str),
    "--num-classes": ("num_classes", int), "--loss": ("loss", str), "--augment": ("augment", str),
    "--size": ("image_size", str), "--resize-mode": ("resize_mode", str),
    "--multi-scale": ("multi_scale", lambda text: tuple(int(v) for v in text.split(","))),
    "--group": ("fold_group", str),
    "--stratify": ("fold_stratify", lambda text: None if text.lower() == "none" else text),
    "--max-minutes": ("max_minutes", float), "--stain-jitter": ("stain_jitter", float),
    "--color-transfer": ("color_transfer", float), "--epochs": ("epochs", int), "--batch-size": ("batch_size", int),
    "--lr": ("max_lr", float), "--min-lr": ("min_lr", float), "--optimizer": ("optimizer", str),
    "--schedule": ("schedule", str), "--warmup-epochs": ("warmup_epochs", float), "--fold": ("fold", int),
    "--n-folds": ("n_folds", int), "--amp": ("amp", str), "--workers": ("num_workers", int),
    "--init-from": ("init_from", str), "--seed": ("seed", int), "--notes": ("notes", str),
    "--early-stopping": ("early_stopping", int), "--grad-accum": ("grad_accum", int),
    "--clip-grad": ("clip_grad", float), "--validation": ("validation", str), "--val-every": ("val_every", int),
    "--val-max-windows": ("val_max_windows", int),
}

_HELP = {
    "--size": "image size: 352 or HEIGHTxWIDTH such as 480x640 (default: the stored size)",
    "--multi-scale": "comma-separated square sizes, one drawn per batch, e.g. 256,320,384",
    "--group": "fold grouping column (default id; patient_number with --data for HuBMAP 2021)",
    "--max-minutes": "wall-time budget of this call; no epoch starts that would end past it",
    "--stratify": "fold stratification column (default organ, used when the items have it; none: off)",
    "--encoder-weights": "imagenet (default where the encoder has such weights; else none), another smp or timm "
                         "tag, a weights file, or none (from scratch); tags come from a weights folder "
                         "($KIT_WEIGHTS, attached weights dataset), else the library's download if allowed",
    "--validation": "images (whole held-out images, competition metric; needs --data for tiles), tiles, or auto",
    "--val-every": "validate every N epochs (and at the last); the epochs between log NaN",
    "--val-max-windows": "cap on the forward passes of one validation (a fixed subset of the held-out images)",
}


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the train flags; anything else goes through ``--config FILE.json`` or ``--set key=json``."""
    parser.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, oof.npz)")
    parser.add_argument("--config", help="JSON file with TrainConfig fields (flags override it)")
    for flag, (field, kind) in _FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=_HELP.get(flag, f"TrainConfig.{field}"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="any other TrainConfig field, e.g. --set model_kwargs='{\"prediction_map\": 0}'")
    parser.add_argument("--gpus", type=int, default=1, help="processes for DistributedDataParallel (Kaggle T4 ×2: 2)")


def run(args: argparse.Namespace) -> int:
    """Build the TrainConfig, train, save OOF and the runs-log row; print the summary."""
    from kit.train import TrainConfig, run_training
    from kit.train.builders import default_encoder_weights

    values = json.loads(Path(args.config).read_text()) if args.config else {}
    values.update({field: getattr(args, field) for field, _ in _FLAGS.values() if getattr(args, field) is not None})
    for item in args.set:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected KEY=JSON")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    values["out_dir"] = args.out
    config = TrainConfig.from_dict(values)
    if "encoder_weights" not in values:
        config = config.replace(encoder_weights=default_encoder_weights(config))
    summary = run_training(config, world_size=args.gpus)
    print(f"best val Dice {summary['best_dice']:.4f} at epoch {summary['best_epoch']} of {summary['epochs']}")
    return 0
