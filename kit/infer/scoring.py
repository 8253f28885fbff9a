"""Score a submission.csv against test labels with the competition metric (hold-out scores of the samples).

HuBMAP 2021 and 2022: mean over images of the per-image Dice, 1 when prediction and truth are both empty
(competitions.md §2.4, §3.4). NeoPolyp: mean over the ``<id>_0`` / ``<id>_1`` rows of each row's Dice, same
empty convention (the official aggregation is not confirmed; the per-class global Dice is reported too).
Dice comes straight from the RLE runs, so no mask is ever decoded and slides cost no memory.

The synthetic samples keep their hidden labels in ``<data>/_scoring/test_labels.csv`` (:data:`kit.paths.SCORING_DIR`).

>>> _run_dice((np.array([0]), np.array([4])), (np.array([2]), np.array([4])))  # |A∩B| = 2, |A| = |B| = 4
0.5
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from kit.competitions import CompetitionProfile, get_profile
from kit.paths import SCORING_DIR
from kit.rle import runs_from_rle
from kit.submit import image_id_of, validate_submission

__all__ = ["LABELS_FILE", "score_submission", "rle_dice", "score_probs", "labels_path", "read_labels"]

LABELS_FILE = "test_labels.csv"

Runs = tuple[np.ndarray, np.ndarray]


def labels_path(data_dir: str | Path) -> Path:
    """Where a sample keeps its hidden test labels: ``<data_dir>/_scoring/test_labels.csv``."""
    return Path(data_dir) / SCORING_DIR / LABELS_FILE


def _intersection(a: Runs, b: Runs) -> int:
    """Pixels covered by both run lists (0-based starts, lengths; each list sorted and non-overlapping)."""
    if not a[0].size or not b[0].size:
        return 0
    positions = np.concatenate([a[0], a[0] + a[1], b[0], b[0] + b[1]])
    steps = np.concatenate([np.ones(a[0].size), -np.ones(a[0].size), np.ones(b[0].size), -np.ones(b[0].size)])
    order = np.argsort(positions, kind="stable")
    coverage = np.cumsum(steps[order])[:-1]
    gaps = np.diff(positions[order])
    return int(gaps[coverage == 2].sum())


def _run_dice(a: Runs, b: Runs) -> float:
    total = int(a[1].sum()) + int(b[1].sum())
    return 1.0 if total == 0 else 2.0 * _intersection(a, b) / total


def rle_dice(prediction: str | None, truth: str | None, shape: tuple[int, int] | None = None) -> float:
    """Dice of two RLE strings in the same pixel order (both empty: 1); malformed RLE raises ValueError."""
    return _run_dice(runs_from_rle(prediction or None, shape), runs_from_rle(truth or None, shape))


def score_probs(probs: np.ndarray, shape: tuple[int, int], scale: float, truth: Sequence[str], threshold: float,
                order: str) -> list[float]:
    """Dice of each foreground class's submission row for a C×h×w uint8 working map, as the submission path makes
    it (upsampled band by band to ``shape``, thresholded or argmaxed, RLE-encoded), against ``truth`` RLEs."""
    from kit.infer.merge import encode_probs

    rles = encode_probs(probs, shape, scale, threshold, order)
    if len(rles) != len(truth):
        raise ValueError(f"{len(rles)} predicted classes but {len(truth)} true masks")
    return [rle_dice(p, t) for p, t in zip(rles, truth)]


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the test labels of a sample live in <data>/{SCORING_DIR}/")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _truth_rows(profile: CompetitionProfile, table: pd.DataFrame, path: Path) -> dict[str, str]:
    """Submission row id -> true RLE, from a labels table in submission format or in the train-table format."""
    id_column, value_column = profile.submission_columns
    if {id_column, value_column} <= set(table.columns):
        return dict(zip(table[id_column], table[value_column]))
    if profile.rle_column and {profile.id_column, profile.rle_column} <= set(table.columns):
        return dict(zip(table[profile.id_column], table[profile.rle_column]))
    wanted = [id_column, value_column] + ([profile.id_column, profile.rle_column] if profile.rle_column else [])
    raise ValueError(f"{path} has columns {list(table.columns)}; expected {wanted[:2]}"
                     + (f" or {wanted[2:]}" if len(wanted) > 2 else ""))


def read_labels(competition: str | CompetitionProfile, path: str | Path) -> dict[str, str]:
    """Submission row id -> true RLE from a labels CSV (submission format, or the train-table format)."""
    profile = competition if isinstance(competition, CompetitionProfile) else get_profile(competition)
    path = Path(path)
    return _truth_rows(profile, _read(path), path)


def _image_sizes(profile: CompetitionProfile, table: pd.DataFrame, data_dir: Path, image_ids: list[str]):
    """(height, width) per image: from the labels table when it states them, else from the test image files."""
    if {"img_height", "img_width"} <= set(table.columns):
        sizes = zip(table[profile.id_column], table["img_height"], table["img_width"])
        return {i: (int(h), int(w)) for i, h, w in sizes}
    from kit.io import open_image

    sizes = {}
    for image_id in image_ids:
        path = profile.image_path(data_dir, image_id, "test")
        if path.is_file():
            with open_image(path) as reader:
                sizes[image_id] = reader.shape
    return sizes if len(sizes) == len(image_ids) else None


def score_submission(
    competition: str, submission: str | Path, data_dir: str | Path, labels: str | Path | None = None
) -> dict[str, Any]:
    """Score ``submission`` against the test labels of ``data_dir`` with the competition metric.

    Args:
        competition: competition slug.
        submission: the submission CSV; it is validated first (header, ids, RLE well-formed and inside each image).
        data_dir: the competition folder (test images for their sizes; labels in ``_scoring/`` by default).
        labels: another labels CSV: the submission format (``id,rle`` ...) or the train-table format (``id,encoding``).

    Returns:
        ``score`` (the metric), ``metric`` (its name), ``n_images``, ``per_image`` (list of dicts: ``id``,
        ``dice``, and ``organ``/``data_source`` or ``class`` when known), ``by_group`` (mean Dice per organ,
        data source or class).
    """
    profile = get_profile(competition)
    data_dir = Path(data_dir)
    labels = Path(labels) if labels is not None else labels_path(data_dir)
    table = _read(labels)
    truth = _truth_rows(profile, table, labels)
    image_ids = list(dict.fromkeys(image_id_of(profile, row_id) for row_id in truth))
    sizes = _image_sizes(profile, table, data_dir, image_ids)
    submission = Path(submission)
    validate_submission(submission, profile, image_sizes=sizes)
    predicted = dict(zip(*(_read(submission)[c] for c in profile.submission_columns)))
    missing = [row_id for row_id in truth if row_id not in predicted]
    extra = sorted(set(predicted) - set(truth))
    if missing or extra:  # the ids must match the labels both ways; missing ones are named first
        problem = (f"lacks {len(missing)} labelled ids, e.g. {missing[0]!r} (labels: {labels})" if missing
                   else f"has {len(extra)} ids without labels in {labels}, e.g. {extra[0]!r}")
        raise ValueError(f"{submission} {problem}")
    meta = table.set_index(profile.id_column) if profile.id_column in table.columns else None
    rows = []
    for row_id, true_rle in truth.items():
        image_id = image_id_of(profile, row_id)
        row: dict[str, Any] = {"id": row_id, "dice": rle_dice(predicted[row_id], true_rle)}
        if len(profile.classes) > 1:
            row["class"] = profile.classes[int(row_id.rpartition("_")[2])]
        elif meta is not None:
            row.update({k: meta.at[image_id, k] for k in ("organ", "data_source") if k in meta.columns})
        rows.append(row)
    per_image = pd.DataFrame(rows)
    by_group = {}
    for column in ("organ", "data_source", "class"):
        if column in per_image.columns:
            by_group.update(per_image.groupby(column)["dice"].mean().round(6).to_dict())
    if len(profile.classes) > 1:
        by_group.update(_global_class_dice(profile, truth, predicted))
    return {"competition": profile.slug, "metric": profile.metric, "score": float(per_image["dice"].mean()),
            "n_images": len(image_ids), "per_image": rows, "by_group": by_group}


def _global_class_dice(profile: CompetitionProfile, truth: dict[str, str], predicted: dict[str, str]) -> dict:
    """Dice per class over the pixels of all images together (the other common reading of a "mean Dice")."""
    scores = {}
    for k, name in enumerate(profile.classes):
        inter = total = 0
        for row_id in (r for r in truth if r.endswith(f"_{k}")):
            a, b = runs_from_rle(predicted[row_id] or None), runs_from_rle(truth[row_id] or None)
            inter += _intersection(a, b)
            total += int(a[1].sum()) + int(b[1].sum())
        scores[f"{name} (global)"] = 1.0 if total == 0 else round(2.0 * inter / total, 6)
    return scores
