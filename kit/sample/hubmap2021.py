"""HuBMAP 2021 sample: large tiled BigTIFF kidney slides written band by band, RLE built band by band."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import tifffile

from kit.competitions import get_profile
from kit.rle import RleStreamEncoder
from kit.sample.common import SCORING_DIR, SampleSummary, hex_ids, split_counts, write_csv
from kit.sample.histology import HistologySlide

__all__ = ["make_hubmap2021", "write_slide", "slide_rle"]

BAND = 1024  # rows (image) or columns (mask) rendered at once: memory stays flat in the slide size
TILE = 512


def write_slide(slide: HistologySlide, path: Path, subdatasets: bool = False) -> None:
    """Write ``slide`` as a tiled BigTIFF, rendering one band of rows at a time.

    ``subdatasets`` stores R, G and B as three single-band pages, the layout GDAL exposes as subdatasets.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = slide.height, slide.width
    if subdatasets:
        with tifffile.TiffWriter(path, bigtiff=True) as tif:
            for channel in range(3):
                tiles = (slide.render(y, x, min(TILE, h - y), min(TILE, w - x))[..., channel]
                         for y in range(0, h, TILE) for x in range(0, w, TILE))
                tif.write(_padded(tiles), shape=(h, w), dtype=np.uint8, tile=(TILE, TILE),
                          photometric="minisblack", compression=None)
        return
    profile = dict(driver="GTiff", height=h, width=w, count=3, dtype="uint8", tiled=True, blockxsize=TILE,
                   blockysize=TILE, BIGTIFF="YES")
    with warnings.catch_warnings(), rasterio.open(path, "w", **profile) as dst:
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        for y in range(0, h, BAND):
            rows = min(BAND, h - y)
            band = slide.render(y, 0, rows, w)
            dst.write(np.moveaxis(band, -1, 0), window=rasterio.windows.Window(0, y, w, rows))


def _padded(tiles):
    """tifffile wants full tiles: pad edge tiles with zeros."""
    for tile in tiles:
        if tile.shape != (TILE, TILE):
            full = np.zeros((TILE, TILE), np.uint8)
            full[: tile.shape[0], : tile.shape[1]] = tile
            tile = full
        yield tile


def slide_rle(slide: HistologySlide, order: str = "F") -> tuple[str, float]:
    """(RLE, foreground fraction) of the slide's mask, rendered in column bands (order "F")."""
    encoder = RleStreamEncoder((slide.height, slide.width), order)
    area = 0
    for x in range(0, slide.width, BAND):
        block = slide.mask(0, x, slide.height, min(BAND, slide.width - x))
        area += int(block.sum())
        encoder.add(block)
    return encoder.finish(), area / (slide.height * slide.width)


def make_hubmap2021(out_dir: Path, n: int = 4, size: tuple[int, int] = (2048, 3072), seed: int = 0,
                    subdatasets: bool = True) -> SampleSummary:
    """Write ``n`` kidney slides of about ``size`` = (height, width) in the 2021 layout under ``out_dir``.

    Slide sizes vary by ±10% around ``size``; with ``subdatasets`` and n >= 2 the last training slide
    keeps its RGB in three pages (subdatasets), as some real slides do.
    """
    profile = get_profile("hubmap-kidney-segmentation")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = hex_ids(rng, n, 9)
    rows, info, sizes, fg = [], [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        h = int(size[0] * rng.uniform(0.9, 1.1))
        w = int(size[1] * rng.uniform(0.9, 1.1))
        slide = HistologySlide(h, w, seed=seed * 1000 + k, style="glomerulus")
        write_slide(slide, profile.image_path(out_dir, image_id, split), subdatasets and n >= 2 and k == n_train - 1)
        rle, fraction = slide_rle(slide, profile.rle_order)
        rows.append({"id": image_id, "encoding": rle, "split": split})
        info.append({"image_file": f"{image_id}.tiff", "width_pixels": w, "height_pixels": h,
                     "anatomical_structures_segmention_file": f"{image_id}-anatomical-structure.json",
                     "glomerulus_segmentation_file": f"{image_id}.json", "patient_number": 67000 + k // 2,
                     "race": "White", "ethnicity": "Not Hispanic or Latino", "sex": str(rng.choice(["Male", "Female"])),
                     "age": int(rng.integers(30, 80)), "weight_kilograms": round(float(rng.uniform(55, 110)), 1),
                     "height_centimeters": round(float(rng.uniform(150, 195)), 1), "bmi_kg/m^2": 27.0,
                     "laterality": str(rng.choice(["Left", "Right"])), "percent_cortex": 80, "percent_medulla": 20})
        sizes.append((h, w))
        fg.append(fraction)
    table = pd.DataFrame(rows)
    train, test = table[table.split == "train"], table[table.split == "test"]
    write_csv(train[["id", "encoding"]], out_dir / profile.train_csv)
    write_csv(pd.DataFrame(info), out_dir / profile.metadata_csv)
    write_csv(pd.DataFrame({"id": test["id"], "predicted": ""}), out_dir / profile.sample_submission)
    write_csv(test[["id", "encoding"]], out_dir / SCORING_DIR / "test_labels.csv")
    return SampleSummary(profile.slug, out_dir, n_train, n_test, sizes, float(np.mean(fg)), n + 4)
