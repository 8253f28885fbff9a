"""Model tests: each runs with the CPU convolution backend fastest for its model; a guard against weight downloads."""

from __future__ import annotations

import pytest

from tests.model_contract import cpu_convolutions_for


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
