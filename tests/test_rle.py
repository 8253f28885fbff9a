"""RLE codec: the worked example, edges, every malformed input, window decode, streaming, property tests."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kit.rle import RleMask, RleStreamEncoder, decode, decode_window, encode, runs_from_rle

EXAMPLE = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=np.uint8)  # competitions.md §5.2


def test_worked_example_both_orders():
    assert encode(EXAMPLE, "F") == "3 5 12 1"
    assert encode(EXAMPLE, "C") == "2 2 6 1 9 2 12 1"
    assert np.array_equal(decode("3 5 12 1", (3, 4), "F"), EXAMPLE)
    assert np.array_equal(decode("2 2 6 1 9 2 12 1", (3, 4), "C"), EXAMPLE)


def test_first_and_last_pixel_and_full_mask():
    mask = np.zeros((5, 7), np.uint8)
    mask[0, 0] = mask[-1, -1] = 1
    assert encode(mask, "F") == "1 1 35 1"
    assert encode(mask, "C") == "1 1 35 1"
    full = np.ones((5, 7), bool)
    assert encode(full, "F") == "1 35"
    assert np.array_equal(decode("1 35", (5, 7)), full.astype(np.uint8))


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (3, 17), (17, 3)])
def test_thin_and_non_square_shapes(shape):
    rng = np.random.default_rng(sum(shape))
    mask = (rng.random(shape) > 0.5).astype(np.uint8)
    for order in "FC":
        decoded = decode(encode(mask, order), shape, order)
        assert decoded.shape == shape
        assert np.array_equal(decoded, mask)
    if shape[0] > 1 and shape[1] > 1:
        assert encode(mask, "F") != encode(mask, "C")


def test_empty_mask_and_pandas_missing_values():
    assert encode(np.zeros((4, 4)), "F") == ""
    for empty in ("", "   ", None, float("nan")):
        assert decode(empty, (2, 3)).sum() == 0


@pytest.mark.parametrize(
    "rle, message",
    [
        ("1 2 5", "odd number of tokens"),
        ("1 2 x 1", "token 'x' is not an integer"),
        ("1.5 2", "token '1.5' is not an integer"),
        ("0 2", "starts must be >= 1"),
        ("3 0", "lengths must be >= 1"),
        ("3 -2", "lengths must be >= 1"),
        ("5 2 1 2", "unsorted"),
        ("1 4 3 2", "overlapping"),
        ("11 3", "past the end of the 3x4 image"),
    ],
)
def test_decode_rejects_malformed_input(rle, message):
    with pytest.raises(ValueError, match=message):
        decode(rle, (3, 4))


def test_bad_order_and_shape_are_named():
    with pytest.raises(ValueError, match="'F' \\(column-major, HuBMAP\\) or 'C'"):
        encode(EXAMPLE, "A")
    with pytest.raises(ValueError, match="shape must be \\(height, width\\)"):
        decode("1 1", (0, 3))
    with pytest.raises(ValueError, match="mask must be 2-D"):
        encode(np.zeros((2, 2, 3)))


@pytest.mark.parametrize("order", ["F", "C"])
def test_window_decode_matches_slicing_including_outside(order):
    rng = np.random.default_rng(1)
    mask = (rng.random((37, 53)) > 0.6).astype(np.uint8)
    padded = np.pad(mask, 20)
    rle_mask = RleMask(encode(mask, order), mask.shape, order)
    assert rle_mask.area == int(mask.sum())
    for y0, x0, h, w in [(0, 0, 37, 53), (5, 7, 10, 30), (-6, -9, 20, 25), (30, 45, 15, 15), (-20, 60, 5, 5),
                         (36, 52, 1, 1), (100, 100, 4, 4)]:
        expected = padded[y0 + 20 : y0 + 20 + h, x0 + 20 : x0 + 20 + w]
        if expected.shape != (h, w):  # fully outside the padded reference: all zeros
            expected = np.zeros((h, w), np.uint8)
        assert np.array_equal(rle_mask.window(y0, x0, h, w), expected), (y0, x0, h, w)
        assert np.array_equal(decode_window(encode(mask, order), mask.shape, (y0, x0, h, w), order), expected)
    assert np.array_equal(rle_mask.to_array(), mask)


@pytest.mark.parametrize("order", ["F", "C"])
def test_stream_encoder_equals_encode_for_random_block_splits(order):
    rng = np.random.default_rng(2)
    for trial in range(30):
        h, w = rng.integers(1, 25, 2)
        mask = (rng.random((h, w)) > rng.random()).astype(np.uint8)
        n = w if order == "F" else h
        cuts = sorted({0, int(n), *rng.integers(0, n + 1, 4).tolist()})
        encoder = RleStreamEncoder((h, w), order)
        for a, b in zip(cuts[:-1], cuts[1:]):
            encoder.add(mask[:, a:b] if order == "F" else mask[a:b])
        assert encoder.finish() == encode(mask, order), trial


def test_stream_encoder_rejects_wrong_blocks():
    encoder = RleStreamEncoder((4, 6), "F")
    with pytest.raises(ValueError, match="height 4"):
        encoder.add(np.zeros((3, 2)))
    encoder.add(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="exceed the image"):
        encoder.add(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="only 5 of 6 lines"):
        encoder.finish()


def test_runs_are_zero_based_starts_and_lengths():
    starts, lengths = runs_from_rle("3 5 12 1")
    assert starts.tolist() == [2, 11] and lengths.tolist() == [5, 1]


masks = st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1), st.floats(0, 1))


@settings(max_examples=150, deadline=None)
@given(masks, st.sampled_from(["F", "C"]))
def test_roundtrip_property(params, order):
    h, w, seed, density = params
    mask = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
    rle = encode(mask, order)
    assert np.array_equal(decode(rle, (h, w), order), mask)
    assert encode(decode(rle, (h, w), order), order) == rle
