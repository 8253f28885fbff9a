"""The runs' OOF predictions pooled for an ensemble: folds joined, seeds averaged, families aligned on their common
images (:func:`pool_oof`), and the weighted blend scored at every threshold (:func:`threshold_curves`) and through
the submission path (:func:`submission_path_scores`, per image)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from kit.ensemble.search import dice_by_threshold

if TYPE_CHECKING:
    from kit.artifacts.oof import OofImage

__all__ = ["pool_oof", "blend_oof", "threshold_curves", "submission_path_scores"]


def _resized(probs: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A C×h×w uint8 map resized (bilinear) to ``shape``."""
    if probs.shape[-2:] == tuple(shape):
        return probs
    x = F.interpolate(torch.from_numpy(probs[None]).float(), size=tuple(shape), mode="bilinear", align_corners=False)
    return x[0].round().clamp(0, 255).to(torch.uint8).numpy()


def _pool_family(parts: Sequence[Sequence[OofImage]]) -> dict[str, OofImage]:
    """One family's OOF by image id: folds joined, runs sharing an id (seeds) averaged (uint8)."""
    by_id: dict[str, list[OofImage]] = {}
    for images in parts:
        for image in images:
            by_id.setdefault(image.id, []).append(image)
    pooled = {}
    for image_id, same in sorted(by_id.items()):
        probs = same[0].probs
        if len(same) > 1:
            shape = probs.shape[1:]
            mean = np.mean([_resized(im.probs, shape).astype(np.float32) for im in same], axis=0)
            probs = np.rint(mean).astype(np.uint8)
        pooled[image_id] = dataclasses.replace(same[0], probs=probs)
    return pooled


def pool_oof(tables: Sequence[Sequence[OofImage]], families: Sequence[str]):
    """(family order, per family its OOF maps, the images they describe), families aligned on their common ids.

    ``tables``: one run's OOF images each (:func:`kit.artifacts.oof.read_oof`). The images (targets, groups, scale)
    are the first family's; maps of a family predicted at another working size are resized (bilinear) to them.
    """
    order = list(dict.fromkeys(families))
    pooled = [_pool_family([t for t, f in zip(tables, families) if f == fam]) for fam in order]
    common = sorted(set.intersection(*(set(p) for p in pooled)))
    if not common:
        raise ValueError("the runs' OOF predictions share no image id: families trained on different images or "
                         "folds cannot be weighted on OOF (give them the same validation fold)")
    images = [pooled[0][i] for i in common]
    runs = [[_resized(p[i].probs, im.probs.shape[1:]) for i, im in zip(common, images)] for p in pooled]
    return order, runs, images


def blend_oof(runs: Sequence[Sequence[np.ndarray]], weights: Sequence[float]) -> list[np.ndarray]:
    """Per OOF image, the weighted blend of the families' uint8 maps (``runs`` as :func:`pool_oof` aligns them), as
    float32 C×h×w on the 0–255 scale: computed once, then thresholded, scored and plotted."""
    total = float(sum(weights))
    return [sum((w / total) * run[k].astype(np.float32) for w, run in zip(weights, runs) if w)
            for k in range(len(runs[0]))]


def threshold_curves(blends: Sequence[np.ndarray], images: Sequence[OofImage], per_group: bool = True) -> pd.DataFrame:
    """Mean per-image Dice of the blended OOF maps (:func:`blend_oof`) at every threshold, over all images and per
    group (binary)."""
    if blends[0].shape[0] != 1:
        return pd.DataFrame(columns=["threshold", "group", "dice"])
    blend = [b[0] / 255 for b in blends]
    table = dice_by_threshold(blend, [im.targets[0] for im in images], [im.valid for im in images])
    levels = (np.arange(table.shape[1]) + 0.5) / 255
    frames = [pd.DataFrame({"threshold": levels, "group": "all", "dice": table.mean(axis=0)})]
    groups = np.asarray([im.group for im in images])
    for group in sorted(set(groups) - {""}) if per_group else []:
        frames.append(pd.DataFrame({"threshold": levels, "group": group, "dice": table[groups == group].mean(axis=0)}))
    return pd.concat(frames, ignore_index=True)


def submission_path_scores(blends: Sequence[np.ndarray], images: Sequence[OofImage],
                           thresholds: dict[str, float]) -> np.ndarray | None:
    """Per OOF image, the competition metric of its blended map (:func:`blend_oof`) through the submission path
    (full-resolution upsample, threshold per organ, RLE, :func:`kit.infer.scoring.score_probs`; mean over the
    foreground classes); None when an image has no full-resolution truth (tile OOF)."""
    from kit.infer.postprocess import resolve_threshold
    from kit.infer.scoring import score_probs

    if not images or any(not im.truth for im in images):
        return None
    scores = []
    for blend, im in zip(blends, images):
        probs = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
        level = resolve_threshold(thresholds, im.group or None, im.data_source or None)
        scores.append(np.mean(score_probs(probs, im.shape, im.scale, im.truth, level, im.rle_order)))
    return np.asarray(scores)
