"""BlazeNeo (An et al., IEEE Access 2022): HarDNet-68, light RFBs and two dense hierarchical aggregations.

Official code: syan-dev/blazeneo (``models/blazeneo/{model,module}.py``, default ``aggregation="DHA"``,
``auxiliary=True``). Module names follow it (``encoder``, ``rfb3/4/5``, ``agg1``, ``head_1``, ``agg2``,
``head_2``), so the authors' checkpoint loads by name.

Outputs: an auxiliary 1-channel polyp map (``head_1``) and the ``num_classes``-channel class map (``head_2``).
**The class map is the eval output**; ``train()`` returns ``[class map, auxiliary map]``. The paper's model is
multi-class (``num_classes=3``, channels = the kit's class ids, see :mod:`kit.competitions`); the official head
orders them (neoplastic, non-neoplastic, background) and is permuted on import (:func:`to_kit_channel_order`).
The auxiliary map is trained against the polyp-vs-background mask (``output_kinds``). With ``num_classes=1`` the
class map is a binary logit map like the auxiliary one, which then acts as a second deep-supervision head.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from kit.models.blocks import resize_to
from kit.models.hardnet import CLASSIFIER_PREFIX, HarDNet68, init_hardnet68
from kit.models.info import ModelInfo, register
from kit.models.official import register_official

__all__ = ["BlazeNeo", "LightRFB", "DenseHierarchicalAggregation", "OFFICIAL_TO_KIT_CHANNELS",
           "to_kit_channel_order", "build_blazeneo"]

OFFICIAL_TO_KIT_CHANNELS = (2, 0, 1)
"""Kit channel ``c`` (= class id ``c``) reads official ``head_2`` channel ``OFFICIAL_TO_KIT_CHANNELS[c]``; official
(infer.py: argmax 0 painted red, 1 green): 0 = neoplastic, 1 = non-neoplastic, 2 = background."""

_CLASS_HEAD = "head_2.head.conv.weight"


def to_kit_channel_order(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Permute the class head of an official BlazeNeo state_dict to the kit's class-id order."""
    weight = state.get(_CLASS_HEAD)
    if weight is None or weight.shape[0] != len(OFFICIAL_TO_KIT_CHANNELS):
        found = None if weight is None else tuple(weight.shape)
        raise ValueError(f"official BlazeNeo state_dict: expected {_CLASS_HEAD} with 3 output channels, got {found}")
    return {**state, _CLASS_HEAD: weight[list(OFFICIAL_TO_KIT_CHANNELS)]}


class _Conv(nn.Module):
    """Conv (no bias), optionally followed by BatchNorm (``bn``) and ReLU — official ``BasicConv``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0, dilation: int = 1,
                 norm_act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(out_channels) if norm_act else None
        self.norm_act = norm_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return torch.relu(self.bn(x)) if self.norm_act else x


class LightRFB(nn.Module):
    """BlazeNeo's receptive-field block: 1x1 (BN, ReLU) ‖ 1x1→3x3 ‖ 1x1→3x3→3x3 d3 ‖ 1x1→5x5→3x3 d5 (plain convs),
    concatenated → 1x1 + BN + ReLU. No residual branch (unlike PraNet's RFB)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        c = out_channels
        self.branch0 = nn.Sequential(_Conv(in_channels, c, 1))
        self.branch1 = nn.Sequential(_Conv(in_channels, c, 1, norm_act=False), _Conv(c, c, 3, 1, norm_act=False))
        self.branch2 = nn.Sequential(
            _Conv(in_channels, c, 1, norm_act=False),
            _Conv(c, c, 3, 1, norm_act=False),
            _Conv(c, c, 3, 3, dilation=3, norm_act=False),
        )
        self.branch3 = nn.Sequential(
            _Conv(in_channels, c, 1, norm_act=False),
            _Conv(c, c, 5, 2, norm_act=False),
            _Conv(c, c, 3, 5, dilation=5, norm_act=False),
        )
        self.conv_cat = _Conv(4 * c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_cat(torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1))


def _fuse(in_channels: int, channels: int) -> nn.Sequential:
    return nn.Sequential(_Conv(in_channels, channels, 3, 1), _Conv(channels, channels, 3, 1))


def _up(x: torch.Tensor, factor: int) -> torch.Tensor:
    return nn.functional.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)


class DenseHierarchicalAggregation(nn.Module):
    """DHA: fuses stride-32/16/8 features (``x5``, ``x4``, ``x3``) through five conv pairs into a stride-8 map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.block_22 = _fuse(2 * channels, channels)
        self.block_23 = _fuse(2 * channels, channels)
        self.block_33 = _fuse(3 * channels, channels)
        self.block_32 = _fuse(2 * channels, channels)
        self.block_31 = _fuse(2 * channels, channels)

    def forward(self, x5: torch.Tensor, x4: torch.Tensor, x3: torch.Tensor) -> torch.Tensor:
        x22 = self.block_22(torch.cat([_up(x5, 2), x4], 1))
        x23 = self.block_23(torch.cat([_up(x4, 2), x3], 1))
        x33 = self.block_33(torch.cat([_up(x22, 2), x23, x3], 1))
        x32 = self.block_32(torch.cat([_up(x22, 2), x33], 1))
        return self.block_31(torch.cat([_up(x5, 4), x32], 1))


class _Head(nn.Module):
    """3x3 conv without bias (official ``Head`` wrapping ``BasicConv``)."""

    def __init__(self, channels: int, out_channels: int) -> None:
        super().__init__()
        self.head = _Conv(channels, out_channels, 3, 1, norm_act=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x)


class BlazeNeo(nn.Module):
    """BlazeNeo with the auxiliary branch (official default); see the module docstring for the outputs.

    ``output_kinds`` tells the loss (:func:`kit.losses.build_loss`) that the second ``train()`` output is a
    polyp-vs-background map, trained as in the paper with a binary loss against ``target > 0``.
    """

    output_kinds = ("classes", "foreground")

    def __init__(self, num_classes: int = 3, in_channels: int = 3, channels: int = 32) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"BlazeNeo: num_classes must be >= 1, got {num_classes}")
        self.encoder = HarDNet68(in_channels)
        self.rfb3 = LightRFB(320, channels)
        self.rfb4 = LightRFB(640, channels)
        self.rfb5 = LightRFB(1024, channels)
        self.agg1 = DenseHierarchicalAggregation(channels)
        self.head_1 = _Head(channels, 1)
        self.agg2 = DenseHierarchicalAggregation(channels)
        self.head_2 = _Head(channels, num_classes)

    def forward_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[class map (num_classes ch), auxiliary polyp map (1 ch)], both logits resized to the input size."""
        _, _, x3, x4, x5 = self.encoder(x)
        f3, f4, f5 = self.rfb3(x3), self.rfb4(x4), self.rfb5(x5)
        size = tuple(x.shape[-2:])
        auxiliary = resize_to(self.head_1(self.agg1(f5, f4, f3)), size)
        classes = resize_to(self.head_2(self.agg2(f5, f4, f3)), size)
        return [classes, auxiliary]

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """eval: the class map (N×num_classes×H×W); train: [class map, auxiliary 1-channel map]."""
        maps = self.forward_maps(x)
        return maps if self.training else maps[0]


register_official(
    "blazeneo",
    source="syan-dev/blazeneo: models/blazeneo/model.py (BlazeNeo, aggregation='DHA', auxiliary=True)",
    unused_prefixes=("encoder." + CLASSIFIER_PREFIX,),  # HarDNet-68 ImageNet classifier, never run
    convert=to_kit_channel_order,  # head_2: official (neoplastic, non-neoplastic, background) -> kit (bg, neo, non)
)


@register(
    ModelInfo(
        name="blazeneo",
        source="An et al., IEEE Access 2022; syan-dev/blazeneo",
        outputs="train: [class map, auxiliary 1-ch polyp map]; eval: the class map (official import: "
        "num_classes=3, kit class-id order)",
        deep_supervision=True,
        official_checkpoint=True,
        official_classes=("background", "neoplastic", "non-neoplastic"),
    )
)
def build_blazeneo(num_classes: int = 3, in_channels: int = 3, encoder_weights: str | None = None) -> BlazeNeo:
    """BlazeNeo; ``encoder_weights`` = path of HarDNet-68 ImageNet weights or None.
    The official checkpoint needs ``num_classes=3``."""
    model = BlazeNeo(num_classes, in_channels)
    init_hardnet68(model.encoder, encoder_weights)
    return model
