"""Segmentation metrics on hard masks: Dice, IoU, precision, recall, F1, per image and global.

Scores come from true/false positive and false negative pixel counts. Convention (Kaggle's): when the
prediction and the target are both empty, every score is 1; any other 0/0 (e.g. precision with no
predicted pixels but a missed target) is 0. "Per image" scores are means over images of each image's
score; "global" scores use the counts summed over all images. On hard masks F1 equals Dice.

>>> dice_score(np.array([[1, 1], [0, 0]]), np.array([[1, 0], [0, 0]]))  # 2·1 / (2 + 1)
0.6666666666666666
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Hashable, Sequence

import numpy as np
import torch

__all__ = ["SCORES", "confusion_counts", "fraction_counts", "scores_from_counts", "dice_score", "threshold",
           "labels_from_probs", "SegmentationMeter"]

SCORES = ("dice", "iou", "precision", "recall", "f1")

ArrayLike = np.ndarray | torch.Tensor


def _to_numpy(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _as_batch(x: ArrayLike, name: str) -> np.ndarray:
    x = _to_numpy(x)
    if x.ndim == 2:
        return x[None]
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be a label map H×W, N×H×W or N×1×H×W; got shape {x.shape}")
    return x


def confusion_counts(
    pred: ArrayLike, target: ArrayLike, num_classes: int, ignore_index: int | None = None
) -> np.ndarray:
    """TP, FP, FN pixel counts per image and class: int64 array N×C×3 (last axis: tp, fp, fn).

    Args:
        pred, target: class-id maps H×W or N×H×W (numpy or torch); binary masks use classes {0, 1}.
        num_classes: C; ids must lie in [0, C).
        ignore_index: target value whose pixels are not counted.
    """
    pred, target = _as_batch(pred, "pred"), _as_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} differs from target shape {target.shape}")
    n = pred.shape[0]
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    p = pred[keep].astype(np.int64)
    t = target[keep].astype(np.int64)
    for name, ids in (("pred", p), ("target", t)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"{name} holds class ids in [{ids.min()}, {ids.max()}]; expected [0, {num_classes - 1}]"
                + ("" if ignore_index is None or name == "pred" else f" or ignore_index {ignore_index}")
            )
    image = np.broadcast_to(np.arange(n).reshape(-1, *([1] * (target.ndim - 1))), target.shape)[keep]
    confusion = np.bincount(
        (image * num_classes + t) * num_classes + p, minlength=n * num_classes * num_classes
    ).reshape(n, num_classes, num_classes)  # [image, true class, predicted class]
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    fp = confusion.sum(axis=1) - tp
    fn = confusion.sum(axis=2) - tp
    return np.stack([tp, fp, fn], axis=-1)


def _ratio(num: np.ndarray, den: np.ndarray, both_empty: np.ndarray) -> np.ndarray:
    out = np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape, float), where=den > 0)
    return np.where(both_empty, 1.0, out)


def scores_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Dice, IoU, precision, recall and F1 from counts ``[..., 3]`` (tp, fp, fn), same leading shape."""
    counts = np.asarray(counts, dtype=np.float64)
    tp, fp, fn = counts[..., 0], counts[..., 1], counts[..., 2]
    empty = (tp + fp + fn) == 0
    dice = _ratio(2 * tp, 2 * tp + fp + fn, empty)
    return {
        "dice": dice,
        "iou": _ratio(tp, tp + fp + fn, empty),
        "precision": _ratio(tp, tp + fp, empty),
        "recall": _ratio(tp, tp + fn, empty),
        "f1": dice,  # 2PR / (P + R) = 2TP / (2TP + FP + FN) on hard masks
    }


def dice_score(
    pred: ArrayLike | Sequence[ArrayLike], target: ArrayLike | Sequence[ArrayLike], ignore_index: int | None = None
) -> float:
    """Mean per-image Dice of binary masks (non-zero = foreground), both empty = 1: the Kaggle score.

    Accepts one mask pair (H×W), a stack (N×H×W) or two equally long lists of masks of any sizes. Pixels whose
    target is ``ignore_index`` are not counted.
    """
    if isinstance(pred, (list, tuple)) or isinstance(target, (list, tuple)):
        if len(pred) != len(target):
            raise ValueError(f"dice_score got {len(pred)} predictions but {len(target)} targets")
        if not len(pred):
            raise ValueError("dice_score got no masks")
        return float(np.mean([dice_score(p, t, ignore_index) for p, t in zip(pred, target, strict=True)]))
    pred, target = _as_batch(pred, "pred"), _as_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} differs from target shape {target.shape}")
    keep = np.ones(target.shape, bool) if ignore_index is None else target != ignore_index
    p, t = (pred != 0) & keep, (target != 0) & keep
    axes = (1, 2)
    tp = (p & t).sum(axes)
    counts = np.stack([tp, p.sum(axes) - tp, t.sum(axes) - tp], axis=-1)
    return float(scores_from_counts(counts)["dice"].mean())


def threshold(probs: ArrayLike, value: float = 0.5, max_value: float | None = None) -> np.ndarray:
    """The kit's one threshold rule: binary mask (uint8 0/1) of ``probability > value``.

    Probabilities are floats in [0, 1] or levels on the 0–255 scale: uint8 maps always, float maps when
    ``max_value=255`` (upsampled uint8 maps). ``value`` is always given in [0, 1] and compared as
    ``level > value * 255``, so a uint8 level of 128 is foreground at 0.5 and 127 is not. The trainer, the OOF
    tables, the ensemble search, post-processing and the predictor all threshold through this function.
    """
    if not 0 <= value <= 1:
        raise ValueError(f"threshold must lie in [0, 1]; got {value}")
    probs = _to_numpy(probs)
    levels = max_value == 255 or probs.dtype == np.uint8
    return (probs > value * (255.0 if levels else 1.0)).view(np.uint8)


def labels_from_probs(probs: ArrayLike, value: float = 0.5, max_value: float | None = None):
    """Label map from C×… probabilities: one channel -> :func:`threshold` (0/1), several -> argmax class ids.

    Returns a uint8 numpy array (torch inputs are copied to the CPU). ``max_value`` as in :func:`threshold`.
    """
    probs = _to_numpy(probs)
    if probs.shape[0] == 1:
        return threshold(probs[0], value, max_value)
    return probs.argmax(axis=0).astype(np.uint8)


def fraction_counts(labels: np.ndarray, fractions: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """TP, FP, FN per foreground class (F×3 float64) of a label map against target area fractions.

    Args:
        labels: h×w predicted class ids at the working resolution (binary: 0/1).
        fractions: F×h×w share of each working pixel covered by foreground class k + 1 at full resolution, in
            [0, 1] (uint8 maps are read as share × 255). At scale 1 they are plain 0/1 masks.
        valid: optional h×w share of each working pixel that is not ``ignore_index`` (default: all valid).

    A prediction constant over a working pixel covers its full-resolution pixels as a nearest-neighbour
    upsample would, so these counts are the full-resolution counts divided by the pixels per working pixel.
    """
    fractions = np.asarray(fractions)
    fractions = fractions.astype(np.float64) / 255 if fractions.dtype == np.uint8 else fractions.astype(np.float64)
    weight = np.ones(labels.shape, np.float64) if valid is None else np.asarray(valid, np.float64)
    if valid is not None and np.asarray(valid).dtype == np.uint8:
        weight = weight / 255
    out = np.zeros((fractions.shape[0], 3), np.float64)
    for k in range(fractions.shape[0]):
        pred = labels == k + 1
        truth = fractions[k]
        out[k, 0] = float((truth * pred).sum())
        out[k, 1] = float((np.clip(weight - truth, 0, None) * pred).sum())
        out[k, 2] = float((truth * ~pred).sum())
    return out


class SegmentationMeter:
    """Accumulate per-image counts over batches; :meth:`compute` gives per-image, global, per-class and
    per-group scores.

    Args:
        num_classes: number of classes of the label maps (2 for binary masks; 1 is read as binary too).
        ignore_index: target value whose pixels are not counted.
        include_background: count class 0 in the class means (default: foreground classes only).
        class_names: optional names used as keys of ``per_class`` (default: the class ids).

    The headline scores average over images and, within an image, over the scored classes; the
    ``*_global`` ones average the per-class scores of the summed counts.
    """

    def __init__(
        self,
        num_classes: int,
        ignore_index: int | None = None,
        include_background: bool = False,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1; got {num_classes}")
        self.num_classes = max(2, num_classes)
        self.ignore_index = ignore_index
        self.classes = list(range(0 if include_background else 1, self.num_classes))
        if class_names is not None and len(class_names) != self.num_classes:
            raise ValueError(f"{len(class_names)} class names for {self.num_classes} classes")
        self.class_names = list(class_names) if class_names is not None else list(range(self.num_classes))
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._counts: list[np.ndarray] = []
        self._groups: list[Hashable] = []

    def update(self, pred: ArrayLike, target: ArrayLike, group: Hashable | Sequence[Hashable] | None = None) -> None:
        """Add a batch of label maps (H×W or N×H×W, numpy or torch).

        Args:
            group: a key for every image of the batch (e.g. the organ), one key per image, or ``None``.
        """
        counts = confusion_counts(pred, target, self.num_classes, self.ignore_index)
        n = counts.shape[0]
        if group is None or np.ndim(group) == 0:
            groups = [group] * n
        else:
            groups = list(group)
            if len(groups) != n:
                raise ValueError(f"update got {len(groups)} group keys for {n} images")
        self._counts.append(counts)
        self._groups.extend(groups)

    def _summary(self, counts: np.ndarray, classes: list[int]) -> dict[str, float]:
        per_image = scores_from_counts(counts[:, classes])
        totals = scores_from_counts(counts[:, classes].sum(axis=0))
        out = {name: float(per_image[name].mean()) for name in SCORES}
        out.update({f"{name}_global": float(totals[name].mean()) for name in SCORES})
        out["images"] = int(counts.shape[0])
        return out

    def compute(self) -> dict[str, Any]:
        """Scores of every image seen: ``dice, iou, precision, recall, f1`` (per-image means),
        ``<score>_global``, ``images``, ``per_class`` {class: scores} and ``per_group`` {group: scores}
        (``per_group`` only holds groups passed to :meth:`update`).

        Raises:
            ValueError: nothing was added yet.
        """
        if not self._counts:
            raise ValueError("SegmentationMeter has no images: call update() first")
        counts = np.concatenate(self._counts)
        result: dict[str, Any] = self._summary(counts, self.classes)
        result["per_class"] = {self.class_names[c]: self._summary(counts, [c]) for c in self.classes}
        rows: dict[Hashable, list[int]] = defaultdict(list)
        for i, g in enumerate(self._groups):
            if g is not None:
                rows[g].append(i)
        result["per_group"] = {g: self._summary(counts[idx], self.classes) for g, idx in rows.items()}
        return result
