"""Model zoo II: SANet, HarDNet-MSEG, NeoUNet, BlazeNeo, DoubleU-Net, Focal-UNet.

Official equivalence: tests/data/<name>_reference.json hold summary numbers of the OFFICIAL implementations run on a
deterministic random checkpoint in their layout (recipe in tests/model_contract.py); the same checkpoint, rebuilt
here, is loaded with ``official_checkpoint=`` and must give the same maps.
"""

from __future__ import annotations

import math

import pytest
import torch
from model_contract import (
    ZOO_II,
    assert_matches_summary,
    check_contract,
    check_encoder_weights_file,
    check_roundtrip,
    cpu_convolutions_for,
    extra_output_channels,
    load_reference,
    random_official_state_dict,
    seeded_input,
    tiny_kwargs,
)

from kit.models import build_model, model_info
from kit.models.blazeneo import OFFICIAL_TO_KIT_CHANNELS as BLAZENEO_CHANNELS
from kit.models.hardnet import HarDNet68
from kit.models.hardnet_mseg import UNUSED_OFFICIAL_PREFIXES as MSEG_UNUSED
from kit.models.neounet import OFFICIAL_TO_KIT_CHANNELS as NEOUNET_CHANNELS
from kit.models.official import load_official_checkpoint
from kit.models.sanet import probability_correction

# official unused-by-design prefixes, as named in the model modules
UNUSED_BY_DESIGN = {"sanet": (), "hardnet_mseg": MSEG_UNUSED, "neounet": ("encoder.base.16.",),
                    "blazeneo": ("encoder.base.16.",)}
OFFICIAL_CLASSES = {"sanet": 1, "hardnet_mseg": 1, "neounet": 2, "blazeneo": 3}


@pytest.fixture(autouse=True)
def _cpu_convolutions(request):
    with cpu_convolutions_for(request.node.name):
        yield


def _official_view(kit_map: torch.Tensor, kit_reads_official: tuple[int, ...]) -> torch.Tensor:
    """Put kit-ordered channels back into the official order (inverse of the import permutation)."""
    inverse = sorted(range(len(kit_reads_official)), key=lambda c: kit_reads_official[c])
    return kit_map[:, inverse]


@pytest.mark.parametrize("num_classes", [1, 3])
@pytest.mark.parametrize("name", ZOO_II)
def test_contract_forward_backward(name, num_classes):
    info = model_info(name)
    model = build_model(name, num_classes=num_classes, **tiny_kwargs(name))
    check_contract(model, num_classes, size=info.min_size, deep_supervision=info.deep_supervision,
                   extra_channels=extra_output_channels(name))


def test_blazeneo_train_returns_class_map_then_auxiliary_map_and_both_heads_learn():
    model = build_model("blazeneo", num_classes=3)
    x = torch.randn(2, 3, 64, 64)
    classes, auxiliary = model.train()(x)
    assert classes.shape == (2, 3, 64, 64) and auxiliary.shape == (2, 1, 64, 64)
    (classes.pow(2).mean() + auxiliary.pow(2).mean()).backward()
    for head in (model.head_1, model.head_2):
        assert torch.isfinite(head.head.conv.weight.grad).all() and head.head.conv.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ZOO_II)
def test_save_load_roundtrip(tmp_path, name):
    def rebuild():
        return build_model(name, num_classes=2, **tiny_kwargs(name))

    check_roundtrip(rebuild(), rebuild, tmp_path / f"{name}.pt", size=model_info(name).min_size)


@pytest.mark.parametrize("name,encoder,suffix,classifier", [
    ("sanet", "bkbone", ".safetensors", {"fc.weight": [1000, 2048], "fc.bias": [1000]}),  # Res2Net-50 v1b file
    ("doubleunet", "encoder1", ".pth", {"classifier.6.weight": [1000, 4096], "classifier.6.bias": [1000]}),  # VGG19
    ("focalunet", "encoder", ".safetensors", {"head.weight": [1000, 128], "head.bias": [1000]}),  # FocalNet
])
def test_encoder_weights_from_a_file(name, encoder, suffix, classifier, tmp_path):
    def build(**kw):
        return build_model(name, **tiny_kwargs(name), **kw)

    check_encoder_weights_file(build, lambda model: getattr(model, encoder), tmp_path / f"{name}{suffix}", classifier)


def _load_official(name: str, tmp_path, **kwargs):
    ref = load_reference(name)
    path = tmp_path / f"{name}_official.pth"
    torch.save(random_official_state_dict(ref["official_state_dict"], ref["seed"]), path)
    model = build_model(name, num_classes=OFFICIAL_CLASSES[name], official_checkpoint=path, **kwargs).eval()
    return ref, path, model


def _assert_official_parameters(name: str, ref: dict, model: torch.nn.Module, path) -> None:
    """Every official key is used except the named unused-by-design modules; parameter count = official less those."""
    dropped = load_official_checkpoint(model, name, path)
    assert dropped == ref["unused_by_design"]
    assert all(key.startswith(UNUSED_BY_DESIGN[name]) for key in dropped)
    buffers = ("running_mean", "running_var", "num_batches_tracked")
    unused_params = sum(math.prod(shape) for key, shape in ref["official_state_dict"].items()
                        if key in dropped and not key.endswith(buffers))
    assert sum(p.numel() for p in model.parameters()) == ref["params_total_official"] - unused_params


def test_sanet_matches_official(tmp_path):
    ref, path, model = _load_official("sanet", tmp_path)
    _assert_official_parameters("sanet", ref, model, path)
    x = seeded_input(ref["input_shape"], ref["input_seed"])
    stride8 = []
    model.predict.register_forward_hook(lambda module, inputs, output: stride8.append(output))
    with torch.no_grad():
        out = model(x)
        model.probability_correction = True
        corrected = model(x)
    for got, key in ((stride8[0], "raw_stride8"), (out, "output"), (corrected, "output_pcs")):
        assert_matches_summary(got, ref["maps"][key], ref["maps"][key]["points"])


def test_hardnet_mseg_matches_official(tmp_path):
    ref, path, model = _load_official("hardnet_mseg", tmp_path)
    _assert_official_parameters("hardnet_mseg", ref, model, path)
    with torch.no_grad():
        out = model(seeded_input(ref["input_shape"], ref["input_seed"]))
    assert_matches_summary(out, ref["maps"]["output"], ref["maps"]["output"]["points"])


def test_neounet_matches_official_with_kit_channel_order(tmp_path):
    ref, path, model = _load_official("neounet", tmp_path)
    _assert_official_parameters("neounet", ref, model, path)
    x = seeded_input(ref["input_shape"], ref["input_seed"])
    with torch.no_grad():
        maps = model.forward_maps(x)
        torch.testing.assert_close(model(x), maps[0], rtol=0, atol=0)
    for got, key in zip(maps, ("out_0", "out_1", "out_2", "out_3")):
        expected = ref["maps"][key]
        assert_matches_summary(_official_view(got, NEOUNET_CHANNELS), expected, expected["points"])
    # kit channel 0 = neoplastic = official channel 1
    torch.testing.assert_close(maps[0][:, 0], _official_view(maps[0], NEOUNET_CHANNELS)[:, 1])


def test_blazeneo_matches_official_with_kit_channel_order(tmp_path):
    ref, path, model = _load_official("blazeneo", tmp_path)
    _assert_official_parameters("blazeneo", ref, model, path)
    x = seeded_input(ref["input_shape"], ref["input_seed"])
    with torch.no_grad():
        classes, auxiliary = model.forward_maps(x)
        torch.testing.assert_close(model(x), classes, rtol=0, atol=0)  # the class map is the eval output
    assert_matches_summary(auxiliary, ref["maps"]["S_1"], ref["maps"]["S_1"]["points"])
    official = _official_view(classes, BLAZENEO_CHANNELS)
    assert_matches_summary(official, ref["maps"]["S_2"], ref["maps"]["S_2"]["points"])
    # kit (background, neoplastic, non-neoplastic) = official (2, 0, 1)
    torch.testing.assert_close(classes[:, 0], official[:, 2])
    torch.testing.assert_close(classes[:, 1], official[:, 0])


def test_probability_correction_rescales_each_sign_by_its_share():
    logits = torch.tensor([[[[2.0, -1.0], [-3.0, -4.0]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])
    corrected = probability_correction(logits)
    # image 0: 1/4 positive, 3/4 negative; image 1: no positive pixel -> negatives divided by 1
    expected = torch.tensor([[[[8.0, -4 / 3], [-4.0, -16 / 3]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])
    torch.testing.assert_close(corrected, expected)


def test_doubleunet_parameter_count_equals_the_pytorch_port():
    # VGG19 features 20,024,384 + ASPPs, two decoders, second encoder: 29,288,886 (models_and_losses.md §8)
    model = build_model("doubleunet")
    assert sum(p.numel() for p in model.parameters()) == 29_288_886


def test_focalunet_encoder_has_the_focalnet_layout_and_takes_any_multiple_of_32():
    ref = load_reference("focalunet")
    model = build_model("focalunet", num_classes=2, in_channels=1).eval()
    layout = {k: list(v.shape) for k, v in model.encoder.state_dict().items()}
    expected = dict(ref["encoder_state_dict"])
    expected["patch_embed.proj.weight"] = [96, 1, 4, 4]  # in_channels=1 instead of 3
    assert layout == expected
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 96)).shape == (1, 2, 64, 96)
        with pytest.raises(ValueError, match="multiples of 32"):
            model(torch.randn(1, 1, 48, 64))


def _official_focalunet_key(key: str) -> str:
    """Official Focal-UNet key -> ours: the encoder sits under ``encoder.``; official ``concat_back_dim.0`` is a
    parameter-free Identity, so its Linear layers 1..3 are our 0..2; ``patch_expand`` is a bare transposed conv."""
    if key.startswith(("patch_embed.", "layers.", "norm.")):
        return f"encoder.{key}"
    if key.startswith("concat_back_dim."):
        _, index, rest = key.split(".", 2)
        return f"concat_back_dim.{int(index) - 1}.{rest}"
    return key.replace("patch_expand.proj.", "patch_expand.")


def test_focalunet_matches_the_official_focal_unet_at_its_fixed_settings():
    # the official forward hard-codes 224x224, 9 classes and a 1-channel input repeated to 3 channels
    ref = load_reference("focalunet")
    state = random_official_state_dict(ref["official_state_dict"], ref["seed"])
    unused = [k for k in state if k.startswith("patch_expand.norm.")]  # declared, never applied by the official code
    assert sorted(unused) == ref["unused_by_design"]
    model = build_model("focalunet", num_classes=9).eval()
    model.load_state_dict({_official_focalunet_key(k): v for k, v in state.items() if k not in unused}, strict=True)
    unused_params = sum(math.prod(ref["official_state_dict"][k]) for k in unused)
    assert sum(p.numel() for p in model.parameters()) == ref["params_total_official"] - unused_params
    x = seeded_input(ref["input_shape"], ref["input_seed"])
    with torch.no_grad():
        out = model(x.repeat(1, 3, 1, 1))
    expected = ref["maps"]["output"]
    assert_matches_summary(out, expected, expected["points"])


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
