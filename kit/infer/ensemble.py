"""Ensemble search on out-of-fold predictions, and the ensemble.json that inference reads.

:func:`search_ensemble` picks weights over the simplex (full grid for a few runs, coordinate search beyond) and
thresholds (global and per group, e.g. organ) that maximise the OOF mean per-image Dice (empty vs empty = 1).
Thresholds are scored for all 255 uint8 levels at once from per-image histograms, so a weight vector costs one
pass over the pixels. Multi-class runs (softmax maps, argmax labels) get weights only.
:class:`EnsembleConfig` stores what inference needs: models (checkpoint, architecture, input settings),
weights, thresholds, TTA, post-processing; it is saved atomically and checked on load.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kit.fsutil import atomic_write_text
from kit.infer.predictor import Member, ModelInput, Predictor
from kit.infer.tta import get_tta
from kit.paths import path_inside
from kit.train.oof import read_oof

__all__ = ["SearchResult", "search_ensemble", "dice_by_threshold", "load_oof", "EnsembleModel", "EnsembleConfig"]

LEVELS = 256
_CHUNK_PIXELS = 1 << 24


@dataclass
class SearchResult:
    """Best weights and thresholds found on the OOF predictions, with their mean Dice."""

    weights: list[float]
    threshold: float | None
    group_thresholds: dict[str, float]
    score: float
    group_score: float | None


def _as_probs(run: np.ndarray, name: str) -> np.ndarray:
    """N×C×H×W float32 in [0, 1] from uint8 (0–255) or float maps (N×H×W means one channel)."""
    run = np.asarray(run)
    if run.ndim == 3:
        run = run[:, None]
    if run.ndim != 4:
        raise ValueError(f"{name}: OOF probabilities must be N×H×W or N×C×H×W, got shape {run.shape}")
    return run.astype(np.float32) / 255 if run.dtype == np.uint8 else run.astype(np.float32)


def dice_by_threshold(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-image Dice for every threshold level: an N×255 array, column L = mask ``probs > (L + 0.5) / 255``.

    ``probs`` N×H×W in [0, 1] (rounded to uint8 levels), ``targets`` N×H×W (non-zero = foreground).
    """
    n = probs.shape[0]
    levels = np.rint(probs.reshape(n, -1) * 255).astype(np.int64)
    truth = targets.reshape(n, -1) != 0
    hist_all = np.zeros((n, LEVELS), np.int64)
    hist_pos = np.zeros((n, LEVELS), np.int64)
    per_chunk = max(1, _CHUNK_PIXELS // max(1, levels.shape[1]))
    for a in range(0, n, per_chunk):
        index = levels[a : a + per_chunk] + (np.arange(a, min(a + per_chunk, n)) * LEVELS)[:, None]
        hist_all.reshape(-1)[:] += np.bincount(index.ravel(), minlength=n * LEVELS)
        hist_pos.reshape(-1)[:] += np.bincount(index[truth[a : a + per_chunk]], minlength=n * LEVELS)
    # predicted positives / true positives for "level > L": sums over levels above L
    positives = np.cumsum(hist_all[:, ::-1], axis=1)[:, ::-1][:, 1:]
    true_pos = np.cumsum(hist_pos[:, ::-1], axis=1)[:, ::-1][:, 1:]
    denominator = positives + hist_pos.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator == 0, 1.0, 2.0 * true_pos / denominator)


def _multiclass_dice(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-image Dice of the argmax labels, averaged over the foreground classes."""
    labels = probs.argmax(axis=1)
    scores = []
    for k in range(1, probs.shape[1]):
        pred, truth = labels == k, targets == k
        inter = (pred & truth).sum(axis=(1, 2))
        total = pred.sum(axis=(1, 2)) + truth.sum(axis=(1, 2))
        scores.append(np.where(total == 0, 1.0, 2.0 * inter / np.maximum(total, 1)))
    return np.mean(scores, axis=0)


def _simplex_grid(k: int, step: float) -> list[tuple[float, ...]]:
    parts = int(round(1 / step))
    points = [c for c in itertools.product(range(parts + 1), repeat=k - 1) if sum(c) <= parts]
    return [tuple(v / parts for v in (*c, parts - sum(c))) for c in points]


class _Scorer:
    """Mean Dice of a weight vector (and its best thresholds) on fixed OOF runs."""

    def __init__(self, runs: list[np.ndarray], targets: np.ndarray, groups: np.ndarray | None, use_groups: bool):
        self.runs, self.targets, self.groups, self.use_groups = runs, targets, groups, use_groups
        self.binary = runs[0].shape[1] == 1
        self.cache: dict[tuple[float, ...], SearchResult] = {}

    def __call__(self, weights: Sequence[float]) -> SearchResult:
        key = tuple(round(float(w), 6) for w in weights)
        if key not in self.cache:
            self.cache[key] = self._score(np.asarray(key, np.float32))
        return self.cache[key]

    def objective(self, result: SearchResult) -> float:
        return result.group_score if self.use_groups and result.group_score is not None else result.score

    def _score(self, weights: np.ndarray) -> SearchResult:
        blend = sum(w * r for w, r in zip(weights / weights.sum(), self.runs))
        if not self.binary:
            score = float(_multiclass_dice(blend, self.targets).mean())
            return SearchResult(weights.tolist(), None, {}, score, None)
        dice = dice_by_threshold(blend[:, 0], self.targets)
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
) -> SearchResult:
    """Weights and thresholds that maximise the OOF mean per-image Dice of ``runs``.

    Args:
        runs: one OOF map per model, aligned image by image: N×H×W or N×C×H×W, uint8 (0–255) or float [0, 1].
        targets: N×H×W ground truth (0/1, or class ids for multi-class runs).
        groups: one key per image (e.g. organ); per-group thresholds are chosen, and the weights maximise
            the Dice with per-group thresholds.
        step: weight resolution on the simplex.
        method: "grid" (every weight vector on the simplex lattice), "coordinate" (one weight at a time from
            uniform, until no gain), or "auto" (grid when it has at most ``max_grid`` points).
    """
    if not runs:
        raise ValueError("search_ensemble needs at least one OOF run")
    probs = [_as_probs(r, f"run {i}") for i, r in enumerate(runs)]
    targets = np.asarray(targets)
    for i, run in enumerate(probs):
        if run.shape[0] != targets.shape[0] or run.shape[2:] != targets.shape[1:] or run.shape[1] != probs[0].shape[1]:
            raise ValueError(f"run {i} has shape {run.shape}; expected {len(targets)}×{probs[0].shape[1]}×"
                             f"{'×'.join(map(str, targets.shape[1:]))} like the targets and run 0")
    group_keys = None if groups is None else np.asarray([str(g) for g in groups])
    if group_keys is not None and len(group_keys) != len(targets):
        raise ValueError(f"groups has {len(group_keys)} keys for {len(targets)} images")
    if method not in ("auto", "grid", "coordinate"):
        raise ValueError(f"method must be 'auto', 'grid' or 'coordinate', got {method!r}")
    scorer = _Scorer(probs, targets, group_keys, use_groups=group_keys is not None)
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


def load_oof(paths: Sequence[str | Path]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Read several ``oof.npz`` files (trainer output) aligned on their ids: (runs, targets, ids, groups).

    Images missing from any run are dropped; differing targets for one id raise ValueError naming the files.
    """
    tables = []
    for path in paths:
        oof = read_oof(path)
        if len(set(oof["ids"])) != len(oof["ids"]):
            raise ValueError(f"{path} has duplicate ids")
        tables.append((path, oof["ids"], oof["probs"], oof["targets"], oof["groups"]))
    common = sorted(set.intersection(*(set(t[1]) for t in tables)))
    if not common:
        raise ValueError(f"the OOF files {[str(t[0]) for t in tables]} share no image id")
    runs, first_targets = [], None
    for path, ids, probs, targets, groups in tables:
        order = np.argsort(ids)
        pick = order[np.searchsorted(ids, common, sorter=order)]
        runs.append(probs[pick])
        if first_targets is None:
            first_targets, first_groups, first_path = targets[pick], groups[pick], path
        elif not np.array_equal(first_targets, targets[pick]):
            raise ValueError(f"{path} and {first_path} disagree on the targets of the same ids")
    return runs, first_targets, np.asarray(common), first_groups


@dataclass
class EnsembleModel:
    """One model of the ensemble: its checkpoint, how to build it, and how it sees an image.

    ``arch`` is the model spec of :func:`kit.train.builders.model_spec` (``name``, ``num_classes``, ``kwargs``);
    empty means "read ``model_spec`` from the checkpoint". ``checkpoint`` is relative to the folder of
    ensemble.json (or the ``root`` given to :meth:`EnsembleConfig.build_predictor`) and must stay inside it.
    """

    name: str
    checkpoint: str
    arch: dict[str, Any] = field(default_factory=dict)
    input: ModelInput = field(default_factory=ModelInput)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the input settings as a nested dict)."""
        return {"name": self.name, "checkpoint": self.checkpoint, "arch": self.arch,
                "input": dataclasses.asdict(self.input)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> "EnsembleModel":
        """Build from :meth:`to_dict` output; unknown or missing keys raise KeyError naming them."""
        _check_keys(values, {"name", "checkpoint"}, {"arch", "input"}, where)
        settings = dict(values.get("input", {}))
        _check_keys(settings, set(), {f.name for f in dataclasses.fields(ModelInput)}, f"{where}.input")
        try:
            model_input = ModelInput(**settings)
        except ValueError as err:
            raise ValueError(f"{where}.input: {err}") from None
        checkpoint = str(values["checkpoint"])
        if Path(checkpoint).is_absolute() or ".." in Path(checkpoint).parts:
            raise ValueError(f"{where}.checkpoint {checkpoint!r} must be relative to the folder of ensemble.json, "
                             f"without '..' (a models dataset is self-contained)")
        return cls(str(values["name"]), checkpoint, dict(values.get("arch", {})), model_input)


def _check_keys(values: dict[str, Any], required: set[str], optional: set[str], where: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(values).__name__}")
    missing, unknown = required - set(values), set(values) - required - optional
    if missing or unknown:
        raise KeyError(f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
                       f"valid keys: {sorted(required | optional)}")


@dataclass
class EnsembleConfig:
    """Everything 03_inference needs from 02_ensembling, saved as ensemble.json.

    ``thresholds``: ``{"default": t}`` plus optional organ / data-source / "source/organ" keys
    (:func:`kit.infer.postprocess.resolve_threshold`). ``weights``: one per model (normalised at inference).
    """

    competition: str
    models: list[EnsembleModel]
    weights: list[float] | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: {"default": 0.5})
    tta: list[str] = field(default_factory=lambda: ["identity"])
    min_area: int = 0
    fill_holes: bool = False
    out_reduce: float | None = None
    oof_score: float | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("an ensemble needs at least one model")
        self.weights = [1.0] * len(self.models) if self.weights is None else [float(w) for w in self.weights]
        if len(self.weights) != len(self.models) or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError(f"weights {self.weights} must be {len(self.models)} non-negative numbers, not all 0")
        if not isinstance(self.thresholds, dict):
            self.thresholds = {"default": float(self.thresholds)}
        bad = {k: v for k, v in self.thresholds.items() if not 0 <= float(v) <= 1}
        if bad:
            raise ValueError(f"thresholds must be probabilities in [0, 1], got {bad}")
        self.tta = [t.name for t in get_tta(self.tta)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["models"] = [m.to_dict() for m in self.models]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EnsembleConfig":
        """Build from :meth:`to_dict` output; unknown or missing keys raise KeyError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        _check_keys(values, {"competition", "models"}, names, "ensemble config")
        models = [EnsembleModel.from_dict(m, f"models[{i}]") for i, m in enumerate(values["models"])]
        return cls(**{**values, "models": models})

    def save(self, path: str | Path) -> None:
        """Write ensemble.json atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "EnsembleConfig":
        """Read ensemble.json; a missing file raises FileNotFoundError, broken content ValueError/KeyError."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ensemble config {path} not found")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err})") from None
        try:
            return cls.from_dict(values)
        except (KeyError, ValueError) as err:
            raise type(err)(f"{path}: {err.args[0]}") from None

    def build_predictor(self, root: str | Path = ".", device: str | None = None, **kwargs: Any) -> Predictor:
        """Load every checkpoint and return a :class:`Predictor` with these weights, TTA and output scale."""
        from kit.train.builders import build_model_from_spec
        from kit.models.checkpoint import load_checkpoint

        members = []
        for entry, weight in zip(self.models, self.weights):
            path = path_inside(root, entry.checkpoint, f"ensemble.json model {entry.name!r} checkpoint")
            state = load_checkpoint(path)
            spec = entry.arch or state.get("model_spec")
            if not spec:
                raise KeyError(f"model {entry.name!r}: no arch in ensemble.json and no model_spec in {path}")
            model = build_model_from_spec(spec)
            try:
                model.load_state_dict(state.get("model", state))
            except RuntimeError as err:
                raise ValueError(f"model {entry.name!r}: {path} does not fit {spec.get('name')!r} ({err})") from None
            members.append(Member(model, weight, entry.input))
        return Predictor(members, tta=self.tta, device=device, out_reduce=self.out_reduce, **kwargs)
