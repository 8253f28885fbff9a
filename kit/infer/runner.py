"""Predict a competition's test split into a validated submission.csv within a wall-clock budget.

Order of work (each step leaves a valid file behind):

1. find the data (``kit.paths``: a local folder, the Kaggle mounts, or ``$KIT_KAGGLE_INPUT``), read
   sample_submission.csv and write an all-empty **fallback** submission at once;
2. list the test images sample_submission asks for, with organ / data source / pixel size from the test
   table when the competition has one (2022), and check their files exist;
3. load the ensemble (ensemble.json: checkpoints, weights, TTA, thresholds, post-processing);
4. per image: threshold (global, per organ, per data source), post-process at the working resolution
   (``min_area`` in full-resolution pixels, ``fill_holes``) or stream the thresholded / argmaxed bands
   straight into the RLE encoder; images the budget cannot reach keep their empty fallback rows; with several
   GPUs (Kaggle T4 x2) one worker thread per GPU, each with its own copy of the ensemble, takes the next image;
5. rewrite submission.csv atomically (also every ``flush_seconds`` on the way, and before an error propagates,
   so every finished image's rows are kept) and validate it. Failed images are listed in the report with their
   error (``skip_errors``: the run goes on and they keep their empty fallback rows).

The budget decides before each image, from the slowest seconds per pixel so far; an image already running is
not interrupted, so keep a margin for the largest one (Kaggle: a 500-minute budget of the 540 allowed).
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from kit.competitions import CompetitionProfile, get_profile
from kit.fsutil import remove_stale_temps
from kit.infer.ensemble_config import EnsembleConfig
from kit.infer.merge import encode_probs, labels_from_probs, upsample
from kit.infer.outcome import ImageResult, PredictionReport, check_outcome
from kit.infer.postprocess import clean_mask, clean_probs, resolve_threshold
from kit.io import open_image
from kit.paths import find_competition_data, find_file
from kit.rle import runs_from_rle
from kit.submit import mask_rows, read_sample_ids, rle_rows, sample_from_test_images, sample_image_ids
from kit.submit import validate_submission
from kit.submit import write_fallback_submission, write_submission

__all__ = ["TestImage", "Budget", "find_test_images", "find_ensemble", "predict_submission"]


@dataclass(frozen=True)
class TestImage:
    """One test image: id, file, and what the test table says of it (None where it says nothing)."""

    image_id: str
    path: Path
    organ: str | None = None
    data_source: str | None = None
    pixel_size: float | None = None


class Budget:
    """Wall-clock budget: may the next image of ``pixels`` pixels still finish before the deadline?

    The estimate is the slowest seconds-per-pixel seen so far × ``safety``, plus ``reserve`` seconds kept for
    writing and validating the file. With no image timed yet, any image may start while time remains.
    """

    def __init__(self, seconds: float | None, reserve: float | None = None, safety: float = 1.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if seconds is not None and not 0 <= seconds < math.inf:
            raise ValueError(f"budget must be a finite number of seconds >= 0 or None, got {seconds}")
        self.seconds, self.safety, self.clock = seconds, safety, clock
        self.reserve = min(60.0, 0.05 * seconds) if reserve is None and seconds is not None else (reserve or 0.0)
        self.start = clock()
        self.rate = 0.0  # slowest seconds per pixel so far

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return self.clock() - self.start

    def allows(self, pixels: int) -> bool:
        """True when an image of ``pixels`` pixels is expected to finish within the budget."""
        if self.seconds is None:
            return True
        return self.elapsed() + self.rate * pixels * self.safety + self.reserve < self.seconds

    def record(self, pixels: int, seconds: float) -> None:
        """Add the time one image took."""
        self.rate = max(self.rate, seconds / max(1, pixels))


def find_ensemble(path: str | Path | None = None) -> Path:
    """ensemble.json: ``path`` (a file or a folder holding one); None: ``models/ensemble.json`` or
    ``ensemble.json`` here, else the first ensemble.json under the Kaggle input root (the models dataset)."""
    if path is None:
        for local in (Path("models") / "ensemble.json", Path("ensemble.json")):
            if local.is_file():
                return local
        return find_file("ensemble.json")
    path = Path(path)
    if path.is_dir():
        path = path / "ensemble.json"
    if not path.is_file():
        raise FileNotFoundError(f"ensemble config {path} not found (notebook 02 / python -m kit ensemble writes it)")
    return path


def _sample_submission(profile: CompetitionProfile, data_dir: Path) -> tuple[Path | pd.DataFrame, str]:
    """sample_submission.csv, or (NeoPolyp ships none) the table the test images imply, with a note saying so."""
    sample = data_dir / profile.sample_submission
    if sample.is_file():
        return sample, ""
    try:
        table = sample_from_test_images(profile, data_dir)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{sample} not found, and the test images cannot stand in for it ({err})") from None
    return table, f"no {profile.sample_submission}: ids of the test images, in their order"


def find_test_images(profile: CompetitionProfile, data_dir: Path,
                     sample_submission: Path | pd.DataFrame) -> list[TestImage]:
    """The test images sample_submission asks for, in its order, with the test table's metadata if any.

    An id missing from the test table raises ValueError; a missing image file is left for the caller
    (:func:`predict_submission` raises or keeps the fallback, as asked).
    """
    ids = sample_image_ids(profile, sample_submission)
    meta: dict[str, dict[str, Any]] = {}
    if profile.test_csv is not None:
        table = profile.read_table(data_dir, "test")
        meta = table.set_index(table[profile.id_column].astype(str)).to_dict("index")
        absent = [i for i in ids if i not in meta]
        if absent:
            raise ValueError(f"{len(absent)} ids of {sample_submission} are not in {data_dir / profile.test_csv}, "
                             f"e.g. {absent[0]!r}")
    images = []
    for image_id in ids:
        row = meta.get(image_id, {})
        pixel = row.get("pixel_size")
        if pixel is not None and not pd.isna(pixel) and not 0 < _float(pixel) < math.inf:
            raise ValueError(f"{data_dir / profile.test_csv} id {image_id!r}: pixel_size must be a number > 0 "
                             f"(µm per pixel), got {pixel!r}")
        images.append(TestImage(image_id, profile.image_path(data_dir, image_id, "test"),
                                _text(row.get("organ")), _text(row.get("data_source")),
                                None if pixel is None or pd.isna(pixel) else float(pixel)))
    return images


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value: Any) -> str | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _foreground(rles: list[str], pixels: int) -> float:
    return sum(int(runs_from_rle(r or None)[1].sum()) for r in rles) / max(1, pixels)


class _Writer:
    """Rows so far (fallback "" until predicted) -> submission.csv, atomically, at most every ``every`` seconds."""

    def __init__(self, path: Path, profile: CompetitionProfile, sample: Path | pd.DataFrame, every: float) -> None:
        self.path, self.profile, self.sample, self.every = path, profile, sample, every
        self.rows = dict.fromkeys(read_sample_ids(profile, sample), "")
        self.last = time.monotonic()
        self.lock = threading.Lock()
        write_fallback_submission(path, profile, sample)

    def add(self, rows: list[tuple[str, str]]) -> None:
        with self.lock:
            self.rows.update(rows)
            due = time.monotonic() - self.last >= self.every
        if due:
            self.flush()

    def flush(self) -> None:
        with self.lock:
            write_submission(self.rows, self.path, self.profile, self.sample)
            self.last = time.monotonic()


def _predict_rows(predictor, config: EnsembleConfig, profile: CompetitionProfile, image: TestImage, reader,
                  threshold: float) -> list[tuple[str, str]]:
    """Submission rows of one image: streamed RLE, or post-processed at the working resolution first."""
    if not config.min_area and not config.fill_holes:
        rles = predictor.predict_rle(reader, threshold, profile.rle_order, image.pixel_size)
        return rle_rows(profile, image.image_id, rles)
    probs = predictor.predict_probs(reader, image.pixel_size)
    scale = predictor.output_scale(reader.height, reader.width, image.pixel_size)
    if probs.shape[0] == 1:  # binary: clean the small map, then upsample band by band into the RLE
        min_area = math.ceil(config.min_area / scale**2) if config.min_area else 0
        cleaned = clean_probs(probs[0], threshold, min_area, config.fill_holes)[None]
        rles = encode_probs(cleaned, (reader.height, reader.width), scale, threshold, profile.rle_order)
        return rle_rows(profile, image.image_id, rles)
    # multi-class (NeoPolyp frames are small): argmax at full resolution, then clean each class
    labels = labels_from_probs(upsample(probs, (reader.height, reader.width), scale), threshold)
    cleaned = np.zeros_like(labels)
    for k in range(1, probs.shape[0]):
        cleaned[clean_mask(labels == k, config.min_area, config.fill_holes) == 1] = k
    return mask_rows(profile, image.image_id, cleaned)


def _devices(device: str | Sequence[str] | None) -> list[str | None]:
    """One entry per worker: the given device(s), or every CUDA device when there are several (Kaggle T4 x2)."""
    if device is not None:
        return [device] if isinstance(device, str) else list(device)
    import torch

    count = torch.cuda.device_count()
    return [f"cuda:{i}" for i in range(count)] if count > 1 else [None]


class _Run:
    """One image at a time on whichever predictor (one per device) is free; budget and timing under a lock."""

    def __init__(self, predictors, config, profile, budget, skip_errors: bool, clock, writer: _Writer) -> None:
        self.config, self.profile, self.budget, self.writer = config, profile, budget, writer
        self.skip_errors, self.clock = skip_errors, clock
        self.free: queue.Queue = queue.Queue()
        for predictor in predictors:
            self.free.put(predictor)
        self.lock = threading.Lock()

    def allows(self, pixels: int) -> bool:
        with self.lock:
            return self.budget.allows(pixels)

    def __call__(self, image: TestImage, result: ImageResult, missing: bool) -> None:
        """Predict ``image`` and hand its rows to the writer at once (a later error cannot lose them); an image
        that fails or that the budget cannot reach keeps its fallback rows. Fills ``result``."""
        if missing:
            result.status, result.error = "error", f"image file {image.path} not found"
            print(f"skipped {image.image_id}: {result.error}", file=sys.stderr)
            return
        if not self.allows(0):  # out of time: the remaining images keep their fallback rows unopened
            return
        predictor = self.free.get()
        started = self.clock()
        try:
            with open_image(image.path) as reader:
                result.height, result.width = reader.shape
                pixels = reader.height * reader.width
                if not self.allows(pixels):
                    return
                result.threshold = resolve_threshold(self.config.thresholds, image.organ, image.data_source)
                rows = _predict_rows(predictor, self.config, self.profile, image, reader, result.threshold)
        except Exception as err:  # noqa: BLE001 - reported per image, re-raised unless skip_errors
            result.status, result.error = "error", "".join(traceback.format_exception_only(err)).strip()
            if not self.skip_errors:
                if type(err) is ValueError:  # name the image the message is about
                    raise ValueError(f"test image {image.image_id}: {err}") from None
                raise
            print(f"skipped {image.image_id}: {' '.join(result.error.split())}", file=sys.stderr)
            return
        finally:
            self.free.put(predictor)
        result.seconds = self.clock() - started
        with self.lock:
            self.budget.record(pixels, result.seconds)
        self.writer.add(rows)
        result.status, result.foreground = "predicted", _foreground([r for _, r in rows], pixels)


def predict_submission(
    competition: str,
    ensemble: str | Path | EnsembleConfig | None = None,
    data_dir: str | Path | None = None,
    out: str | Path = "submission.csv",
    budget_seconds: float | None = None,
    device: str | Sequence[str] | None = None,
    batch_size: int = 8,
    skip_errors: bool = False,
    progress: bool = True,
    flush_seconds: float = 60.0,
    ensemble_root: str | Path | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> PredictionReport:
    """Predict the test split of ``competition`` into ``out`` (see the module docstring for the steps).

    Args:
        competition: competition slug.
        ensemble: ensemble.json (a file, its folder, a loaded :class:`EnsembleConfig`, or None: see
            :func:`find_ensemble`).
        data_dir: the competition folder (None: the Kaggle mounts via :func:`kit.paths.find_competition_data`).
        out: the submission CSV to write.
        budget_seconds: wall-clock budget from the call on (None: no limit); images it cannot reach keep
            their empty fallback rows.
        device: "cpu", "cuda:0" ..., or several (one worker thread and model copy each, images shared out);
            None: every GPU when there are several (Kaggle T4 x2), else CUDA when available, else the CPU.
        batch_size: windows per forward pass.
        skip_errors: a failing image keeps its fallback rows (status "error", its error in the report) instead of
            stopping the run; without it the error propagates after the finished images' rows are written.
        flush_seconds: rewrite the partial submission at most this often (a killed run keeps what it had).
        ensemble_root: folder that relative checkpoint paths start from (default: the folder of ensemble.json).
        clock: time source of the budget (tests pass a fake one).
    """
    budget = Budget(budget_seconds, clock=clock)
    profile = get_profile(competition)
    data_dir = find_competition_data(profile.slug, data_dir)
    sample, sample_note = _sample_submission(profile, data_dir)
    out = Path(out)
    remove_stale_temps(out.parent)  # what a killed run left beside the submission
    # nothing to lose: the fallback goes in at once; an existing submission stays until the ensemble is loaded
    writer = None if out.exists() else _Writer(out, profile, sample, flush_seconds)
    images = find_test_images(profile, data_dir, sample)
    missing = {im.image_id for im in images if not im.path.is_file()}
    if missing and not skip_errors:
        first = next(im.path for im in images if im.image_id in missing)
        kept = "the fallback submission is in place" if writer else "the existing submission is unchanged"
        raise FileNotFoundError(f"{len(missing)} test images of {sample} are missing, e.g. {first} ({out}: {kept})")
    if isinstance(ensemble, EnsembleConfig):
        config, root = ensemble, Path(ensemble_root or ".")
    else:
        path = find_ensemble(ensemble)
        config, root = EnsembleConfig.load(path), Path(ensemble_root or path.parent)
    if config.competition != profile.slug:
        raise ValueError(f"the ensemble was built for {config.competition!r}, not {profile.slug!r}")
    predictors = [config.build_predictor(root=root, device=d, batch_size=batch_size) for d in _devices(device)]
    writer = writer or _Writer(out, profile, sample, flush_seconds)
    run = _Run(predictors, config, profile, budget, skip_errors, clock, writer)
    results = [ImageResult(im.image_id, "budget", organ=im.organ, data_source=im.data_source) for im in images]
    report = PredictionReport(out, profile.slug, data_dir, results, budget_seconds=budget_seconds, note=sample_note)
    bar = _progress(len(images), progress)
    jobs = [(im, res, im.image_id in missing) for im, res in zip(images, results)]
    try:
        with ThreadPoolExecutor(len(predictors)) as pool:
            try:
                for _ in ((run(*job) for job in jobs) if len(predictors) == 1 else
                          pool.map(lambda job: run(*job), jobs)):
                    bar.update()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise
    finally:  # also on the way out of an error: every finished image's rows reach the file first
        bar.close()
        writer.flush()
    sizes = {r.image_id: (r.height, r.width) for r in results if r.height is not None}
    validate_submission(out, profile, sample, sizes if len(sizes) == len(images) else None)
    report.seconds = budget.elapsed()
    check_outcome(report, config)
    return report


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="test images", disable=not enabled)
