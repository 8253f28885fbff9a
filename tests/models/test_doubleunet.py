"""DoubleU-Net: the parameter count of the PyTorch port."""

from __future__ import annotations

from kit.models import build_model


def test_doubleunet_parameter_count_equals_the_pytorch_port():
    # VGG19 features 20,024,384 + ASPPs, two decoders, second encoder: 29,288,886 (models_and_losses.md §8)
    model = build_model("doubleunet")
    assert sum(p.numel() for p in model.parameters()) == 29_288_886
