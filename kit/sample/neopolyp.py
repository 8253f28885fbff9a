"""BKAI-IGH NeoPolyp sample: reddish mucosa JPEGs with neoplastic / non-neoplastic polyps, JPEG RGB masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from kit.competitions import get_profile
from kit.fsutil import atomic_path
from kit.io import write_png
from kit.paths import SCORING_DIR
from kit.rle import encode
from kit.sample.common import SampleSummary, hex_ids, split_counts, write_csv
from kit.sample.draw import Ellipse, GrainTexture, SmoothField, blend, draw_ellipses

__all__ = ["make_neopolyp", "render_frame", "MASK_COLOURS"]

MUCOSA_LIGHT, MUCOSA_DARK = (228, 134, 114), (158, 56, 52)
VESSEL = (116, 26, 38)
NEOPLASTIC, NEOPLASTIC_PITS = (178, 96, 64), (104, 46, 34)  # darker, brown-red, pitted surface
NON_NEOPLASTIC, NON_NEOPLASTIC_SPOTS = (238, 176, 156), (222, 150, 134)  # pale, smooth
GLARE = (252, 252, 246)
MASK_COLOURS = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)  # class id -> GT colour


def _polyp(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(boolean blob, float dome shading in [0, 1]) of one lobed polyp at a random place."""
    r = rng.uniform(0.08, 0.17) * min(h, w)
    cy, cx = int(rng.uniform(r, h - r)), int(rng.uniform(r, w - r))
    main = Ellipse(cy, cx, int(r), int(r * rng.uniform(0.9, 1.35)), float(rng.uniform(0, 180)),
                   float(rng.uniform(0.03, 0.1)), int(rng.integers(3, 7)), float(rng.uniform(0, 2 * np.pi)))
    side = Ellipse(cy + int(rng.normal(0, r / 3)), cx + int(rng.normal(0, r / 3)), int(r * 0.7), int(r * 0.6),
                   float(rng.uniform(0, 180)))
    blob = draw_ellipses((h, w), 0, 0, [main, side]).astype(bool)
    dome = np.zeros((h, w), np.float32)
    where, radius = main.radius_map(0, 0, h, w)
    dome[where] = np.clip(1 - radius, 0, 1)
    return blob, dome


def render_frame(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8 frame, class map 0/1/2) of one colonoscopy-like frame with 1–3 polyps."""
    grain = GrainTexture(rng, blob=1.0, period=512)
    blobs, noise = grain.window(0, 0, h, w, 0), grain.window(0, 0, h, w, 1)
    shade = SmoothField(h, w, max(h, w) / 4, rng).window(0, 0, h, w)
    fine = SmoothField(h, w, max(h, w) / 30, rng).window(0, 0, h, w)
    tone = (0.7 * shade + 0.3 * fine)[..., None]
    image = np.asarray(MUCOSA_LIGHT, np.float32) * (1 - tone) + np.asarray(MUCOSA_DARK, np.float32) * tone
    vessels = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(4, 9))):
        points = np.cumsum(rng.normal(0, max(h, w) / 12, (6, 2)), axis=0) + rng.uniform(0, [w, h])
        cv2.polylines(vessels, [points.astype(np.int32)], False, 1, int(rng.integers(1, 4)))
    image = blend(image, VESSEL, vessels.astype(bool), 0.55)
    classes = np.zeros((h, w), np.uint8)
    light = np.ones((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        label = int(rng.integers(1, 3))
        blob, dome = _polyp(h, w, rng)
        blob &= classes == 0
        ring = cv2.dilate(blob.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~blob & (classes == 0)
        light[ring] *= 0.72  # the polyp's shadow on the mucosa (not part of the mask)
        light[blob] = 0.8 + 0.3 * dome[blob]
        classes[blob] = label
    neo, non = classes == 1, classes == 2
    image = blend(image, NEOPLASTIC, neo, 0.9)
    image = blend(image, NEOPLASTIC_PITS, neo & (blobs < 40), 0.75)
    image = blend(image, NON_NEOPLASTIC, non, 0.9)
    image = blend(image, NON_NEOPLASTIC_SPOTS, non & (blobs < 8), 0.5)
    ys, xs = np.ogrid[:h, :w]
    vignette = 1 - 0.45 * (((ys - h / 2) / (h / 2)) ** 2 + ((xs - w / 2) / (w / 2)) ** 2) / 2
    image *= (light * vignette.astype(np.float32))[..., None]
    image += (noise[..., None].astype(np.float32) - 128) * (6 / 128)
    glare = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(3, 10))):  # specular highlights
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, 9)), int(rng.integers(2, 6)))
        cv2.ellipse(glare, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    image = blend(image, GLARE, glare.astype(bool), 0.9)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), classes


def _write_jpeg(path: Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Write an RGB array as JPEG atomically."""
    with atomic_path(path, suffix=".jpeg") as tmp:
        if not cv2.imwrite(str(tmp), np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]):
            raise ValueError(f"could not write JPEG {path}")


def make_neopolyp(out_dir: Path, n: int, size: int, seed: int) -> SampleSummary:
    """Write ``n`` frames whose longer side is about ``size`` in the NeoPolyp layout under ``out_dir``.

    Train: ``train/train/<id>.jpeg`` and the RGB mask ``train_gt/train_gt/<id>.jpeg`` (red neoplastic,
    green non-neoplastic, JPEG noise on the edges). Test: ``test/test/<id>.jpeg``; its class maps go to
    ``_scoring/test_gt/<id>.png`` and its labels, in submission format, to ``_scoring/test_labels.csv``.
    """
    profile = get_profile("bkai-igh-neopolyp")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = hex_ids(rng, n, 32)
    files, sizes, fg, labels = [], [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        w = int(size * rng.uniform(0.9, 1.0))
        h = int(w * rng.choice([0.75, 0.78, 0.8]))
        image, classes = render_frame(h, w, np.random.default_rng([seed, k]))
        files.append(profile.image_path(out_dir, image_id, split))
        _write_jpeg(files[-1], image)
        if split == "train":
            files.append(profile.mask_path(out_dir, image_id))
            _write_jpeg(files[-1], MASK_COLOURS[classes])
        else:
            files.append(out_dir / SCORING_DIR / "test_gt" / f"{image_id}.png")
            write_png(files[-1], classes)
            for channel, label in ((0, 1), (1, 2)):
                labels.append({"Id": f"{image_id}_{channel}", "Expected": encode(classes == label, profile.rle_order)})
        sizes.append((h, w))
        fg.append(float((classes > 0).mean()))
    test_ids = ids[n_train:]
    files.append(out_dir / profile.sample_submission)
    write_csv(pd.DataFrame({"Id": [f"{i}_{c}" for i in test_ids for c in (0, 1)], "Expected": ""}), files[-1])
    files.append(out_dir / SCORING_DIR / "test_labels.csv")
    write_csv(pd.DataFrame(labels), files[-1])
    return SampleSummary(profile.slug, Path(out_dir), n_train, n_test, sizes, float(np.mean(fg)),
                         [p.relative_to(out_dir).as_posix() for p in files], seed)
