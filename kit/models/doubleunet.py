"""DoubleU-Net (Jha et al., CBMS 2020): a VGG19 U-Net with ASPP, whose output gates the input of a second U-Net.

Reference: DebeshJha/2020-CBMS-DoubleU-Net (Keras ``model.py``; PyTorch port ``doubleunet_pytorch.py``). No
official PyTorch checkpoint is published, so module names are ours. Like the PyTorch port, the ASPP image-pooling
branch pools to 2×2 (the Keras model pools globally), which keeps BatchNorm valid for batches of one.

Outputs: ``train()`` returns ``[output2, output1]`` (second U-Net first, as it is the prediction); ``eval()``
returns ``output2``. With ``num_classes`` = 1 the gate for the second U-Net is sigmoid(output1), as in the paper;
with C > 1 the channels are softmax classes with channel 0 = background (kit convention) and the gate is the
foreground probability 1 − softmax(output1)[background].
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import cfgs, make_layers

from kit.models.info import ModelInfo, register
from kit.models.weights import init_encoder

__all__ = ["DoubleUNet", "VGG19Encoder", "ASPP", "build_doubleunet"]

# torchvision vgg19.features slices: 64 @1, 128 @1/2, 256 @1/4, 512 @1/8, 512 @1/16
_VGG19_STAGE_ENDS = (4, 9, 18, 27, 36)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SqueezeExcitation(nn.Module):
    """Channel gate: GAP → Linear C→C/8 → ReLU → Linear → sigmoid, multiplied onto ``x``."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(channels, channels // reduction),
            nn.ReLU(inplace=True),
            nn.Linear(channels // reduction, channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class ConvBlock(nn.Sequential):
    """Two 3x3 conv + BN + ReLU, then squeeze-excitation."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            _conv_bn_relu(in_channels, out_channels), _conv_bn_relu(out_channels, out_channels),
            SqueezeExcitation(out_channels),
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 2×2 image pooling + 1x1 + 3x3 at dilations 6/12/18, fused by a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(2), _conv_bn_relu(in_channels, out_channels, 1))
        self.branches = nn.ModuleList(
            [_conv_bn_relu(in_channels, out_channels, 1)]
            + [_conv_bn_relu(in_channels, out_channels, 3, dilation=d) for d in (6, 12, 18)]
        )
        self.fuse = _conv_bn_relu(5 * out_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.interpolate(self.pool(x), size=x.shape[-2:], mode="bilinear", align_corners=True)
        return self.fuse(torch.cat([pooled] + [branch(x) for branch in self.branches], dim=1))


class VGG19Encoder(nn.Module):
    """torchvision VGG19 ``features`` (same keys, so torchvision ImageNet weights load); returns the five stage
    outputs (strides 1, 2, 4, 8, 16; the last max-pool is never run)."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.features = make_layers(cfgs["E"])
        if in_channels != 3:
            self.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stages, start = [], 0
        for end in _VGG19_STAGE_ENDS:
            for index in range(start, end):
                x = self.features[index](x)
            stages.append(x)
            start = end
        return stages


def _up2(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class DoubleUNet(nn.Module):
    """Network 1: VGG19 encoder → ASPP(512→64) → decoder with VGG skips → ``head1``.
    Network 2: input × gate(output1) → 4-stage encoder (32..256) → ASPP(256→64) → decoder with skips from both
    encoders → ``head2``. Inputs must be multiples of 16."""

    def __init__(self, num_classes: int = 1, in_channels: int = 3) -> None:
        super().__init__()
        self.encoder1 = VGG19Encoder(in_channels)
        self.aspp1 = ASPP(512, 64)
        self.decoder1 = nn.ModuleList(
            [ConvBlock(64 + 512, 256), ConvBlock(256 + 256, 128), ConvBlock(128 + 128, 64), ConvBlock(64 + 64, 32)]
        )
        self.head1 = nn.Conv2d(32, num_classes, 1)
        self.encoder2 = nn.ModuleList(
            [ConvBlock(in_channels, 32), ConvBlock(32, 64), ConvBlock(64, 128), ConvBlock(128, 256)]
        )
        self.aspp2 = ASPP(256, 64)
        self.decoder2 = nn.ModuleList(
            [ConvBlock(64 + 512 + 256, 256), ConvBlock(256 + 256 + 128, 128), ConvBlock(128 + 128 + 64, 64),
             ConvBlock(64 + 64 + 32, 32)]
        )
        self.head2 = nn.Conv2d(32, num_classes, 1)

    def _gate(self, output1: torch.Tensor) -> torch.Tensor:
        if output1.shape[1] == 1:
            return torch.sigmoid(output1)
        return 1 - torch.softmax(output1, dim=1)[:, :1]

    def forward_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[output2, output1]: logits of the second and the first U-Net, both at input size."""
        *skips1, deep1 = self.encoder1(x)
        y = self.aspp1(deep1)
        for block, skip in zip(self.decoder1, reversed(skips1)):
            y = block(torch.cat([_up2(y), skip], dim=1))
        output1 = self.head1(y)

        y = x * self._gate(output1)
        skips2 = []
        for block in self.encoder2:
            y = block(y)
            skips2.append(y)
            y = F.max_pool2d(y, 2)
        y = self.aspp2(y)
        for block, skip1, skip2 in zip(self.decoder2, reversed(skips1), reversed(skips2)):
            y = block(torch.cat([_up2(y), skip1, skip2], dim=1))
        return [self.head2(y), output1]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """eval: output2 (N×C×H×W); train: [output2, output1]."""
        maps = self.forward_maps(x)
        return maps if self.training else maps[0]


@register(
    ModelInfo(
        name="doubleunet",
        source="Jha et al., CBMS 2020; DebeshJha/2020-CBMS-DoubleU-Net",
        outputs="train: [output2, output1]; eval: output2 (the second U-Net)",
        divisor=16,
        min_size=32,
        deep_supervision=True,
    )
)
def build_doubleunet(num_classes: int = 1, in_channels: int = 3, encoder_weights: str | None = None) -> DoubleUNet:
    """DoubleU-Net; ``encoder_weights`` = path of torchvision VGG19 ImageNet weights (``vgg19-dcbb9e9d.pth``)
    or None (random init; nothing is downloaded)."""
    model = DoubleUNet(num_classes, in_channels)
    init_encoder(model.encoder1, encoder_weights, model_prefix="encoder1.")
    return model
