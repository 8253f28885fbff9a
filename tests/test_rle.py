"""RLE codec: the worked example, edges, every malformed input, window decode, streaming, property tests."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kit.rle
from kit.rle import RleMask, RleStreamEncoder, decode, decode_window, encode, runs_from_rle

EXAMPLE = np.array([[0, 1, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=np.uint8)  # competitions.md §5.2


def reference_encode(mask: np.ndarray, order: str) -> str:
    """Slow, obviously correct oracle: walk the pixels one by one."""
    flat = (np.asarray(mask) != 0).ravel(order=order).tolist()
    pairs, start = [], None
    for i, value in enumerate(flat + [False]):
        if value and start is None:
            start = i
        elif not value and start is not None:
            pairs += [start + 1, i - start]
            start = None
    return " ".join(map(str, pairs))


def random_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return (rng.random(shape) < rng.random()).astype(np.uint8)


# ------------------------------------------------------------------------------------ encode / decode
def test_worked_example_both_orders():
    assert encode(EXAMPLE, "F") == "3 5 12 1"
    assert encode(EXAMPLE, "C") == "2 2 6 1 9 2 12 1"
    assert np.array_equal(decode("3 5 12 1", (3, 4), "F"), EXAMPLE)
    assert np.array_equal(decode("2 2 6 1 9 2 12 1", (3, 4), "C"), EXAMPLE)


def test_decode_returns_uint8_zero_one_of_the_requested_shape():
    for order in "FC":
        mask = decode("2 3 11 2", (3, 4), order)
        assert mask.dtype == np.uint8 and mask.shape == (3, 4)
        assert set(np.unique(mask).tolist()) == {0, 1} and mask.sum() == 5


@pytest.mark.parametrize("order", ["F", "C"])
def test_first_and_last_pixel_and_full_mask(order):
    mask = np.zeros((5, 7), np.uint8)
    mask[0, 0] = mask[-1, -1] = 1
    assert encode(mask, order) == "1 1 35 1"
    assert np.array_equal(decode("1 1 35 1", (5, 7), order), mask)
    full = np.ones((5, 7), bool)
    assert encode(full, order) == "1 35"
    assert np.array_equal(decode("1 35", (5, 7), order), full)


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (1, 1), (3, 17), (17, 3)])
def test_thin_and_non_square_shapes(shape):
    mask = random_mask(np.random.default_rng(sum(shape)), shape)
    for order in "FC":
        rle = encode(mask, order)
        assert rle == reference_encode(mask, order)
        decoded = decode(rle, shape, order)
        assert decoded.shape == shape and np.array_equal(decoded, mask)


def test_non_square_orders_differ_and_do_not_transpose():
    mask = np.zeros((2, 5), np.uint8)
    mask[0, 1] = mask[1, 4] = 1  # column-major pixels 3 and 10; row-major 2 and 10
    assert encode(mask, "F") == "3 1 10 1"
    assert encode(mask, "C") == "2 1 10 1"
    assert decode("3 1 10 1", (2, 5), "F").shape == (2, 5)


def test_any_nonzero_value_is_foreground_for_every_dtype():
    expected = "3 5 12 1"
    assert encode(EXAMPLE.astype(bool)) == expected
    assert encode(EXAMPLE * 255) == expected
    assert encode(EXAMPLE.astype(np.int64) * -3) == expected
    assert encode(EXAMPLE * 0.5) == expected
    assert encode(EXAMPLE.tolist()) == expected  # plain nested lists too


@pytest.mark.parametrize("order", ["F", "C"])
def test_every_memory_layout_and_band_split_matches_the_oracle(order, monkeypatch):
    monkeypatch.setattr(kit.rle, "_BAND_BYTES", 16)  # force many bands on small masks
    rng = np.random.default_rng(3)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(1, 30, 2))
        mask = random_mask(rng, shape) * rng.integers(1, 256, shape)  # varied non-zero values
        for view in (mask, np.asfortranarray(mask), mask[::2, ::-1], mask.astype(bool), mask.astype(np.int16)):
            assert encode(view, order) == reference_encode(view, order)


def test_empty_mask_and_pandas_missing_values():
    assert encode(np.zeros((4, 4)), "F") == ""
    for empty in ("", "   ", "\n", None, float("nan"), np.float64("nan")):
        mask = decode(empty, (2, 3))
        assert mask.shape == (2, 3) and mask.sum() == 0
    assert RleMask(None, (2, 3)).area == 0


def test_touching_runs_are_accepted_and_merge_on_reencode():
    assert np.array_equal(decode("1 2 3 2", (2, 2)), np.ones((2, 2), np.uint8))
    assert encode(decode("1 2 3 2", (2, 2))) == "1 4"


def test_large_values_are_written_exactly():
    values = np.array([1, 9, 10, 99, 100, 4_294_967_295, 4_294_967_296, 12_345_678_901], np.int64)
    assert kit.rle._join_ints(values) == " ".join(map(str, values.tolist()))


# ------------------------------------------------------------------------------------ malformed input
@pytest.mark.parametrize(
    "rle, message",
    [
        ("1 2 5", "odd number of tokens"),
        ("1 2 x 1", "token 'x' is not an integer"),
        ("1.5 2", "token '1.5' is not an integer"),
        ("1 2 - 4", "token '-' is not an integer"),
        ("1e3 2", "token '1e3' is not an integer"),
        ("99999999999999999999 1", "too large"),
        ("0 2", "starts must be >= 1"),
        ("-3 2", "starts must be >= 1"),
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
    with pytest.raises(ValueError, match=message):
        RleMask(rle, (3, 4))


def test_non_string_rle_is_rejected():
    with pytest.raises(ValueError, match="RLE must be a string, NaN or None, got int"):
        decode(5, (3, 4))


@pytest.mark.parametrize("call", [
    lambda: encode(EXAMPLE, "A"),
    lambda: decode("1 1", (3, 4), "row"),
    lambda: decode_window("1 1", (3, 4), (0, 0, 2, 2), "f"),
    lambda: RleMask("1 1", (3, 4), "K"),
    lambda: RleStreamEncoder((3, 4), "A"),
])
def test_invalid_order_lists_the_valid_ones(call):
    with pytest.raises(ValueError, match="'F' \\(column-major, HuBMAP\\) or 'C' \\(row-major, NeoPolyp\\)"):
        call()


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="shape must be \\(height, width\\)"):
        decode("1 1", (0, 3))
    with pytest.raises(ValueError, match="mask must be 2-D"):
        encode(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="window size must be >= 0"):
        RleMask("1 1", (3, 4)).window(0, 0, -1, 2)


def test_runs_are_zero_based_starts_and_lengths():
    starts, lengths = runs_from_rle("3 5 12 1")
    assert starts.tolist() == [2, 11] and lengths.tolist() == [5, 1]
    assert starts.dtype == lengths.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 10**9)), max_size=20),
       st.lists(st.sampled_from([" ", "  ", "\t", "\n", "\xa0"]), min_size=1))
def test_parser_reads_runs_separated_by_any_whitespace(gaps_and_lengths, separators):
    pairs, end = [], 0
    for gap, length in gaps_and_lengths:
        pairs += [end + gap + 1, length]
        end += gap + length
    text = "".join(f"{separators[i % len(separators)]}{v}" for i, v in enumerate(pairs)) + separators[0]
    starts, lengths = runs_from_rle(text)
    assert (starts + 1).tolist() == pairs[0::2] and lengths.tolist() == pairs[1::2]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="0123456789 +-.x\t\n\xa0", max_size=30))
def test_parser_accepts_exactly_whitespace_separated_integers(text):
    tokens = text.split()
    if not all(re.fullmatch(r"[+-]?[0-9]+", token) for token in tokens):
        with pytest.raises(ValueError, match="is not an integer"):
            kit.rle._parse_ints(text)
    elif any(abs(int(token)) >= 2**62 for token in tokens):
        with pytest.raises(ValueError, match="too large"):
            kit.rle._parse_ints(text)
    else:
        assert kit.rle._parse_ints(text).tolist() == [int(token) for token in tokens]


# ------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("order", ["F", "C"])
def test_window_decode_matches_slicing_including_outside(order):
    rng = np.random.default_rng(1)
    mask = random_mask(rng, (37, 53))
    padded = np.pad(mask, 60)
    rle = encode(mask, order)
    rle_mask = RleMask(rle, mask.shape, order)
    assert rle_mask.area == int(mask.sum())
    assert np.array_equal(rle_mask.to_array(), mask)
    windows = [(0, 0, 37, 53), (5, 7, 10, 30), (-6, -9, 20, 25), (30, 45, 15, 15), (36, 52, 1, 1), (-5, -5, 50, 70),
               (0, 0, 0, 5), (-20, 60, 5, 5), (40, 0, 4, 4), (0, -10, 4, 10), (-30, -30, 8, 8)]  # last 4: outside
    windows += [tuple(rng.integers(-25, 50, 2)) + tuple(rng.integers(1, 30, 2)) for _ in range(30)]
    for y0, x0, h, w in windows:
        y0, x0, h, w = int(y0), int(x0), int(h), int(w)
        expected = padded[y0 + 60 : y0 + 60 + h, x0 + 60 : x0 + 60 + w]
        window = rle_mask.window(y0, x0, h, w)
        assert window.dtype == np.uint8 and window.flags.c_contiguous
        assert np.array_equal(window, expected), (y0, x0, h, w)
        assert np.array_equal(decode_window(rle, mask.shape, (y0, x0, h, w), order), expected)


def test_window_of_empty_rle_is_zero():
    assert not RleMask("", (10, 10)).window(2, 2, 5, 5).any()


# ------------------------------------------------------------------------------------ streaming
@pytest.mark.parametrize("order", ["F", "C"])
def test_stream_encoder_equals_encode_for_random_block_splits(order):
    rng = np.random.default_rng(2)
    for trial in range(40):
        h, w = (int(v) for v in rng.integers(1, 25, 2))
        mask = random_mask(rng, (h, w))
        if trial % 4 == 0:
            mask[:] = 1  # runs that cross every block boundary
        n = w if order == "F" else h
        cuts = sorted({0, n, *rng.integers(0, n + 1, 4).tolist()})
        encoder = RleStreamEncoder((h, w), order)
        for a, b in zip(cuts[:-1], cuts[1:]):
            encoder.add(mask[:, a:b] if order == "F" else mask[a:b])
        assert encoder.finish() == encode(mask, order), trial


@pytest.mark.parametrize(
    "columns, expected", [([1, 1, 1, 1], "1 12"), ([1, 0, 1, 1], "1 3 7 6"), ([0, 1, 0, 1], "4 3 10 3")]
)
def test_stream_encoder_accepts_empty_and_single_line_blocks(columns, expected):
    mask = np.ones((3, 4), bool) * np.array(columns, bool)
    encoder = RleStreamEncoder((3, 4), "F")
    for x in range(4):
        encoder.add(mask[:, x:x])
        encoder.add(mask[:, x : x + 1])
    assert encoder.finish() == expected == encode(mask)


def test_stream_encoder_rejects_wrong_blocks():
    encoder = RleStreamEncoder((4, 6), "F")
    with pytest.raises(ValueError, match="height 4"):
        encoder.add(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must be 2-D"):
        encoder.add(np.zeros(4))
    encoder.add(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="exceed the image: 7 > 6 columns"):
        encoder.add(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="only 5 of 6 columns"):
        encoder.finish()
    with pytest.raises(ValueError, match="width 6"):
        RleStreamEncoder((4, 6), "C").add(np.zeros((4, 5)))


# ------------------------------------------------------------------------------------ properties
masks = st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1), st.floats(0, 1))


@settings(max_examples=120, deadline=None)
@given(masks, st.sampled_from(["F", "C"]))
def test_roundtrip_property(params, order):
    h, w, seed, density = params
    mask = (np.random.default_rng(seed).random((h, w)) < density).astype(np.uint8)
    rle = encode(mask, order)
    assert rle == reference_encode(mask, order)
    assert np.array_equal(decode(rle, (h, w), order), mask)
    assert RleMask(rle, (h, w), order).area == int(mask.sum())
