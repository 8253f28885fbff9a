"""Tiling jobs: one per image, built from a competition's table and checked against the files on disk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kit.competitions import CompetitionProfile
from kit.options import option

__all__ = ["TileSettings", "TileJob", "build_jobs"]


@dataclass(frozen=True)
class TileSettings:
    """Knobs shared by every image of a tiling run (recorded in ``tiling.json``).

    ``pixel_size`` (µm per output pixel) replaces ``reduce`` per image: reduce = pixel_size / image µm.
    """

    sz: int = option(256, "tile side in output pixels")
    reduce: float = option(4.0, "source pixels per output pixel")
    pixel_size: float | None = option(None, "target µm per output pixel instead of reduce (needs a pixel_size "
                                            "column, e.g. 0.4)")
    stride: int | None = option(None, "output pixels between tiles (< sz: overlap; None: sz)")
    s_th: int = option(40, "tissue filter: HSV saturation threshold (0-255)")
    p_th: float | None = option(None, "tissue filter: a tile needs more saturated pixels than this (None: "
                                      "1000*(sz/256)^2)")
    filter: bool = option(True, "the tissue filter drops tiles with little tissue")

    def __post_init__(self) -> None:
        checks = {"sz": (self.sz, 1, None), "reduce": (self.reduce, 0, None), "pixel_size": (self.pixel_size, 0, None),
                  "stride": (self.stride, 1, None), "s_th": (self.s_th, 0, 255), "p_th": (self.p_th, 0, None)}
        for name, (value, low, high) in checks.items():
            if value is None and name in ("pixel_size", "stride", "p_th"):
                continue
            strict = name in ("reduce", "pixel_size")
            if not math.isfinite(value) or value < low or (strict and value == low) or (high and value > high):
                limits = f"{'>' if strict else '>='} {low}" + (f" and <= {high}" if high else "")
                raise ValueError(f"tile setting {name} (--{name.replace('_', '-')}) must be a finite number "
                                 f"{limits}; got {value!r}")


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
    shape_source: str = ""  # the file that states ``shape`` (the table, or HuBMAP 2021's dataset information CSV)
    profile: CompetitionProfile | None = None  # its read_mask decodes mask_path


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _stated_shapes(profile: CompetitionProfile, data_dir: Path, table: pd.DataFrame,
                   table_name: str) -> dict[str, tuple[int, int]]:
    """(height, width) per id from the table (2022) or the dataset information CSV (2021), where present."""
    if {"img_height", "img_width"} <= set(table.columns):
        ids = table[profile.id_column].astype(str)
        name = str(data_dir / table_name) if table_name.endswith(".csv") else table_name
        return {i: _sides(h, w, f"{name} row {n + 2} (id {i!r}): img_height/img_width")
                for n, (i, h, w) in enumerate(zip(ids, table["img_height"], table["img_width"]))}
    if profile.metadata_csv and (data_dir / profile.metadata_csv).exists():
        info = pd.read_csv(data_dir / profile.metadata_csv)
        if {"image_file", "height_pixels", "width_pixels"} <= set(info.columns):
            where = data_dir / profile.metadata_csv
            return {Path(f).stem: _sides(h, w, f"{where} row {n + 2} ({f}): height_pixels/width_pixels")
                    for n, (f, h, w) in enumerate(zip(info["image_file"], info["height_pixels"], info["width_pixels"]))}
    return {}


def _sides(height, width, where: str) -> tuple[int, int]:
    """(height, width) as positive ints, or a ValueError naming the file, row and columns."""
    try:
        sides = (int(height), int(width))
    except (TypeError, ValueError):
        sides = (0, 0)
    if min(sides) <= 0:
        raise ValueError(f"{where} must be positive integers, got {height!r} x {width!r}")
    return sides


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
    shapes = _stated_shapes(profile, data_dir, table, table_name)
    shape_source = table_name if "img_height" in table.columns else str(profile.metadata_csv or table_name)
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
            shape_source=shape_source,
        ))
    return jobs
