"""Multi-scale training: a DataLoader ``collate_fn`` that resizes each batch to a size drawn from a list.

The size of a batch is a seeded function of the batch's content (a checksum of a pixel subsample), so it
does not depend on worker processes, persistent workers or resuming: the same batch always gets the same
size, and reshuffled or re-augmented batches draw new ones. Images are resized bilinearly, masks with
nearest-neighbour (class ids and ``ignore_index`` values are kept).
"""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

__all__ = ["MultiScaleCollate", "resize_batch"]

_SAMPLE_STRIDE = 8  # checksum every 8th pixel in each direction: cheap, and enough to tell batches apart


def resize_batch(
    images: torch.Tensor, masks: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Resize N×C×H×W float images (bilinear) and N×H×W masks (nearest) to ``size`` = (height, width)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images, masks
    images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    masks = F.interpolate(masks[:, None].float(), size=size, mode="nearest-exact")[:, 0].to(masks.dtype)
    return images, masks


class MultiScaleCollate:
    """``collate_fn`` that stacks (image 3×H×W, mask H×W) items and resizes the batch to one of ``sizes``.

    Args:
        sizes: candidate sizes, each an int (square) or (height, width); keep them multiples of the
            model's stride (usually 32).
        seed: mixes into the per-batch choice.
    """

    def __init__(self, sizes: Sequence[int | tuple[int, int]], seed: int = 0) -> None:
        if not sizes:
            raise ValueError("MultiScaleCollate needs at least one size")
        self.sizes = [(s, s) if isinstance(s, int) else (int(s[0]), int(s[1])) for s in sizes]
        if any(h <= 0 or w <= 0 for h, w in self.sizes):
            raise ValueError(f"multi-scale sizes must be positive; got {list(sizes)}")
        self.seed = int(seed)

    def choose_size(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[int, int]:
        """The size of this batch: a seeded pick keyed on a checksum of the batch's pixels."""
        key = zlib.crc32(images[..., ::_SAMPLE_STRIDE, ::_SAMPLE_STRIDE].contiguous().numpy().tobytes())
        key = zlib.crc32(masks[..., ::_SAMPLE_STRIDE, ::_SAMPLE_STRIDE].contiguous().numpy().tobytes(), key)
        return self.sizes[int(np.random.default_rng([self.seed, key]).integers(len(self.sizes)))]

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        images, masks = default_collate(batch)
        return resize_batch(images, masks, self.choose_size(images, masks))
