"""Window grid geometry, window reads and blending weight maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kit.infer.blend import blend_names, make_weight_map
from kit.infer.windows import ArrayReader, Window, WindowGrid, axis_starts, read_window, whole_image_window, window_grid


@pytest.mark.parametrize(
    "length, core, stride, expected",
    [
        (128, 64, 64, [0, 64]),  # divisible
        (100, 64, 32, [0, 32, 36]),  # non-divisible: the last core is shifted back to end at the border
        (20, 64, 64, [0]),  # tiny: one core reaching past the border
        (64, 64, 16, [0]),  # exactly one core
        (65, 64, 64, [0, 1]),
    ],
)
def test_axis_starts(length, core, stride, expected):
    starts = axis_starts(length, core, stride)
    assert starts == expected
    if length >= core:
        assert starts[-1] + core == length  # last window ends at the border
    assert all(b - a <= stride for a, b in zip(starts, starts[1:]))


@pytest.mark.parametrize("shape", [(64, 64), (50, 70), (10, 13), (129, 31)])
@pytest.mark.parametrize("window, overlap, margin", [(32, 0.0, 0), (32, 0.25, 4), (16, 0.5, 2)])
def test_grid_covers_every_pixel(shape, window, overlap, margin):
    grid = WindowGrid(shape, window, overlap, margin)
    covered = np.zeros(shape, dtype=int)
    windows = list(grid)
    assert len(windows) == len(grid)
    for w in windows:
        assert (w.height, w.width) == grid.core == (window - 2 * margin,) * 2
        y0, x0, h, w_ = w.read_box
        assert (y0, x0, h, w_) == (w.y - margin, w.x - margin, window, window)
        covered[max(w.y, 0) : w.y + w.height, max(w.x, 0) : w.x + w.width] += 1
    assert covered.min() >= 1
    # no core starts outside the image, and cores never end past it unless the image is smaller than a core
    assert all(w.y >= 0 and w.x >= 0 for w in windows)
    if min(shape) >= grid.core[0]:
        assert all(w.y + w.height <= shape[0] and w.x + w.width <= shape[1] for w in windows)


def test_grid_stride_and_overlap():
    grid = WindowGrid((100, 100), 40, overlap=0.25)
    assert grid.steps == (30, 30)
    assert WindowGrid((100, 100), 40, stride=(10, 20)).steps == (10, 20)
    assert [w.x for w in window_grid((40, 100), 40, overlap=0.25)] == [0, 30, 60]


@pytest.mark.parametrize("kwargs", [{"overlap": 1.0}, {"overlap": -0.1}, {"margin": 16}, {"margin": -1}])
def test_grid_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        WindowGrid((64, 64), 32, **kwargs)


def test_whole_image_window_pads_to_multiple():
    assert whole_image_window((100, 65), 32) == Window(0, 0, 128, 96)
    assert whole_image_window((64, 64), 32).core_box == (0, 0, 64, 64)


def test_read_window_scale_and_fill():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    reader = ArrayReader(image)
    window = Window(2, 3, 8, 8, margin=1)  # read box (1, 2, 10, 10) in working pixels
    plain = read_window(reader, window)
    assert np.array_equal(plain, image[1:11, 2:12])
    halved = read_window(reader, window, scale=2.0)
    expected = cv2.resize(image[2:22, 4:24], (10, 10), interpolation=cv2.INTER_AREA)
    assert np.array_equal(halved, expected)
    outside = read_window(reader, Window(-4, 45, 8, 8), fill=7)
    assert np.all(outside[:4] == 7) and np.all(outside[:, 5:] == 7)
    assert np.array_equal(outside[4:, :5], image[:4, 45:50])
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        ArrayReader(np.zeros((4, 4), np.uint8))


@pytest.mark.parametrize("name", ["constant", "gaussian", "pyramid"])
def test_weight_maps(name):
    weights = make_weight_map(name, (9, 12))
    assert weights.shape == (9, 12) and weights.dtype == np.float32
    assert weights.max() == pytest.approx(1.0)
    assert weights.min() >= 1e-3
    assert np.allclose(weights, weights[::-1]) and np.allclose(weights, weights[:, ::-1])
    if name != "constant":
        assert weights[4, 5] > weights[0, 0]  # centre outweighs the corner


def test_unknown_blend_mode_lists_valid_names():
    assert blend_names() == ["constant", "gaussian", "pyramid"]
    with pytest.raises(KeyError, match="did you mean 'gaussian'.*valid: constant, gaussian, pyramid"):
        make_weight_map("gausian", 8)
