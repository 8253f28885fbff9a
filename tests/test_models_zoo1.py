"""Model zoo I: factory, smp architectures, U-ResNet34-scSE-FPA-hypercolumn, PraNet and its official checkpoint.

PraNet's reference numbers (tests/data/pranet_reference.json) were recorded from the official DengPingFan/PraNet code
loaded with the deterministic random checkpoint that this test rebuilds from the stored names/shapes and seed.
"""

from __future__ import annotations

import math

import pytest
import segmentation_models_pytorch as smp
import torch
import torchvision
from model_contract import (
    ZOO_I_CUSTOM,
    ZOO_II,
    assert_matches_summary,
    check_contract,
    check_encoder_weights_file,
    check_roundtrip,
    cpu_convolutions_for,
    load_reference,
    random_official_state_dict,
    seeded_input,
    tiny_kwargs,
)
from safetensors.torch import save_file

from kit.models import build_model, list_models, model_info, official_names
from kit.models.blocks import FeaturePyramidAttention
from kit.models.official import map_official_state_dict
from kit.models.pranet import MAP_NAMES
from kit.models.smp import SMP_ARCHITECTURES

ZOO_I = sorted(SMP_ARCHITECTURES) + list(ZOO_I_CUSTOM)


@pytest.fixture(autouse=True)
def _cpu_convolutions(request):
    with cpu_convolutions_for(request.node.name):
        yield


@pytest.fixture
def no_downloads(monkeypatch):
    """Any attempt to fetch pretrained weights (smp hub or timm) fails the test."""
    import segmentation_models_pytorch.encoders as smp_encoders
    import timm.models._builder as timm_builder

    def refuse(*args, **kwargs):
        raise AssertionError("a pretrained-weights download was attempted")

    monkeypatch.setattr(smp_encoders, "hf_hub_download", refuse)
    monkeypatch.setattr(timm_builder, "load_pretrained", refuse)


# ----------------------------------------------------------------------------- registry and factory


def test_list_models_is_every_smp_architecture_and_the_custom_models():
    names = list_models()
    assert names == sorted(names)
    # every registered model is under the contract tests of zoo I (here) or zoo II (test_models_zoo2.py)
    assert set(names) == set(smp.MODEL_ARCHITECTURES_MAPPING) | set(ZOO_I_CUSTOM) | set(ZOO_II)


def test_every_registered_model_has_a_consistent_card():
    for name in list_models():
        info = model_info(name)
        assert info.name == name and info.source and info.outputs
        assert info.min_size % info.divisor == 0
        assert info.official_checkpoint == (name in official_names()), name


def test_unknown_model_error_lists_valid_names():
    with pytest.raises(KeyError, match="valid names:.*pranet.*unet"):
        build_model("unet3000")


def test_missing_weights_files_are_named():  # pretrained tags: tests/test_pretrained.py
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        build_model("unet", encoder_weights="/no/such/missing.pth", encoder_name="resnet18")


def test_smp_arguments_that_break_the_contract_are_refused():
    with pytest.raises(ValueError, match="activation"):
        build_model("unet", encoder_name="resnet18", activation="sigmoid")


# ----------------------------------------------------------------------------- output contract


@pytest.mark.parametrize("num_classes", [1, 3])
@pytest.mark.parametrize("name", ZOO_I)
def test_contract_forward_backward(name, num_classes, no_downloads):
    info = model_info(name)
    model = build_model(name, num_classes=num_classes, **tiny_kwargs(name))
    check_contract(model, num_classes, size=info.min_size, deep_supervision=info.deep_supervision)


@pytest.mark.parametrize("name", ZOO_I)
def test_save_load_roundtrip(name, tmp_path):
    def rebuild():
        return build_model(name, num_classes=2, **tiny_kwargs(name))

    check_roundtrip(rebuild(), rebuild, tmp_path / "model.pt", size=model_info(name).min_size)


# ----------------------------------------------------------------------------- smp encoders and options


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


# ----------------------------------------------------------------------------- encoder weights from files


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


@pytest.mark.parametrize("backbone,suffix", [("res2net50_v1b_26w_4s", ".pth"), ("res2net101_v1b_26w_4s", ".safetensors")])
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


# ----------------------------------------------------------------------------- U-ResNet34 hypercolumn


def test_uresnet_deep_supervision_and_any_multiple_of_32():
    model = build_model("uresnet34_scse_fpa_hc", num_classes=2, deep_supervision=True)
    outputs = model(torch.randn(2, 3, 32, 96))
    assert isinstance(outputs, list) and len(outputs) == 6
    assert all(o.shape == (2, 2, 32, 96) for o in outputs)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 64)).shape == (1, 2, 96, 64)


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (7, 4)])
def test_feature_pyramid_attention_keeps_any_size(size):
    fpa = FeaturePyramidAttention(8, 4).eval()
    assert fpa(torch.randn(1, 8, *size)).shape == (1, 4, *size)


# ----------------------------------------------------------------------------- PraNet


def test_pranet_parameter_count_equals_official_without_fc():
    ref = load_reference("pranet")
    unused = sum(math.prod(ref["official_state_dict"][k]) for k in ref["unused_by_design"])
    model = build_model("pranet")
    assert sum(p.numel() for p in model.parameters()) == ref["params_total_official"] - unused == 30_498_319


def test_pranet_consumes_every_official_key_but_the_unused_fc():
    ref = load_reference("pranet")
    shapes = ref["official_state_dict"]
    mapped, dropped = map_official_state_dict("pranet", {k: torch.empty(v) for k, v in shapes.items()})
    assert dropped == sorted(ref["unused_by_design"]) == ["resnet.fc.bias", "resnet.fc.weight"]
    ours = build_model("pranet").state_dict()
    assert set(mapped) == set(ours)
    assert all(tuple(mapped[k].shape) == tuple(ours[k].shape) for k in ours)


def test_pranet_official_checkpoint_reproduces_official_outputs(tmp_path):
    ref = load_reference("pranet")
    state = random_official_state_dict(ref["official_state_dict"], ref["seed"])
    path = tmp_path / "PraNet-19.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, path)  # DataParallel-style prefix is stripped
    model = build_model("pranet", official_checkpoint=path).eval()
    x = seeded_input(ref["input_shape"], ref["input_seed"])
    with torch.no_grad():
        maps = model.forward_maps(x)
        output = model(x)
    assert list(maps) == list(MAP_NAMES)
    for name, tensor in maps.items():
        assert_matches_summary(tensor, ref["maps"][name], ref["points"])
    assert torch.equal(output, maps["lateral_map_2"])


def test_pranet_official_checkpoint_errors(tmp_path):
    ref = load_reference("pranet")
    path = tmp_path / "official.pth"
    torch.save(random_official_state_dict(ref["official_state_dict"], ref["seed"]), path)
    with pytest.raises(ValueError, match=r"does not fit model 'pranet'.*shape mismatches"):
        build_model("pranet", num_classes=3, official_checkpoint=path)
    with pytest.raises(KeyError, match="no official checkpoint layout.*pranet"):
        build_model("unet", encoder_name="resnet18", official_checkpoint=path)


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
