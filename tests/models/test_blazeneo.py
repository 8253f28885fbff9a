"""BlazeNeo: the class map and the auxiliary map in train mode."""

from __future__ import annotations

import torch

from kit.models import build_model


def test_blazeneo_train_returns_class_map_then_auxiliary_map_and_both_heads_learn():
    model = build_model("blazeneo", num_classes=3)
    x = torch.randn(2, 3, 64, 64)
    classes, auxiliary = model.train()(x)
    assert classes.shape == (2, 3, 64, 64) and auxiliary.shape == (2, 1, 64, 64)
    (classes.pow(2).mean() + auxiliary.pow(2).mean()).backward()
    for head in (model.head_1, model.head_2):
        assert torch.isfinite(head.head.conv.weight.grad).all() and head.head.conv.weight.grad.abs().sum() > 0
