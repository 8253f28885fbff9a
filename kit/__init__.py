"""kit: the helper package behind the segmentation notebooks (tiling, models, training, inference, Kaggle kernels)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
