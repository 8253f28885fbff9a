"""Model metadata: what each registered architecture is, where it comes from and what it returns.

``@register(ModelInfo(...))`` registers a builder under ``info.name`` (through
:func:`kit.models.registry.register_model`) and keeps its card; :func:`model_info` reads it back for the README
table and the contract tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from kit.models.registry import ModelBuilder, register_model
from kit.registry import Registry

__all__ = ["ModelInfo", "register", "model_info"]


@dataclass(frozen=True)
class ModelInfo:
    """Card of one architecture.

    name: registry name. source: paper / official repository. outputs: what ``forward`` returns, in words.
    divisor: input height and width must be multiples of it. min_size: smallest side that runs (a multiple of
    ``divisor``). deep_supervision: ``train()`` returns a list (first item = the ``eval()`` map); a model whose
    list also holds other maps than class maps declares an ``output_kinds`` attribute (one of
    :data:`kit.losses.OUTPUT_KINDS` per output, e.g. BlazeNeo's binary auxiliary map), which the trainer's loss reads.
    official_checkpoint: ``build_model(name, official_checkpoint=PATH)`` loads the authors' published weights.
    """

    name: str
    source: str
    outputs: str
    divisor: int = 32
    min_size: int = 64
    deep_supervision: bool = False
    official_checkpoint: bool = False


_INFOS: Registry[ModelInfo] = Registry("model card", "no model card for {name!r}{hint}; described models: {valid}")


def register(info: ModelInfo) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``builder`` as ``info.name`` and remember its card."""
    if info.min_size % info.divisor:
        raise ValueError(f"model {info.name!r}: min_size {info.min_size} is not a multiple of divisor {info.divisor}")

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        register_model(info.name)(builder)
        _INFOS.add(info.name, info)
        return builder

    return decorate


def model_info(name: str) -> ModelInfo:
    """The card of model ``name``; KeyError listing the described models when there is none."""
    return _INFOS.get(name)
