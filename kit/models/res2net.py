"""Res2Net v1b backbone (Gao et al. 2019): deep 3-conv stem, avg-pool downsampling shortcuts, 26w×4s blocks.

Module names follow the reference implementation (``conv1`` stem Sequential 0..6, ``bn1``, ``layer1..4``, blocks
with ``conv1/bn1``, ``convs.i/bns.i``, ``conv3/bn3``, ``downsample.1/.2``), so its ImageNet checkpoints
(``res2net50_v1b_26w_4s-3cf99910.pth`` ...) load as they are. The classifier (``avgpool``/``fc``) is left out:
segmentation models only use the four stage outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from kit.registry import Registry

__all__ = ["Bottle2neck", "Res2Net", "RES2NET_V1B_LAYERS", "res2net_v1b"]

#: backbone name -> blocks per stage (base width 26, scale 4 for all of them)
RES2NET_V1B_LAYERS: Registry[tuple[int, int, int, int]] = Registry.of("Res2Net backbone", {
    "res2net50_v1b_26w_4s": (3, 4, 6, 3),
    "res2net101_v1b_26w_4s": (3, 4, 23, 3),
    "res2net152_v1b_26w_4s": (3, 8, 36, 3),
}, "unknown Res2Net backbone {name!r}{hint}; valid names: {valid}", sort=False)


class Bottle2neck(nn.Module):
    """Res2Net bottleneck: the 3x3 stage is split into ``scale`` groups processed hierarchically.

    ``first`` marks the first block of a stage: its groups are not chained and the untouched group is
    average-pooled (3x3, ``stride``) instead of passed through.
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 base_width: int = 26, scale: int = 4, first: bool = False) -> None:
        super().__init__()
        width = int(math.floor(planes * (base_width / 64.0)))
        self.width = width
        self.first = first
        self.conv1 = nn.Conv2d(in_channels, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False) for _ in range(scale - 1)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(width) for _ in range(scale - 1))
        if first:
            self.pool = nn.AvgPool2d(kernel_size=3, stride=stride, padding=1)
        self.conv3 = nn.Conv2d(width * scale, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        groups = torch.split(out, self.width, dim=1)
        outputs = []
        sp = groups[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            if i > 0:
                sp = groups[i] if self.first else sp + groups[i]
            sp = self.relu(bn(conv(sp)))
            outputs.append(sp)
        outputs.append(self.pool(groups[-1]) if self.first else groups[-1])
        out = self.bn3(self.conv3(torch.cat(outputs, dim=1)))
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(out + residual)


class Res2Net(nn.Module):
    """Res2Net v1b trunk; ``forward`` returns the four stage outputs (strides 4, 8, 16, 32)."""

    def __init__(self, layers: tuple[int, int, int, int], in_channels: int = 3, base_width: int = 26,
                 scale: int = 4) -> None:
        super().__init__()
        self.base_width = base_width
        self.scale = scale
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 2, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, 3, 1, 1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 1, 1, bias=False),
        )
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._in_channels = 64
        self.layer1 = self._make_stage(64, layers[0], stride=1)
        self.layer2 = self._make_stage(128, layers[1], stride=2)
        self.layer3 = self._make_stage(256, layers[2], stride=2)
        self.layer4 = self._make_stage(512, layers[3], stride=2)
        self.out_channels = (256, 512, 1024, 2048)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        out_channels = planes * Bottle2neck.expansion
        downsample = None
        if stride != 1 or self._in_channels != out_channels:
            downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False),
                nn.Conv2d(self._in_channels, out_channels, 1, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        stage = [Bottle2neck(self._in_channels, planes, stride, downsample, self.base_width, self.scale, first=True)]
        self._in_channels = out_channels
        stage += [Bottle2neck(out_channels, planes, base_width=self.base_width, scale=self.scale)
                  for _ in range(1, blocks)]
        return nn.Sequential(*stage)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c1, c2, c3, c4]


def res2net_v1b(name: str = "res2net50_v1b_26w_4s", in_channels: int = 3) -> Res2Net:
    """A randomly initialised Res2Net v1b trunk by name (see ``RES2NET_V1B_LAYERS``); nothing is downloaded."""
    return Res2Net(RES2NET_V1B_LAYERS.get(name), in_channels=in_channels)
