"""Tiling jobs: one per image, built from a competition's table and checked against the files on disk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kit.competitions import CompetitionProfile

__all__ = ["TileJob", "TileSettings", "build_jobs", "MaskArray"]


@dataclass(frozen=True)
class TileSettings:
    """Knobs shared by every image of a tiling run (recorded in ``tiling.json``)."""

    sz: int = 256
    reduce: float = 4.0
    pixel_size: float | None = None
    stride: int | None = None
    s_th: int = 40
    p_th: int | None = None
    filter: bool = True


@dataclass(frozen=True)
class TileJob:
    """One image to tile: where it is, how to get its labels, its scale, and what the table says of it."""

    image_id: str
    image_path: str
    reduce: float
    rle: str | None = None
    mask_path: str | None = None
    rle_order: str = "F"
    expected_shape: tuple[int, int] | None = None
    organ: str = ""
    data_source: str = ""


class MaskArray:
    """A class-id mask held in memory (NeoPolyp masks are small images), answering windows like RleMask."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask

    def window(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """The h×w window at (y0, x0); outside the image is 0."""
        out = np.zeros((h, w), np.uint8)
        ya, yb = max(y0, 0), min(y0 + h, self.mask.shape[0])
        xa, xb = max(x0, 0), min(x0 + w, self.mask.shape[1])
        if ya < yb and xa < xb:
            out[ya - y0 : yb - y0, xa - x0 : xb - x0] = self.mask[ya:yb, xa:xb]
        return out


def _expected_shapes(profile: CompetitionProfile, data_dir: Path, table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    if {"img_height", "img_width"} <= set(table.columns):
        return {str(r.id): (int(r.img_height), int(r.img_width)) for r in table.itertuples()}
    if profile.metadata_csv and (data_dir / profile.metadata_csv).exists():
        info = pd.read_csv(data_dir / profile.metadata_csv)
        if {"image_file", "height_pixels", "width_pixels"} <= set(info.columns):
            return {Path(f).stem: (int(h), int(w)) for f, h, w in
                    zip(info.image_file, info.height_pixels, info.width_pixels)}
    return {}


def build_jobs(
    profile: CompetitionProfile, data_dir: str | Path, split: str, settings: TileSettings
) -> list[TileJob]:
    """One job per image of ``split``, checking that every row has an image and every image has a row."""
    data_dir = Path(data_dir)
    table = profile.read_table(data_dir, split).reset_index(drop=True)
    id_col = profile.id_column
    ids = table[id_col].astype(str).tolist()
    folder = profile.image_path(data_dir, "x", split).parent
    suffix = profile.image_path(data_dir, "x", split).suffix
    on_disk = {p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}")} if folder.is_dir() else set()
    missing = [i for i in ids if i not in on_disk]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} rows of the {split} table have no image, e.g. id {missing[0]!r}: expected "
            f"{profile.image_path(data_dir, missing[0], split)}"
        )
    extra = sorted(on_disk - set(ids))
    if extra:
        raise ValueError(f"{len(extra)} {split} images have no row in the table, e.g. {folder / (extra[0] + suffix)}")
    if settings.pixel_size is not None and "pixel_size" not in table.columns:
        raise ValueError(f"--pixel-size needs a pixel_size column; {profile.slug} tables have {list(table.columns)}")
    shapes = _expected_shapes(profile, data_dir, table)
    jobs = []
    for i, row in table.iterrows():
        image_id = ids[i]
        reduce = settings.reduce if settings.pixel_size is None else settings.pixel_size / float(row["pixel_size"])
        rle = None
        if profile.rle_column and profile.rle_column in table.columns:
            value = row[profile.rle_column]
            rle = "" if pd.isna(value) else str(value)
        mask_path = str(row["mask_path"]) if "mask_path" in table.columns and split == "train" else None
        jobs.append(TileJob(
            image_id=image_id, image_path=str(profile.image_path(data_dir, image_id, split)), reduce=float(reduce),
            rle=rle, mask_path=mask_path, rle_order=profile.rle_order, expected_shape=shapes.get(image_id),
            organ=str(row.get("organ", "")), data_source=str(row.get("data_source", "")),
        ))
    return jobs
