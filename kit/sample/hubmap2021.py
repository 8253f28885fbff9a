"""HuBMAP 2021 sample: large tiled BigTIFF kidney slides written band by band, RLE built band by band.

Memory stays flat in the slide size: the image is rendered and written one band of :data:`BAND` rows
at a time, the mask is rendered one band of columns at a time and fed to the streaming RLE encoder.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import tifffile

from kit.competitions import get_profile
from kit.fsutil import atomic_path, atomic_write_text
from kit.paths import SCORING_DIR
from kit.rle import RleStreamEncoder
from kit.sample.common import SampleSummary, hex_ids, split_counts, write_csv
from kit.sample.histology import HistologySlide

__all__ = ["make_hubmap2021", "write_slide", "slide_rle", "TILE", "BAND"]

TILE = 512  # TIFF tile side
BAND = TILE  # rows (image) or columns (mask) rendered at once


def _bands(slide: HistologySlide) -> Iterator[np.ndarray]:
    """The slide's RGB, one band of rows at a time."""
    for y in range(0, slide.height, BAND):
        yield slide.render(y, 0, min(BAND, slide.height - y), slide.width)


def _tiles(band: np.ndarray) -> Iterator[np.ndarray]:
    """The TILE×TILE tiles of one band, left to right; edge tiles are zero-padded as TIFF wants."""
    for x in range(0, band.shape[1], TILE):
        tile = band[:, x : x + TILE]
        if tile.shape[:2] != (TILE, TILE):
            full = np.zeros((TILE, TILE) + band.shape[2:], np.uint8)
            full[: tile.shape[0], : tile.shape[1]] = tile
            tile = full
        yield np.ascontiguousarray(tile)


def _spooled_tiles(spool: BinaryIO, height: int, width: int) -> Iterator[np.ndarray]:
    """Tiles of a single-channel plane stored row-major in ``spool``, read back one band at a time."""
    spool.seek(0)
    for y in range(0, height, BAND):
        rows = min(BAND, height - y)
        yield from _tiles(np.fromfile(spool, np.uint8, rows * width).reshape(rows, width))


def write_slide(slide: HistologySlide, path: Path, subdatasets: bool = False, bigtiff: bool = True) -> None:
    """Write ``slide`` as a tiled (TILE²) uncompressed TIFF, atomically, rendering one band of rows at a time.

    ``subdatasets`` stores R, G and B as three single-band pages (the layout GDAL exposes as subdatasets,
    as some competition slides have): red is written while green and blue are spooled to temporary files
    beside ``path``, so each band is rendered once.
    """
    h, w = slide.height, slide.width
    page = dict(shape=(h, w), dtype=np.uint8, tile=(TILE, TILE), compression=None)
    with atomic_path(path, suffix=".tiff") as tmp, tifffile.TiffWriter(tmp, bigtiff=bigtiff) as tif:
        if not subdatasets:
            tif.write((t for band in _bands(slide) for t in _tiles(band)), photometric="rgb",
                      planarconfig="contig", **{**page, "shape": (h, w, 3)})
            return
        with tempfile.TemporaryFile(dir=path.parent) as green, tempfile.TemporaryFile(dir=path.parent) as blue:

            def red_tiles() -> Iterator[np.ndarray]:
                for band in _bands(slide):
                    green.write(np.ascontiguousarray(band[..., 1]).data)
                    blue.write(np.ascontiguousarray(band[..., 2]).data)
                    yield from _tiles(band[..., 0])

            tif.write(red_tiles(), photometric="minisblack", **page)
            for spool in (green, blue):
                tif.write(_spooled_tiles(spool, h, w), photometric="minisblack", **page)


def slide_rle(slide: HistologySlide, order: str = "F") -> tuple[str, float]:
    """(RLE, foreground fraction) of the slide's mask, rendered in column bands (order "F") or row bands ("C")."""
    encoder = RleStreamEncoder((slide.height, slide.width), order)
    area, (h, w) = 0, (slide.height, slide.width)
    for start in range(0, w if order == "F" else h, BAND):
        block = slide.mask(0, start, h, min(BAND, w - start)) if order == "F" else \
            slide.mask(start, 0, min(BAND, h - start), w)
        area += int(block.sum())
        encoder.add(block)
    return encoder.finish(), area / (h * w)


def _features(polygons: list[np.ndarray], name: str) -> str:
    """Polygons as the competition's JSON: a list of GeoJSON-like Features with closed rings of [x, y]."""
    features = [{"type": "Feature", "id": "PathAnnotationObject",
                 "geometry": {"type": "Polygon", "coordinates": [np.rint(np.vstack([p, p[:1]])).astype(int).tolist()]},
                 "properties": {"classification": {"name": name}, "isLocked": False}}
                for p in polygons if len(p) >= 3]
    return json.dumps(features)


def _patient(rng: np.random.Generator, k: int, image_id: str, h: int, w: int) -> dict:
    """One plausible row of HuBMAP-20-dataset_information.csv (competitions.md §2.2)."""
    weight, height = round(float(rng.uniform(55, 115)), 1), round(float(rng.uniform(152, 195)), 1)
    cortex = int(rng.integers(50, 95))
    return {"image_file": f"{image_id}.tiff", "width_pixels": w, "height_pixels": h,
            "anatomical_structures_segmention_file": f"{image_id}-anatomical-structure.json",
            "glomerulus_segmentation_file": f"{image_id}.json", "patient_number": 67000 + 137 * (k // 2),
            "race": str(rng.choice(["White", "Black or African American", "Asian"])),
            "ethnicity": str(rng.choice(["Not Hispanic or Latino", "Hispanic or Latino"])),
            "sex": str(rng.choice(["Male", "Female"])), "age": int(rng.integers(30, 80)),
            "weight_kilograms": weight, "height_centimeters": height,
            "bmi_kg/m^2": round(weight / (height / 100) ** 2, 1), "laterality": str(rng.choice(["Left", "Right"])),
            "percent_cortex": cortex, "percent_medulla": 100 - cortex}


def make_hubmap2021(out_dir: Path, n: int, size: tuple[int, int], seed: int, subdatasets: bool = True,
                    bigtiff: bool = True) -> SampleSummary:
    """Write ``n`` kidney slides in the 2021 layout under ``out_dir``.

    Each side of each slide is 0–15 % longer than ``size`` = (height, width). Train slides come with
    ``{id}.json`` glomerulus polygons; every slide with ``{id}-anatomical-structure.json`` (its tissue as
    "Cortex"). With ``subdatasets`` the last training slide keeps its RGB in three pages.
    """
    profile = get_profile("hubmap-kidney-segmentation")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = hex_ids(rng, n, 9)
    rows, info, sizes, fg, files = [], [], [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        h, w = (int(side * rng.uniform(1.0, 1.15)) for side in size)
        slide = HistologySlide(h, w, seed=seed * 1000 + k, style="glomerulus")
        image_path = profile.image_path(out_dir, image_id, split)
        write_slide(slide, image_path, subdatasets=subdatasets and k == n_train - 1, bigtiff=bigtiff)
        anatomy = image_path.with_name(f"{image_id}-anatomical-structure.json")
        atomic_write_text(anatomy, _features([slide.tissue_outline()], "Cortex"))
        files += [image_path, anatomy]
        if split == "train":
            files.append(image_path.with_suffix(".json"))
            atomic_write_text(files[-1], _features([e.outline() for e in slide.structures], "glomerulus"))
        rle, fraction = slide_rle(slide, profile.rle_order)
        rows.append({"id": image_id, "encoding": rle, "split": split})
        info.append(_patient(rng, k, image_id, h, w))
        sizes.append((h, w))
        fg.append(fraction)
    table = pd.DataFrame(rows)
    train, test = table[table.split == "train"], table[table.split == "test"]
    files += [write_csv(train[["id", "encoding"]], out_dir / profile.train_csv),
              write_csv(pd.DataFrame(info), out_dir / profile.metadata_csv),
              write_csv(pd.DataFrame({"id": test["id"], "predicted": ""}), out_dir / profile.sample_submission),
              write_csv(test[["id", "encoding"]], out_dir / SCORING_DIR / "test_labels.csv")]
    return SampleSummary(profile.slug, Path(out_dir), n_train, n_test, sizes, float(np.mean(fg)),
                         [p.relative_to(out_dir).as_posix() for p in files], seed)
