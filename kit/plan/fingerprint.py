"""Fingerprint of a training set: image sizes, pixel sizes, objects (sizes, counts), class balance, tissue share.

Each sampled image is read as a thumbnail (longest side at most :data:`THUMB_SIDE`) with its mask (RLE decoded
band by band, or the mask file), so gigapixel slides cost seconds. Object sizes are the equivalent diameters
(sqrt(4·area/π)) of connected components, converted back to full-resolution pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np
import pandas as pd

__all__ = ["THUMB_SIDE", "DataFingerprint", "fingerprint"]

THUMB_SIDE = 1024
TISSUE_SATURATION = 40  # the tiler's HSV-saturation tissue rule


@dataclass
class DataFingerprint:
    """What the planner needs to know about a training set (medians over the sampled images)."""

    competition: str
    masks: str  # "rle" (masks in a table: the kit trains on tiles) or "files" (whole images can train)
    images: int
    sampled: int
    height: dict[str, float]  # median, min, max of the full-resolution image heights
    width: dict[str, float]
    pixel_size: dict[str, float] = field(default_factory=dict)  # µm/px: median, min, max (empty: unknown)
    objects_per_image: float = 0.0  # median connected components per image
    object_diameter: dict[str, float] = field(default_factory=dict)  # px at full resolution: p10, median, p90
    class_share: dict[str, float] = field(default_factory=dict)  # fraction of pixels per foreground class
    empty_images: float = 0.0  # share of sampled images without any object
    tissue_share: float = 1.0  # median share of tissue (saturated) pixels
    group_columns: dict[str, int] = field(default_factory=dict)  # fold-group candidates -> distinct values
    group_column: str | None = None  # the profile's group column (else patient_number) when the data has it

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _spread(values: list[float], quantiles=(0.5,), names=("median",)) -> dict[str, float]:
    if not values:
        return {}
    array = np.asarray(values, np.float64)
    out = {name: float(np.quantile(array, q)) for name, q in zip(names, quantiles)}
    return {k: round(v, 4) for k, v in out.items()}


def _samples(competition: str, data_dir: Path, max_images: int) -> tuple[pd.DataFrame, Iterator[tuple[dict, Any]]]:
    """(the image table, (row, mask file loader(row) or None for RLE masks) pairs over evenly spaced images)."""
    from kit.competitions import get_profile
    from kit.data import image_metadata

    profile = get_profile(competition)
    if profile.rle_column is None:  # masks are files: the trainer's own items and reader
        from kit.train import TrainConfig
        from kit.train.builders import fold_items

        table, read_mask, _ = fold_items(TrainConfig(competition=competition, data_dir=str(data_dir), n_folds=2))

        def loader(row):
            return read_mask(row["mask_path"])
    else:
        table = profile.read_table(data_dir, "train").rename(columns={profile.id_column: "id"})
        table["image_path"] = [str(profile.image_path(data_dir, i, "train")) for i in table["id"]]

        loader = None  # RLE masks: decoded band by band beside the image (kit.viz_infer.thumbnail)
        meta = image_metadata(competition, data_dir)
        table = table.merge(meta[["id"] + [c for c in meta.columns if c not in table.columns]], on="id", how="left")
    picks = np.unique(np.linspace(0, len(table) - 1, min(max_images, len(table))).round().astype(int))
    rows = [table.iloc[int(i)].to_dict() for i in picks]
    return table, ((row, loader) for row in rows)


def fingerprint(competition: str, data_dir: str | Path, max_images: int = 24) -> DataFingerprint:
    """Read up to ``max_images`` evenly spaced training images of ``competition`` (a slug or a profile file) in
    ``data_dir``."""
    from kit.competitions import get_profile
    from kit.io import open_image
    from kit.viz_infer import thumbnail

    profile = get_profile(competition)
    table, samples = _samples(competition, Path(data_dir), max_images)
    heights, widths, pixel_sizes, counts, diameters, tissue, empty = [], [], [], [], [], [], 0
    class_pixels = np.zeros(max(2, profile.num_classes + (profile.num_classes == 1)), np.float64)
    sampled = 0
    for row, load_mask in samples:
        with open_image(row["image_path"]) as reader:
            height, width = reader.shape
        scale = min(1.0, THUMB_SIDE / max(height, width))
        rles = [row[profile.rle_column]] if load_mask is None else []
        thumb, mask = thumbnail(row["image_path"], rles, profile.rle_order, THUMB_SIDE)  # read band by band
        if load_mask is not None:
            mask = load_mask(row)
        if mask.shape != thumb.shape[:2]:
            mask = cv2.resize(mask, thumb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        sampled += 1
        heights.append(height)
        widths.append(width)
        if "pixel_size" in row and pd.notna(row["pixel_size"]):
            pixel_sizes.append(float(row["pixel_size"]))
        elif profile.pixel_sizes and "organ" in row:
            pixel_sizes.append(profile.pixel_size(str(row["organ"]), str(row.get("data_source", "HPA"))))
        class_pixels += np.bincount(mask.ravel().astype(np.int64), minlength=len(class_pixels))[: len(class_pixels)]
        n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
        counts.append(n - 1)
        empty += n == 1
        diameters += [math.sqrt(4 * a / math.pi) / scale for a in stats[1:, cv2.CC_STAT_AREA]]
        saturation = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)[..., 1]
        tissue.append(float((saturation > TISSUE_SATURATION).mean()))
    if sampled == 0:
        raise ValueError(f"no training images found in {data_dir} for {competition}")
    names = profile.classes
    share = class_pixels[1:] / max(class_pixels.sum(), 1)
    candidates = [c for c in (profile.group_column, "patient_number") if c and c in table]
    groups = {c: int(table[c].nunique()) for c in dict.fromkeys([*candidates, "organ", "data_source"]) if c in table}
    return DataFingerprint(
        competition=str(competition), masks="rle" if profile.rle_column else "files", images=len(table),
        sampled=sampled,
        height=_spread(heights, (0.5, 0, 1), ("median", "min", "max")),
        width=_spread(widths, (0.5, 0, 1), ("median", "min", "max")),
        pixel_size=_spread(pixel_sizes, (0.5, 0, 1), ("median", "min", "max")),
        objects_per_image=float(np.median(counts)),
        object_diameter=_spread(diameters, (0.1, 0.5, 0.9), ("p10", "median", "p90")),
        class_share={name: round(float(s), 4) for name, s in zip(names, share)},
        empty_images=round(empty / sampled, 4), tissue_share=round(float(np.median(tissue)), 4), group_columns=groups,
        group_column=candidates[0] if candidates else None,
    )
