"""Tiling jobs: one per image, built from a competition's table and checked against the files on disk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kit.competitions import CompetitionProfile

__all__ = ["TileSettings", "TileJob", "build_jobs"]


@dataclass(frozen=True)
class TileSettings:
    """Knobs shared by every image of a tiling run (recorded in ``tiling.json``).

    ``pixel_size`` (µm per output pixel) replaces ``reduce`` per image: reduce = pixel_size / image µm.
    """

    sz: int = 256
    reduce: float = 4.0
    pixel_size: float | None = None
    stride: int | None = None
    s_th: int = 40
    p_th: float | None = None
    filter: bool = True


@dataclass(frozen=True)
class TileJob:
    """One image to tile: where it is, where its labels are, its scale, and what the table says of it.

    Labels come from ``rle`` (HuBMAP; "" is an empty mask) or ``mask_path`` (NeoPolyp, custom profiles: read by
    ``profile.read_mask``); neither means no masks (test split). ``shape`` is (height, width) when the table
    states it, and is then checked.
    """

    image_id: str
    image_path: str
    reduce: float
    rle: str | None = None
    mask_path: str | None = None
    rle_order: str = "F"
    shape: tuple[int, int] | None = None
    organ: str = ""
    data_source: str = ""
    table: str = ""
    profile: CompetitionProfile | None = None  # its read_mask decodes mask_path


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _stated_shapes(profile: CompetitionProfile, data_dir: Path, table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(height, width) per id from the table (2022) or the dataset information CSV (2021), where present."""
    if {"img_height", "img_width"} <= set(table.columns):
        ids = table[profile.id_column].astype(str)
        return {i: (int(h), int(w)) for i, h, w in zip(ids, table["img_height"], table["img_width"])}
    if profile.metadata_csv and (data_dir / profile.metadata_csv).exists():
        info = pd.read_csv(data_dir / profile.metadata_csv)
        if {"image_file", "height_pixels", "width_pixels"} <= set(info.columns):
            return {Path(f).stem: (int(h), int(w))
                    for f, h, w in zip(info["image_file"], info["height_pixels"], info["width_pixels"])}
    return {}


def _check_files(profile: CompetitionProfile, data_dir: Path, split: str, ids: list[str]) -> None:
    """Every row needs an image (FileNotFoundError) and every image a row (ValueError), both named."""
    example = profile.image_path(data_dir, "x", split)
    folder, suffix = example.parent, example.suffix
    on_disk = {p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")} if folder.is_dir() else set()
    missing = [i for i in ids if i not in on_disk]
    if missing:
        raise FileNotFoundError(f"{len(missing)} rows of the {split} table have no image, e.g. id {missing[0]!r}: "
                                f"expected {profile.image_path(data_dir, missing[0], split)}")
    extra = sorted(on_disk - set(ids))
    if extra:
        raise ValueError(f"{len(extra)} {split} images have no row in the table, e.g. {folder / (extra[0] + suffix)}"
                         f" (id {extra[0]!r})")


def _reduce(settings: TileSettings, row: pd.Series, image_id: str, table_name: str) -> float:
    if settings.pixel_size is None:
        return float(settings.reduce)
    image_um = float(row["pixel_size"])
    if not image_um > 0:
        raise ValueError(f"{table_name} row id {image_id!r}: pixel_size must be > 0, got {row['pixel_size']!r}")
    return settings.pixel_size / image_um


def build_jobs(profile: CompetitionProfile, data_dir: str | Path, split: str, settings: TileSettings) -> list[TileJob]:
    """One job per image of ``split`` in table order, after checking that rows and image files match."""
    data_dir = Path(data_dir)
    table = profile.read_table(data_dir, split).reset_index(drop=True)
    table_name = {"train": profile.train_csv, "test": profile.test_csv}.get(split) or f"{split} images"
    ids = table[profile.id_column].astype(str).tolist()
    duplicated = table[profile.id_column].astype(str).duplicated()
    if duplicated.any():
        raise ValueError(f"{table_name}: id {ids[int(duplicated.values.argmax())]!r} appears more than once")
    _check_files(profile, data_dir, split, ids)
    if settings.pixel_size is not None and "pixel_size" not in table.columns:
        raise ValueError(f"pixel_size={settings.pixel_size} needs a pixel_size column; {table_name} of "
                         f"{profile.slug} has {list(table.columns)}")
    shapes = _stated_shapes(profile, data_dir, table)
    has_rle = bool(profile.rle_column) and profile.rle_column in table.columns
    jobs = []
    for image_id, (_, row) in zip(ids, table.iterrows()):
        jobs.append(TileJob(
            image_id=image_id,
            image_path=str(profile.image_path(data_dir, image_id, split)),
            reduce=_reduce(settings, row, image_id, table_name),
            rle=_text(row[profile.rle_column]) if has_rle else None,
            mask_path=(_text(row.get("mask_path")) or None) if split == "train" else None,
            rle_order=profile.rle_order, profile=profile,
            shape=shapes.get(image_id),
            organ=_text(row.get("organ")),
            data_source=_text(row.get("data_source")),
            table=table_name,
        ))
    return jobs
