"""Output modes: activation, channel classes, the cards' declarations, the checkpoint's output contract, the
predictor's per-member activation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kit.competitions import get_profile
from kit.infer.model_input import ModelInput
from kit.infer.predictor import Member, Predictor
from kit.models import list_models, model_info
from kit.models.contract import OUTPUT_KEY, output_contract, read_output_mode
from kit.outputs import channel_classes, head_channels, output_mode, probabilities
from kit.rle import decode

NEOPOLYP = get_profile("bkai-igh-neopolyp")


def test_probabilities_per_mode_in_the_kits_layout():
    logits = torch.tensor([2.0, -1.0, 0.5]).view(1, 3, 1, 1)
    assert torch.allclose(probabilities(logits, "multiclass"), torch.softmax(logits, dim=1))
    assert torch.allclose(probabilities([logits[:, :1], logits], "binary"), torch.sigmoid(logits[:, :1]))
    multilabel = probabilities(logits[:, :2], "multilabel")[0, :, 0, 0]
    p = torch.sigmoid(logits[0, :2, 0, 0])
    assert torch.allclose(multilabel, torch.stack([1 - p.max(), p[0], p[1]]))
    with pytest.raises(ValueError, match="binary output has 1 channel; got 3"):
        probabilities(logits, "binary")
    with pytest.raises(ValueError, match="output mode must be one of binary, multiclass, multilabel; got 'soft'"):
        probabilities(logits, "soft")


def test_multilabel_argmax_is_the_larger_channel_where_one_passes_one_half():
    p = torch.tensor([[0.2, 0.7, 0.6], [0.3, 0.1, 0.4]]).T  # pixels × (neoplastic, non-neoplastic)
    probs = probabilities(torch.logit(p).T.reshape(1, 2, 1, 3), "multilabel")[0, :, 0]
    assert probs.argmax(dim=0).tolist() == [0, 1, 1]  # nothing passes 0.5 -> background; else the larger channel


def test_head_channels_and_channel_classes():
    assert [output_mode("sigmoid", n) for n in (1, 3)] == ["binary", "multilabel"]
    assert [output_mode("softmax", n) for n in (1, 3)] == ["binary", "multiclass"]
    assert head_channels("multilabel", 3) == 2 and head_channels("multiclass", 3) == 3 == head_channels("binary", 3)
    assert channel_classes("multiclass", NEOPOLYP.classes) == ("background", "neoplastic", "non-neoplastic")
    assert channel_classes("multilabel", NEOPOLYP.classes) == ("neoplastic", "non-neoplastic")
    with pytest.raises(ValueError, match="head activation must be one of softmax, sigmoid; got 'relu'"):
        output_mode("relu", 3)


@pytest.mark.parametrize("name", [n for n in list_models() if model_info(n).official_checkpoint])
def test_official_cards_map_each_channel_to_a_competition_class(name):
    info = model_info(name)
    classes = NEOPOLYP.classes if len(info.official_classes) > 1 else ("polyp",)
    num_classes = 1 if len(classes) == 1 else len(classes) + 1
    mode = info.output_mode(num_classes)
    assert channel_classes(mode, classes) == info.official_classes
    assert info.channels(num_classes) == len(info.official_classes)


def test_neounet_card_declares_independent_sigmoids_blazeneo_softmax():
    assert model_info("neounet").output_mode(3) == "multilabel" and model_info("neounet").channels(3) == 2
    assert model_info("blazeneo").output_mode(3) == "multiclass" and model_info("blazeneo").channels(3) == 3
    assert all(model_info(n).output_mode(1) == "binary" for n in list_models())


def test_output_contract_roundtrip_and_old_checkpoints():
    contract = output_contract("multilabel", NEOPOLYP.classes)
    assert contract == {"mode": "multilabel", "channels": ["neoplastic", "non-neoplastic"]}
    assert read_output_mode({OUTPUT_KEY: contract}, "x.pt") == "multilabel"
    assert read_output_mode({"model": {}}, "old.pt") is None
    with pytest.raises(ValueError, match="bad.pt: output_contract must be a dict"):
        read_output_mode({OUTPUT_KEY: "sigmoid"}, "bad.pt")
    with pytest.raises(ValueError, match="output mode must be one of .*; got 'sigmoid' in bad.pt output_contract"):
        read_output_mode({OUTPUT_KEY: {"mode": "sigmoid", "channels": []}}, "bad.pt")


class TwoSigmoids(nn.Module):
    """Channel 0 positive on the left half, channel 1 on the bottom rows: they overlap bottom-left."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        logits = torch.full((n, 2, h, w), -4.0)
        logits[:, 0, :, : w // 2] = 3.0
        logits[:, 1, h // 2 :, :] = 2.0
        return logits


def test_predictor_gives_a_multilabel_member_one_rle_per_class():
    image = np.zeros((32, 64, 3), dtype=np.uint8)  # multiples of 32: no padding
    member = Member(TwoSigmoids(), input=ModelInput(window=None), output="multilabel")
    rles = Predictor(member, device="cpu", amp=False).predict_rle(image, order="C")
    first, second = (decode(rle, (32, 64), "C") for rle in rles)
    assert len(rles) == 2 and first[:, :32].all() and not first[:, 32:].any()  # channel 0 wins where both pass
    assert second[16:, 32:].all() and not second[:16].any() and not second[:, :32].any()
    softmax = Predictor(Member(TwoSigmoids(), input=ModelInput(window=None)), device="cpu", amp=False)
    assert len(softmax.predict_rle(image, order="C")) == 1  # the guess by channel count: softmax, one class
    with pytest.raises(ValueError, match="got 'sigmoid' for a predictor Member"):
        Member(TwoSigmoids(), output="sigmoid")
