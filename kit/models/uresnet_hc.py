"""U-ResNet34 with scSE, Feature Pyramid Attention and hypercolumns: the TGS Salt 1st-place design.

Babakhin, Sanakoyeu, Kitamura, "Semi-Supervised Segmentation of Salt Bodies in Seismic Images using an Ensemble of
Convolutional Neural Networks" (arXiv 1904.04445), stage-1 network of the phalanx sub-solution:

* encoder: ResNet34 stem (7x7 stride 2, no max-pool) + layer1..4 (strides 2, 4, 8, 16), an scSE after each stage;
* center: Feature Pyramid Attention (size-agnostic) + 2x2 max-pool (stride 32);
* decoder: transposed-conv ×2 ‖ 1x1 skip projection -> BN -> ReLU -> scSE (64 ch each), then a full-resolution
  block (bilinear ×2, two 3x3 conv-BN-ELU, scSE);
* head: hypercolumn = every decoder output resized to input size and concatenated (5 × 64 ch) -> optional
  Dropout2d -> 3x3 conv + ELU -> 1x1 conv to ``num_classes``.

With ``deep_supervision=True``, ``train()`` returns [final map, 1x1-conv map of each decoder output d1..d5], all at
input size; ``eval()`` always returns the final map. The encoder keeps torchvision's names (``conv1``, ``bn1``,
``layer1..4``), so a torchvision or smp ``resnet34`` checkpoint file loads into ``model.encoder``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from kit.models.blocks import SCSE, FeaturePyramidAttention, resize_to
from kit.models.info import ModelInfo, register
from kit.models.weights import init_encoder

__all__ = ["ResNet34Encoder", "UResNet34HC", "build_uresnet34_scse_fpa_hc"]

DECODER_CHANNELS = 64


class ResNet34Encoder(nn.Module):
    """torchvision ResNet34 trunk without max-pool and classifier; returns features at strides 2, 2, 4, 8, 16."""

    out_channels = (64, 64, 128, 256, 512)

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        resnet = torchvision.models.resnet34(weights=None)
        self.conv1 = resnet.conv1
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1, self.relu = resnet.bn1, resnet.relu
        self.layer1, self.layer2, self.layer3, self.layer4 = resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        features = [stem]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            features.append(layer(features[-1]))
        return features


class SkipDecoderBlock(nn.Module):
    """Transposed conv ×2 of the deeper map ‖ 1x1 projection of the skip -> BN -> ReLU -> scSE."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int = DECODER_CHANNELS) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, out_channels // 2, kernel_size=2, stride=2)
        self.skip = nn.Conv2d(skip_channels, out_channels - out_channels // 2, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.attention = SCSE(out_channels, reduction=16)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        fused = torch.cat([self.up(x), self.skip(skip)], dim=1)
        return self.attention(F.relu(self.bn(fused)))


def _conv_bn_elu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels), nn.ELU(True)
    )


class FullResolutionBlock(nn.Module):
    """Bilinear ×2 -> two 3x3 conv-BN-ELU -> scSE (the decoder block without skip)."""

    def __init__(self, channels: int = DECODER_CHANNELS) -> None:
        super().__init__()
        self.convs = nn.Sequential(_conv_bn_elu(channels, channels // 2), _conv_bn_elu(channels // 2, channels))
        self.attention = SCSE(channels, reduction=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        return self.attention(self.convs(x))


class UResNet34HC(nn.Module):
    """U-ResNet34 + scSE + FPA + hypercolumn head (see the module docstring)."""

    def __init__(self, num_classes: int = 1, in_channels: int = 3, deep_supervision: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.deep_supervision = deep_supervision
        self.encoder = ResNet34Encoder(in_channels)
        self.encoder_attention = nn.ModuleList(SCSE(c, reduction=4) for c in ResNet34Encoder.out_channels[1:])
        c = DECODER_CHANNELS
        self.center = nn.Sequential(FeaturePyramidAttention(512, 256), nn.MaxPool2d(2, 2))
        self.decode5 = SkipDecoderBlock(256, 512)
        self.decode4 = SkipDecoderBlock(c, 256)
        self.decode3 = SkipDecoderBlock(c, 128)
        self.decode2 = SkipDecoderBlock(c, 64)
        self.decode1 = FullResolutionBlock(c)
        self.dropout = nn.Dropout2d(dropout)
        self.head = nn.Sequential(nn.Conv2d(5 * c, c, 3, padding=1), nn.ELU(True), nn.Conv2d(c, num_classes, 1))
        self.aux_heads = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for _ in range(5)) if deep_supervision else None

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """eval (or no deep supervision): logits N×C×H×W; train with deep supervision: [final, aux d1..d5]."""
        size = tuple(x.shape[-2:])
        stem, *stages = self.encoder(x)
        e2, e3, e4, e5 = (attention(f) for attention, f in zip(self.encoder_attention, stages))
        d5 = self.decode5(self.center(e5), e5)
        d4 = self.decode4(d5, e4)
        d3 = self.decode3(d4, e3)
        d2 = self.decode2(d3, e2)
        d1 = self.decode1(d2)
        decoded = [resize_to(d, size, align_corners=True) for d in (d1, d2, d3, d4, d5)]
        logits = self.head(self.dropout(torch.cat(decoded, dim=1)))
        if not (self.training and self.aux_heads is not None):
            return logits
        return [logits, *(head(d) for head, d in zip(self.aux_heads, decoded))]


@register(ModelInfo(
    name="uresnet34_scse_fpa_hc",
    source="Babakhin et al. 2019 (arXiv 1904.04445), TGS Salt 1st place; ybabakhin/kaggle_salt_bes_phalanx",
    outputs="1 map; train with deep_supervision=True: [final, 5 decoder maps]",
    divisor=32,
    min_size=32,
))
def build_uresnet34_scse_fpa_hc(num_classes: int = 1, in_channels: int = 3, encoder_weights=None,
                                deep_supervision: bool = False, dropout: float = 0.0) -> UResNet34HC:
    """U-ResNet34-scSE-FPA-hypercolumn; ``encoder_weights``: torchvision/smp resnet34 checkpoint file or None."""
    model = UResNet34HC(num_classes, in_channels, deep_supervision=deep_supervision, dropout=dropout)
    init_encoder(model.encoder, encoder_weights)
    return model
