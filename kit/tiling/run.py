"""A tiling run over a competition split: plan parts, skip finished ones, run the rest in processes, merge."""

from __future__ import annotations

import dataclasses
import multiprocessing
import zipfile
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

import cv2
import pandas as pd
from tqdm.auto import tqdm

from kit.artifacts.tiles import INDEX_FILE, STATS_FILE, TILING_FILE, read_tiling, write_tiling
from kit.competitions import get_profile
from kit.fingerprint import REFUSE, check_rerun, file_hash, file_stamp, record_fingerprint
from kit.fsutil import atomic_path, remove_stale_temps
from kit.tiling.grid import TileGrid
from kit.tiling.index import merge_parts, part_complete
from kit.tiling.jobs import TileJob, TileSettings, build_jobs
from kit.tiling.tiler import TilePart, tile_part

__all__ = ["PART_TILES", "TilingSummary", "plan_parts", "tile_dataset"]

PART_TILES = 64  # about this many tiles per unit of work, so one huge slide still spreads over all workers
#: what a tiling run writes in its folder (``--fresh`` deletes these, nothing else)
OWN_FILES = ("images", "masks", "parts", INDEX_FILE, STATS_FILE, TILING_FILE, "train.zip", "masks.zip")


@dataclasses.dataclass(frozen=True)
class TilingSummary:
    """What a tiling run produced (``str()`` is the one-line report)."""

    out_dir: Path
    images: int
    tiles: int
    kept: int
    parts: int
    resumed_parts: int

    def __str__(self) -> str:
        return (f"{self.images} images -> {self.kept} kept of {self.tiles} tiles in {self.out_dir} "
                f"({self.resumed_parts} of {self.parts} parts were already done)")


def plan_parts(jobs: list[TileJob], settings: TileSettings) -> list[TilePart]:
    """Split each image into bands of grid rows of about :data:`PART_TILES` tiles (one part if its size is unknown)."""
    parts = []
    for job in jobs:
        if job.shape is None:
            parts.append(TilePart(job))
            continue
        rows, cols = TileGrid(*job.shape, settings.sz, job.reduce, settings.stride).shape
        per_part = max(1, PART_TILES // cols)
        parts.extend(TilePart(job, first, per_part) for first in range(0, rows, per_part))
    return parts


def _check_settings(out_dir: Path, record: dict) -> None:
    """Refuse to mix two settings in one output folder."""
    previous = read_tiling(out_dir, missing_ok=True)
    if previous is None:
        write_tiling(out_dir, record)
    elif previous != record:
        raise ValueError(f"{out_dir} holds tiles made with other settings ({out_dir / TILING_FILE}: {previous}, "
                         f"now {record}); use a new output folder or delete it")


def _init_worker() -> None:
    cv2.setNumThreads(1)  # the processes already use the cores


def _run_parts(parts: list[TilePart], settings: TileSettings, out_dir: Path, workers: int, progress: bool) -> None:
    bar = tqdm(total=len(parts), desc="tiling", unit="part", disable=not progress)
    try:
        if workers <= 1 or len(parts) <= 1:
            for part in parts:
                tile_part(part, settings, out_dir)
                bar.update()
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(parts)), mp_context=context, initializer=_init_worker) as pool:
            pending = {pool.submit(tile_part, part, settings, out_dir) for part in parts}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                bar.update(len(done))
                for future in done:
                    if future.exception() is not None:
                        pool.shutdown(cancel_futures=True)
                        raise future.exception()
    finally:
        bar.close()


def _zip(out_dir: Path, index: pd.DataFrame) -> None:
    """``train.zip`` / ``masks.zip`` of the kept tiles, byte-identical for identical tiles (fixed timestamps)."""
    for folder, archive in (("images", "train.zip"), ("masks", "masks.zip")):
        names = index.loc[index["kept"], "tile"]
        if folder == "masks":
            names = index.loc[index["kept"] & index["mask_frac"].notna(), "tile"]
        if names.empty:
            continue
        with atomic_path(out_dir / archive, suffix=".zip") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for name in names:
                zf.writestr(zipfile.ZipInfo(f"{name}.png", (1980, 1, 1, 0, 0, 0)),
                            (out_dir / folder / f"{name}.png").read_bytes())


def _inputs(profile, data_dir: Path, split: str, jobs: list[TileJob]) -> dict:
    """What the tiles are made from: hashes of the split's tables, sizes and times of its images and masks."""
    tables = [n for n in ({"train": profile.train_csv, "test": profile.test_csv}.get(split), profile.metadata_csv)
              if n and (data_dir / n).is_file()]
    files = {job.image_id: file_stamp(job.image_path) + (file_stamp(job.mask_path) if job.mask_path else [])
             for job in jobs}
    return {"tables": {n: file_hash(data_dir / n) for n in tables}, "images": files}


def tile_dataset(
    competition: str, data_dir: str | Path, out_dir: str | Path, split: str = "train",
    settings: TileSettings | None = None, workers: int = 1, make_zip: bool = False, progress: bool = True,
    rerun: str = REFUSE,
) -> TilingSummary:
    """Tile every image of a competition split into ``out_dir``.

    Writes ``images/`` and ``masks/`` (``{id}_{idx:05d}.png``; masks hold class ids), ``index.csv`` (one row per
    grid tile, kept or not), ``stats.json`` (channel mean/std of kept tiles in [0, 1]), ``tiling.json``
    (settings) and, with ``make_zip``, ``train.zip``/``masks.zip``. A re-run skips finished parts and redoes
    half-written ones; the outputs are byte-identical whatever ``workers`` is. ``fingerprint.json`` records the
    settings and the inputs (table hashes, image sizes and times): a re-run after they changed refuses unless
    ``rerun`` is "resume-anyway" or "fresh" (see :mod:`kit.fingerprint`). Keeping 0 tiles raises ValueError.
    """
    settings = settings or TileSettings()
    profile = get_profile(competition)
    out_dir = Path(out_dir)
    jobs = build_jobs(profile, data_dir, split, settings)
    parts = plan_parts(jobs, settings)
    record = {"competition": competition, "split": split, **dataclasses.asdict(settings)}
    has_work = (out_dir / "parts").is_dir() and any((out_dir / "parts").iterdir())
    fingerprint = {"settings": record, "inputs": _inputs(profile, Path(data_dir), split, jobs)}
    check_rerun(out_dir, fingerprint, has_work, OWN_FILES, rerun, "tiles folder")
    record_fingerprint(out_dir, fingerprint)
    remove_stale_temps(out_dir, out_dir / "images", out_dir / "masks")
    _check_settings(out_dir, record)
    todo = [p for p in parts if not part_complete(p, out_dir)]
    _run_parts(todo, settings, out_dir, workers, progress)
    index = merge_parts(parts, out_dir)
    if not index["kept"].any():
        raise ValueError(f"0 of {len(index)} tiles were kept in {out_dir}: the tissue filter (s_th={settings.s_th}, "
                         f"p_th={settings.p_th}) dropped them all; lower --s-th / --p-th or pass --no-filter")
    if make_zip:
        _zip(out_dir, index)
    return TilingSummary(out_dir, len(jobs), len(index), int(index["kept"].sum()), len(parts),
                         len(parts) - len(todo))
