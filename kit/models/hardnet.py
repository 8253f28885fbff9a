"""HarDNet-68 backbone (harmonic densely connected network), shared by HarDNet-MSEG, NeoUNet and BlazeNeo.

Module layout follows the official implementation (``base.{i}`` with ``conv``/``norm`` sub-modules), so the
official HarDNet-68 ImageNet weights and the backbone part of the polyp checkpoints load by name. The ImageNet
classifier (official ``base.16``: pool, flatten, dropout, Linear 1024→1000) is never run by the segmentation
models and is therefore not built; :data:`CLASSIFIER_PREFIX` names it so importers can drop it on purpose.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from kit.models.weights import read_state_dict, resolve_weights_path, state_dict_problems

__all__ = ["HarDNet68", "ConvNormReLU6", "HarDBlock", "CLASSIFIER_PREFIX", "FEATURE_CHANNELS", "load_hardnet68_weights",
           "init_hardnet68"]

CLASSIFIER_PREFIX = "base.16."
"""Official key prefix of the ImageNet classifier head, unused by design in every segmentation model."""

FEATURE_CHANNELS = (64, 128, 320, 640, 1024)
"""Channels of the five taps returned by :meth:`HarDNet68.forward` (strides 2, 4, 8, 16, 32)."""

_TAP_INDICES = (1, 4, 9, 12, 15)
# Per HarDBlock: growth rate, number of layers, channels of the 1x1 transition, max-pool after it.
_STAGES = ((14, 8, 128, True), (16, 16, 256, False), (20, 16, 320, True), (40, 16, 640, True), (160, 4, 1024, False))
_CHANNEL_MULTIPLIER = 1.7


class ConvNormReLU6(nn.Sequential):
    """Conv (no bias, 'same' padding) → BatchNorm → ReLU6, with the official sub-module names."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.add_module(
            "conv",
            nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        )
        self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("relu", nn.ReLU6(inplace=True))


def _harmonic_links(layer: int) -> list[int]:
    """Earlier layers feeding ``layer``: ``layer - 2**n`` for every power of two dividing ``layer``."""
    links, step = [], 1
    while step <= layer:
        if layer % step == 0:
            links.append(layer - step)
        step *= 2
    return links


class HarDBlock(nn.Module):
    """Harmonic dense block: layer ``l`` reads the concatenation of layers ``l - 2**n``; the block outputs the
    odd-numbered layers plus the last one. Layer widths grow by ``multiplier`` per extra link, rounded to even."""

    def __init__(self, in_channels: int, growth_rate: int, n_layers: int, multiplier: float = _CHANNEL_MULTIPLIER):
        super().__init__()
        widths = [in_channels]
        self.links: list[list[int]] = []
        layers = []
        for layer in range(1, n_layers + 1):
            links = _harmonic_links(layer)
            width = float(growth_rate)
            for _ in links[1:]:
                width *= multiplier
            width = int(int(width + 1) / 2) * 2
            layers.append(ConvNormReLU6(sum(widths[k] for k in links), width))
            self.links.append(links)
            widths.append(width)
        self.layers = nn.ModuleList(layers)
        self.output_ids = [i for i in range(1, n_layers + 1) if i % 2 == 1 or i == n_layers]
        self.out_channels = sum(widths[i] for i in self.output_ids)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for links, layer in zip(self.links, self.layers):
            inputs = [outputs[k] for k in links]
            outputs.append(layer(torch.cat(inputs, 1) if len(inputs) > 1 else inputs[0]))
        return torch.cat([outputs[i] for i in self.output_ids], 1)


class HarDNet68(nn.Module):
    """HarDNet-68 trunk. ``forward`` returns the taps at base indices 1, 4, 9, 12, 15:
    64 ch @1/2, 128 @1/4, 320 @1/8, 640 @1/16, 1024 @1/32."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        base: list[nn.Module] = [
            ConvNormReLU6(in_channels, 32, 3, stride=2),
            ConvNormReLU6(32, 64, 3),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        ]
        channels = 64
        for growth, n_layers, out_channels, pool in _STAGES:
            block = HarDBlock(channels, growth, n_layers)
            base += [block, ConvNormReLU6(block.out_channels, out_channels, 1)]
            if pool:
                base.append(nn.MaxPool2d(kernel_size=2, stride=2))
            channels = out_channels
        self.base = nn.ModuleList(base)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, module in enumerate(self.base):
            x = module(x)
            if index in _TAP_INDICES:
                taps.append(x)
        return taps


def load_hardnet68_weights(backbone: HarDNet68, path: str | Path) -> None:
    """Load ImageNet HarDNet-68 weights (official ``hardnet68.pth`` layout, keys ``base.*``) into ``backbone``.

    The classifier (``base.16.*``) is dropped on purpose; a missing or unexpected key or a shape mismatch
    (e.g. another ``in_channels``) raises ValueError naming the file.
    """
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(CLASSIFIER_PREFIX)}
    problems = state_dict_problems(state, backbone.state_dict(), "another in_channels?", target_name="backbone")
    if problems:
        raise ValueError(f"weights file {path} is not a HarDNet-68 state_dict for this backbone: "
                         + " | ".join(problems))
    backbone.load_state_dict(state, strict=False)


def init_hardnet68(backbone: HarDNet68, encoder_weights: str | os.PathLike | None) -> None:
    """:func:`load_hardnet68_weights` from ``encoder_weights`` (a file path, see
    :func:`kit.models.weights.resolve_weights_path`); ``None`` keeps the random initialisation."""
    path = resolve_weights_path(encoder_weights)
    if path is not None:
        load_hardnet68_weights(backbone, path)
