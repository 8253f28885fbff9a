"""HuBMAP + HPA 2022 sample: square TIFFs of five organs, HPA train, HPA/Hubmap test with pixel sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from kit.competitions import get_profile
from kit.rle import encode
from kit.sample.common import SCORING_DIR, SampleSummary, split_counts, write_csv
from kit.sample.histology import HistologySlide

__all__ = ["make_hubmap2022"]

ORGANS = ("kidney", "largeintestine", "lung", "spleen", "prostate")
# Hubmap test images at Hubmap pixel sizes; prostate (6.263 µm/px) would shrink structures below a pixel,
# so prostate test images stay HPA.
HUBMAP_TEST_ORGANS = ("kidney", "largeintestine", "lung", "spleen")
REFERENCE_UM = 0.4


def make_hubmap2022(out_dir: Path, n: int = 12, size: int = 512, seed: int = 0) -> SampleSummary:
    """Write ``n`` images of side ``size`` (at 0.4 µm/px) in the competition's layout under ``out_dir``."""
    profile = get_profile("hubmap-organ-segmentation")
    rng = np.random.default_rng(seed)
    n_train, n_test = split_counts(n)
    ids = [int(i) for i in rng.choice(np.arange(100, 99999), n, replace=False)]
    rows, sizes, fg = [], [], []
    for k, image_id in enumerate(ids):
        split = "train" if k < n_train else "test"
        organ = ORGANS[k % len(ORGANS)]
        source = "HPA"
        if split == "test" and k % 2 == 1 and organ in HUBMAP_TEST_ORGANS:
            source = "Hubmap"
        pixel = profile.pixel_size(organ, source)
        scale = REFERENCE_UM / pixel
        side = max(64, int(round(size * scale)))
        slide = HistologySlide(side, side, seed=seed * 1000 + k, style=organ, scale=scale)
        image, mask = slide.render(0, 0, side, side), slide.mask(0, 0, side, side)
        path = profile.image_path(out_dir, str(image_id), split)
        path.parent.mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(path, image, photometric="rgb")
        rows.append({"id": str(image_id), "organ": organ, "data_source": source, "img_height": side,
                     "img_width": side, "pixel_size": pixel, "tissue_thickness": 4 if source == "HPA" else 5,
                     "rle": encode(mask, profile.rle_order), "age": int(rng.integers(20, 80)),
                     "sex": str(rng.choice(["Male", "Female"])), "split": split})
        sizes.append((side, side))
        fg.append(float(mask.mean()))
    table = pd.DataFrame(rows)
    train, test = table[table.split == "train"].drop(columns="split"), table[table.split == "test"].drop(columns="split")
    write_csv(train, out_dir / profile.train_csv)
    write_csv(test[list(profile.required_test_columns) + ["tissue_thickness"]], out_dir / profile.test_csv)
    write_csv(pd.DataFrame({"id": test["id"], "rle": ""}), out_dir / profile.sample_submission)
    write_csv(test, out_dir / SCORING_DIR / "test_labels.csv")
    return SampleSummary(profile.slug, out_dir, n_train, n_test, sizes, float(np.mean(fg)), n + 4)
