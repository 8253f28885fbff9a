"""Image I/O: every TIFF layout the competitions ship, JPEG/PNG as RGB, NeoPolyp masks, clear errors."""

from __future__ import annotations

import pickle

import cv2
import numpy as np
import pytest
import rasterio
import tifffile

from kit.io import (
    neopolyp_mask_to_classes,
    open_image,
    read_image,
    read_neopolyp_mask,
    read_png_mask,
    write_png,
)

H, W = 70, 90


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _write_rasterio(path, rgb, **options):
    profile = dict(driver="GTiff", height=H, width=W, count=3, dtype="uint8", **options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))


LAYOUTS = {
    "tiled": lambda p, a: _write_rasterio(p, a, tiled=True, blockxsize=32, blockysize=32),
    "striped": lambda p, a: _write_rasterio(p, a),
    "bigtiff": lambda p, a: _write_rasterio(p, a, BIGTIFF="YES", tiled=True, blockxsize=16, blockysize=16),
    "channel_first": lambda p, a: tifffile.imwrite(p, np.moveaxis(a, -1, 0), photometric="rgb",
                                                   planarconfig="separate"),
    "interleaved": lambda p, a: tifffile.imwrite(p, a, photometric="rgb"),
    "subdatasets": lambda p, a: tifffile.imwrite(p, np.moveaxis(a, -1, 0)[:, None], photometric="minisblack"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_tiff_layouts_read_as_rgb_windows(tmp_path, rgb, layout):
    path = tmp_path / f"{layout}.tiff"
    LAYOUTS[layout](path, rgb)
    with open_image(path) as reader:
        assert reader.shape == (H, W)
        assert np.array_equal(reader.read_all(), rgb)
        assert np.array_equal(reader.read(10, 20, 30, 40), rgb[10:40, 20:60])
        window = reader.read(-5, W - 10, 20, 25, fill=255)
        assert window.shape == (20, 25, 3)
        assert np.array_equal(window[5:, :10], rgb[:15, W - 10 :])
        assert (window[:5] == 255).all() and (window[:, 10:] == 255).all()
        small = reader.read(0, 0, 40, 40, out_size=(10, 10))
        assert np.array_equal(small, cv2.resize(rgb[:40, :40], (10, 10), interpolation=cv2.INTER_AREA))


def test_subdataset_file_really_uses_subdatasets(tmp_path, rgb):
    path = tmp_path / "pages.tiff"
    LAYOUTS["subdatasets"](path, rgb)
    with rasterio.open(path) as src:
        assert src.count == 1 and len(src.subdatasets) == 3


def test_single_band_and_uint16(tmp_path, rgb):
    gray = rgb[..., 0]
    tifffile.imwrite(tmp_path / "gray.tiff", gray)
    assert np.array_equal(read_image(tmp_path / "gray.tiff"), np.repeat(gray[..., None], 3, axis=2))
    tifffile.imwrite(tmp_path / "deep.tiff", rgb.astype(np.uint16) * 257, photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "deep.tiff"), rgb)


def test_jpeg_and_png_come_back_rgb(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "red.png", red)
    assert np.array_equal(read_image(tmp_path / "red.png"), red)
    cv2.imwrite(str(tmp_path / "red.jpeg"), red[..., ::-1])
    pixel = read_image(tmp_path / "red.jpeg")[8, 8].astype(int)
    assert pixel[0] > 240 and pixel[1] < 15 and pixel[2] < 15


def test_reader_survives_pickling_for_dataloader_workers(tmp_path, rgb):
    path = tmp_path / "t.tiff"
    LAYOUTS["tiled"](path, rgb)
    reader = pickle.loads(pickle.dumps(open_image(path)))
    assert np.array_equal(reader.read(0, 0, 5, 5), rgb[:5, :5])


def test_missing_and_corrupt_files_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tiff"):
        open_image(tmp_path / "nope.tiff")
    (tmp_path / "bad.tiff").write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match="bad.tiff"):
        open_image(tmp_path / "bad.tiff")
    (tmp_path / "bad.jpeg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(ValueError, match="bad.jpeg"):
        open_image(tmp_path / "bad.jpeg")
    with pytest.raises(FileNotFoundError, match="m.png"):
        read_png_mask(tmp_path / "m.png")


def test_png_mask_keeps_class_ids(tmp_path):
    mask = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    write_png(tmp_path / "m.png", mask)
    assert np.array_equal(read_png_mask(tmp_path / "m.png"), mask)


def test_neopolyp_jpeg_mask_to_classes_is_robust_to_jpeg_noise(tmp_path):
    classes = np.zeros((96, 128), np.uint8)
    cv2.circle(classes, (40, 48), 25, 1, -1)
    cv2.ellipse(classes, (95, 40), (20, 14), 30, 0, 360, 2, -1)
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    cv2.imwrite(str(tmp_path / "gt.jpeg"), colours[classes][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
    decoded = read_neopolyp_mask(tmp_path / "gt.jpeg")
    interior = cv2.erode((classes > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    background = cv2.dilate((classes > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
    away_from_edges = interior | background
    assert (decoded[away_from_edges] == classes[away_from_edges]).mean() >= 0.99
    assert set(np.unique(neopolyp_mask_to_classes(colours[None]))) == {0, 1, 2}
