"""Why the kit's NeoPolyp-style flow lost to a plain loop: one short run per factor on CVC-ClinicDB.

Run: .venv/bin/python bench/studies/polyp_factors.py [--size 64] [--epochs 6] [--variants neo3 bin ...]

Same split and data folder as bench/real_polyp.py (fixed test sequences, folds grouped by sequence). Each variant
trains UNet-ResNet18 from scratch with the kit (``python -m kit train``) and is scored on the test frames through
``ensemble`` + ``predict`` by the independent Dice of bench/real_polyp.py; TTA and threshold are varied on the
trained model of each variant (prediction only). One JSON line per result is appended to
``bench/_work/real_polyp/factors.jsonl``, so a stopped study keeps what it measured. Not part of ``make bench``
(a study: one training per variant).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from bench.real_polyp import DEFAULT_DATA, PROFILE, WORK, evaluate_kit, prepare, run_plain, train_kit  # noqa: E402

NEO = ["--num-classes", "3", "--loss", "0.4*ce+0.6*dice", "--lr", "1e-3", "--min-lr", "1e-5"]  # README's flow
BIN = ["--loss", "0.5*bce+0.5*dice", "--lr", "1e-3", "--min-lr", "1e-5"]
VARIANTS = {  # name -> (train flags, profile with the second, never-present class?)
    "neo3": (NEO, True),
    "bin": (BIN, False),
    "bin_constant": (BIN + ["--schedule", "constant"], False),
    "bin_aug_none": (BIN + ["--augment", "none"], False),
    "bin_aug_medium": (BIN + ["--augment", "medium"], False),
    "bin_96pct": (BIN + ["--n-folds", "23"], False),  # leave one sequence out: 96 % of the frames train
    "bin_lr3e-4": (BIN[:2] + ["--lr", "3e-4", "--min-lr", "1e-6"], False),
}
PREDICTIONS = {"tta_none_thr_oof": (["identity"], None), "tta_flips_thr_oof": (["identity", "hflip", "vflip"], None),
               "tta_none_thr_0.5": (["identity"], 0.5), "tta_flips_thr_0.5": (["identity", "hflip", "vflip"], 0.5)}


def two_class_profile(work: Path, data: Path) -> Path:
    """The benchmark profile with a second class no frame has (NeoPolyp's 3-channel softmax on a 1-class task),
    and its sample submission (rows ``<id>_0``, ``<id>_1``) in ``data``."""
    values = json.loads(PROFILE.read_text())
    values.update(slug="cvc-clinicdb-2class", classes=["polyp", "other"],
                  mask_colours={"polyp": 255, "other": [0, 255, 0]}, sample_submission="sample_submission_2class.csv")
    ids = pd.read_csv(data / "sample_submission.csv", dtype=str)["id"]
    pd.DataFrame({"id": [f"{i}_{k}" for i in ids for k in (0, 1)], "rle": ""}).to_csv(
        data / values["sample_submission"], index=False)
    path = work / "cvc-clinicdb-2class.json"
    path.write_text(json.dumps(values, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--variants", nargs="+", default=["plain", *VARIANTS],
                        help="plain and/or " + " ".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: on a CPU shared with other jobs, more threads spin and stall)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data / "sequences.csv").is_file():
        print(f"skipped: CVC-ClinicDB not found at {args.data}")
        return 0
    split = prepare(args.data, args.work)
    log = args.work / "factors.jsonl"
    common = ["--size", str(args.size), "--epochs", str(args.epochs), "--encoder", "resnet18", "--seed",
              str(args.seed)]
    import subprocess

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    for name in args.variants:
        load = os.getloadavg()[0]
        base = {"variant": name, "size": args.size, "epochs": args.epochs, "seed": args.seed, "commit": commit,
                "load": round(load, 1), "time": time.strftime("%H:%M:%S")}
        if name == "plain":
            rows = [{**base, **run_plain(split, args.size, args.epochs, seed=args.seed)}]
        else:
            flags, two_class = VARIANTS[name]
            profile = two_class_profile(args.work, split.data) if two_class else PROFILE
            out = args.work / "factors" / f"{name}_{args.size}_{args.epochs}_{args.seed}"
            trained = (out / "run" / "oof.npz").is_file()  # a finished run is only evaluated again
            seconds = 0.0 if trained else train_kit(split, out / "run", common + flags, profile)
            rows = []
            for label, (tta, threshold) in PREDICTIONS.items():
                result = evaluate_kit(split, out / "run", out / label, tta, profile, threshold,
                                      "_0" if two_class else "")
                rows.append({**base, "prediction": label, "train_seconds": round(seconds), **result})
        with log.open("a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
