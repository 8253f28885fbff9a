"""HarDNet-MSEG (Huang et al., arXiv 2101.07172): HarDNet-68 encoder + PraNet's RFB and partial decoder.

Official code: james128333/HarDNet-MSEG (``lib/HarDMSEG.py``). Module names follow it (``hardnet``,
``rfb2_1/rfb3_1/rfb4_1``, ``agg1``), so the authors' checkpoint loads key for key. The official module also
defines reverse-attention branches and extra convolutions that its forward never runs; they are not built here
(see :data:`UNUSED_OFFICIAL_PREFIXES`).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from kit.models.blocks import RFB, PartialDecoder, resize_to
from kit.models.hardnet import HarDNet68, init_hardnet68
from kit.models.info import ModelInfo, register
from kit.models.official import register_official

__all__ = ["HarDNetMSEG", "UNUSED_OFFICIAL_PREFIXES", "build_hardnet_mseg"]

UNUSED_OFFICIAL_PREFIXES = (
    "ra2_", "ra3_", "ra4_",  # reverse-attention branches, defined but never run
    "conv2.", "conv3.", "conv4.", "conv5.", "conv6.",  # extra convolutions, defined but never run
    "hardnet.base.16.",  # the HarDNet-68 ImageNet classifier
)
"""Official state_dict prefixes of modules the official forward never runs (absent from :class:`HarDNetMSEG`)."""


class HarDNetMSEG(nn.Module):
    """HarDNet-68 taps at strides 8/16/32 (320/640/1024 ch) → RFB (→32 ch each) → partial decoder → logits at
    stride 8, resized bilinearly to the input size (single output, as in the paper)."""

    def __init__(self, num_classes: int = 1, in_channels: int = 3, channels: int = 32) -> None:
        super().__init__()
        self.hardnet = HarDNet68(in_channels)
        self.rfb2_1 = RFB(320, channels)
        self.rfb3_1 = RFB(640, channels)
        self.rfb4_1 = RFB(1024, channels)
        self.agg1 = PartialDecoder(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, x8, x16, x32 = self.hardnet(x)
        logits = self.agg1(self.rfb4_1(x32), self.rfb3_1(x16), self.rfb2_1(x8))
        return resize_to(logits, tuple(x.shape[-2:]))


register_official(
    "hardnet_mseg",
    source="james128333/HarDNet-MSEG: lib/HarDMSEG.py (HarDMSEG)",
    unused_prefixes=UNUSED_OFFICIAL_PREFIXES,
)


@register(
    ModelInfo(
        name="hardnet_mseg",
        source="Huang et al., arXiv 2101.07172; james128333/HarDNet-MSEG",
        outputs="one logit map (partial-decoder stride-8 map resized to the input)",
        official_checkpoint=True,
        official_classes=("polyp",),
    )
)
def build_hardnet_mseg(num_classes: int = 1, in_channels: int = 3, encoder_weights: str | None = None) -> HarDNetMSEG:
    """HarDNet-MSEG; ``encoder_weights`` = path of HarDNet-68 ImageNet weights (``hardnet68.pth``) or None."""
    model = HarDNetMSEG(num_classes, in_channels)
    init_hardnet68(model.hardnet, encoder_weights)
    return model
