"""NeoUNet (Lan et al., arXiv 2107.05023): HarDNet-68 U-Net with additive attention gates and four output maps.

Official code: lanPN85/neounet (``polypnet/model/neounet.py``, ``attn.py``). Module names follow it (``encoder``,
``upsample_mid/_3/_2/_1``, ``attn_mid/_3/_2``, ``decode3..0``, ``out3..0``), so the authors' checkpoint loads by
name. Channels are independent sigmoid maps, any ``num_classes``. For NeoPolyp the official model has two; after
the official import they follow the kit's class ids (:mod:`kit.competitions`) without background: channel ``c`` =
class ``c + 1``. The official order is the reverse and is permuted on load (:data:`OFFICIAL_TO_KIT_CHANNELS`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kit.models.blocks import resize_to
from kit.models.hardnet import CLASSIFIER_PREFIX, FEATURE_CHANNELS, HarDNet68, init_hardnet68
from kit.models.info import ModelInfo, register
from kit.models.official import register_official

__all__ = ["NeoUNet", "AdditiveAttentionGate", "OFFICIAL_TO_KIT_CHANNELS", "to_kit_channel_order", "build_neounet"]

OFFICIAL_TO_KIT_CHANNELS = (1, 0)
"""Kit channel ``c`` reads official channel ``OFFICIAL_TO_KIT_CHANNELS[c]``. Official (polypnet/data/func.py
label stack): 0 = benign = non-neoplastic, 1 = malign = neoplastic; kit: channel ``c`` = class id ``c + 1``."""

_OUTPUT_HEADS = ("out0.0.", "out1.0.", "out2.0.", "out3.0.")


def to_kit_channel_order(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Permute the output heads of an official NeoUNet state_dict from (non-neoplastic, neoplastic) to the kit's
    (neoplastic, non-neoplastic); other tensors are returned unchanged."""
    order = list(OFFICIAL_TO_KIT_CHANNELS)
    converted = dict(state)
    for key, value in state.items():
        if key.startswith(_OUTPUT_HEADS):
            if value.shape[0] != len(order):
                raise ValueError(f"official NeoUNet key {key}: expected {len(order)} output channels, "
                                 f"got shape {tuple(value.shape)}")
            converted[key] = value[order]
    return converted


class AdditiveAttentionGate(nn.Module):
    """Single-channel spatial gate: ``x`` (stride s) is weighted by sigmoid(conv(relu(conv_g(g) + conv_x(x↓2))))↑2,
    where ``g`` is the coarser signal at stride 2s."""

    def __init__(self, x_channels: int, g_channels: int) -> None:
        super().__init__()
        self.conv_g = nn.Conv2d(g_channels, 1, 1)
        self.conv_x = nn.Conv2d(x_channels, 1, 1, bias=False)
        self.conv_group = nn.Conv2d(1, 1, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        x_down = F.interpolate(x, scale_factor=0.5, mode="bilinear")
        alpha = torch.sigmoid(self.conv_group(F.relu(self.conv_g(g) + self.conv_x(x_down))))
        return x * F.interpolate(alpha, scale_factor=2, mode="bilinear")


def _decoder_block(channels: int) -> nn.Sequential:
    """2C → C/2 → C, each 3x3 conv + BN + LeakyReLU (official ``_decoder_block``)."""
    return nn.Sequential(
        nn.Conv2d(2 * channels, channels // 2, 3, padding=1),
        nn.BatchNorm2d(channels // 2),
        nn.LeakyReLU(),
        nn.Conv2d(channels // 2, channels, 3, padding=1),
        nn.BatchNorm2d(channels),
        nn.LeakyReLU(),
    )


def _upsampler(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1, bias=False)


class NeoUNet(nn.Module):
    """HarDNet-68 encoder (taps at strides 2..32), gated skips, four outputs at strides 2, 4, 8, 16.

    ``forward_maps`` returns the four maps at input size, finest first (official order out_0..out_3).
    ``eval()`` returns the finest; ``train()`` returns all four (the official loss sums them).
    """

    def __init__(self, num_classes: int = 2, in_channels: int = 3) -> None:
        super().__init__()
        c0, c1, c2, c3, c4 = FEATURE_CHANNELS
        self.encoder = HarDNet68(in_channels)
        self.decode0 = _decoder_block(c0)
        self.decode1 = _decoder_block(c1)
        self.decode2 = _decoder_block(c2)
        self.decode3 = _decoder_block(c3)
        self.out0 = nn.Sequential(nn.Conv2d(c0, num_classes, 1))
        self.out1 = nn.Sequential(nn.Conv2d(c1, num_classes, 1))
        self.out2 = nn.Sequential(nn.Conv2d(c2, num_classes, 1))
        self.out3 = nn.Sequential(nn.Conv2d(c3, num_classes, 1))
        self.attn_mid = AdditiveAttentionGate(c3, c4)
        self.attn_3 = AdditiveAttentionGate(c2, c3)
        self.attn_2 = AdditiveAttentionGate(c1, c2)
        self.upsample_mid = _upsampler(c4, c3)
        self.upsample_3 = _upsampler(c3, c2)
        self.upsample_2 = _upsampler(c2, c1)
        self.upsample_1 = _upsampler(c1, c0)

    def forward_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four logit maps (strides 2, 4, 8, 16) resized to the input size, finest first."""
        o0, o1, o2, o3, o4 = self.encoder(x)
        d3 = self.decode3(torch.cat([self.upsample_mid(o4), self.attn_mid(o3, o4)], dim=1))
        d2 = self.decode2(torch.cat([self.attn_3(o2, d3), self.upsample_3(d3)], dim=1))
        d1 = self.decode1(torch.cat([self.attn_2(o1, d2), self.upsample_2(d2)], dim=1))
        d0 = self.decode0(torch.cat([o0, self.upsample_1(d1)], dim=1))
        size = tuple(x.shape[-2:])
        heads = (self.out0(d0), self.out1(d1), self.out2(d2), self.out3(d3))
        return [resize_to(head, size) for head in heads]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """eval: the finest map (N×C×H×W); train: all four maps, finest first."""
        maps = self.forward_maps(x)
        return maps if self.training else maps[0]


register_official(
    "neounet",
    source="lanPN85/neounet: polypnet/model/neounet.py (NeoUNet, num_classes=2)",
    unused_prefixes=("encoder." + CLASSIFIER_PREFIX,),  # HarDNet-68 ImageNet classifier, never run
    convert=to_kit_channel_order,  # output heads: official (non-neoplastic, neoplastic) -> kit (neoplastic, non-neo.)
)


@register(
    ModelInfo(
        name="neounet",
        source="Lan et al., arXiv 2107.05023; lanPN85/neounet",
        outputs="4 sigmoid maps at strides 2/4/8/16 (train); eval: the finest. Official import: num_classes=2, "
        "channel 0 neoplastic, 1 non-neoplastic",
        deep_supervision=True,
        official_checkpoint=True,
        activation="sigmoid",
        official_classes=("neoplastic", "non-neoplastic"),
    )
)
def build_neounet(num_classes: int = 1, in_channels: int = 3, encoder_weights: str | None = None) -> NeoUNet:
    """NeoUNet; ``encoder_weights`` = path of HarDNet-68 ImageNet weights (``hardnet68.pth``) or None.
    The official checkpoint needs ``num_classes=2``."""
    model = NeoUNet(num_classes, in_channels)
    init_hardnet68(model.encoder, encoder_weights)
    return model
