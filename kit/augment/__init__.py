"""Augmentation: albumentations presets, our colour transforms and multi-scale batches.

- :func:`build_augmentation` (``"none" | "light" | "medium" | "heavy"``) -> ``A.Compose`` for image + mask.
- :class:`ColorTransfer` (Reinhard, LAB) with :func:`lab_stats` to build its reference pool;
  :class:`StainJitter` (HED colour deconvolution); :class:`SquareRotate90`.
- :class:`MultiScaleCollate`: a DataLoader ``collate_fn`` resizing each batch to a size from a list.
"""

from kit.augment.color import hed_to_rgb, lab_stats, reinhard_transfer, rgb_to_hed, stain_jitter
from kit.augment.multiscale import MultiScaleCollate, resize_batch
from kit.augment.presets import PRESETS, build_augmentation
from kit.augment.transforms import ColorTransfer, SquareRotate90, StainJitter

__all__ = [
    "PRESETS",
    "build_augmentation",
    "ColorTransfer",
    "StainJitter",
    "SquareRotate90",
    "lab_stats",
    "reinhard_transfer",
    "rgb_to_hed",
    "hed_to_rgb",
    "stain_jitter",
    "MultiScaleCollate",
    "resize_batch",
]
