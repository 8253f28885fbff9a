"""SANet (Wei et al., MICCAI 2021): Res2Net-50 features fused by shallow attention, plus probability correction.

Official code: weijun88/SANet (``src/model.py``, ``src/test.py``). Module names follow it (``bkbone``,
``linear5/4/3``, ``predict``), so the authors' checkpoint loads key for key.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from kit.models.blocks import resize_to
from kit.models.info import ModelInfo, register
from kit.models.official import register_official
from kit.models.res2net import res2net_v1b
from kit.models.weights import init_encoder

__all__ = ["SANet", "probability_correction", "build_sanet"]


def probability_correction(logits: torch.Tensor) -> torch.Tensor:
    """SANet's probability correction strategy (PCS), per image and channel of an N×C×H×W logit map.

    Positive logits are divided by the fraction of positive pixels, negative ones by the fraction of negative
    pixels, which rebalances small foreground regions before the sigmoid. Returns logits.
    """
    values = logits.float()
    positive = values > 0
    negative = values < 0
    # where a share is 0 no pixel uses it, so the clamp never changes a result (it only keeps 0/0 away)
    positive_share = positive.float().mean(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    negative_share = negative.float().mean(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    corrected = torch.where(positive, values / positive_share, values)
    corrected = torch.where(negative, values / negative_share, corrected)
    return corrected.to(logits.dtype)

def _project(in_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, 64, 1), nn.BatchNorm2d(64), nn.ReLU(inplace=True))


class SANet(nn.Module):
    """Shallow-attention network.

    The stride-32/16/8 Res2Net features are projected to 64 channels and resized to stride 8; the prediction
    reads ``[f5, f4·f5, f3·f4·f5]`` (element-wise products = shallow attention). The stride-8 logits are resized
    to the input size (bilinear, align_corners=True, as the official test script does).

    ``probability_correction=True`` applies :func:`probability_correction` to the output in ``eval()`` only
    (an inference option; training always sees the raw logits).
    """

    def __init__(self, num_classes: int = 1, in_channels: int = 3, probability_correction: bool = False) -> None:
        super().__init__()
        self.bkbone = res2net_v1b("res2net50_v1b_26w_4s", in_channels=in_channels)
        self.linear5 = _project(2048)
        self.linear4 = _project(1024)
        self.linear3 = _project(512)
        self.predict = nn.Conv2d(3 * 64, num_classes, 1)
        self.probability_correction = probability_correction

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, c3, c4, c5 = self.bkbone(x)  # the stride-4 stage output is not used (as in the paper)
        size = tuple(c3.shape[-2:])
        f5 = resize_to(self.linear5(c5), size, align_corners=True)
        f4 = resize_to(self.linear4(c4), size, align_corners=True)
        f3 = self.linear3(c3)
        logits = self.predict(torch.cat([f5, f4 * f5, f3 * f4 * f5], dim=1))
        logits = resize_to(logits, tuple(x.shape[-2:]), align_corners=True)
        if self.probability_correction and not self.training:
            logits = probability_correction(logits)
        return logits


register_official("sanet", source="weijun88/SANet: src/model.py (Model; checkpoint out/model-128)")  # every key used


@register(
    ModelInfo(
        name="sanet",
        source="Wei et al., MICCAI 2021; weijun88/SANet",
        outputs="one logit map (stride-8 prediction resized to the input); "
        "probability_correction=True corrects it in eval()",
        official_checkpoint=True,
        official_classes=("polyp",),
    )
)
def build_sanet(num_classes: int = 1, in_channels: int = 3, encoder_weights: str | None = None,
                probability_correction: bool = False) -> SANet:
    """SANet; ``encoder_weights`` = path of a Res2Net-50 v1b 26w×4s ImageNet state_dict (or None)."""
    model = SANet(num_classes, in_channels, probability_correction)
    init_encoder(model.bkbone, encoder_weights, model_prefix="bkbone.")
    return model
