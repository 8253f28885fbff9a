"""Model registry: a name -> builder table filled by ``@register_model`` in each architecture module."""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

from kit.registry import Registry

__all__ = ["register_model", "get_builder", "registered_names", "ModelBuilder"]

ModelBuilder = Callable[..., nn.Module]
_MODELS: Registry[ModelBuilder] = Registry("model name", "unknown model {name!r}{hint}; valid names: {valid}")


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``builder(num_classes, in_channels, encoder_weights, **kw) -> nn.Module`` as ``name``."""
    return _MODELS.decorator(name)


def registered_names() -> list[str]:
    """All registered model names, sorted."""
    return _MODELS.names()


def get_builder(name: str) -> ModelBuilder:
    """The builder registered as ``name``; an unknown name raises KeyError listing the valid ones."""
    return _MODELS.get(name)
