"""U-ResNet34-scSE-FPA-hypercolumn: deep supervision and any multiple of 32."""

from __future__ import annotations

import torch

from kit.models import build_model


def test_uresnet_deep_supervision_and_any_multiple_of_32():
    model = build_model("uresnet34_scse_fpa_hc", num_classes=2, deep_supervision=True)
    outputs = model(torch.randn(2, 3, 32, 96))
    assert isinstance(outputs, list) and len(outputs) == 6
    assert all(o.shape == (2, 2, 32, 96) for o in outputs)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 96, 64)).shape == (1, 2, 96, 64)
