"""The RLE approach most public Kaggle notebooks use, column-major (HuBMAP) only.

Our own re-typing of the classic idea, kept as the yardstick for bench/rle.py and the classic tiler:
encode = transpose, flatten, pad with ``[0]`` (which promotes uint8 to int64), find value changes;
decode = flat zero image, one slice assignment per run, reshape and transpose.
"""

from __future__ import annotations

import numpy as np

__all__ = ["encode", "decode"]


def encode(mask: np.ndarray) -> str:
    """Column-major RLE of a 0/1 mask the classic way."""
    pixels = mask.T.flatten()
    pixels = np.concatenate([[0], pixels, [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs)


def decode(rle: str, shape: tuple[int, int]) -> np.ndarray:
    """Column-major decode to an (height, width) uint8 mask, one Python slice assignment per run."""
    height, width = shape
    tokens = rle.split()
    starts, lengths = (np.asarray(x, dtype=int) for x in (tokens[0::2], tokens[1::2]))
    starts -= 1
    ends = starts + lengths
    flat = np.zeros(height * width, dtype=np.uint8)
    for lo, hi in zip(starts, ends):
        flat[lo:hi] = 1
    return flat.reshape(width, height).T
