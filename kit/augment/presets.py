"""Augmentation presets of increasing strength for image + mask training pairs (albumentations >= 2).

- none: nothing.
- light: horizontal/vertical flips and rot90 (p 0.5 each); brightness/contrast ±0.1 (p 0.3).
- medium: the flips + affine (shift ±6 %, scale 0.9-1.1, rotate ±20°, p 0.5); one of CLAHE,
  brightness/contrast ±0.2 or gamma (p 0.5); hue-saturation (p 0.3); Gaussian blur (p 0.1).
- heavy: the flips + affine (shift ±10 %, scale 0.75-1.25, rotate ±45°, shear ±5°, p 0.7); CLAHE (p 0.3);
  brightness/contrast ±0.3 (p 0.5); hue-saturation (p 0.4); colour jitter (p 0.4); Gaussian or motion
  blur (p 0.2); Gaussian noise, std 2-6 % of 255 (p 0.2).

Masks follow every geometric transform with nearest-neighbour interpolation and reflected borders, so
their values stay within the class set. Rot90 only turns square images (see ``SquareRotate90``).
"""

from __future__ import annotations

from typing import Callable, Sequence

import albumentations as A
import cv2

from kit.augment.transforms import SquareRotate90
from kit.registry import Registry

__all__ = ["PRESETS", "build_augmentation"]

def _flips() -> list[A.BasicTransform]:
    return [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5), SquareRotate90(p=0.5)]


def _affine(shift: float, scale: float, rotate: float, shear: float, p: float) -> A.Affine:
    return A.Affine(
        translate_percent=(-shift, shift),
        scale=(1 - scale, 1 + scale),
        rotate=(-rotate, rotate),
        shear=(-shear, shear),
        interpolation=cv2.INTER_LINEAR,
        mask_interpolation=cv2.INTER_NEAREST,
        border_mode=cv2.BORDER_REFLECT_101,
        p=p,
    )


def _light() -> list[A.BasicTransform]:
    return _flips() + [A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.3)]


def _medium() -> list[A.BasicTransform]:
    return _flips() + [
        _affine(shift=0.0625, scale=0.1, rotate=20, shear=0, p=0.5),
        A.OneOf(
            [
                A.CLAHE(clip_limit=2.0, p=1.0),
                A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=1.0),
                A.RandomGamma(gamma_limit=(80, 120), p=1.0),
            ],
            p=0.5,
        ),
        A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=15, val_shift_limit=10, p=0.3),
        A.GaussianBlur(blur_limit=(3, 5), p=0.1),
    ]


def _heavy() -> list[A.BasicTransform]:
    return _flips() + [
        _affine(shift=0.1, scale=0.25, rotate=45, shear=5, p=0.7),
        A.CLAHE(clip_limit=4.0, p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.3, contrast_limit=0.3, p=0.5),
        A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=30, val_shift_limit=20, p=0.4),
        A.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05, p=0.4),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 7), p=1.0), A.MotionBlur(blur_limit=(3, 7), p=1.0)], p=0.2),
        A.GaussNoise(std_range=(0.02, 0.06), p=0.2),
    ]


#: preset name -> builder of its transform list, weakest first
PRESETS: Registry[Callable[[], list[A.BasicTransform]]] = Registry.of(
    "augmentation preset", {"none": list, "light": _light, "medium": _medium, "heavy": _heavy},
    "unknown augmentation preset {name!r}{hint}; valid: {valid}", sort=False)


def build_augmentation(
    preset: str = "light",
    size: int | tuple[int, int] | None = None,
    extra: Sequence[A.BasicTransform] = (),
) -> A.Compose:
    """An albumentations pipeline for ``image`` (H×W×3 uint8) and ``mask`` (H×W class ids).

    Args:
        preset: "none", "light", "medium" or "heavy" (see the module docstring).
        size: resize every pair to this (height, width) (an int: square) before augmenting; ``None``: keep.
        extra: transforms appended after the preset (e.g. ``ColorTransfer(pool, p=0.5)``, ``StainJitter()``).
    """
    builder = PRESETS.get(preset)
    transforms: list[A.BasicTransform] = []
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        if height <= 0 or width <= 0:
            raise ValueError(f"augmentation size must be positive; got {size}")
        transforms.append(
            A.Resize(height, width, interpolation=cv2.INTER_AREA, mask_interpolation=cv2.INTER_NEAREST)
        )
    return A.Compose(transforms + builder() + list(extra))
