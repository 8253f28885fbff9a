"""RLE benchmark: kit encode/decode vs the common Kaggle approach on an 8000×8000 mask with realistic blobs.

Run: .venv/bin/python bench/rle.py   (prints Mpx/s and the kit/baseline ratios; outputs are checked equal)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import kaggle_rle  # noqa: E402

from kit.rle import RleMask, decode, encode  # noqa: E402

SIZE = 8000


def blob_mask(size: int = SIZE, seed: int = 0) -> np.ndarray:
    """About 10% foreground: a few thousand random ellipses (glomerulus-like blobs)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(3000):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(15, 70)), int(rng.integers(15, 70)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask


def best_of(fn, repeats: int = 3) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    mask = blob_mask()
    mpx = mask.size / 1e6
    t_base_enc, base_rle = best_of(lambda: kaggle_rle.encode(mask))
    t_kit_enc, kit_rle = best_of(lambda: encode(mask, "F"))
    assert kit_rle == base_rle, "kit and baseline encodings differ"
    t_base_dec, base_mask = best_of(lambda: kaggle_rle.decode(base_rle, mask.shape))
    t_kit_dec, kit_mask = best_of(lambda: decode(kit_rle, mask.shape, "F"))
    assert np.array_equal(kit_mask, mask) and np.array_equal(base_mask, mask), "decoded masks differ"
    runs = len(kit_rle.split()) // 2
    rle_mask = RleMask(kit_rle, mask.shape, "F")
    rng = np.random.default_rng(1)
    corners = rng.integers(0, SIZE - 1024, (50, 2))
    t_win, _ = best_of(lambda: [rle_mask.window(int(y), int(x), 1024, 1024) for y, x in corners])
    for y, x in corners[:5]:
        assert np.array_equal(rle_mask.window(int(y), int(x), 1024, 1024), mask[y : y + 1024, x : x + 1024])
    print(f"mask {SIZE}x{SIZE} ({mpx:.0f} Mpx), foreground {mask.mean():.1%}, {runs} runs")
    print(f"{'step':<8}{'baseline s':>12}{'kit s':>10}{'baseline Mpx/s':>16}{'kit Mpx/s':>11}{'speed-up':>10}")
    for name, tb, tk in (("encode", t_base_enc, t_kit_enc), ("decode", t_base_dec, t_kit_dec)):
        print(f"{name:<8}{tb:>12.3f}{tk:>10.3f}{mpx / tb:>16.1f}{mpx / tk:>11.1f}{tb / tk:>9.1f}x")
    print(f"window decode (1024x1024 from the runs): {len(corners) / t_win:.0f} windows/s")


if __name__ == "__main__":
    main()
