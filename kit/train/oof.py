"""Out-of-fold predictions written by the trainer (``oof.npz``): read them and score them per organ."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["OOF_ARRAYS", "ORDERS", "read_oof", "oof_scores", "oof_examples"]

ORDERS = ("random", "worst", "best")

#: probs N×C×H×W uint8 (probability × 255), targets N×H×W class ids, ids N (tile or image), groups N (organ or "")
OOF_ARRAYS = ("probs", "targets", "ids", "groups")


def read_oof(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an ``oof.npz`` or of the one in run folder ``path`` (see :data:`OOF_ARRAYS`).

    ``probs`` N×H×W becomes N×1×H×W, ``ids`` and ``groups`` strings; without ``groups`` (or with "nan"/"None",
    tiles without an organ) the groups are "". A missing file or array raises naming it.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "oof.npz"
    if not path.exists():
        raise FileNotFoundError(f"OOF file {path} not found: train first (notebook 01 / python -m kit train)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as err:  # not an npz, truncated, or pickled objects
        raise ValueError(f"OOF file {path} could not be read ({type(err).__name__}: {err}): re-run the training's "
                         f"OOF step or delete the run") from None
    missing = [k for k in OOF_ARRAYS[:3] if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks arrays {missing}; it has {sorted(arrays)}")
    probs = arrays["probs"] if arrays["probs"].ndim == 4 else arrays["probs"][:, None]
    ids = arrays["ids"].astype(str)
    groups = arrays["groups"].astype(str) if "groups" in arrays else np.full(len(ids), "")
    groups = np.where(np.isin(groups, ["nan", "None"]), "", groups)
    return {"probs": probs, "targets": arrays["targets"], "ids": ids, "groups": groups}


def _labels(probs: np.ndarray, threshold: float) -> np.ndarray:
    return (probs[:, 0] > round(threshold * 255)).astype(np.uint8) if probs.shape[1] == 1 else probs.argmax(1)


def oof_scores(path: str | Path, threshold: float = 0.5) -> pd.DataFrame:
    """Dice, IoU, precision, recall per organ (``groups``) and over all OOF items, as a table.

    Per-item means (Kaggle convention: empty vs empty = 1) plus the global Dice of the summed counts.
    Binary runs threshold the probability at ``threshold``; multi-class runs take the argmax.
    """
    from kit.metrics import SegmentationMeter

    oof = read_oof(path)
    probs = oof["probs"]
    labels = _labels(probs, threshold)
    meter = SegmentationMeter(num_classes=max(2, probs.shape[1]))
    groups = [g or None for g in oof["groups"].astype(str)]
    meter.update(labels, oof["targets"], group=groups)
    result = meter.compute()
    columns = ["dice", "iou", "precision", "recall", "dice_global", "images"]
    rows = {str(g): {c: s[c] for c in columns} for g, s in sorted(result["per_group"].items())}
    rows["all"] = {c: result[c] for c in columns}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "organ"
    return table.rename(columns={"images": "items"})


def oof_examples(
    run_dir: str | Path, n: int = 4, order: str = "random", seed: int = 0, threshold: float = 0.5
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], list[str]]:
    """(images, targets, predictions, titles) of ``n`` validation items of a run, for
    :func:`kit.viz.show_predictions`; ``order`` "random", "worst" or "best" by per-item Dice.

    Images are re-read through the run's validation dataset (``config.json``) at the OOF resolution.
    """
    import cv2

    from kit.metrics import confusion_counts, scores_from_counts
    from kit.train.builders import build_datasets
    from kit.train.config import TrainConfig

    if order not in ORDERS:
        raise ValueError(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    _, val = build_datasets(config)
    oof = read_oof(run_dir)
    labels = _labels(oof["probs"], threshold)
    num_classes = max(2, oof["probs"].shape[1])
    dice = scores_from_counts(confusion_counts(labels, oof["targets"], num_classes)[:, 1:])["dice"].mean(axis=1)
    id_column = "tile" if "tile" in val.items else "id"
    position = {str(v): i for i, v in enumerate(val.items[id_column].astype(str))}
    if order == "random":
        picks = np.random.default_rng(seed).permutation(len(dice))[:n]
    else:
        picks = np.argsort(dice, kind="stable")[:n] if order == "worst" else np.argsort(-dice, kind="stable")[:n]
    images, targets, preds, titles = [], [], [], []
    for k in picks:
        item_id = str(oof["ids"][k])
        if item_id not in position:
            raise ValueError(f"OOF id {item_id!r} is not in the validation set of {run_dir / 'config.json'}")
        image, _ = val.load(position[item_id])
        h, w = labels.shape[1:]
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        images.append(image)
        targets.append(oof["targets"][k])
        preds.append(labels[k])
        titles.append(f"{item_id} {oof['groups'][k]} Dice {dice[k]:.3f}".replace("  ", " "))
    return images, targets, preds, titles
