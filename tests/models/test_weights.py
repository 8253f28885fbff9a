"""Encoder weights from files: safetensors, full-model and timm layouts, mismatches, each custom backbone's file."""

from __future__ import annotations

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from kit.models import build_model
from kit.models.hardnet import HarDNet68
from tests.model_contract import check_encoder_weights_file, tiny_kwargs


def test_missing_weights_files_are_named():  # pretrained tags: tests/models/test_pretrained.py
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model("unet", encoder_weights="/no/such/missing.pth", encoder_name="resnet18")


def test_encoder_weights_from_safetensors_are_loaded(tmp_path):
    source = build_model("unet", encoder_name="resnet18")
    state = {k: v.clone() for k, v in source.encoder.state_dict().items()}
    state["conv1.weight"].fill_(0.25)
    path = tmp_path / "encoder.safetensors"
    save_file(state, str(path))
    model = build_model("unet", encoder_name="resnet18", encoder_weights=path)
    assert torch.equal(model.encoder.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.encoder.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_encoder_weights_accept_full_model_and_timm_layouts(tmp_path):
    full = build_model("fpn", encoder_name="tu-resnet10t")
    torch.save({"model": {f"module.{k}": v for k, v in full.state_dict().items()}}, tmp_path / "full.pt")
    model = build_model("fpn", encoder_name="tu-resnet10t", encoder_weights=tmp_path / "full.pt")
    torch.testing.assert_close(model.encoder.state_dict(), full.encoder.state_dict(), rtol=0, atol=0)

    # a bare timm backbone checkpoint: no "model." prefix, with its ImageNet classifier
    timm_state = {k.removeprefix("model."): v for k, v in full.encoder.state_dict().items()}
    timm_state["fc.weight"] = torch.zeros(1000, 512)
    torch.save(timm_state, tmp_path / "timm.pth")
    model = build_model("fpn", encoder_name="tu-resnet10t", encoder_weights=str(tmp_path / "timm.pth"))
    torch.testing.assert_close(model.encoder.state_dict(), full.encoder.state_dict(), rtol=0, atol=0)


def test_encoder_weights_mismatch_is_reported(tmp_path):
    state = build_model("unet", encoder_name="resnet18").encoder.state_dict()
    state["conv1.weight"] = torch.zeros(64, 4, 7, 7)
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match=r"bad.pth.*conv1.weight: file \(64, 4, 7, 7\).*unexpected keys: extra.weight"):
        build_model("unet", encoder_name="resnet18", encoder_weights=tmp_path / "bad.pth")


@pytest.mark.parametrize("backbone,suffix", [("res2net50_v1b_26w_4s", ".pth"),
                                             ("res2net101_v1b_26w_4s", ".safetensors")])
def test_pranet_loads_a_res2net_imagenet_file(backbone, suffix, tmp_path):
    # the published res2net*_v1b_26w_4s checkpoints hold the trunk plus the classifier fc (skipped)
    check_encoder_weights_file(lambda **kw: build_model("pranet", backbone=backbone, **kw), lambda m: m.resnet,
                               tmp_path / f"{backbone}{suffix}", {"fc.weight": [1000, 2048], "fc.bias": [1000]})


def test_uresnet_loads_a_torchvision_resnet34_checkpoint(tmp_path):
    reference = torchvision.models.resnet34(weights=None).state_dict()  # includes fc.*, skipped as classifier
    torch.save(reference, tmp_path / "resnet34.pth")
    model = build_model("uresnet34_scse_fpa_hc", encoder_weights=tmp_path / "resnet34.pth")
    for key, value in model.encoder.state_dict().items():
        assert torch.equal(value, reference[key]), key


@pytest.mark.parametrize("name,encoder,suffix,classifier", [
    ("sanet", "bkbone", ".safetensors", {"fc.weight": [1000, 2048], "fc.bias": [1000]}),  # Res2Net-50 v1b file
    ("doubleunet", "encoder1", ".pth", {"classifier.6.weight": [1000, 4096], "classifier.6.bias": [1000]}),  # VGG19
    ("focalunet", "encoder", ".safetensors", {"head.weight": [1000, 128], "head.bias": [1000]}),  # FocalNet
])
def test_encoder_weights_from_a_file(name, encoder, suffix, classifier, tmp_path):
    def build(**kw):
        return build_model(name, **tiny_kwargs(name), **kw)

    check_encoder_weights_file(build, lambda model: getattr(model, encoder), tmp_path / f"{name}{suffix}", classifier)


@pytest.mark.parametrize("name,encoder", [("hardnet_mseg", "hardnet"), ("neounet", "encoder"), ("blazeneo", "encoder")])
def test_hardnet_imagenet_weights_load_without_the_classifier(name, encoder, tmp_path):
    source = HarDNet68()
    state = dict(source.state_dict())
    state["base.16.3.weight"] = torch.zeros(1000, 1024)  # the official classifier, dropped on purpose
    state["base.16.3.bias"] = torch.zeros(1000)
    path = tmp_path / "hardnet68.pth"
    torch.save(state, path)
    model = build_model(name, num_classes=2, encoder_weights=path)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(getattr(model, encoder).state_dict()[key], value, rtol=0, atol=0)
    with pytest.raises(ValueError, match="not a HarDNet-68 state_dict"):
        build_model(name, in_channels=4, encoder_weights=path)
