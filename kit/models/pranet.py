"""PraNet (Fan et al., MICCAI 2020): Res2Net backbone, RFB + partial decoder, three reverse-attention stages.

Module names equal the official ones (``resnet``, ``rfb2_1``.., ``agg1``, ``ra4_conv1``..), so the published
checkpoint loads key for key (see ``kit.models.official``). With ``num_classes=1`` the network is the official one.

Outputs: four logit maps at input size, named as in the official code, official order
``lateral_map_5`` (partial decoder, 1/8), ``lateral_map_4`` (RA on layer4, 1/32), ``lateral_map_3`` (RA on layer3,
1/16), ``lateral_map_2`` (RA on layer2, 1/8). ``eval()`` returns the map chosen by ``prediction_map`` (a name,
or an index into that order: 0 = the first map, -1 = the last; default ``lateral_map_2``, as the official test
script). ``train()`` returns a list: that map first, then the other three
in official order (default: [map_2, map_5, map_4, map_3]); the official loss sums all four with equal weights.

Multi-class (``num_classes`` = C > 1): every map has C channels (the last conv of each branch outputs C). The
reverse attention uses one gate for all classes, ``1 - max_c sigmoid(S_c)`` ("not yet found by any class"), which
equals the official ``1 - sigmoid(S)`` when C = 1.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from kit.models.blocks import RFB, BasicConv2d, PartialDecoder, resize_to
from kit.models.info import ModelInfo, register
from kit.models.res2net import RES2NET_V1B_LAYERS, res2net_v1b
from kit.models.weights import init_encoder
from kit.registry import Registry

__all__ = ["PraNet", "MAP_NAMES", "resolve_prediction_map", "build_pranet"]

MAP_NAMES = ("lateral_map_5", "lateral_map_4", "lateral_map_3", "lateral_map_2")
_MAPS = Registry.of("prediction map", MAP_NAMES,
                    "prediction_map {name!r}{hint} is not one of {valid} or an index -4..3 into them", sort=False)


def resolve_prediction_map(prediction_map: str | int) -> str:
    """The official name of ``prediction_map``: a name of ``MAP_NAMES`` or an index into it (negative allowed)."""
    is_index = isinstance(prediction_map, int) and not isinstance(prediction_map, bool)
    if is_index and -len(MAP_NAMES) <= prediction_map < len(MAP_NAMES):
        return MAP_NAMES[prediction_map]
    return _MAPS.check(prediction_map)


def _reverse_attention(side: torch.Tensor, feature: torch.Tensor) -> torch.Tensor:
    """``feature`` weighted by 1 - sigmoid(side map) (max over classes), broadcast over the feature channels."""
    return (1 - torch.sigmoid(side).amax(dim=1, keepdim=True)) * feature


class PraNet(nn.Module):
    """PraNet with a Res2Net v1b backbone; see the module docstring for outputs and the multi-class gate."""

    def __init__(self, num_classes: int = 1, in_channels: int = 3, backbone: str = "res2net50_v1b_26w_4s",
                 channel: int = 32, prediction_map: str | int = "lateral_map_2") -> None:
        super().__init__()
        self.prediction_map = resolve_prediction_map(prediction_map)
        self.resnet = res2net_v1b(backbone, in_channels=in_channels)
        c2, c3, c4 = self.resnet.out_channels[1:]
        self.rfb2_1 = RFB(c2, channel)
        self.rfb3_1 = RFB(c3, channel)
        self.rfb4_1 = RFB(c4, channel)
        self.agg1 = PartialDecoder(channel, num_classes)
        self.ra4_conv1 = BasicConv2d(c4, 256, 1)
        self.ra4_conv2 = BasicConv2d(256, 256, 5, padding=2)
        self.ra4_conv3 = BasicConv2d(256, 256, 5, padding=2)
        self.ra4_conv4 = BasicConv2d(256, 256, 5, padding=2)
        self.ra4_conv5 = BasicConv2d(256, num_classes, 1)
        self.ra3_conv1 = BasicConv2d(c3, 64, 1)
        self.ra3_conv2 = BasicConv2d(64, 64, 3, padding=1)
        self.ra3_conv3 = BasicConv2d(64, 64, 3, padding=1)
        self.ra3_conv4 = BasicConv2d(64, num_classes, 3, padding=1)
        self.ra2_conv1 = BasicConv2d(c2, 64, 1)
        self.ra2_conv2 = BasicConv2d(64, 64, 3, padding=1)
        self.ra2_conv3 = BasicConv2d(64, 64, 3, padding=1)
        self.ra2_conv4 = BasicConv2d(64, num_classes, 3, padding=1)

    def forward_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All four side maps at input size, keyed by their official names, in official order (5, 4, 3, 2)."""
        size = tuple(x.shape[-2:])
        _, x2, x3, x4 = self.resnet(x)
        ra5 = self.agg1(self.rfb4_1(x4), self.rfb3_1(x3), self.rfb2_1(x2))

        crop4 = resize_to(ra5, tuple(x4.shape[-2:]))
        h = self.ra4_conv1(_reverse_attention(crop4, x4))
        h = F.relu(self.ra4_conv2(h))
        h = F.relu(self.ra4_conv3(h))
        h = F.relu(self.ra4_conv4(h))
        map4 = self.ra4_conv5(h) + crop4

        crop3 = resize_to(map4, tuple(x3.shape[-2:]))
        h = self.ra3_conv1(_reverse_attention(crop3, x3))
        h = F.relu(self.ra3_conv2(h))
        h = F.relu(self.ra3_conv3(h))
        map3 = self.ra3_conv4(h) + crop3

        crop2 = resize_to(map3, tuple(x2.shape[-2:]))
        h = self.ra2_conv1(_reverse_attention(crop2, x2))
        h = F.relu(self.ra2_conv2(h))
        h = F.relu(self.ra2_conv3(h))
        map2 = self.ra2_conv4(h) + crop2

        maps = (ra5, map4, map3, map2)
        return {name: resize_to(m, size) for name, m in zip(MAP_NAMES, maps)}

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        """eval: the ``prediction_map`` logits (N×C×H×W); train: that map, then the other three in official order."""
        maps = self.forward_maps(x)
        chosen = maps.pop(resolve_prediction_map(self.prediction_map))
        if not self.training:
            return chosen
        return [chosen, *maps.values()]


@register(ModelInfo(
    name="pranet",
    source="Fan et al., MICCAI 2020 (arXiv 2006.11392); DengPingFan/PraNet",
    outputs="4 maps (train); eval: lateral_map_2 (option prediction_map)",
    divisor=32,
    min_size=32,
    deep_supervision=True,
    official_checkpoint=True,
    official_classes=("polyp",),
))
def build_pranet(num_classes: int = 1, in_channels: int = 3, encoder_weights=None,
                 backbone: str = "res2net50_v1b_26w_4s", prediction_map: str | int = "lateral_map_2") -> PraNet:
    """PraNet; ``backbone`` one of ``RES2NET_V1B_LAYERS``; ``encoder_weights``: Res2Net checkpoint file or None."""
    RES2NET_V1B_LAYERS.check(backbone)
    model = PraNet(num_classes, in_channels, backbone=backbone, prediction_map=prediction_map)
    init_encoder(model.resnet, encoder_weights, model_prefix="resnet.")
    return model
