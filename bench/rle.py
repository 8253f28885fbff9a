"""RLE benchmark: kit encode/decode vs the common Kaggle approach on an 8000×8000 mask with realistic blobs.

Run: .venv/bin/python bench/rle.py
Prints best-of-3 times, Mpx/s and kit/baseline speed-ups (goals: encode >= 10x, decode >= 2x), plus
1024×1024 window decodes per second and the streaming encoder; every output is checked against the others.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baselines import kaggle_rle  # noqa: E402

from kit.rle import RleMask, RleStreamEncoder, decode, encode  # noqa: E402

SIZE = 8000
WINDOW = 1024
GOALS = {"encode": 10.0, "decode": 2.0}
T = TypeVar("T")


def blob_mask(size: int = SIZE, seed: int = 0, blobs: int = 3000) -> np.ndarray:
    """About 10% foreground: ``blobs`` random filled ellipses (glomerulus-like), deterministic."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(blobs):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        axes = (int(rng.integers(10, 45)), int(rng.integers(10, 45)))
        cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return mask


def best_of(fn: Callable[[], T], repeats: int = 3) -> tuple[float, T]:
    """Best wall time of ``repeats`` calls and the last result."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def stream_encode(mask: np.ndarray, block: int = 1024) -> str:
    """Column blocks through :class:`RleStreamEncoder`, as tiled inference feeds it."""
    encoder = RleStreamEncoder(mask.shape, "F")
    for x0 in range(0, mask.shape[1], block):
        encoder.add(mask[:, x0 : x0 + block])
    return encoder.finish()


def main() -> None:
    mask = blob_mask()
    mpx = mask.size / 1e6
    t_base_enc, base_rle = best_of(lambda: kaggle_rle.encode(mask))
    t_kit_enc, kit_rle = best_of(lambda: encode(mask, "F"))
    assert kit_rle == base_rle, "kit and baseline encodings differ"
    t_base_dec, base_mask = best_of(lambda: kaggle_rle.decode(base_rle, mask.shape))
    t_kit_dec, kit_mask = best_of(lambda: decode(kit_rle, mask.shape, "F"))
    assert np.array_equal(kit_mask, mask) and np.array_equal(base_mask, mask), "decoded masks differ"
    t_stream, stream_rle = best_of(lambda: stream_encode(mask))
    assert stream_rle == kit_rle, "streaming and one-shot encodings differ"

    t_parse, rle_mask = best_of(lambda: RleMask(kit_rle, mask.shape, "F"))
    corners = np.random.default_rng(1).integers(-WINDOW // 2, SIZE - WINDOW // 2, (50, 2)).tolist()
    t_win, windows = best_of(lambda: [rle_mask.window(y, x, WINDOW, WINDOW) for y, x in corners])
    padded = np.pad(mask, WINDOW)
    for (y, x), win in zip(corners, windows):
        assert np.array_equal(win, padded[y + WINDOW : y + 2 * WINDOW, x + WINDOW : x + 2 * WINDOW]), (y, x)

    runs = len(kit_rle.split()) // 2
    print(f"mask {SIZE}x{SIZE} uint8 ({mpx:.0f} Mpx), foreground {mask.mean():.1%}, {runs} runs, order F, best of 3")
    print(f"{'step':<8}{'baseline s':>12}{'kit s':>9}{'baseline Mpx/s':>16}{'kit Mpx/s':>11}{'speed-up':>10}"
          f"{'goal':>7}  met")
    for name, tb, tk in (("encode", t_base_enc, t_kit_enc), ("decode", t_base_dec, t_kit_dec)):
        goal = GOALS[name]
        print(f"{name:<8}{tb:>12.3f}{tk:>9.3f}{mpx / tb:>16.0f}{mpx / tk:>11.0f}{tb / tk:>9.1f}x{goal:>6.0f}x"
              f"  {'yes' if tb / tk >= goal else 'NO'}")
    print(f"streaming encode ({SIZE}x1024 column blocks): {t_stream:.3f} s, {mpx / t_stream:.0f} Mpx/s")
    print(f"RleMask parse+validate: {t_parse:.3f} s; window decode {WINDOW}x{WINDOW} (50 windows, some past the "
          f"border): {len(corners) / t_win:.0f} windows/s")


if __name__ == "__main__":
    main()
