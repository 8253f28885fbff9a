"""smp architectures: named and timm-universal encoders without downloads, default encoder, scSE, refused options."""

from __future__ import annotations

import pytest
import torch
import torchvision

from kit.models import build_model, model_info
from kit.models.smp import SMP_ARCHITECTURES


def test_smp_arguments_that_break_the_contract_are_refused():
    with pytest.raises(ValueError, match="activation"):
        build_model("unet", encoder_name="resnet18", activation="sigmoid")


@pytest.mark.parametrize("encoder_name", [
    "resnet34", "resnet101", "se_resnext101_32x4d", "efficientnet-b4", "tu-resnest200e", "tu-res2net50_26w_4s",
    "timm-resnest200e", "timm-res2net50_26w_4s",  # smp's legacy names, mapped onto tu- encoders by smp 0.6
])
def test_smp_builds_named_encoders_without_downloading(encoder_name, no_downloads):
    model = build_model("unet", encoder_name=encoder_name)
    assert model.encoder.out_channels[0] == 3


@pytest.mark.parametrize("name", sorted(set(SMP_ARCHITECTURES) - {"dpt"}))  # dpt takes ViTs only: tu-vit above
def test_every_smp_architecture_takes_a_timm_universal_encoder(name, no_downloads):
    model = build_model(name, num_classes=2, encoder_name="tu-resnet10t").eval()
    size = model_info(name).min_size
    with torch.no_grad():
        assert model(torch.randn(1, 3, size, size)).shape == (1, 2, size, size)


def test_smp_default_encoder_and_scse_pass_through(no_downloads):
    model = build_model("unet", decoder_attention_type="scse")
    assert isinstance(model.encoder, torchvision.models.ResNet) and len(model.encoder.layer3) == 6  # resnet34
    assert any(type(m).__name__ == "SCSEModule" for m in model.decoder.modules())
