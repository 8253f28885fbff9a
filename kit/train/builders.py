"""Pure builders from a TrainConfig: model, datasets with folds, data loaders, optimiser."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from kit.artifacts.tiles import normalisation
from kit.data import SegmentationDataset, image_items, image_metadata, make_folds, tile_items
from kit.models.spec import model_spec as spec_of
from kit.train.config import OPTIMIZERS, TrainConfig

__all__ = [
    "model_spec", "resolve_spec_weights", "default_encoder_weights", "fold_items",
    "build_datasets", "build_transform", "build_loader", "build_optimizer", "EpochSampler", "fold_group_of",
    "fold_groups",
    "amp_dtype",
]

_COLOR_POOL = 16  # training images whose LAB statistics form the ColorTransfer reference pool


def model_spec(config: TrainConfig) -> dict[str, Any]:
    """The spec that rebuilds the model of a run (:func:`kit.models.spec.model_spec`; stored in its checkpoints);
    its class count is the output channels of the model card's head (multilabel: no background channel)."""
    from kit.outputs import head_channels

    return spec_of(config.arch, head_channels(config.mode, config.num_classes), config.encoder, config.model_kwargs)


def resolve_spec_weights(spec: dict[str, Any], encoder_weights: str | None):
    """:class:`~kit.models.pretrained.ResolvedWeights` of ``encoder_weights`` (tag, file or None) for the encoder of
    the model ``spec`` describes: the file to load and a line saying where it came from."""
    from kit.models import model_encoder
    from kit.models.pretrained import resolve_encoder_weights

    return resolve_encoder_weights(encoder_weights, model_encoder(spec["name"], spec["kwargs"]))


def default_encoder_weights(config: TrainConfig) -> str | None:
    """``"imagenet"`` where the run's encoder has such weights, else None: what ``kit train`` uses unless told."""
    from kit.models import model_encoder
    from kit.models.pretrained import default_encoder_weights as default_for

    spec = model_spec(config)
    return default_for(model_encoder(spec["name"], spec["kwargs"]))


def fold_group_of(config: TrainConfig) -> str:
    """The fold grouping column: ``config.fold_group``, else the profile's ``group_column``, else ``id``."""
    from kit.competitions import get_profile

    return config.fold_group or get_profile(config.competition).group_column or "id"


def _items(config: TrainConfig):
    group = fold_group_of(config)
    if config.tiles_dir is not None:
        from kit.io import read_png_mask

        items = tile_items(config.tiles_dir)
        if group not in items.columns and config.data_dir is not None:
            # e.g. fold_group="patient_number": per-image columns of the competition tables, joined on the id
            info = image_metadata(config.competition, config.data_dir)
            items = items.merge(info[["id"] + [c for c in info.columns if c not in items.columns]], on="id",
                                how="left")
        if group not in items.columns:
            raise ValueError(f"fold_group {group!r} is not a column of {config.tiles_dir}/index.csv nor of "
                             f"the competition tables{'' if config.data_dir else ' (set data_dir to join them)'}; "
                             f"index columns: {list(items.columns)}")
        return items, read_png_mask, normalisation(config.tiles_dir)
    from kit.competitions import get_profile

    profile = get_profile(config.competition)
    items = image_items(profile, config.data_dir)
    if group not in items.columns or items[group].isna().any():
        raise ValueError(f"fold_group {group!r}: every training image of {config.data_dir} needs a value "
                         f"(columns: {list(items.columns)}; metadata: {profile.metadata_csv})")
    return items, profile.read_mask, (None, None)


def build_transform(config: TrainConfig, train_data: SegmentationDataset | None = None):
    """The training augmentation: the ``augment`` preset, then stain jitter and colour transfer if asked.

    The colour-transfer reference pool holds the LAB statistics of up to 16 images of ``train_data``.
    """
    from kit.augment import ColorTransfer, StainJitter, build_augmentation, lab_stats

    extra = []
    if config.stain_jitter > 0:
        extra.append(StainJitter(p=config.stain_jitter))
    if config.color_transfer > 0:
        if train_data is None or len(train_data) == 0:
            raise ValueError("color_transfer needs training images to build its reference pool")
        picks = np.linspace(0, len(train_data) - 1, min(_COLOR_POOL, len(train_data))).round().astype(int)
        extra.append(ColorTransfer([lab_stats(train_data.load(int(i))[0]) for i in picks], p=config.color_transfer))
    return build_augmentation(config.augment, extra=extra)


def fold_items(config: TrainConfig):
    """(every training item with its ``fold`` column, the mask reader, the normalisation (mean, std)): folds
    grouped by ``fold_group`` (image id, or e.g. ``patient_number`` with ``data_dir`` set), stratified by
    ``fold_stratify`` when the items have it."""
    items, read_mask, stats = _items(config)
    stratify = config.fold_stratify if config.fold_stratify in items.columns else None
    items["fold"] = make_folds(items, config.n_folds, fold_group_of(config), stratify, seed=config.seed)
    return items, read_mask, stats


def fold_groups(config: TrainConfig, items: pd.DataFrame, ids: Sequence[str]) -> tuple[str, list[str]] | None:
    """(the folds' grouping column, each of ``ids``' value in it) from training ``items`` (a dataset's table);
    None when the table lacks the column or an id is not one of its images (tile entries)."""
    column = fold_group_of(config)
    if column not in items.columns or "id" not in items.columns:
        return None
    by_id = dict(zip(items["id"].astype(str), items[column].astype(str)))
    if not all(str(i) in by_id for i in ids):
        return None
    return column, [by_id[str(i)] for i in ids]


def build_datasets(config: TrainConfig) -> tuple[SegmentationDataset, SegmentationDataset]:
    """Train and validation datasets of ``config.fold`` (folds of :func:`fold_items`)."""
    items, read_mask, (mean, std) = fold_items(config)
    norm = {} if mean is None else {"mean": mean, "std": std}
    common = dict(read_mask=read_mask, size=config.image_size, binarize=config.binarize, erode=config.erode, **norm)
    train = SegmentationDataset(items[items["fold"] != config.fold], mode=config.resize_mode, seed=config.seed,
                                **common)
    train.transform = build_transform(config, train)
    val = SegmentationDataset(items[items["fold"] == config.fold], mode="resize", **common)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"fold {config.fold} leaves {len(train)} training and {len(val)} validation items")
    return train, val


class EpochSampler(Sampler[int]):
    """Shuffled indices that depend only on (seed, epoch): identical after a resume, shardable across ranks."""

    def __init__(self, size: int, seed: int, shuffle: bool = True, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the permutation of ``epoch``."""
        self.epoch = epoch

    def __iter__(self):
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        else:
            order = np.arange(self.size)
        per_rank = -(-self.size // self.world_size)
        order = np.resize(order, per_rank * self.world_size)  # pad by wrapping so every rank gets equal work
        return iter(order[self.rank :: self.world_size].tolist())

    def __len__(self) -> int:
        return -(-self.size // self.world_size)


def build_loader(
    dataset: Dataset, config: TrainConfig, train: bool, rank: int = 0, world_size: int = 1
) -> DataLoader:
    """A DataLoader over ``dataset`` with an :class:`EpochSampler` (and multi-scale batches when configured)."""
    sampler = EpochSampler(len(dataset), config.seed, shuffle=train, rank=rank, world_size=world_size)
    loader_kwargs = dict(
        num_workers=config.num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=config.num_workers > 0,
    )
    if train and config.multi_scale:
        from kit.augment import MultiScaleCollate

        loader_kwargs["collate_fn"] = MultiScaleCollate(config.multi_scale, seed=config.seed)
    return DataLoader(dataset, batch_size=config.batch_size, sampler=sampler, drop_last=False, **loader_kwargs)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9) at ``config.max_lr``."""
    params = [p for p in model.parameters() if p.requires_grad]
    class_name, options = OPTIMIZERS.get(config.optimizer)
    return getattr(torch.optim, class_name)(params, lr=config.max_lr, weight_decay=config.weight_decay, **options)


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: None on the CPU or with "off"; "auto" is bf16 on compute capability >= 8 (A100, H100, L4)
    and fp16 below (Kaggle's T4 and P100, where bf16 would only be emulated)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16
