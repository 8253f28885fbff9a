"""Training recipe: one declarative dataclass, saved in every checkpoint and run folder."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.competitions import DEFAULT_COMPETITION, get_profile
from kit.registry import Registry
from kit.train.schedule import SCHEDULES

__all__ = ["TrainConfig", "OPTIMIZERS", "AMP_MODES", "RESIZE_MODES", "VALIDATION_MODES", "SMOKE_ENCODER", "parse_size"]

_UNKNOWN = "{kind} {name!r} unknown{hint}; valid: {valid}"  # the options below, named like their field
#: optimiser name -> (torch.optim class name, its keyword arguments besides lr and weight_decay)
OPTIMIZERS: Registry[tuple[str, dict[str, Any]]] = Registry.of(
    "optimizer", {"adam": ("Adam", {}), "adamw": ("AdamW", {}), "sgd": ("SGD", {"momentum": 0.9})}, _UNKNOWN,
    sort=False)
AMP_MODES = Registry.of("amp", ("auto", "bf16", "fp16", "off"), _UNKNOWN, sort=False)
RESIZE_MODES = Registry.of("resize_mode", ("resize", "crop"), _UNKNOWN, sort=False)
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

    out_dir: str = "runs/run"
    competition: str = DEFAULT_COMPETITION
    tiles_dir: str | None = None
    data_dir: str | None = None
    fold: int = 0
    n_folds: int = 5
    fold_group: str | None = None  # None: the profile's group_column, else "id"
    fold_stratify: str | None = "organ"
    image_size: tuple[int, int] | None = None
    resize_mode: str = "resize"
    multi_scale: tuple[int, ...] | None = None
    augment: str = "light"
    stain_jitter: float = 0.0
    color_transfer: float = 0.0
    binarize: bool = False
    erode: int = 0
    num_classes: int | None = None  # None: the competition profile's (1 for a one-class task)
    arch: str = "unet"
    encoder: str | None = "resnet34"
    encoder_weights: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str | None = None  # None: "0.5*bce+0.5*dice" (one class), "0.5*ce+0.5*dice" (several)
    ignore_index: int | None = None
    optimizer: str = "adam"
    max_lr: float = 1e-3  # from scratch; 1e-4 (PraNet) when starting from pretrained weights
    min_lr: float = 1e-5
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    epochs: int = 10
    batch_size: int = 8
    grad_accum: int = 1
    clip_grad: float | None = None
    amp: str = "auto"
    channels_last: bool = True
    num_workers: int = 0
    early_stopping: int | None = None
    threshold: float = 0.5
    seed: int = 0
    init_from: str | None = None
    wandb: bool = False
    progress: bool = True
    notes: str = ""
    max_steps_per_epoch: int | None = None
    max_minutes: float | None = None
    validation: str = "auto"
    val_every: int = 1
    val_max_windows: int | None = None

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
