"""Model outputs: how a model's logits become class probabilities, and which output channel is which class.

One vocabulary for the model cards, the losses, the trainer, the checkpoint's contract and the predictor:

* ``"binary"``: one channel, sigmoid: the probability of the one foreground class.
* ``"multiclass"``: C channels, softmax over them; channel ``c`` = class id ``c`` (0 = background).
* ``"multilabel"``: F channels, an independent sigmoid each; channel ``c`` = foreground class id ``c + 1``, no
  background channel (NeoUNet's official head).

:func:`probabilities` always returns the kit's layout: one channel for a binary task, background + one channel
per class otherwise. A multilabel model's F sigmoid maps become ``[1 − max_c p_c, p_1, …, p_F]``, so the argmax
every consumer takes labels a pixel with its most probable class where that probability exceeds 0.5 and
background elsewhere (NeoUNet's rule: polyp where the channel-wise max passes 0.5, class = the larger channel).
"""

from __future__ import annotations

from typing import Sequence

import torch

from kit.registry import Registry

__all__ = ["OUTPUT_MODES", "HEAD_ACTIVATIONS", "check_output_mode", "output_mode", "head_channels",
           "channel_classes", "probabilities"]

OUTPUT_MODES = Registry.of("output mode", ("binary", "multiclass", "multilabel"),
                           "{kind} must be one of {valid}; got {name!r}{where}{hint}", sort=False)
#: activation of a head with several channels -> its output mode (a one-channel head is always "binary")
HEAD_ACTIVATIONS = Registry.of("head activation", {"softmax": "multiclass", "sigmoid": "multilabel"},
                               "{kind} must be one of {valid}; got {name!r}{where}{hint}", sort=False)


def check_output_mode(mode: str, where: str = "") -> str:
    """``mode`` if it is one of :data:`OUTPUT_MODES`, else :class:`kit.registry.UnknownNameError` naming ``where``
    (e.g. the file) and the valid modes."""
    return OUTPUT_MODES.check(mode, where)


def output_mode(activation: str, num_classes: int) -> str:
    """The output mode of a head whose several channels use ``activation`` ("softmax" or "sigmoid"), trained for
    ``num_classes`` classes (the kit's count: 1 for a one-class task, background + classes otherwise)."""
    mode = HEAD_ACTIVATIONS.get(activation)
    return "binary" if num_classes == 1 else mode


def head_channels(mode: str, num_classes: int) -> int:
    """Output channels of a model in ``mode`` for ``num_classes`` classes (multilabel: no background channel)."""
    return num_classes - 1 if check_output_mode(mode) == "multilabel" else num_classes


def channel_classes(mode: str, classes: Sequence[str]) -> tuple[str, ...]:
    """The class of each output channel in ``mode`` for a task with foreground ``classes`` (in class-id order)."""
    if check_output_mode(mode) == "binary":
        if len(classes) != 1:
            raise ValueError(f"a binary output has one class; the task has {len(classes)}: {list(classes)}")
        return (classes[0],)
    return tuple(classes) if mode == "multilabel" else ("background", *classes)


def probabilities(logits: torch.Tensor | list | tuple, mode: str) -> torch.Tensor:
    """N×C×H×W class probabilities in the kit's layout (see the module docstring) of a model's logits (its first
    output when it returns several) in output ``mode``."""
    if isinstance(logits, (list, tuple)):
        logits = logits[0]
    if check_output_mode(mode) == "multiclass":
        return torch.softmax(logits, dim=1)
    probs = torch.sigmoid(logits)
    if mode == "binary":
        if probs.shape[1] != 1:
            raise ValueError(f"a binary output has 1 channel; got {probs.shape[1]} (multiclass or multilabel?)")
        return probs
    return torch.cat([1 - probs.amax(dim=1, keepdim=True), probs], dim=1)
