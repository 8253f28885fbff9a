"""The model factory (kit.models): every registered model, its card, unknown names, and the output contract and
save/load roundtrip of every model."""

from __future__ import annotations

import pytest
import segmentation_models_pytorch as smp

from kit.models import build_model, list_models, model_info, official_names
from kit.models.smp import SMP_ARCHITECTURES
from tests.model_contract import (
    ZOO_I_CUSTOM,
    ZOO_II,
    check_contract,
    check_roundtrip,
    extra_output_channels,
    tiny_kwargs,
)

#: every registered model: smp's architectures and the custom models of zoo I, then the paper models of zoo II
EVERY_MODEL = sorted(SMP_ARCHITECTURES) + list(ZOO_I_CUSTOM) + list(ZOO_II)


def test_list_models_is_every_smp_architecture_and_the_custom_models():
    names = list_models()
    assert names == sorted(names)
    # every registered model is under the contract tests below
    assert set(names) == set(smp.MODEL_ARCHITECTURES_MAPPING) | set(ZOO_I_CUSTOM) | set(ZOO_II) == set(EVERY_MODEL)


def test_every_registered_model_has_a_consistent_card():
    for name in list_models():
        info = model_info(name)
        assert info.name == name and info.source and info.outputs
        assert info.min_size % info.divisor == 0
        assert info.official_checkpoint == (name in official_names()), name


def test_unknown_model_error_lists_valid_names():
    with pytest.raises(KeyError, match="valid names:.*pranet.*unet"):
        build_model("unet3000")


@pytest.mark.parametrize("num_classes", [1, 3])
@pytest.mark.parametrize("name", EVERY_MODEL)
def test_contract_forward_backward(name, num_classes, no_downloads):
    info = model_info(name)
    model = build_model(name, num_classes=num_classes, **tiny_kwargs(name))
    check_contract(model, num_classes, size=info.min_size, deep_supervision=info.deep_supervision,
                   extra_channels=extra_output_channels(name))


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_save_load_roundtrip(name, tmp_path):
    def rebuild():
        return build_model(name, num_classes=2, **tiny_kwargs(name))

    check_roundtrip(rebuild(), rebuild, tmp_path / f"{name}.pt", size=model_info(name).min_size)
