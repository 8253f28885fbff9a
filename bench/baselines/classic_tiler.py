"""The classic whole-image tiler of HuBMAP 2021 public notebooks (our re-typing of the approach, benchmarks only).

Per image: read the whole slide, decode the full-resolution mask from the RLE, zero-pad both to a multiple
of ``sz * reduce`` (half before), resize the whole arrays by ``1 / reduce`` (INTER_AREA image, INTER_NEAREST
mask), split into tiles with reshape/transpose, drop tiles with too few saturated pixels, write PNGs.
Parallel over images only (one process per image).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import tifffile

from baselines import kaggle_rle

__all__ = ["tile_image", "tile_dataset"]


def tile_image(args: tuple[str, str, str, str, int, int, int, int]) -> list[tuple]:
    """Tile one slide; returns its index rows (id, tile, idx, row, col, kept)."""
    image_id, image_path, rle, out_dir, sz, reduce, s_th, p_th = args
    image = tifffile.imread(image_path)
    if image.ndim == 3 and image.shape[0] == 3:
        image = np.moveaxis(image, 0, -1)
    height, width = image.shape[:2]
    mask = kaggle_rle.decode(rle, (height, width))
    block = sz * reduce
    pad0, pad1 = (block - height % block) % block, (block - width % block) % block
    pads = [[pad0 // 2, pad0 - pad0 // 2], [pad1 // 2, pad1 - pad1 // 2]]
    image = np.pad(image, pads + [[0, 0]], constant_values=0)
    mask = np.pad(mask, pads, constant_values=0)
    small = (image.shape[1] // reduce, image.shape[0] // reduce)
    image = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask, small, interpolation=cv2.INTER_NEAREST)
    n0, n1 = image.shape[0] // sz, image.shape[1] // sz
    image = image.reshape(n0, sz, n1, sz, 3).transpose(0, 2, 1, 3, 4).reshape(-1, sz, sz, 3)
    mask = mask.reshape(n0, sz, n1, sz).transpose(0, 2, 1, 3).reshape(-1, sz, sz)
    rows = []
    out = Path(out_dir)
    for idx, (tile, tile_mask) in enumerate(zip(image, mask)):
        saturation = cv2.cvtColor(tile, cv2.COLOR_BGR2HSV)[..., 1]
        kept = (saturation > s_th).sum() > p_th and tile.sum() > p_th
        name = f"{image_id}_{idx:05d}"
        if kept:
            cv2.imwrite(str(out / "images" / f"{name}.png"), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(out / "masks" / f"{name}.png"), tile_mask)
        rows.append((image_id, name, idx, idx // n1, idx % n1, bool(kept)))
    return rows


def tile_dataset(data_dir: str | Path, out_dir: str | Path, sz: int = 256, reduce: int = 4, s_th: int = 40,
                 p_th: int | None = None, workers: int = 1) -> pd.DataFrame:
    """Tile every image listed in ``data_dir/train.csv`` (2021 layout); writes images/, masks/ and index.csv."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    p_th = int(1000 * (sz / 256) ** 2) if p_th is None else p_th
    table = pd.read_csv(data_dir / "train.csv", dtype={"id": str})
    tasks = [(i, str(data_dir / "train" / f"{i}.tiff"), rle, str(out_dir), sz, reduce, s_th, p_th)
             for i, rle in zip(table["id"], table["encoding"])]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        results = pool.map(tile_image, tasks)
    index = pd.DataFrame([r for rows in results for r in rows], columns=["id", "tile", "idx", "row", "col", "kept"])
    index.to_csv(out_dir / "index.csv", index=False)
    return index
