"""SANet: the probability correction."""

from __future__ import annotations

import torch

from kit.models.sanet import probability_correction


def test_probability_correction_rescales_each_sign_by_its_share():
    logits = torch.tensor([[[[2.0, -1.0], [-3.0, -4.0]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])
    corrected = probability_correction(logits)
    # image 0: 1/4 positive, 3/4 negative; image 1: no positive pixel -> negatives divided by 1
    expected = torch.tensor([[[[8.0, -4 / 3], [-4.0, -16 / 3]]], [[[-1.0, -2.0], [-3.0, -4.0]]]])
    torch.testing.assert_close(corrected, expected)
