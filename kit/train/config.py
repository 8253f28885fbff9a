"""Training recipe: one declarative dataclass, saved in every checkpoint and run folder."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.competitions import DEFAULT_COMPETITION, get_profile
from kit.models.contract import RESIZE_MODES
from kit.options import option
from kit.registry import Registry
from kit.train.schedule import SCHEDULES

__all__ = ["TrainConfig", "OPTIMIZERS", "AMP_MODES", "RESIZE_MODES", "VALIDATION_MODES", "SMOKE_ENCODER", "parse_size"]

_UNKNOWN = "{kind} {name!r} unknown{hint}; valid: {valid}"  # the options below, named like their field
#: optimiser name -> (torch.optim class name, its keyword arguments besides lr and weight_decay)
OPTIMIZERS: Registry[tuple[str, dict[str, Any]]] = Registry.of(
    "optimizer", {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "sgd": ("SGD", {"momentum": 0.9})}, _UNKNOWN,
    sort=False)
AMP_MODES = Registry.of("amp", ("auto", "bf16", "fp16", "off"), _UNKNOWN, sort=False)
VALIDATION_MODES = Registry.of("validation", ("auto", "images", "tiles"), _UNKNOWN, sort=False)  # kit.train.validation
SMOKE_ENCODER = "tu-test_resnet.r160_in1k"  # timm's 2.3 M-parameter test network: builds offline, trains in seconds


def parse_size(value: int | str | tuple[int, int] | list[int] | None) -> tuple[int, int] | None:
    """(height, width) from 352, "352", "480x640" or (480, 640); ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.lower().replace("×", "x").split("x")
        try:
            value = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"image size {value!r}: expected an int or HEIGHTxWIDTH such as 480x640") from None
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        value = value * 2
    if len(value) != 2 or min(value) <= 0:
        raise ValueError(f"image size must be a positive int or (height, width); got {value!r}")
    return value


@dataclass
class TrainConfig:
    """Everything a training run needs; the trainer, the CLI, DDP workers and the results table read it.

    Data: ``tiles_dir`` (a tiler output folder with index.csv) or ``data_dir`` + ``competition`` (full images
    with mask files, NeoPolyp or a custom profile file). Folds are grouped by ``fold_group`` (None: the profile's
    ``group_column``, else the image id) and stratified by ``fold_stratify``.
    Model: ``arch`` + ``encoder`` + ``model_kwargs`` for :func:`kit.models.build_model`; ``encoder_weights`` a
    pretrained tag (``"imagenet"``: see :mod:`kit.models.pretrained`), a file, or None (random initialisation).
    Images: ``image_size`` (height, width) by ``resize_mode`` "resize" or "crop" (random crop for training;
    validation always resizes); ``multi_scale`` sizes draw one size per batch. Augmentation: the ``augment``
    preset, then :class:`~kit.augment.StainJitter` with probability ``stain_jitter`` and
    :class:`~kit.augment.ColorTransfer` (towards training images) with probability ``color_transfer``.
    Schedule: Adam(W)/SGD, ``max_lr`` -> ``min_lr`` with ``schedule`` and ``warmup_epochs``.
    ``init_from`` starts from a checkpoint's weights with this (new) recipe: "continue training".
    Validation (:mod:`kit.train.validation`): ``validation`` "images" predicts the fold's held-out whole images
    with the inference predictor and scores them with the competition metric (what picks ``best.pt`` and drives
    early stopping), "tiles" scores the validation tiles, "auto" = images when the source images are found;
    every ``val_every`` epochs (and at the last), on images whose forward passes total at most
    ``val_max_windows`` (None: all; ``oof.npz`` always covers every held-out image).
    ``max_minutes`` caps the wall time of one ``fit`` call: no epoch starts that would, judged by the previous
    epoch, end past it. ``progress`` shows tqdm bars; ``wandb`` also logs to Weights & Biases (offline mode).
    """

    out_dir: str = option("runs/run", "run folder: checkpoints, log.csv, oof.npz, config.json")
    competition: str = option(DEFAULT_COMPETITION, "competition slug or a profile .json file")
    tiles_dir: str | None = option(None, "tiler output folder with index.csv (None: the full images of data_dir)")
    data_dir: str | None = option(None, "competition folder: full images with mask files; with tiles, the source "
                                        "images of whole-image validation and the per-image tables of fold_group")
    fold: int = option(0, "the fold held out for validation")
    n_folds: int = option(5, "number of folds")
    fold_group: str | None = option(None, "fold grouping column (None: the profile's group_column, else id; "
                                          "patient_number for HuBMAP 2021 needs the competition folder)")
    fold_stratify: str | None = option("organ", "fold stratification column, used when the items have it "
                                                "(none: off)")
    image_size: tuple[int, int] | None = option(None, "image size: 352 or HEIGHTxWIDTH such as 480x640 (None: the "
                                                      "stored size)")
    resize_mode: str = option("resize", "resize or crop to image_size (crop: random crops for training; "
                                        "validation always resizes)")
    multi_scale: tuple[int, ...] | None = option(None, "square sizes, one drawn per training batch, e.g. 256,320,384")
    augment: str = option("light", "augmentation preset: none, light, medium, heavy")
    stain_jitter: float = option(0.0, "probability of HED stain jitter (histology)")
    color_transfer: float = option(0.0, "probability of Reinhard colour transfer towards other training images")
    binarize: bool = option(False, "map every non-zero mask class to 1 (binary training on a multi-class mask)")
    erode: int = option(0, "erode each mask class region by this many pixels (label cleaning)")
    num_classes: int | None = option(None, "output channels (None: the competition profile's; 1 for a one-class "
                                           "task)")
    arch: str = option("unet", "architecture; python -m kit models lists them")
    encoder: str | None = option("resnet34", "smp encoder or tu-<timm name>")
    encoder_weights: str | None = option(None, "imagenet (the command line's default where the encoder has such "
                                               "weights; else none), another smp or timm tag, a weights file, or "
                                               "none (from scratch); tags come from a weights folder ($KIT_WEIGHTS, "
                                               "attached weights dataset), else the library's download if allowed")
    model_kwargs: dict[str, Any] = option(help="extra model arguments, e.g. {\"decoder_attention_type\": \"scse\"}",
                                          factory=dict)
    loss: str | None = option(None, "weighted loss spec such as 0.5*bce+0.5*dice (None: 0.5*bce+0.5*dice for one "
                                    "class, 0.5*ce+0.5*dice for several)")
    ignore_index: int | None = option(None, "mask value that counts in neither the loss nor the metrics")
    optimizer: str = option("adam", "adam, adamw or sgd")
    max_lr: float = option(1e-3, "max learning rate (from scratch; 1e-4 suits pretrained PraNet-style fine-tuning)")
    min_lr: float = option(1e-5, "learning rate at the end of the schedule")
    weight_decay: float = option(0.0, "weight decay")
    schedule: str = option("cosine", "learning-rate schedule: cosine, constant, poly")
    warmup_epochs: float = option(0.0, "epochs of linear warm-up from min_lr to max_lr")
    epochs: int = option(10, "training epochs")
    batch_size: int = option(8, "images per batch (per process)")
    grad_accum: int = option(1, "batches accumulated per optimiser step")
    clip_grad: float | None = option(None, "max gradient norm (None: no clipping)")
    amp: str = option("auto", "GPU mixed precision: auto (bf16 where supported, else fp16), bf16, fp16, off")
    channels_last: bool = option(True, "channels-last memory format on GPU")
    num_workers: int = option(0, "DataLoader worker processes")
    early_stopping: int | None = option(None, "stop after this many epochs without a better validation Dice")
    threshold: float = option(0.5, "probability threshold of the validation masks")
    seed: int = option(0, "random seed")
    init_from: str | None = option(None, "checkpoint whose weights start this run (continue training with a new "
                                         "recipe)")
    wandb: bool = option(False, "also log to Weights & Biases (offline mode)")
    progress: bool = option(True, "show progress bars")
    notes: str = option("", "free text for the results table")
    max_steps_per_epoch: int | None = option(None, "cap on the optimiser steps of one epoch (smoke runs)")
    max_minutes: float | None = option(None, "wall-time budget of one fit call; no epoch starts that would end "
                                             "past it")
    validation: str = option("auto", "images (whole held-out images, competition metric; tiles need the source "
                                     "images), tiles, or auto (images when the source images are found)")
    val_every: int = option(1, "validate every N epochs (and at the last); the epochs between log NaN")
    val_max_windows: int | None = option(None, "cap on the forward passes of one validation (a fixed subset of the "
                                               "held-out images)")

    def __post_init__(self) -> None:
        for table, value in ((OPTIMIZERS, self.optimizer), (AMP_MODES, self.amp), (SCHEDULES, self.schedule),
                             (RESIZE_MODES, self.resize_mode), (VALIDATION_MODES, self.validation)):
            table.check(value)
        if self.tiles_dir is None and self.data_dir is None:
            raise ValueError("TrainConfig needs tiles_dir (tiler output) or data_dir (images with mask files)")
        if not 0 <= self.fold < self.n_folds:
            raise ValueError(f"fold {self.fold} outside 0..{self.n_folds - 1}")
        for name in ("stain_jitter", "color_transfer"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a probability in [0, 1]; got {getattr(self, name)}")
        if self.epochs < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError(f"epochs, batch_size and grad_accum must be >= 1; got {self.epochs}, "
                             f"{self.batch_size}, {self.grad_accum}")
        if self.val_every < 1 or (self.val_max_windows is not None and self.val_max_windows < 1):
            raise ValueError(f"val_every and val_max_windows must be >= 1; got {self.val_every}, "
                             f"{self.val_max_windows}")
        if self.max_minutes is not None and not 0 < self.max_minutes < math.inf:
            raise ValueError(f"max_minutes must be a finite number > 0 or None; got {self.max_minutes}")
        self._check_numbers()
        self.image_size = parse_size(self.image_size)
        if isinstance(self.encoder_weights, str) and self.encoder_weights.strip().lower() == "none":
            self.encoder_weights = None  # the command line's spelling of "from scratch"
        if self.num_classes is None:
            self.num_classes = get_profile(self.competition).num_classes
        if self.loss is None:
            self.loss = "0.5*bce+0.5*dice" if self.num_classes == 1 else "0.5*ce+0.5*dice"
        if self.multi_scale is not None:
            self.multi_scale = tuple(self.multi_scale)

    def _check_numbers(self) -> None:
        """Learning rates, decay, clipping, warm-up and threshold: finite and in range (NaN and inf refused)."""
        ranges = {"max_lr": (0, True), "min_lr": (0, True), "weight_decay": (0, True), "warmup_epochs": (0, True),
                  "clip_grad": (0, False), "threshold": (0, True)}
        for name, (low, inclusive) in ranges.items():
            value = getattr(self, name)
            if value is None and name == "clip_grad":
                continue
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < low or (
                    value == low and not inclusive):
                raise ValueError(f"{name} must be a finite number {'>=' if inclusive else '>'} {low}; got {value!r}")
        if self.min_lr > self.max_lr:
            raise ValueError(f"min_lr {self.min_lr:g} > max_lr {self.max_lr:g}: the schedule would climb; "
                             f"pass --min-lr below --lr")
        if self.threshold > 1:
            raise ValueError(f"threshold is a probability in [0, 1]; got {self.threshold}")

    @property
    def mode(self) -> str:
        """The model's output mode (:mod:`kit.outputs`), from its card: "binary" for one class, else "multiclass"
        (softmax) or "multilabel" (one sigmoid channel per foreground class, e.g. NeoUNet)."""
        from kit.models import model_info

        return model_info(self.arch).output_mode(self.num_classes)

    @property
    def class_names(self) -> list[str]:
        """Names of the foreground classes: the competition's when they match ``num_classes``, else the ids."""
        from kit.competitions import get_profile

        if self.num_classes == 1:
            return ["foreground"]
        try:
            classes = get_profile(self.competition).classes
        except KeyError:
            classes = ()
        return list(classes) if len(classes) == self.num_classes - 1 else [str(k) for k in range(1, self.num_classes)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from a dict; an unknown key raises KeyError naming it and listing the valid ones."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise KeyError(f"unknown TrainConfig keys {unknown}; valid keys: {', '.join(sorted(names))}")
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied (validated like a new config)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def smoke(self) -> "TrainConfig":
        """A copy with CI sizes: a tiny UNet (timm ``test_resnet``, no weights), 64² images, at most 2 epochs of at
        most 2 steps, batch 4, no workers, no AMP; data, loss, augmentation and folds stay as they are."""
        return self.replace(
            arch="unet", encoder=SMOKE_ENCODER, encoder_weights=None, init_from=None,
            model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]}, image_size=(64, 64), multi_scale=None,
            epochs=min(2, self.epochs), max_steps_per_epoch=2, batch_size=4, grad_accum=1, num_workers=0, amp="off",
            early_stopping=None, wandb=False,
        )

    def save(self, path: str | Path) -> None:
        """Write the config as JSON atomically."""
        from kit.fsutil import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))
