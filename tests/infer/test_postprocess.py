"""Thresholds (global / organ / data source), small-component removal and hole filling on hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest

from kit.infer.postprocess import apply_threshold, clean_mask, fill_holes, remove_small_components, resolve_threshold

# 2022 1st-place organ thresholds plus a data-source override (competitions.md §3.5), as a lookup table
TABLE = {"default": 0.5, "kidney": 0.3, "lung": 0.6, "Hubmap": 0.4, "Hubmap/lung": 0.05}


@pytest.mark.parametrize(
    "organ, source, expected",
    [
        ("kidney", "HPA", 0.3),  # organ key
        ("lung", "HPA", 0.6),
        ("lung", "Hubmap", 0.05),  # "source/organ" beats organ
        ("spleen", "Hubmap", 0.4),  # data source when the organ has no key
        ("spleen", "HPA", 0.5),  # default
        (None, None, 0.5),
    ],
)
def test_resolve_threshold_precedence(organ, source, expected):
    assert resolve_threshold(TABLE, organ=organ, data_source=source) == expected


def test_resolve_threshold_errors():
    assert resolve_threshold(0.25) == 0.25
    with pytest.raises(KeyError, match="add a 'default'"):
        resolve_threshold({"kidney": 0.3}, organ="lung")
    with pytest.raises(ValueError, match="'lung'.*\\[0, 1\\]"):
        resolve_threshold({"lung": 60}, organ="lung")


def test_apply_threshold_uint8_and_float_agree():
    as_uint8 = np.array([[0, 51, 76, 77], [127, 128, 230, 255]], dtype=np.uint8)
    probs = as_uint8.astype(np.float32) / 255
    for t in (0.3, 0.5):
        expected = (probs > t).astype(np.uint8)
        assert np.array_equal(apply_threshold(probs, t), expected)
        assert np.array_equal(apply_threshold(as_uint8, t), expected)


def hand_mask() -> np.ndarray:
    mask = np.zeros((12, 12), np.uint8)
    mask[1:5, 1:5] = 1  # 16 px
    mask[8, 8] = 1  # single pixel
    mask[9, 9] = 1  # its diagonal neighbour: one component with 8-connectivity, two with 4
    mask[7:9, 1:3] = 1  # 4 px
    return mask


def test_remove_small_components():
    mask = hand_mask()
    kept = remove_small_components(mask, min_area=5)
    expected = np.zeros_like(mask)
    expected[1:5, 1:5] = 1
    assert np.array_equal(kept, expected)
    eight = remove_small_components(mask, min_area=2, connectivity=8)
    assert eight[8, 8] == eight[9, 9] == 1  # the diagonal pair counts as 2 px
    four = remove_small_components(mask, min_area=2, connectivity=4)
    assert four[8, 8] == four[9, 9] == 0 and four[7, 1] == 1
    assert np.array_equal(remove_small_components(mask, 0), mask)
    assert remove_small_components(mask * 255, 1).max() == 1  # any non-zero value is foreground


def test_fill_holes():
    ring = np.zeros((9, 9), np.uint8)
    ring[2:7, 2:7] = 1
    ring[4, 4] = 0  # a hole
    ring[3:6, 6] = 1
    open_cup = np.zeros((9, 9), np.uint8)
    open_cup[0:5, 0:3] = 1
    open_cup[0:3, 1] = 0  # a cavity open to the top border: background, not a hole
    filled = fill_holes(ring)
    assert filled[4, 4] == 1 and filled.sum() == ring.sum() + 1
    assert np.array_equal(fill_holes(open_cup), open_cup)
    big_hole = np.ones((10, 10), np.uint8)
    big_hole[2:8, 2:8] = 0
    assert fill_holes(big_hole, max_area=10).sum() == big_hole.sum()  # 36 px hole stays
    assert fill_holes(big_hole).min() == 1


def test_clean_mask_fills_then_drops():
    mask = np.zeros((10, 10), np.uint8)
    mask[1:4, 1:4] = 1
    mask[2, 2] = 0  # 8 px ring with a hole: 9 px once filled
    assert clean_mask(mask, min_area=9, fill=True).sum() == 9
    assert clean_mask(mask, min_area=9, fill=False).sum() == 0
    with pytest.raises(ValueError, match="2-D"):
        clean_mask(np.zeros((2, 3, 3)), min_area=1)
