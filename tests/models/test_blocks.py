"""Shared building blocks: Feature Pyramid Attention keeps any input size."""

from __future__ import annotations

import pytest
import torch

from kit.models.blocks import FeaturePyramidAttention


@pytest.mark.parametrize("size", [(1, 1), (2, 2), (3, 5), (7, 4)])
def test_feature_pyramid_attention_keeps_any_size(size):
    fpa = FeaturePyramidAttention(8, 4).eval()
    assert fpa(torch.randn(1, 8, *size)).shape == (1, 4, *size)
