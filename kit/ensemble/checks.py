"""What an ensemble must satisfy before ensemble.json is written, and what inference may expect of it.

:func:`check_run_fits` refuses a run whose tiles, classes or scale do not fit its competition (found at ensemble
time, not in the hidden rerun); :func:`nonempty_share` records how often the ensemble's OOF predictions have
foreground, so inference can tell an all-empty submission that cannot be right (``oof_nonempty``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from kit.artifacts.tiles import read_tiling
from kit.competitions import get_profile

if TYPE_CHECKING:
    from kit.artifacts.oof import OofImage
    from kit.artifacts.run_folder import RunFolder

__all__ = ["check_run_fits", "nonempty_share"]


def check_run_fits(run: RunFolder, physical_scale: bool = True) -> None:
    """Refuse a run whose tiles, classes or scale do not fit its competition (found at ensemble time, not in
    the hidden rerun): tiles cut from another competition, a class count the submission cannot hold, a model
    working in µm/px for test images that state no pixel size."""
    slug = run.config.get("competition")
    profile = get_profile(slug)
    tiling = read_tiling(run.path, missing_ok=True)  # the trainer's copy of the tiles' settings
    cut_from = tiling.get("competition") if tiling else None
    if cut_from and cut_from != slug:
        raise ValueError(f"{run.path}: trained as {slug} on tiles cut from {cut_from}; retrain with "
                         f"--competition {cut_from}")
    classes = int(run.config.get("num_classes") or run.contract.get("classes") or 1)
    if classes != profile.num_classes:
        raise ValueError(f"{run.path}: the model predicts {classes} class map(s), {slug} needs {profile.num_classes} "
                         f"({', '.join(profile.classes)}{' + background' if profile.num_classes > 1 else ''})")
    microns = run.contract.get("pixel_size") or (physical_scale and run.contract.get("source_pixel_size"))
    if microns and not profile.pixel_sizes:
        raise ValueError(f"{run.path}: the model works in µm per pixel but {slug} test images state no pixel size; "
                         f"tile with --reduce instead of --pixel-size")


def nonempty_share(blends: Sequence[np.ndarray], images: Sequence[OofImage], thresholds: dict[str, float]) -> float:
    """Share of OOF images whose blended map (:func:`kit.ensemble.pool.blend_oof`) has foreground under the kit's
    threshold rule (per organ / data source) or argmax: what inference may expect of the test images."""
    from kit.infer.merge import labels_from_probs
    from kit.infer.postprocess import resolve_threshold

    found = []
    for blend, im in zip(blends, images):
        level = resolve_threshold(thresholds, im.group or None, im.data_source or None)
        found.append(bool(labels_from_probs(np.rint(blend), level).any()))
    return round(float(np.mean(found)), 4) if found else 0.0
