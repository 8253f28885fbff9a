"""The streaming tiler: windows in, PNG tiles + index.csv + stats.json out; parallel, resumable, deterministic."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kit.competitions import get_profile
from kit.fsutil import atomic_path, atomic_write_text
from kit.io import open_image, read_neopolyp_mask, write_png
from kit.rle import RleMask
from kit.tiling.filters import TissueFilter
from kit.tiling.grid import TileGrid
from kit.tiling.jobs import MaskArray, TileJob, TileSettings, build_jobs

__all__ = ["INDEX_COLUMNS", "tile_image", "tile_dataset", "TilingSummary"]

INDEX_COLUMNS = ("id", "tile", "idx", "row", "col", "y", "x", "h", "w", "scale", "tissue_frac", "mask_frac",
                 "kept", "organ", "data_source")


@dataclasses.dataclass
class TilingSummary:
    """Counts of a tiling run (``__str__`` is the one-line report)."""

    out_dir: Path
    images: int
    tiles: int
    kept: int
    skipped_images: int

    def __str__(self) -> str:
        return (f"{self.images} images -> {self.kept} kept of {self.tiles} tiles in {self.out_dir} "
                f"({self.skipped_images} images already done)")


def _mask_source(job: TileJob):
    if job.mask_path:
        return MaskArray(read_neopolyp_mask(job.mask_path))
    if job.rle is not None:
        return None  # built once the image size is known
    return False


def tile_image(job: TileJob, settings: TileSettings, out_dir: Path) -> pd.DataFrame:
    """Tile one image: write kept tiles (image + mask PNGs), return its index rows and channel sums.

    Reads one window per tile and decodes the mask of that window straight from the RLE, so memory is a
    few tiles whatever the image size. The per-image part file written last marks the image as done.
    """
    flt = TissueFilter(settings.s_th, settings.p_th, settings.filter)
    sums = np.zeros(3)
    squares = np.zeros(3)
    pixels = 0
    rows = []
    with open_image(job.image_path) as reader:
        if job.expected_shape and tuple(reader.shape) != tuple(job.expected_shape):
            raise ValueError(f"image {job.image_path} is {reader.shape[0]}x{reader.shape[1]} (HxW) but the table "
                             f"says {job.expected_shape[0]}x{job.expected_shape[1]} for id {job.image_id}")
        masks = _mask_source(job)
        if masks is None:
            masks = RleMask(job.rle, reader.shape, job.rle_order)
        grid = TileGrid(reader.height, reader.width, settings.sz, job.reduce, settings.stride)
        size = (settings.sz, settings.sz)
        for idx in range(len(grid)):
            row, col, y, x = grid.origin(idx)
            image = reader.read(y, x, grid.window, grid.window, out_size=size)
            keep, tissue = flt.keep(image)
            mask = None
            if masks is not False:
                mask = masks.window(y, x, grid.window, grid.window)
                if mask.shape != size:
                    mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
            name = f"{job.image_id}_{idx:05d}"
            if keep:
                write_png(out_dir / "images" / f"{name}.png", image)
                if mask is not None:
                    write_png(out_dir / "masks" / f"{name}.png", mask)
                pixel = image.reshape(-1, 3).astype(np.float64) / 255.0
                sums += pixel.sum(0)
                squares += (pixel**2).sum(0)
                pixels += pixel.shape[0]
            rows.append((job.image_id, name, idx, row, col, y, x, grid.window, grid.window, 1.0 / job.reduce, tissue,
                         float((mask > 0).mean()) if mask is not None else float("nan"), keep, job.organ,
                         job.data_source))
    table = pd.DataFrame(rows, columns=list(INDEX_COLUMNS))
    stats = {"sum": sums.tolist(), "sumsq": squares.tolist(), "pixels": pixels}
    atomic_write_text(out_dir / "parts" / f"{job.image_id}.json", json.dumps(stats))
    with atomic_path(out_dir / "parts" / f"{job.image_id}.csv", suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return table


def _run(args: tuple[TileJob, TileSettings, Path]) -> str:
    job, settings, out_dir = args
    tile_image(job, settings, out_dir)
    return job.image_id


def _check_settings(out_dir: Path, record: dict) -> None:
    path = out_dir / "tiling.json"
    if path.exists():
        previous = json.loads(path.read_text())
        if previous != record:
            raise ValueError(f"{out_dir} was tiled with other settings ({path}: {previous}); use a new --out "
                             f"or delete the folder")
    else:
        atomic_write_text(path, json.dumps(record, indent=2))


def _merge(out_dir: Path, jobs: list[TileJob]) -> pd.DataFrame:
    parts = [pd.read_csv(out_dir / "parts" / f"{j.image_id}.csv", dtype={"id": str, "tile": str},
                         keep_default_na=False, na_values=[""]) for j in jobs]
    index = pd.concat(parts, ignore_index=True)
    with atomic_path(out_dir / "index.csv", suffix=".csv") as tmp:
        index.to_csv(tmp, index=False)
    totals = [json.loads((out_dir / "parts" / f"{j.image_id}.json").read_text()) for j in jobs]
    pixels = sum(t["pixels"] for t in totals)
    mean = np.sum([t["sum"] for t in totals], axis=0) / max(pixels, 1)
    std = np.sqrt(np.maximum(np.sum([t["sumsq"] for t in totals], axis=0) / max(pixels, 1) - mean**2, 0))
    atomic_write_text(out_dir / "stats.json", json.dumps({"mean": mean.tolist(), "std": std.tolist(),
                                                          "pixels": pixels}, indent=2))
    return index


def _zip(out_dir: Path, index: pd.DataFrame) -> None:
    for folder, archive in (("images", "train.zip"), ("masks", "masks.zip")):
        if not (out_dir / folder).is_dir():
            continue
        with atomic_path(out_dir / archive, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w") as zf:
            for name in index.loc[index["kept"].astype(bool), "tile"]:
                zf.write(out_dir / folder / f"{name}.png", f"{name}.png")


def tile_dataset(
    competition: str, data_dir: str | Path, out_dir: str | Path, split: str = "train",
    settings: TileSettings | None = None, workers: int = 1, make_zip: bool = False, progress: bool = True,
) -> TilingSummary:
    """Tile every image of a competition split into ``out_dir`` (images/, masks/, index.csv, stats.json).

    Re-running skips images whose part file exists (a half-written image is redone); the merged outputs
    are the same whatever ``workers`` is.
    """
    settings = settings or TileSettings()
    profile = get_profile(competition)
    out_dir = Path(out_dir)
    jobs = build_jobs(profile, data_dir, split, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_settings(out_dir, {"competition": competition, "split": split, **dataclasses.asdict(settings)})
    todo = [j for j in jobs if not (out_dir / "parts" / f"{j.image_id}.csv").exists()]
    bar = tqdm(total=len(todo), desc="tiling", unit="image", disable=not progress)
    if workers > 1 and len(todo) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for _ in pool.map(_run, [(j, settings, out_dir) for j in todo]):
                bar.update()
    else:
        for job in todo:
            _run((job, settings, out_dir))
            bar.update()
    bar.close()
    index = _merge(out_dir, jobs)
    if make_zip:
        _zip(out_dir, index)
    return TilingSummary(out_dir, len(jobs), len(index), int(index["kept"].astype(bool).sum()), len(jobs) - len(todo))
