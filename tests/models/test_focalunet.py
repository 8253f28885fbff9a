"""Focal-UNet: the FocalNet encoder layout and the official outputs at its fixed settings."""

from __future__ import annotations

import math

import pytest
import torch

from kit.models import build_model
from tests.model_contract import assert_matches_summary, load_reference, random_official_state_dict, seeded_input


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
