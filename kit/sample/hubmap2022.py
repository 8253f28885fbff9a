"""HuBMAP + HPA 2022 sample: square TIFFs of five organs, HPA train, HPA/Hubmap test with pixel sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from kit.competitions import get_profile
from kit.fsutil import atomic_path
from kit.paths import SCORING_DIR
from kit.rle import encode
from kit.sample.common import SampleSummary, split_counts, write_csv
from kit.sample.histology import HistologySlide

__all__ = ["make_hubmap2022", "ORGANS"]

ORGANS = ("prostate", "spleen", "lung", "kidney", "largeintestine")
REFERENCE_UM = 0.4  # HPA pixel size: the scale the organ styles are drawn at
# Tissue thickness in µm by source and organ (competitions.md §3.3).
THICKNESS = {"HPA": dict.fromkeys(ORGANS, 4),
             "Hubmap": {"kidney": 10, "largeintestine": 8, "lung": 5, "spleen": 4, "prostate": 5}}
# Hubmap prostate (6.263 µm/px) would shrink its glands below two pixels: prostate test images stay HPA.
HUBMAP_TEST_ORGANS = ("kidney", "largeintestine", "lung", "spleen")


def _source(split: str, organ: str, test_index: int) -> str:
    """Train is HPA only; every other test image is Hubmap (for the organs in HUBMAP_TEST_ORGANS)."""
    return "Hubmap" if split == "test" and test_index % 2 == 0 and organ in HUBMAP_TEST_ORGANS else "HPA"


def make_hubmap2022(out_dir: Path, n: int, size: int, seed: int) -> SampleSummary:
    """Write ``n`` square images in the 2022 layout under ``out_dir``; organs cycle through :data:`ORGANS`.

    HPA images have side ``size`` (every fourth training image 10 % smaller, as the competition has a
    few odd sizes); a Hubmap test image covers the same field at its organ's pixel size, so its side and
    its structures scale by 0.4 / pixel_size.
    """
    profile = get_profile("hubmap-organ-segmentation")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = [int(i) for i in rng.choice(np.arange(62, 32800), n, replace=False)]
    rows, sizes, fg, files = [], [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        organ = ORGANS[k % len(ORGANS)]
        source = _source(split, organ, k - n_train)
        pixel = profile.pixel_size(organ, source)
        scale = REFERENCE_UM / pixel
        side = int(round(size * (0.9 if split == "train" and k % 4 == 3 else 1.0) * scale))
        slide = HistologySlide(side, side, seed=seed * 1000 + k, style=organ, scale=scale)
        image, mask = slide.render(0, 0, side, side), slide.mask(0, 0, side, side)
        files.append(profile.image_path(out_dir, str(image_id), split))
        with atomic_path(files[-1], suffix=".tiff") as tmp:
            tifffile.imwrite(tmp, image, photometric="rgb")
        rows.append({"id": str(image_id), "organ": organ, "data_source": source, "img_height": side,
                     "img_width": side, "pixel_size": pixel, "tissue_thickness": THICKNESS[source][organ],
                     "rle": encode(mask, profile.rle_order), "age": float(rng.integers(20, 85)),
                     "sex": str(rng.choice(["Male", "Female"]))})
        sizes.append((side, side))
        fg.append(float(mask.mean()))
    table = pd.DataFrame(rows)
    train, test = table.iloc[:n_train], table.iloc[n_train:]
    test_columns = list(profile.required_test_columns) + ["tissue_thickness"]
    files += [write_csv(train, out_dir / profile.train_csv),
              write_csv(test[test_columns], out_dir / profile.test_csv),
              write_csv(pd.DataFrame({"id": test["id"], "rle": ""}), out_dir / profile.sample_submission),
              write_csv(test, out_dir / SCORING_DIR / "test_labels.csv")]
    return SampleSummary(profile.slug, Path(out_dir), n_train, n_test, sizes, float(np.mean(fg)),
                         [p.relative_to(out_dir).as_posix() for p in files], seed)
