"""The model spec: the few values that rebuild a model (architecture name, class count, keyword arguments).

The trainer stores it in every checkpoint under ``model_spec``; ensemble.json may repeat it as a model's ``arch``.
:func:`build_model_from_spec` turns it back into a model (``encoder_weights`` None for inference: the checkpoint
holds every weight).
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["model_spec", "build_model_from_spec"]


def model_spec(arch: str, num_classes: int = 1, encoder: str | None = None,
               model_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spec of architecture ``arch`` with ``num_classes`` outputs; ``encoder`` becomes ``encoder_name`` unless
    ``model_kwargs`` names one."""
    kwargs = dict(model_kwargs or {})
    if encoder is not None:
        kwargs.setdefault("encoder_name", encoder)
    return {"name": arch, "num_classes": num_classes, "kwargs": kwargs}


def build_model_from_spec(spec: dict[str, Any], encoder_weights: str | None = None) -> torch.nn.Module:
    """Build the model described by :func:`model_spec`; ``encoder_weights`` None for inference (the checkpoint
    holds every weight), a file or a tag for training."""
    from kit.models import build_model

    return build_model(spec["name"], num_classes=spec["num_classes"], encoder_weights=encoder_weights,
                       **spec["kwargs"])
