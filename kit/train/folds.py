"""Every fold of one recipe: ``<out>/fold<k>/`` run folders (resumable one by one) and one OOF over all of them.

Layout: ``<out>/fold<k>/`` is an ordinary run folder (config.json, last.pt, best.pt, log.csv, oof.npz) plus
``fold_summary.json`` once that fold has finished; ``<out>/runs.csv`` has one row per fold; ``<out>/oof.npz``
pools the folds' OOF predictions (sorted by id) once every requested fold is done. A rerun skips finished folds and
resumes an interrupted one from its ``last.pt``. With several GPUs, :func:`train_folds` can run one fold per GPU
in separate processes (``devices``); DDP per fold is ``world_size``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from kit.artifacts import oof
from kit.artifacts.run_folder import read_config
from kit.fsutil import atomic_write_text
from kit.train.config import TrainConfig

__all__ = ["FOLD_SUMMARY", "parse_folds", "fold_dir", "fold_summary", "train_fold", "train_folds", "combine_oof",
           "expected_oof_ids"]

FOLD_SUMMARY = "fold_summary.json"


def parse_folds(spec: str | Sequence[int] | None, n_folds: int) -> list[int]:
    """Fold numbers from "all", "0,2,4" or a list; each must lie in 0..n_folds-1."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "all"):
        return list(range(n_folds))
    if isinstance(spec, str):
        try:
            spec = [int(v) for v in spec.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"folds {spec!r}: expected 'all' or comma-separated fold numbers such as 0,2,4") from None
    folds = list(dict.fromkeys(int(v) for v in spec))
    bad = [f for f in folds if not 0 <= f < n_folds]
    if not folds or bad:
        raise ValueError(f"folds {list(spec)}: each must lie in 0..{n_folds - 1} (n_folds {n_folds})")
    return folds


def fold_dir(out_dir: str | Path, fold: int) -> Path:
    """The run folder of ``fold`` under a recipe's output folder."""
    return Path(out_dir) / f"fold{fold}"


def fold_summary(run_dir: str | Path) -> dict[str, Any] | None:
    """The summary a finished fold left (best_dice, best_epoch, epochs, stopped, seconds), or None."""
    path = Path(run_dir) / FOLD_SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def train_fold(config: TrainConfig, world_size: int | None = 1, rerun: str = "refuse") -> dict[str, Any]:
    """Train one fold in ``config.out_dir`` (resuming), write its OOF, its runs.csv row and, when it ran to the
    end (not stopped by the time budget), ``fold_summary.json``. ``rerun`` as :func:`kit.train.run_training`.
    Returns the summary."""
    from kit.train import run_training

    start = time.perf_counter()
    summary = run_training(config, world_size=world_size, rerun=rerun)
    result = {k: summary[k] for k in ("best_dice", "best_epoch", "epochs", "stopped")}
    result["seconds"] = time.perf_counter() - start
    if summary["stopped"] != "time_budget":
        atomic_write_text(Path(config.out_dir) / FOLD_SUMMARY, json.dumps(result, indent=2))
    return result


def _launch_one_per_device(configs: list[TrainConfig], devices: Sequence[str], rerun: str) -> None:
    """Run each config in its own process (``python -m kit.train.folds CONFIG RERUN``), at most one per device, with
    ``CUDA_VISIBLE_DEVICES`` set to that device; raises naming the folds whose process failed."""
    pending, running, failed = list(configs), {}, []
    free = list(devices)
    while pending or running:
        while pending and free:
            config, device = pending.pop(0), free.pop(0)
            path = Path(config.out_dir).parent / f".{Path(config.out_dir).name}.config.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            config.save(path)
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": device}
            log = open(Path(config.out_dir).parent / f"{Path(config.out_dir).name}.log", "a")  # noqa: SIM115
            process = subprocess.Popen([sys.executable, "-m", "kit.train.folds", str(path), rerun], env=env, stdout=log,
                                       stderr=subprocess.STDOUT)
            running[process] = (config, device, log)
        for process in list(running):
            if process.poll() is not None:
                config, device, log = running.pop(process)
                log.close()
                free.append(device)
                if process.returncode != 0:
                    failed.append(f"fold {config.fold} (exit {process.returncode}, log {log.name})")
        time.sleep(0.2)
    if failed:
        raise RuntimeError("training failed for " + ", ".join(failed))


def _capped(config: TrainConfig, deadline: float | None) -> TrainConfig:
    """``config`` with ``max_minutes`` no later than ``deadline`` (unchanged without one)."""
    if deadline is None:
        return config
    left = max((deadline - time.time()) / 60, 1e-3)
    return config.replace(max_minutes=min(config.max_minutes or left, left))


def train_folds(
    config: TrainConfig, folds: str | Sequence[int] | None = "all", world_size: int | None = 1,
    devices: Sequence[str] | None = None, deadline: float | None = None, rerun: str = "refuse", log=print,
) -> dict[int, dict[str, Any]]:
    """Train ``folds`` of ``config`` under ``config.out_dir`` (one run folder per fold), then pool their OOF.

    Finished folds are skipped, an interrupted one resumes. ``world_size`` > 1 trains each fold with DDP;
    ``devices`` (e.g. ["0", "1"]) instead runs one fold per device in parallel processes. ``deadline`` (a
    ``time.time()`` value) caps each fold's ``max_minutes`` by the time left; no fold starts after it.
    ``<out>/oof.npz`` is written when every requested fold is finished. Returns each fold's summary (None for
    unfinished ones). ``rerun`` ("refuse", "resume-anyway", "fresh") applies to every fold folder; a finished
    fold is skipped only after its folder's fingerprint matches this recipe and its inputs (else refused).
    """
    from kit.train import _check_run_folder

    out = Path(config.out_dir)
    numbers = parse_folds(folds, config.n_folds)
    configs = {k: config.replace(fold=k, out_dir=str(fold_dir(out, k))) for k in numbers}
    for k in numbers:
        if rerun == "fresh":
            (Path(configs[k].out_dir) / FOLD_SUMMARY).unlink(missing_ok=True)
        elif fold_summary(configs[k].out_dir) is not None:
            _check_run_folder(configs[k], rerun)  # a folder made by another recipe or other inputs is refused
            log(f"fold {k}: finished before, skipped ({configs[k].out_dir})")
    todo = [k for k in numbers if fold_summary(configs[k].out_dir) is None]
    if devices and len(todo) > 1:
        log(f"folds {todo}: one process per device {list(devices)}")
        _launch_one_per_device([_capped(configs[k], deadline) for k in todo], devices, rerun)
    else:
        for k in todo:
            if deadline is not None and time.time() >= deadline:
                log(f"fold {k}: not started, the time budget is spent (rerun to continue)")
                break
            log(f"fold {k}: training in {configs[k].out_dir}")
            train_fold(_capped(configs[k], deadline), world_size, rerun)
    summaries = {k: fold_summary(configs[k].out_dir) for k in numbers}
    if all(summaries.values()) and (todo or not (out / oof.OOF_FILE).is_file()):
        path = combine_oof([configs[k].out_dir for k in numbers], out / oof.OOF_FILE)
        log(f"OOF of folds {numbers} -> {path}")
    return summaries


def expected_oof_ids(config: TrainConfig, whole_images: bool = True) -> set[str]:
    """Ids the pooled OOF of every fold must cover: every training image (whole-image validation), or every
    training tile (validation on tiles)."""
    from kit.train.builders import fold_items

    items = fold_items(config)[0]
    column = "tile" if not whole_images and "tile" in items else "id"
    return set(items[column].astype(str))


def combine_oof(run_dirs: Sequence[str | Path], out: str | Path, check_cover: bool = True) -> Path:
    """Pool the ``oof.npz`` of fold run folders into one file sorted by id (:func:`kit.artifacts.oof.combine_oof`,
    which refuses an image found in two folds), written atomically.

    ``check_cover``: when the folds are all of the recipe's folds, every training image (or tile, for runs that
    validated on tiles) must be present (checked against the first fold's config).
    """
    images = oof.combine_oof([oof.read_oof(d) for d in run_dirs], names=[str(d) for d in run_dirs])
    config = TrainConfig.from_dict(read_config(run_dirs[0]))
    if check_cover and len(run_dirs) == config.n_folds:
        ids = {im.id for im in images}
        expected = expected_oof_ids(config)  # whole images; tiles when the runs validated on tiles
        if not ids <= expected:
            expected = expected_oof_ids(config, whole_images=False)
        missing = sorted(expected - ids)
        if missing:
            raise ValueError(f"the OOF of {len(run_dirs)} folds misses {len(missing)} training items, "
                             f"e.g. {missing[:5]}")
    return oof.write_oof(out, images)


if __name__ == "__main__":  # one fold in its own process (see _launch_one_per_device)
    train_fold(TrainConfig.from_dict(json.loads(Path(sys.argv[1]).read_text())), rerun=sys.argv[2])
