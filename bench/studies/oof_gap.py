"""Why the kit's OOF (CV) Dice and its hold-out Dice differ on CVC-ClinicDB: measured on trained run folders.

Run: .venv/bin/python bench/studies/oof_gap.py RUN [RUN ...] [--data ../shared/data/cvc-clinicdb] [--tta flips]

``RUN``: run folders of bench/real_polyp.py (one fold, or every ``fold<k>`` of a ``--folds all`` run). For the
OOF images (``oof.npz``) and for the 140 hidden test frames (predicted whole by the ensemble of the runs) the
Dice of every threshold level is computed once (N×255 tables, the kit's threshold rule), then:

- the OOF Dice the kit prints (threshold chosen on the very images it is scored on: in-sample),
- the OOF Dice with a cross-fitted threshold: each video sequence scored at the threshold the *other* OOF
  sequences choose (what a threshold picked without seeing the scored images gives),
- both at a fixed 0.5, the hold-out at the OOF-chosen threshold (the leaderboard's number) and at its own best
  threshold (an oracle: how much of the gap is the threshold rather than the images),
- per-sequence means and a bootstrap over sequences (standard error of each mean; the gap's 90 % interval).

Same split as bench/real_polyp.py; reads the frames through its work folder. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.real_polyp import DEFAULT_DATA, WORK, prepare, read_truth  # noqa: E402

FLIPS = ["identity", "hflip", "vflip"]


def level_table_oof(run_dirs: list[Path]) -> tuple[list[str], np.ndarray]:
    """(ids, N×255 Dice per threshold level) of the runs' pooled OOF images (one family: folds joined)."""
    from kit.artifacts.oof import combine_oof, read_oof
    from kit.ensemble.search import dice_by_threshold

    images = combine_oof([read_oof(r) for r in run_dirs], [str(r) for r in run_dirs])
    table = dice_by_threshold([im.probs[0].astype(np.float32) / 255 for im in images],
                              [im.targets[0] for im in images], [im.valid for im in images])
    return [im.id for im in images], table


def level_table_holdout(run_dirs: list[Path], split, out: Path, tta: list[str]) -> np.ndarray:
    """N×255 Dice per threshold level of the runs' ensemble (equal weights) on the test frames, full resolution."""
    from kit.ensemble.build import build_ensemble
    from kit.ensemble.search import dice_by_threshold
    from kit.infer.ensemble_config import EnsembleConfig
    from kit.infer.merge import upsample

    build = build_ensemble(run_dirs, out / "ensemble.json", tta=tta)
    config = EnsembleConfig.load(build.path)
    config.weights = [1.0] * len(config.models)
    predictor = config.build_predictor(out, device="cpu")
    maps, truths = [], []
    for frame, mask in zip(split.test_ids, split.test_masks):
        image = split.data / "test" / "images" / f"{frame}.png"
        truth = read_truth(mask)
        probs = predictor.predict_probs(str(image))
        scale = predictor.output_scale(*truth.shape)
        maps.append(upsample(probs, truth.shape, scale)[0].astype(np.float32) / 255)
        truths.append(truth)
    return dice_by_threshold(maps, truths)


def cross_fitted(table: np.ndarray, groups: np.ndarray) -> tuple[float, list[float]]:
    """Mean Dice when each group's images are scored at the level the other groups' images choose."""
    scores = np.zeros(len(table))
    levels = []
    for group in np.unique(groups):
        rows = groups == group
        level = int(np.argmax(table[~rows].mean(axis=0)))
        levels.append((level + 0.5) / 255)
        scores[rows] = table[rows, level]
    return float(scores.mean()), levels


def bootstrap_gap(oof: np.ndarray, oof_groups: np.ndarray, hold: np.ndarray, hold_groups: np.ndarray,
                  draws: int = 2000, seed: int = 0) -> dict:
    """Standard errors of the two means and the 5–95 % interval of their gap, resampling whole sequences."""
    rng = np.random.default_rng(seed)

    def draw(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
        keys = np.unique(groups)
        by_group = [values[groups == k] for k in keys]
        return np.asarray([np.concatenate([by_group[i] for i in rng.integers(0, len(keys), len(keys))]).mean()
                           for _ in range(draws)])

    a, b = draw(oof, oof_groups), draw(hold, hold_groups)
    gap = a - b
    return {"oof_se": float(a.std()), "holdout_se": float(b.std()),
            "gap_5_95": [float(np.percentile(gap, 5)), float(np.percentile(gap, 95))]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run folders (fold-0 run, or the fold<k> of --folds all)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--tta", nargs="+", default=FLIPS)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    split = prepare(args.data, args.work)
    sequence = pd.read_csv(args.data / "sequences.csv", dtype={"frame": str}).set_index("frame")["sequence"]
    ids, oof = level_table_oof(args.runs)
    hold = level_table_holdout(args.runs, split, args.work / "oof_gap", args.tta)
    oof_groups = sequence.loc[ids].to_numpy()
    hold_groups = sequence.loc[split.test_ids].to_numpy()
    chosen = int(np.argmax(oof.mean(axis=0)))
    half = int(np.floor(0.5 * 255 - 0.5 + 1e-9))  # level L means probs > (L + 0.5) / 255: t = 0.5 -> L = 127
    crossfit, levels = cross_fitted(oof, oof_groups)
    result = {
        "runs": [str(r) for r in args.runs], "oof_images": len(ids), "oof_sequences": len(set(oof_groups)),
        "oof_threshold": (chosen + 0.5) / 255,
        "oof_in_sample": float(oof.mean(axis=0)[chosen]),
        "oof_cross_fitted": crossfit, "cross_fitted_thresholds": [round(t, 3) for t in levels],
        "oof_at_0.5": float(oof.mean(axis=0)[half]),
        "holdout_at_oof_threshold": float(hold.mean(axis=0)[chosen]),
        "holdout_at_0.5": float(hold.mean(axis=0)[half]),
        "holdout_oracle": float(hold.mean(axis=0).max()),
        "holdout_oracle_threshold": (int(np.argmax(hold.mean(axis=0))) + 0.5) / 255,
        "oof_per_sequence": {int(k): round(float(oof[oof_groups == k, chosen].mean()), 3)
                             for k in np.unique(oof_groups)},
        "holdout_per_sequence": {int(k): round(float(hold[hold_groups == k, chosen].mean()), 3)
                                 for k in np.unique(hold_groups)},
        **bootstrap_gap(oof[:, chosen], oof_groups, hold[:, chosen], hold_groups),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
