"""Official checkpoints: PraNet, SANet, HarDNet-MSEG, NeoUNet and BlazeNeo reproduce the official outputs.

tests/data/<name>_reference.json hold summary numbers of the OFFICIAL implementations run on a deterministic random
checkpoint in their layout (recipe in tests/model_contract.py); the same checkpoint, rebuilt here, is loaded with
``official_checkpoint=`` and must give the same maps."""

from __future__ import annotations

import math

import pytest
import torch

from kit.models import build_model
from kit.models.blazeneo import OFFICIAL_TO_KIT_CHANNELS as BLAZENEO_CHANNELS
from kit.models.hardnet_mseg import UNUSED_OFFICIAL_PREFIXES as MSEG_UNUSED
from kit.models.neounet import OFFICIAL_TO_KIT_CHANNELS as NEOUNET_CHANNELS
from kit.models.official import load_official_checkpoint, map_official_state_dict
from kit.models.pranet import MAP_NAMES
from tests.model_contract import assert_matches_summary, load_reference, random_official_state_dict, seeded_input

# official unused-by-design prefixes, as named in the model modules
UNUSED_BY_DESIGN = {"sanet": (), "hardnet_mseg": MSEG_UNUSED, "neounet": ("encoder.base.16.",),
                    "blazeneo": ("encoder.base.16.",)}


OFFICIAL_CLASSES = {"sanet": 1, "hardnet_mseg": 1, "neounet": 2, "blazeneo": 3}


def _official_view(kit_map: torch.Tensor, kit_reads_official: tuple[int, ...]) -> torch.Tensor:
    """Put kit-ordered channels back into the official order (inverse of the import permutation)."""
    inverse = sorted(range(len(kit_reads_official)), key=lambda c: kit_reads_official[c])
    return kit_map[:, inverse]


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
