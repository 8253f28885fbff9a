"""How one model of an ensemble sees an image (:class:`ModelInput`: scale, window, context, blending,
normalisation), and its translation from the input contract a checkpoint stores (:func:`model_input_from_contract`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kit.infer.blend import make_weight_map
from kit.infer.windows import WindowGrid
from kit.models.contract import IMAGENET_MEAN, IMAGENET_STD, input_contract
from kit.options import option

__all__ = ["ModelInput", "model_input_from_contract", "model_input_for"]


@dataclass
class ModelInput:
    """How one model sees an image: scale, window, context, blending and normalisation.

    Args:
        window: model input side in working pixels (context included); ``None`` predicts the whole image at once.
        overlap: fraction of each window core shared with its neighbours, in [0, 1).
        margin: context pixels on each side of a window that are predicted but dropped.
        reduce: source pixels per working pixel (4 = the image at a quarter of its size).
        pixel_size: target µm per working pixel; with the image's own pixel size it overrides ``reduce``.
        size: whole-image mode only: the image is resized to exactly (height, width) = ``size`` (an int n: n×n),
            as the training datasets resize full images (``resize_mode="resize"``), and the probabilities are
            resized back to the image size; the member then works at the source scale (``reduce`` is unused).
            ensemble.json files that stored an int keep loading (as n×n).
        mean, std: normalisation in [0, 1] units (per model: each checkpoint keeps its own).
        blend: blending weight map of overlapping windows ("constant", "gaussian", "pyramid").
        pad_multiple: whole-image mode pads the image up to a multiple of this (encoder strides).
    """

    window: int | None = option(512, "model input side in working pixels (None: the whole image at once)")
    overlap: float = option(0.25, "window overlap fraction")
    margin: int = option(0, "context pixels per window side that are predicted, then dropped")
    reduce: float = option(1.0, "source pixels per working pixel")
    pixel_size: float | None = option(None, "target µm per working pixel (overrides reduce)")
    size: int | tuple[int, int] | None = option(None, "whole-image mode: resize to exactly (height, width) and back")
    mean: tuple[float, ...] = option(IMAGENET_MEAN, "normalisation mean in [0, 1] units")
    std: tuple[float, ...] = option(IMAGENET_STD, "normalisation std in [0, 1] units")
    blend: str = option("gaussian", "window blending weights")
    pad_multiple: int = option(32, "whole-image mode pads to a multiple of this")

    def __post_init__(self) -> None:
        self.mean, self.std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values (std > 0), got mean={self.mean}, std={self.std}")
        if self.size is not None:
            if self.window is not None:
                raise ValueError("size= resizes the whole image: use it with window=None")
            self.size = _exact_size(self.size)
        for name in ("reduce", "pixel_size"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.window is not None:  # validates window, overlap and margin together
            WindowGrid((1, 1), self.window, self.overlap, self.margin)
        make_weight_map(self.blend, 1)

    def scale_for(self, height: int, width: int, pixel_size: float | None = None) -> float:
        """Source pixels per working pixel for an image of this size (and pixel size in µm/px)."""
        if self.size is not None:
            return 1.0  # read at the source scale, then resized to exactly ``size`` (see _read_batch)
        if self.pixel_size is not None:
            if pixel_size is None:
                raise ValueError(f"this model works at {self.pixel_size} µm/px: pass the image's pixel_size")
            return self.pixel_size / pixel_size
        return float(self.reduce)


def _exact_size(value: Any) -> tuple[int, int]:
    """(height, width) from an int n (n×n) or a pair of positive ints."""
    size = (value, value) if isinstance(value, int) else value
    if not isinstance(size, (tuple, list)) or len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"size must be a positive int or [height, width] of ints, got {value}")
    return int(size[0]), int(size[1])


def model_input_from_contract(
    contract: dict[str, Any],
    window: int | None = None,
    overlap: float = ModelInput.overlap,
    margin: int = ModelInput.margin,
    blend: str = ModelInput.blend,
    physical_scale: bool = True,
) -> ModelInput:
    """How inference must feed a model with this input contract (pure).

    Tile-trained: sliding windows of the training side (or ``window``) at the tiles' scale; with
    ``physical_scale`` and a known pixel size of the tiled images a ``reduce`` becomes a target µm/px, so test
    images of another pixel size (2022 HuBMAP) are rescaled. Image-trained: the whole image resized to the
    training (height, width), probabilities resized back.
    """
    mean, std = tuple(contract["mean"]), tuple(contract["std"])
    if not contract["tiled"]:
        resize = contract["resize"]
        return ModelInput(window=None, size=tuple(resize) if resize else None, mean=mean, std=std)
    side = window or contract["window"]
    if side is None:
        raise ValueError("the training size is not square: pass window= for the sliding window")
    common = dict(window=int(side), overlap=overlap, margin=margin, mean=mean, std=std, blend=blend)
    if contract["pixel_size"]:
        return ModelInput(pixel_size=float(contract["pixel_size"]), **common)
    if physical_scale and contract["source_pixel_size"]:
        return ModelInput(pixel_size=float(contract["reduce"]) * float(contract["source_pixel_size"]), **common)
    return ModelInput(reduce=float(contract["reduce"]), **common)


def model_input_for(
    config: dict[str, Any],
    tiling: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
    window: int | None = None,
    overlap: float = ModelInput.overlap,
    margin: int = ModelInput.margin,
    blend: str = ModelInput.blend,
    source_pixel_size: float | None = None,
) -> ModelInput:
    """How inference must feed the model a training recipe made on ``tiling`` tiles with ``stats`` (pure):
    :func:`kit.models.contract.input_contract` then :func:`model_input_from_contract`."""
    contract = input_contract(config, tiling, stats, source_pixel_size)
    return model_input_from_contract(contract, window, overlap, margin, blend)
