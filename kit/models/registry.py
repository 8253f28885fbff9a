"""Model registry: a name -> builder table filled by ``@register_model`` in each architecture module."""

from __future__ import annotations

from typing import Callable

import torch.nn as nn

__all__ = ["register_model", "get_builder", "registered_names", "ModelBuilder"]

ModelBuilder = Callable[..., nn.Module]
_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``builder(num_classes, in_channels, encoder_weights, **kw) -> nn.Module`` as ``name``."""

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder

    return decorate


def registered_names() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def get_builder(name: str) -> ModelBuilder:
    """The builder registered as ``name``; an unknown name raises KeyError listing the valid ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(registered_names())}") from None
