"""Training recipe: one declarative dataclass, saved in every checkpoint and run folder."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["TrainConfig", "OPTIMIZERS", "AMP_MODES"]

OPTIMIZERS = ("adam", "adamw", "sgd")
AMP_MODES = ("auto", "bf16", "fp16", "off")


@dataclass
class TrainConfig:
    """Everything a training run needs; the trainer, the CLI, DDP workers and the results table read it.

    Data: ``tiles_dir`` (a tiler output folder with index.csv) or ``data_dir`` + ``competition`` (full images
    with mask files, NeoPolyp). Folds are grouped by ``fold_group`` and stratified by ``fold_stratify``.
    Model: ``arch`` + ``encoder`` + ``model_kwargs`` for :func:`kit.models.build_model`.
    Schedule: Adam(W)/SGD, ``max_lr`` -> ``min_lr`` with ``schedule`` and ``warmup_epochs``.
    ``init_from`` starts from a checkpoint's weights with this (new) recipe: "continue training".
    """

    out_dir: str = "runs/run"
    competition: str = "hubmap-organ-segmentation"
    tiles_dir: str | None = None
    data_dir: str | None = None
    fold: int = 0
    n_folds: int = 5
    fold_group: str = "id"
    fold_stratify: str | None = None
    image_size: tuple[int, int] | None = None
    resize_mode: str = "resize"
    multi_scale: tuple[int, ...] | None = None
    augment: str = "light"
    binarize: bool = False
    erode: int = 0
    num_classes: int = 1
    arch: str = "unet"
    encoder: str | None = "resnet34"
    encoder_weights: str | None = None
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str = "bce"
    ignore_index: int | None = None
    optimizer: str = "adam"
    max_lr: float = 1e-4
    min_lr: float = 1e-7
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
    notes: str = ""
    max_steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} unknown; valid: {', '.join(OPTIMIZERS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp {self.amp!r} unknown; valid: {', '.join(AMP_MODES)}")
        if self.tiles_dir is None and self.data_dir is None:
            raise ValueError("TrainConfig needs tiles_dir (tiler output) or data_dir (images with mask files)")
        if not 0 <= self.fold < self.n_folds:
            raise ValueError(f"fold {self.fold} outside 0..{self.n_folds - 1}")
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        elif self.image_size is not None:
            self.image_size = tuple(self.image_size)
        if self.multi_scale is not None:
            self.multi_scale = tuple(self.multi_scale)

    @property
    def mode(self) -> str:
        """"binary" for one output channel, "multiclass" otherwise."""
        return "binary" if self.num_classes == 1 else "multiclass"

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

    def save(self, path: str | Path) -> None:
        """Write the config as JSON atomically."""
        from kit.fsutil import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))
