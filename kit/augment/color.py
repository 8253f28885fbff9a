"""Pure colour functions: Reinhard colour transfer in LAB and HED stain jitter (numpy + OpenCV).

Images are H×W×3 uint8 RGB. Work is done in float and results are clipped to [0, 255] before the cast,
so no value ever wraps around (the SANet code casts LAB values to uint8 without clipping).

LAB is OpenCV's float LAB (from RGB in [0, 1]): L in [0, 100], a and b roughly in [-127, 127].
HED follows scikit-image's ``rgb2hed`` (Ruifrok & Johnston 2001 stain matrix): RGB is floored at 1e-6
and the stain concentrations are ``log(rgb) / log(1e-6) @ inv(M)``, so 1.0 means an optical density of
−ln(1e-6) ≈ 13.8.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "RGB_FROM_HED",
    "HED_FROM_RGB",
    "rgb_to_lab",
    "lab_to_rgb",
    "lab_stats",
    "reinhard_transfer",
    "rgb_to_hed",
    "hed_to_rgb",
    "stain_jitter",
]

# Rows: haematoxylin, eosin, DAB stain vectors in optical-density RGB (Ruifrok & Johnston 2001).
RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
HED_FROM_RGB = np.linalg.inv(RGB_FROM_HED)
_RGB_FLOOR = 1e-6
_LOG_FLOOR = np.log(_RGB_FLOOR)


def _check_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 RGB image; got shape {image.shape} and dtype {image.dtype}")
    return image


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] (possibly out of range) -> uint8, clipped first."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 RGB -> float32 LAB (OpenCV float convention)."""
    return cv2.cvtColor(_check_rgb(image).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """Float LAB (OpenCV float convention) -> uint8 RGB, out-of-gamut values clipped (never wrapped)."""
    return _to_uint8(cv2.cvtColor(np.asarray(lab, dtype=np.float32), cv2.COLOR_LAB2RGB))


def lab_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, std) of an image in LAB: the reference statistics of :func:`reinhard_transfer`."""
    lab = rgb_to_lab(image).reshape(-1, 3).astype(np.float64)
    return lab.mean(axis=0), lab.std(axis=0)


def reinhard_transfer(
    image: np.ndarray, ref_mean: np.ndarray, ref_std: np.ndarray, min_std: float = 1.0
) -> np.ndarray:
    """Reinhard colour transfer: x' = (x − μ_img)·σ_ref/σ_img + μ_ref per LAB channel, back to uint8 RGB.

    σ_img is floored at ``min_std`` LAB units, so a (nearly) flat channel, e.g. a and b of a grey image,
    is shifted to the reference mean instead of having its rounding noise blown up.
    """
    ref_mean = np.asarray(ref_mean, dtype=np.float64).reshape(3)
    ref_std = np.asarray(ref_std, dtype=np.float64).reshape(3)
    lab = rgb_to_lab(image).astype(np.float64)
    flat = lab.reshape(-1, 3)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    return lab_to_rgb((lab - mean) * (ref_std / np.maximum(std, min_std)) + ref_mean)


def rgb_to_hed(image: np.ndarray, clip: bool = True) -> np.ndarray:
    """H×W×3 uint8 RGB -> float64 HED stain concentrations (scikit-image ``rgb2hed`` convention).

    Args:
        clip: set negative concentrations to 0 as ``rgb2hed`` does; ``False`` keeps them, which makes
            :func:`hed_to_rgb` an exact inverse (used by :func:`stain_jitter`).
    """
    rgb = np.maximum(_check_rgb(image).astype(np.float64) / 255.0, _RGB_FLOOR)
    hed = (np.log(rgb) / _LOG_FLOOR) @ HED_FROM_RGB
    return np.maximum(hed, 0.0) if clip else hed


def hed_to_rgb(hed: np.ndarray) -> np.ndarray:
    """HED stain concentrations -> uint8 RGB (scikit-image ``hed2rgb`` followed by a clipped cast)."""
    log_rgb = (np.asarray(hed, dtype=np.float64) * _LOG_FLOOR) @ RGB_FROM_HED
    return _to_uint8(np.exp(log_rgb))


def stain_jitter(image: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """HED stain jitter (Tellez et al.): each stain s -> α·s + β, then back to RGB (clipped).

    ``alpha`` and ``beta`` hold one value per stain (H, E, D); α = 1, β = 0 returns the image (up to
    rounding of pixels whose channel is 0, floored at 1e-6).
    """
    hed = rgb_to_hed(image, clip=False)
    alpha = np.asarray(alpha, dtype=np.float64).reshape(3)
    beta = np.asarray(beta, dtype=np.float64).reshape(3)
    return hed_to_rgb(hed * alpha + beta)
