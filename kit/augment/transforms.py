"""Our albumentations transforms. Random parameters are drawn in ``get_params`` from albumentations' own
seeded generators (so ``Compose.set_random_seed`` makes them reproducible); the pixel work is done by the
pure functions of :mod:`kit.augment.color`.
"""

from __future__ import annotations

from typing import Any, Sequence

import albumentations as A
import numpy as np

from kit.augment.color import reinhard_transfer, stain_jitter

__all__ = ["ColorTransfer", "StainJitter", "SquareRotate90"]


class ColorTransfer(A.ImageOnlyTransform):
    """Reinhard colour transfer towards a reference drawn at random from a pool of LAB statistics.

    Args:
        reference_pool: a sequence of (mean, std) pairs, each of 3 LAB values, e.g.
            ``[lab_stats(img) for img in reference_images]`` (:func:`kit.augment.color.lab_stats`).
        p: probability of applying the transform.

    Targets: image (uint8 RGB). The mask is untouched.
    """

    def __init__(self, reference_pool: Sequence[tuple[Sequence[float], Sequence[float]]], p: float = 0.5) -> None:
        super().__init__(p=p)
        pool = np.asarray(reference_pool, dtype=np.float64)
        if pool.ndim != 3 or pool.shape[1:] != (2, 3) or len(pool) == 0:
            raise ValueError(
                "ColorTransfer reference_pool must be a non-empty list of (mean, std) pairs of 3 LAB values; "
                f"got an array of shape {pool.shape}"
            )
        if (pool[:, 1] < 0).any() or not np.isfinite(pool).all():
            raise ValueError("ColorTransfer reference_pool holds a negative or non-finite statistic")
        self.reference_pool = pool

    def get_params(self) -> dict[str, Any]:
        index = int(self.random_generator.integers(len(self.reference_pool)))
        return {"ref_mean": self.reference_pool[index, 0], "ref_std": self.reference_pool[index, 1]}

    def apply(self, img: np.ndarray, ref_mean: np.ndarray, ref_std: np.ndarray, **params: Any) -> np.ndarray:
        return reinhard_transfer(img, ref_mean, ref_std)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("reference_pool",)


class StainJitter(A.ImageOnlyTransform):
    """HED stain jitter: each stain concentration s -> α·s + β, α ~ U[1 − σ, 1 + σ], β ~ U[−bias, bias].

    Concentrations are in scikit-image ``rgb2hed`` units (1.0 ≈ optical density 13.8), so ``bias`` is
    small: 0.01 shifts a stain's optical density by ≈ 0.14.

    Targets: image (uint8 RGB). The mask is untouched.
    """

    def __init__(self, sigma: float = 0.05, bias: float = 0.01, p: float = 0.5) -> None:
        super().__init__(p=p)
        if not 0 <= sigma < 1:
            raise ValueError(f"StainJitter sigma must lie in [0, 1); got {sigma}")
        if bias < 0:
            raise ValueError(f"StainJitter bias must be >= 0; got {bias}")
        self.sigma, self.bias = float(sigma), float(bias)

    def get_params(self) -> dict[str, Any]:
        return {
            "alpha": self.random_generator.uniform(1 - self.sigma, 1 + self.sigma, size=3),
            "beta": self.random_generator.uniform(-self.bias, self.bias, size=3),
        }

    def apply(self, img: np.ndarray, alpha: np.ndarray, beta: np.ndarray, **params: Any) -> np.ndarray:
        return stain_jitter(img, alpha, beta)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("sigma", "bias")


class SquareRotate90(A.RandomRotate90):
    """``RandomRotate90`` that leaves non-square images unrotated, so every item of a batch keeps its shape
    (together with horizontal and vertical flips, a non-square image still gets its 180° rotation)."""

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        if height != width:
            params["factor"] = 0
        return params
