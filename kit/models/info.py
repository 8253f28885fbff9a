"""The model table: each registered architecture's builder and its card (what it is, where it comes from, what it
returns and how its outputs read as classes).

``@register(ModelInfo(...))`` registers a builder under ``info.name`` with its card in ONE table;
:func:`get_builder` and :func:`model_info` read it back (``build_model``, the README table, the trainer's output
mode, the contract tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from kit.outputs import HEAD_ACTIVATIONS, head_channels, output_mode
from kit.registry import Registry

__all__ = ["ModelInfo", "ModelBuilder", "register", "model_info", "get_builder", "registered_names"]

ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """Card of one architecture.

    name: registry name. source: paper / official repository. outputs: what ``forward`` returns, in words.
    divisor: input height and width must be multiples of it. min_size: smallest side that runs (a multiple of
    ``divisor``). deep_supervision: ``train()`` returns a list (first item = the ``eval()`` map); a model whose
    list also holds other maps than class maps declares an ``output_kinds`` attribute (one of
    :data:`kit.losses.OUTPUT_KINDS` per output, e.g. BlazeNeo's binary auxiliary map), which the trainer's loss reads.
    official_checkpoint: ``build_model(name, official_checkpoint=PATH)`` loads the authors' published weights.
    activation: how a head with several channels turns logits into probabilities (:mod:`kit.outputs`):
    "softmax" (one class per pixel; channel c = class id c, background included) or "sigmoid" (independent
    channels; channel c = foreground class c + 1, no background channel). One channel is always a sigmoid.
    official_classes: the class of each output channel of the official import, in channel order (the class
    mapping; empty without an official checkpoint).
    """

    name: str
    source: str
    outputs: str
    divisor: int = 32
    min_size: int = 64
    deep_supervision: bool = False
    official_checkpoint: bool = False
    activation: str = "softmax"
    official_classes: tuple[str, ...] = ()

    def output_mode(self, num_classes: int) -> str:
        """The output mode (:data:`kit.outputs.OUTPUT_MODES`) of this model trained for ``num_classes`` classes
        (the kit's count: 1 for a one-class task, background + classes otherwise)."""
        return output_mode(self.activation, num_classes)

    def channels(self, num_classes: int) -> int:
        """Output channels (``build_model``'s ``num_classes``) of this model trained for ``num_classes`` classes."""
        return head_channels(self.output_mode(num_classes), num_classes)


@dataclass(frozen=True)
class _Entry:
    builder: ModelBuilder
    info: ModelInfo


_MODELS: Registry[_Entry] = Registry("model name", "unknown model {name!r}{hint}; valid names: {valid}")


def register(info: ModelInfo) -> Callable[[ModelBuilder], ModelBuilder]:
    """Decorator: register ``builder(num_classes, in_channels, encoder_weights, **kw) -> nn.Module`` as
    ``info.name`` with its card."""
    if info.min_size % info.divisor:
        raise ValueError(f"model {info.name!r}: min_size {info.min_size} is not a multiple of divisor {info.divisor}")
    HEAD_ACTIVATIONS.check(info.activation, f"for model {info.name!r}")

    def decorate(builder: ModelBuilder) -> ModelBuilder:
        _MODELS.add(info.name, _Entry(builder, info))
        return builder

    return decorate


def registered_names() -> list[str]:
    """All registered model names, sorted."""
    return _MODELS.names()


def get_builder(name: str) -> ModelBuilder:
    """The builder registered as ``name``; an unknown name raises KeyError listing the valid ones."""
    return _MODELS.get(name).builder


def model_info(name: str) -> ModelInfo:
    """The card of model ``name``; an unknown name raises KeyError listing the valid ones."""
    return _MODELS.get(name).info
