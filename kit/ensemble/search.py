"""Ensemble search on out-of-fold predictions.

:func:`search_ensemble` picks weights over the simplex (full grid for a few runs, coordinate search beyond) and
thresholds (global and per group, e.g. organ) that maximise the OOF mean per-image Dice (empty vs empty = 1) on
whole held-out images (``oof.npz``, :mod:`kit.artifacts.oof`: working-resolution maps, targets as area shares).
Thresholds are scored for all 255 uint8 levels at once from per-image histograms, so a weight vector costs one
pass over the pixels. Multi-class runs (softmax maps, argmax labels) get weights only.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from kit.artifacts.oof import read_oof
from kit.metrics import fraction_counts, scores_from_counts
from kit.registry import Registry

__all__ = ["SearchResult", "SEARCH_METHODS", "search_ensemble", "dice_by_threshold", "load_oof"]

SEARCH_METHODS = Registry.of("search method", ("auto", "grid", "coordinate"),
                             "search method must be 'auto', 'grid' or 'coordinate', got {name!r}{hint}", sort=False)

LEVELS = 256


@dataclass
class SearchResult:
    """Best weights and thresholds found on the OOF predictions, with their mean Dice."""

    weights: list[float]
    threshold: float | None
    group_thresholds: dict[str, float]
    score: float
    group_score: float | None


Images = list[np.ndarray]


def _as_probs(run, name: str) -> Images:
    """One C×h×w float32 map in [0, 1] per image, from an N×C×H×W / N×H×W array or a list of C×h×w maps
    (uint8 maps are read as probability × 255)."""
    if isinstance(run, np.ndarray):
        run = run[:, None] if run.ndim == 3 else run
        if run.ndim != 4:
            raise ValueError(f"{name}: OOF probabilities must be N×H×W or N×C×H×W, got shape {run.shape}")
    out = []
    for image in run:
        image = np.asarray(image)
        if image.ndim != 3:
            raise ValueError(f"{name}: every OOF map must be C×h×w, got shape {image.shape}")
        out.append(image.astype(np.float32) / 255 if image.dtype == np.uint8 else image.astype(np.float32))
    return out


def _as_shares(targets, classes: int) -> Images:
    """Per image F×h×w float target shares in [0, 1]: from an N×H×W array of masks (non-zero = foreground for
    one class, class ids otherwise) or a list of F×h×w shares (uint8: share × 255, as ``oof.npz`` stores them)."""
    if isinstance(targets, np.ndarray):
        planes = [1] if classes == 1 else range(1, classes + 1)
        return [np.stack([(t != 0) if classes == 1 else (t == k) for k in planes]).astype(np.float32)
                for t in targets]
    out = []
    for t in targets:
        t = np.asarray(t)
        t = t[None] if t.ndim == 2 else t
        out.append(t.astype(np.float32) / 255 if t.dtype == np.uint8 else t.astype(np.float32))
    return out


def _level_dice(prob: np.ndarray, share: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """Dice of one image at the 255 threshold levels: entry L is the mask ``level > L`` (levels 0–255)."""
    levels = np.rint(np.clip(prob, 0, 1) * 255).astype(np.int64).ravel()
    weight = None if valid is None else np.asarray(valid, np.float64).ravel() / (255 if valid.dtype == np.uint8 else 1)
    hist_all = np.bincount(levels, weights=weight, minlength=LEVELS)
    hist_pos = np.bincount(levels, weights=share.ravel().astype(np.float64), minlength=LEVELS)
    positives = np.cumsum(hist_all[::-1])[::-1][1:]  # predicted (weight) above each level
    true_pos = np.cumsum(hist_pos[::-1])[::-1][1:]
    denominator = positives + hist_pos.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator <= 0, 1.0, 2.0 * true_pos / np.maximum(denominator, 1e-300))


def dice_by_threshold(probs, targets, valid: Sequence[np.ndarray | None] | None = None) -> np.ndarray:
    """Per-image Dice for every threshold level: an N×255 array, column L = mask ``probs > (L + 0.5) / 255``
    (the kit's threshold rule, :func:`kit.metrics.threshold`, on uint8 levels).

    ``probs``: N×H×W array or list of h×w maps in [0, 1] (rounded to uint8 levels). ``targets``: N×H×W array of
    masks (non-zero = foreground) or a list of h×w area shares (:mod:`kit.artifacts.oof`). ``valid``: optional
    per-image shares of pixels that count (``ignore_index``).
    """
    shares = [s[0] for s in _as_shares(targets, 1)]
    valid = list(valid) if valid is not None else [None] * len(shares)
    if not len(shares):
        return np.zeros((0, LEVELS - 1))
    return np.stack([_level_dice(np.asarray(p, np.float32), t, v) for p, t, v in zip(probs, shares, valid)])


def _multiclass_dice(probs: Images, shares: Images, valid: Sequence[np.ndarray | None]) -> np.ndarray:
    """Per-image Dice of the argmax labels, averaged over the foreground classes."""
    dice = []
    for p, t, v in zip(probs, shares, valid):
        counts = fraction_counts(p.argmax(axis=0), t, v)
        dice.append(scores_from_counts(counts)["dice"].mean())
    return np.asarray(dice)


def _simplex_grid(k: int, step: float) -> list[tuple[float, ...]]:
    parts = int(round(1 / step))
    points = [c for c in itertools.product(range(parts + 1), repeat=k - 1) if sum(c) <= parts]
    return [tuple(v / parts for v in (*c, parts - sum(c))) for c in points]


class _Scorer:
    """Mean Dice of a weight vector (and its best thresholds) on fixed OOF runs."""

    def __init__(self, runs: list[Images], targets: Images, groups: np.ndarray | None, use_groups: bool,
                 valid: list[np.ndarray | None]):
        self.runs, self.targets, self.groups, self.use_groups, self.valid = runs, targets, groups, use_groups, valid
        self.binary = runs[0][0].shape[0] == 1
        self.cache: dict[tuple[float, ...], SearchResult] = {}

    def __call__(self, weights: Sequence[float]) -> SearchResult:
        key = tuple(round(float(w), 6) for w in weights)
        if key not in self.cache:
            self.cache[key] = self._score(np.asarray(key, np.float32))
        return self.cache[key]

    def objective(self, result: SearchResult) -> float:
        return result.group_score if self.use_groups and result.group_score is not None else result.score

    def _score(self, weights: np.ndarray) -> SearchResult:
        weights = weights / weights.sum()
        blend = [sum(w * run[i] for w, run in zip(weights, self.runs) if w) for i in range(len(self.targets))]
        if not self.binary:
            score = float(_multiclass_dice(blend, self.targets, self.valid).mean())
            return SearchResult(weights.tolist(), None, {}, score, None)
        dice = dice_by_threshold([b[0] for b in blend], [t[0] for t in self.targets], self.valid)
        mean = dice.mean(axis=0)
        level = int(np.argmax(mean))
        group_thresholds, group_score = {}, None
        if self.groups is not None:
            best = np.zeros(len(self.targets))
            for group in np.unique(self.groups):
                rows = self.groups == group
                g_level = int(np.argmax(dice[rows].mean(axis=0)))
                group_thresholds[str(group)] = (g_level + 0.5) / 255
                best[rows] = dice[rows, g_level]
            group_score = float(best.mean())
        return SearchResult(weights.tolist(), (level + 0.5) / 255, group_thresholds, float(mean[level]), group_score)


def search_ensemble(
    runs: Sequence[np.ndarray],
    targets: np.ndarray,
    groups: Sequence[str] | None = None,
    step: float = 0.1,
    method: str = "auto",
    max_grid: int = 300,
    max_rounds: int = 10,
    valid: Sequence[np.ndarray | None] | None = None,
) -> SearchResult:
    """Weights and thresholds that maximise the OOF mean per-image Dice of ``runs`` (the competition metric:
    per image, mean over foreground classes, empty vs empty = 1).

    Args:
        runs: per model, its OOF maps aligned image by image: an N×H×W or N×C×H×W array, or a list of C×h×w
            maps (whole images of any sizes); uint8 (0–255) or float [0, 1].
        targets: N×H×W ground truth (0/1, or class ids for multi-class runs), or per image F×h×w area shares
            (uint8 share × 255, as ``oof.npz`` holds them).
        valid: per image, the share of each pixel that counts (``ignore_index``), or None.
        groups: one key per image (e.g. organ); per-group thresholds are chosen, and the weights maximise
            the Dice with per-group thresholds.
        step: weight resolution on the simplex.
        method: "grid" (every weight vector on the simplex lattice), "coordinate" (one weight at a time from
            uniform, until no gain), or "auto" (grid when it has at most ``max_grid`` points).
    """
    if not runs:
        raise ValueError("search_ensemble needs at least one OOF run")
    probs = [_as_probs(r, f"run {i}") for i, r in enumerate(runs)]
    shares = _as_shares(targets, max(1, probs[0][0].shape[0] - 1) if probs[0] else 1)
    for i, run in enumerate(probs):
        if len(run) != len(shares):
            raise ValueError(f"run {i} has {len(run)} images; the targets have {len(shares)}")
        for k, (image, target) in enumerate(zip(run, shares)):
            if image.shape[1:] != target.shape[1:] or image.shape[0] != probs[0][k].shape[0]:
                raise ValueError(f"run {i} image {k} has shape {image.shape}; expected "
                                 f"{probs[0][k].shape[0]}×{'×'.join(map(str, target.shape[1:]))} like the targets "
                                 f"and run 0")
    group_keys = None if groups is None else np.asarray([str(g) for g in groups])
    if group_keys is not None and len(group_keys) != len(shares):
        raise ValueError(f"groups has {len(group_keys)} keys for {len(shares)} images")
    SEARCH_METHODS.check(method)
    valid_maps = list(valid) if valid is not None else [None] * len(shares)
    scorer = _Scorer(probs, shares, group_keys, group_keys is not None, valid_maps)
    k = len(probs)
    grid = _simplex_grid(k, step) if k > 1 and method != "coordinate" else []
    if k == 1:
        return scorer([1.0])
    if method == "grid" or (method == "auto" and len(grid) <= max_grid):
        return max((scorer(w) for w in grid), key=scorer.objective)
    return _coordinate_search(scorer, k, step, max_rounds)


def _coordinate_search(scorer: _Scorer, k: int, step: float, max_rounds: int) -> SearchResult:
    best = scorer([1.0 / k] * k)
    values = np.round(np.arange(0, 1 + step / 2, step), 6)
    for _ in range(max_rounds):
        improved = False
        for i in range(k):
            for value in values:
                rest = np.delete(np.asarray(best.weights), i)
                rest = rest / rest.sum() * (1 - value) if rest.sum() > 0 else np.full(k - 1, (1 - value) / (k - 1))
                candidate = scorer(np.insert(rest, i, value))
                if scorer.objective(candidate) > scorer.objective(best) + 1e-12:
                    best, improved = candidate, True
        if not improved:
            break
    return best


def load_oof(paths: Sequence[str | Path]) -> tuple[list[Images], Images, np.ndarray, np.ndarray]:
    """Read several ``oof.npz`` files (trainer output) aligned on their image ids: (runs, targets, ids, groups);
    ``runs`` per file a list of C×h×w uint8 maps, ``targets`` per image F×h×w uint8 area shares.

    Images missing from any run are dropped; differing targets for one id raise ValueError naming the files.
    """
    tables = [(path, {im.id: im for im in read_oof(path)}) for path in paths]
    common = sorted(set.intersection(*(set(t) for _, t in tables)))
    if not common:
        raise ValueError(f"the OOF files {[str(p) for p, _ in tables]} share no image id")
    first_path, first = tables[0]
    for path, table in tables[1:]:
        for image_id in common:
            if not np.array_equal(first[image_id].targets, table[image_id].targets):
                raise ValueError(f"{path} and {first_path} disagree on the targets of image {image_id!r}")
    runs = [[table[i].probs for i in common] for _, table in tables]
    return (runs, [first[i].targets for i in common], np.asarray(common),
            np.asarray([first[i].group for i in common]))
