"""BKAI-IGH NeoPolyp sample: reddish mucosa JPEGs with neoplastic / non-neoplastic polyps, JPEG RGB masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from kit.competitions import get_profile
from kit.io import write_png
from kit.rle import encode
from kit.sample.common import SCORING_DIR, SampleSummary, hex_ids, split_counts, write_csv
from kit.sample.draw import Ellipse, SmoothField, blend, draw_ellipses, speckle

__all__ = ["make_neopolyp", "render_frame"]

MUCOSA_DARK, MUCOSA_LIGHT = (168, 62, 58), (222, 128, 112)
VESSEL = (120, 30, 40)
NEOPLASTIC, NEOPLASTIC_PITS = (150, 70, 40), (95, 40, 30)
NON_NEOPLASTIC = (232, 178, 160)
MASK_COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)  # class id -> GT colour


def render_frame(h: int, w: int, rng: np.random.Generator, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 frame, class map) of one colonoscopy-like frame with 1–3 polyps."""
    shade = SmoothField(h, w, max(h, w) / 4, rng).window(0, 0, h, w)[..., None]
    image = np.asarray(MUCOSA_DARK, np.float32) * shade + np.asarray(MUCOSA_LIGHT, np.float32) * (1 - shade)
    vessels = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(4, 9))):
        points = np.cumsum(rng.normal(0, max(h, w) / 12, (6, 2)), axis=0) + rng.uniform(0, [w, h])
        cv2.polylines(vessels, [points.astype(np.int32)], False, 1, int(rng.integers(1, 4)))
    image = blend(image, VESSEL, vessels.astype(bool), 0.6)
    classes = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        label = int(rng.integers(1, 3))
        r = rng.uniform(0.08, 0.18) * min(h, w)
        cy, cx = int(rng.uniform(r, h - r)), int(rng.uniform(r, w - r))
        parts = [Ellipse(cy, cx, int(r), int(r * rng.uniform(0.8, 1.3)), float(rng.uniform(0, 180)))]
        parts.append(Ellipse(cy + int(rng.normal(0, r / 3)), cx + int(rng.normal(0, r / 3)), int(r * 0.7),
                             int(r * 0.6), float(rng.uniform(0, 180))))
        blob = draw_ellipses((h, w), 0, 0, parts).astype(bool) & (classes == 0)
        classes[blob] = label
    polyp_shade = 0.75 + 0.25 * shade[..., 0]
    image = blend(image, NEOPLASTIC, classes == 1, 1.0)
    image = blend(image, NEOPLASTIC_PITS, (classes == 1) & speckle(0, 0, h, w, seed, 0.12), 0.7)
    image = blend(image, NON_NEOPLASTIC, classes == 2, 1.0) * np.where(classes[..., None] > 0, polyp_shade[..., None], 1)
    for _ in range(int(rng.integers(3, 10))):  # specular highlights
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        glare = np.zeros((h, w), np.uint8)
        cv2.ellipse(glare, centre, (int(rng.integers(2, 9)), int(rng.integers(2, 6))), 0, 0, 360, 1, -1)
        image = blend(image, (250, 250, 245), glare.astype(bool), 0.9)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), classes


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise ValueError(f"could not write JPEG {path}")


def make_neopolyp(out_dir: Path, n: int = 12, size: int = 320, seed: int = 0) -> SampleSummary:
    """Write ``n`` frames whose longer side is about ``size`` in the NeoPolyp layout under ``out_dir``."""
    profile = get_profile("bkai-igh-neopolyp")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = hex_ids(rng, n, 32)
    sizes, fg, labels = [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        w = int(size * rng.uniform(0.9, 1.0))
        h = int(w * rng.choice([0.75, 0.78, 0.8]))
        image, classes = render_frame(h, w, np.random.default_rng([seed, k]), seed * 1000 + k)
        _write_jpeg(profile.image_path(out_dir, image_id, split), image)
        if split == "train":
            _write_jpeg(profile.mask_path(out_dir, image_id), MASK_COLOURS[classes])
        else:
            write_png(out_dir / SCORING_DIR / "test_gt" / f"{image_id}.png", classes)
            for channel, label in ((0, 1), (1, 2)):
                labels.append({"Id": f"{image_id}_{channel}", "Expected": encode(classes == label, profile.rle_order)})
        sizes.append((h, w))
        fg.append(float((classes > 0).mean()))
    test_ids = ids[n_train:]
    write_csv(pd.DataFrame({"Id": [f"{i}_{c}" for i in test_ids for c in (0, 1)], "Expected": ""}),
              out_dir / profile.sample_submission)
    write_csv(pd.DataFrame(labels), out_dir / SCORING_DIR / "test_labels.csv")
    return SampleSummary(profile.slug, out_dir, n_train, n_test, sizes, float(np.mean(fg)), n + n_train + n_test + 2)
