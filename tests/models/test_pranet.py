"""PraNet: parameter count, prediction map and training order, deeper backbones."""

from __future__ import annotations

import math

import pytest
import torch

from kit.models import build_model
from tests.model_contract import load_reference


def test_pranet_parameter_count_equals_official_without_fc():
    ref = load_reference("pranet")
    unused = sum(math.prod(ref["official_state_dict"][k]) for k in ref["unused_by_design"])
    model = build_model("pranet")
    assert sum(p.numel() for p in model.parameters()) == ref["params_total_official"] - unused == 30_498_319


def test_pranet_prediction_map_and_training_order():
    model = build_model("pranet", num_classes=2, prediction_map="lateral_map_5")
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        maps = model.forward_maps(x)
        assert torch.equal(model(x), maps["lateral_map_5"])
    model.train()  # train-mode BN uses batch statistics, so both calls see the same numbers
    model.prediction_map = "lateral_map_3"
    maps = model.forward_maps(x)
    outputs = model(x)
    expected = [maps[k] for k in ("lateral_map_3", "lateral_map_5", "lateral_map_4", "lateral_map_2")]
    assert len(outputs) == 4
    for got, want in zip(outputs, expected):
        torch.testing.assert_close(got, want)
        assert got.shape == (2, 2, 32, 32)
    with pytest.raises(ValueError, match="prediction_map"):
        build_model("pranet", prediction_map="map_9")
    with pytest.raises(ValueError, match="index -4..3"):
        build_model("pranet", prediction_map=4)


def test_pranet_prediction_map_by_index_first_or_last():
    assert build_model("pranet", prediction_map=0).prediction_map == "lateral_map_5"
    assert build_model("pranet", prediction_map=-1).prediction_map == "lateral_map_2"


@pytest.mark.parametrize("backbone,blocks", [("res2net101_v1b_26w_4s", (3, 4, 23, 3)),
                                             ("res2net152_v1b_26w_4s", (3, 8, 36, 3))])
def test_pranet_deeper_backbones_build(backbone, blocks):
    model = build_model("pranet", backbone=backbone)
    resnet = model.resnet
    assert tuple(len(stage) for stage in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4)) == blocks


def test_pranet_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(KeyError, match="res2net50_v1b_26w_4s"):
        build_model("pranet", backbone="res2net18")
