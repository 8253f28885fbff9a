"""Building blocks shared by the custom architectures.

PraNet-family blocks (``BasicConv2d``, ``RFB``, ``PartialDecoder``) keep the official sub-module names
(``conv``/``bn``, ``branch0..3``, ``conv_cat``, ``conv_upsample1..5`` ...) so official checkpoints map
onto them key for key. ``SCSE`` and ``FeaturePyramidAttention`` serve the TGS-salt U-ResNet.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["BasicConv2d", "RFB", "PartialDecoder", "SCSE", "FeaturePyramidAttention", "resize_to"]


def resize_to(x: torch.Tensor, size: tuple[int, int], align_corners: bool = False) -> torch.Tensor:
    """Bilinear resize of ``x`` (N×C×h×w) to ``size`` = (H, W); a no-op when the size already matches."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm, no activation (PraNet's ``BasicConv2d`` declares a ReLU it never applies)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, padding=0, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def _rfb_branch(in_channels: int, out_channels: int, k: int) -> nn.Sequential:
    """1x1 -> 1×k -> k×1 -> 3x3 dilated by k (receptive-field branch of size k)."""
    return nn.Sequential(
        BasicConv2d(in_channels, out_channels, 1),
        BasicConv2d(out_channels, out_channels, (1, k), padding=(0, k // 2)),
        BasicConv2d(out_channels, out_channels, (k, 1), padding=(k // 2, 0)),
        BasicConv2d(out_channels, out_channels, 3, padding=k, dilation=k),
    )


class RFB(nn.Module):
    """Receptive Field Block (PraNet's ``RFB_modified``): four branches (1x1; k = 3, 5, 7) + 1x1 residual, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(in_channels, out_channels, 1))
        self.branch1 = _rfb_branch(in_channels, out_channels, 3)
        self.branch2 = _rfb_branch(in_channels, out_channels, 5)
        self.branch3 = _rfb_branch(in_channels, out_channels, 7)
        self.conv_cat = BasicConv2d(4 * out_channels, out_channels, 3, padding=1)
        self.conv_res = BasicConv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        return F.relu(self.conv_cat(torch.cat(branches, dim=1)) + self.conv_res(x))


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class PartialDecoder(nn.Module):
    """CPD partial decoder (PraNet's ``aggregation``): fuses the 1/32, 1/16 and 1/8 features into a 1/8 map.

    ``out_channels`` is the number of output maps (1 in the official model: ``conv5`` 3C -> 1 with bias).
    """

    def __init__(self, channels: int, out_channels: int = 1) -> None:
        super().__init__()
        c = channels
        self.conv_upsample1 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample2 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample3 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample4 = BasicConv2d(c, c, 3, padding=1)
        self.conv_upsample5 = BasicConv2d(2 * c, 2 * c, 3, padding=1)
        self.conv_concat2 = BasicConv2d(2 * c, 2 * c, 3, padding=1)
        self.conv_concat3 = BasicConv2d(3 * c, 3 * c, 3, padding=1)
        self.conv4 = BasicConv2d(3 * c, 3 * c, 3, padding=1)
        self.conv5 = nn.Conv2d(3 * c, out_channels, 1)

    def forward(self, x32: torch.Tensor, x16: torch.Tensor, x8: torch.Tensor) -> torch.Tensor:
        """``x32``, ``x16``, ``x8``: features at strides 32, 16 and 8 (each level exactly twice the previous)."""
        x16_fused = self.conv_upsample1(_up2(x32)) * x16
        x8_fused = self.conv_upsample2(_up2(_up2(x32))) * self.conv_upsample3(_up2(x16)) * x8
        x16_cat = self.conv_concat2(torch.cat([x16_fused, self.conv_upsample4(_up2(x32))], dim=1))
        x8_cat = self.conv_concat3(torch.cat([x8_fused, self.conv_upsample5(_up2(x16_cat))], dim=1))
        return self.conv5(self.conv4(x8_cat))


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze-excitation: ``x·cSE(x) + x·sSE(x)`` (Roy et al. 2018)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channel_gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.spatial_gate = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.channel_gate(x) + x * self.spatial_gate(x)


def _conv_bn_elu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ELU(inplace=True),
    )


class FeaturePyramidAttention(nn.Module):
    """Feature Pyramid Attention (Li et al. 2018, PAN; the 2-level "v2" of the TGS-salt winners).

    main = 1x1 conv(x) multiplied by a pyramid map built from two strided levels (5x5 then 3x3), plus a
    global-average-pool branch. Every resize goes to the size of the tensor it meets, so any input size
    works (no fixed pooling kernels or scale factors).
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.global_branch = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_channels, out_channels, 1, bias=False))
        self.down1 = _conv_bn_elu(in_channels, in_channels, 5, stride=2)
        self.down2 = _conv_bn_elu(in_channels, in_channels, 3, stride=2)
        self.level1 = _conv_bn_elu(in_channels, out_channels, 5)
        self.level2 = _conv_bn_elu(in_channels, out_channels, 3)
        self.main = _conv_bn_elu(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = tuple(x.shape[-2:])
        d1 = self.down1(x)
        d2 = self.down2(d1)
        pyramid = self.level1(d1) + resize_to(self.level2(d2), tuple(d1.shape[-2:]), align_corners=True)
        attention = resize_to(pyramid, size, align_corners=True)
        return self.main(x) * attention + self.global_branch(x).expand(-1, -1, *size)
