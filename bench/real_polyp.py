"""Real-data benchmark: CVC-ClinicDB through a custom competition profile, the kit's flow vs a plain loop.

Run:   .venv/bin/python bench/real_polyp.py [--data ../shared/data/cvc-clinicdb] [--size 128] [--epochs 12]
       [--folds all] [--only kit|plain]
Cost:  the default (128², 12 epochs, one torch thread per flow, both flows side by side) takes about 12 min on an
       idle 2-core CPU: a kit epoch (380 frames + whole-image validation of 90) 53 s, a plain-loop epoch (472 frames)
       44 s, ensemble + predict about 1 min (bench/RESULTS.md). On a loaded box it takes 3-4× longer.
       ``--folds all`` trains the five folds one after another: about 5× the kit's training time.
Data:  CVC-ClinicDB (612 frames, 29 video sequences; research and educational use only) read from
       ``../shared/data/cvc-clinicdb`` beside the repository (or ``--data``); skipped with a message when absent.
       Nothing is copied into the repository: ``bench/_work/real_polyp/data`` holds symbolic links in the layout of
       ``bench/profiles/cvc-clinicdb.json`` (train/images, train/masks, test/images, sequences.csv,
       sample_submission.csv) and the hidden test labels in ``_scoring/test_labels.csv``.
Split: every video sequence whose number is 2 mod 5 (2, 7, 12, 17, 22, 27) is the fixed test set; the kit's folds
       are grouped by sequence (the profile's ``group_column``), so no sequence is in two places.
Kit:   ``python -m kit train --competition bench/profiles/cvc-clinicdb.json`` with the kit's defaults for a
       whole-image binary task (UNet-ResNet18 from scratch), ``ensemble``, ``predict --score``.
Plain: ``bench/baselines/plain_polyp_loop.py`` on every training frame, same size, epochs and batch.
Scores: the kit's metric (``predict --score``: mean per-image Dice, empty vs empty = 1) and an independent Dice
       computed here from the submission's RLE and the original mask PNGs (grey > 127) at full resolution.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kit.rle import encode  # noqa: E402

PROFILE = ROOT / "bench" / "profiles" / "cvc-clinicdb.json"
WORK = ROOT / "bench" / "_work" / "real_polyp"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cvc-clinicdb"
PUBLISHED = {"PraNet": 0.899, "SANet": 0.916, "HarDNet-MSEG": 0.932}  # data README: pretrained, GPU, other split


@dataclass
class Split:
    """The benchmark's competition folder and its train / test frame ids."""

    data: Path
    train_ids: list[str]
    test_ids: list[str]
    test_masks: list[Path]


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target.resolve())


def prepare(source: Path, work: Path = WORK, test_mod: tuple[int, int] = (5, 2)) -> Split:
    """Lay ``source`` out as the profile expects under ``work/data`` (links only); whole sequences are tested."""
    sequences = pd.read_csv(source / "sequences.csv", dtype={"frame": str})
    test = sequences["sequence"] % test_mod[0] == test_mod[1]
    data = work / "data"
    for split, rows in (("train", sequences[~test]), ("test", sequences[test])):
        for frame in rows["frame"]:
            _link(source / "images" / f"{frame}.png", data / split / "images" / f"{frame}.png")
            if split == "train":
                _link(source / "masks" / f"{frame}.png", data / split / "masks" / f"{frame}.png")
    sequences[~test].to_csv(data / "sequences.csv", index=False)
    test_ids = sequences.loc[test, "frame"].tolist()
    pd.DataFrame({"id": test_ids, "rle": ""}).to_csv(data / "sample_submission.csv", index=False)
    masks = [source / "masks" / f"{i}.png" for i in test_ids]
    labels = [encode(read_truth(p), "C") for p in masks]
    (data / "_scoring").mkdir(exist_ok=True)
    pd.DataFrame({"id": test_ids, "rle": labels}).to_csv(data / "_scoring" / "test_labels.csv", index=False)
    return Split(data, sequences.loc[~test, "frame"].tolist(), test_ids, masks)


def read_truth(path: Path) -> np.ndarray:
    """A CVC-ClinicDB mask as a boolean polyp map (grey > 127)."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127


def decode_row_major(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Independent RLE decoder (1-based starts, row-major): the bench's own, not kit.rle."""
    flat = np.zeros(shape[0] * shape[1], dtype=bool)
    numbers = [int(v) for v in str(rle).split()] if isinstance(rle, str) and rle.strip() else []
    for start, length in zip(numbers[0::2], numbers[1::2]):
        flat[start - 1:start - 1 + length] = True
    return flat.reshape(shape)


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Dice of two boolean maps; both empty: 1."""
    total = int(prediction.sum()) + int(truth.sum())
    return 1.0 if total == 0 else 2.0 * int((prediction & truth).sum()) / total


def independent_dice(submission: Path, split: Split, row_suffix: str = "") -> float:
    """Mean per-frame Dice of ``submission`` (row ``<id><row_suffix>``) against the original masks."""
    rows = pd.read_csv(submission, dtype=str, keep_default_na=False).set_index("id")["rle"]
    scores = []
    for frame, mask_path in zip(split.test_ids, split.test_masks):
        truth = read_truth(mask_path)
        scores.append(dice(decode_row_major(rows[f"{frame}{row_suffix}"], truth.shape), truth))
    return float(np.mean(scores))


def run_plain(split: Split, size: int, epochs: int, seed: int = 0, log=print) -> dict:
    """The plain loop on every training frame; independent Dice on the test frames."""
    import torch

    from bench.baselines.plain_polyp_loop import load_frames, predict_plain, train_plain

    start = time.perf_counter()
    train = split.data / "train"
    x, y = load_frames([str(train / "images" / f"{i}.png") for i in split.train_ids],
                       [str(train / "masks" / f"{i}.png") for i in split.train_ids], size)
    model = train_plain(x, y, epochs, seed=seed, log=log)
    test_x, _ = load_frames([str(split.data / "test" / "images" / f"{i}.png") for i in split.test_ids], None, size)
    truths = [read_truth(p) for p in split.test_masks]
    with torch.inference_mode():
        predictions = predict_plain(model, test_x, [t.shape for t in truths])
    score = float(np.mean([dice(p, t) for p, t in zip(predictions, truths)]))
    shares = [float(np.mean([m.mean() for m in masks])) for masks in (predictions, truths)]
    return {"flow": "plain", "holdout_dice": score, "predicted_share": shares[0], "true_share": shares[1],
            "seconds": time.perf_counter() - start}


def train_kit(split: Split, run: Path, train_args: list[str], profile: Path = PROFILE) -> float:
    """``python -m kit train`` on the benchmark folder into ``run``; returns the seconds it took."""
    from kit.__main__ import main as kit

    start = time.perf_counter()
    code = kit(["train", "--competition", str(profile), "--data", str(split.data), "--out", str(run),
                "--workers", "0", *train_args])
    if code:
        raise RuntimeError(f"kit train failed with exit code {code}")
    return time.perf_counter() - start


def evaluate_kit(split: Split, run: Path, out: Path, tta: list[str], profile: Path = PROFILE,
                 threshold: float | None = None, row_suffix: str = "") -> dict:
    """``ensemble`` (TTA ``tta``; ``threshold`` replaces the OOF-chosen one) and ``predict --score`` of ``run``:
    the kit's metric, the independent Dice (submission row ``<id><row_suffix>``), the OOF Dice, the seconds."""
    from kit.artifacts.run_folder import find_runs
    from kit.ensemble.build import build_ensemble
    from kit.infer.ensemble_config import EnsembleConfig
    from kit.infer.runner import predict_submission
    from kit.infer.scoring import score_submission

    start = time.perf_counter()
    build = build_ensemble(find_runs(run), out / "models" / "ensemble.json", tta=tta)
    if threshold is not None:
        config = EnsembleConfig.load(build.path)
        config.thresholds = {"default": threshold}
        config.save(build.path)
    report = predict_submission(str(profile), build.path, split.data, out / "submission.csv", progress=False)
    labels_in_format = not row_suffix  # the hidden labels are in the one-class profile's submission format
    kit_score = score_submission(str(profile), report.submission, split.data)["score"] if labels_in_format else None
    return {"holdout_dice": independent_dice(report.submission, split, row_suffix), "kit_metric": kit_score,
            "oof_dice": build.config.oof_score, "oof_uncertainty": build.config.oof_uncertainty,
            "thresholds": EnsembleConfig.load(build.path).thresholds, "tta": tta,
            "seconds": time.perf_counter() - start}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="CVC-ClinicDB folder")
    parser.add_argument("--work", type=Path, default=WORK, help="work folder (links, runs; outside git)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--only", choices=("kit", "plain"), help="run one flow only")
    parser.add_argument("--folds", default="0",
                        help="kit folds to train: 0 (default), numbers such as 0,1, or all (OOF over every training "
                             "frame; the test frames are predicted by the ensemble of the folds)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a CPU shared with other jobs, more threads spin and stall)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data / "sequences.csv").is_file():
        print(f"skipped: CVC-ClinicDB not found at {args.data} (expects images/, masks/, sequences.csv; "
              "pass --data PATH)")
        return 0
    split = prepare(args.data, args.work)
    print(f"CVC-ClinicDB: {len(split.train_ids)} training frames, {len(split.test_ids)} test frames "
          f"(whole sequences), {args.size}², {args.epochs} epochs, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    results = []
    if args.only in (None, "kit"):
        run = args.work / "kit" / "run"
        folds = [] if args.folds == "0" else ["--folds", args.folds]
        seconds = train_kit(split, run, ["--size", str(args.size), "--epochs", str(args.epochs),
                                         "--encoder", "resnet18", "--encoder-weights", "none", *folds])
        results.append({"flow": "kit", "train_seconds": seconds,
                        **evaluate_kit(split, run, args.work / "kit", ["identity", "hflip", "vflip"])})
        print(json.dumps(results[-1]))
    if args.only in (None, "plain"):
        results.append(run_plain(split, args.size, args.epochs))
        print(json.dumps(results[-1]))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    (args.work / f"results_{args.only or 'all'}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
