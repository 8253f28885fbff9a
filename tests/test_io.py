"""Image I/O: every TIFF layout the competitions ship, JPEG/PNG as RGB, NeoPolyp masks, clear errors."""

from __future__ import annotations

import multiprocessing
import pickle
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import pytest
import rasterio
import tifffile
from rasterio.enums import Resampling

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
    profile = dict(driver="GTiff", height=rgb.shape[0], width=rgb.shape[1], count=3, dtype="uint8", **options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(rgb, -1, 0))


LAYOUTS = {
    "tiled": lambda p, a: _write_rasterio(p, a, tiled=True, blockxsize=32, blockysize=32),
    "striped": lambda p, a: _write_rasterio(p, a),
    "bigtiff": lambda p, a: _write_rasterio(p, a, BIGTIFF="YES", tiled=True, blockxsize=16, blockysize=16),
    "channel_first": lambda p, a: tifffile.imwrite(p, np.moveaxis(a, -1, 0), photometric="rgb",
                                                   planarconfig="separate"),
    "interleaved": lambda p, a: tifffile.imwrite(p, a, photometric="rgb"),
    "five_d": lambda p, a: tifffile.imwrite(p, np.moveaxis(a, -1, 0)[None, None], photometric="rgb",
                                            planarconfig="separate"),  # tifffile reads it back as (1, 1, 3, H, W)
    "subdatasets": lambda p, a: tifffile.imwrite(p, np.moveaxis(a, -1, 0)[:, None], photometric="minisblack"),
    "rgba": lambda p, a: tifffile.imwrite(p, np.dstack([a, np.full(a.shape[:2], 7, np.uint8)]), photometric="rgb",
                                          extrasamples=["unassalpha"]),
}


def _padded_window(image, y0, x0, h, w, fill):
    """Reference: the window cut from ``image`` padded with ``fill`` on every side."""
    pad = abs(y0) + abs(x0) + h + w
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), constant_values=fill)
    return padded[y0 + pad : y0 + pad + h, x0 + pad : x0 + pad + w]


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_tiff_layouts_read_as_rgb_windows(tmp_path, rgb, layout):
    path = tmp_path / f"{layout}.tiff"
    LAYOUTS[layout](path, rgb)
    with open_image(path) as reader:
        assert reader.shape == (H, W) and (reader.height, reader.width) == (H, W) and reader.path == path
        assert np.array_equal(reader.read_all(), rgb)
        assert np.array_equal(reader.read(10, 20, 30, 40), rgb[10:40, 20:60])
        for y0, x0, h, w in [(-5, W - 10, 20, 25), (H - 3, -4, 9, 12), (-2, -2, H + 4, W + 4), (H + 5, 0, 4, 4)]:
            window = reader.read(y0, x0, h, w, fill=255)
            assert window.shape == (h, w, 3) and window.dtype == np.uint8
            assert np.array_equal(window, _padded_window(rgb, y0, x0, h, w, 255)), (y0, x0, h, w)
        small = reader.read(-8, 30, 48, 44, out_size=(12, 11), fill=9)
        expected = cv2.resize(_padded_window(rgb, -8, 30, 48, 44, 9), (11, 12), interpolation=cv2.INTER_AREA)
        assert np.array_equal(small, expected)
        big = reader.read(5, 5, 8, 8, out_size=(16, 16))
        assert np.array_equal(big, cv2.resize(rgb[5:13, 5:13], (16, 16), interpolation=cv2.INTER_AREA))


def test_layout_fixtures_really_have_the_structure_they_claim(tmp_path, rgb):
    for layout in LAYOUTS:
        LAYOUTS[layout](tmp_path / f"{layout}.tiff", rgb)
    assert (tmp_path / "bigtiff.tiff").read_bytes()[:4] == b"II+\x00"  # BigTIFF magic
    with rasterio.open(tmp_path / "subdatasets.tiff") as src:
        assert src.count == 1 and len(src.subdatasets) == 3
    with rasterio.open(tmp_path / "tiled.tiff") as src:
        assert src.block_shapes[0] == (32, 32)
    with rasterio.open(tmp_path / "striped.tiff") as src:
        assert src.block_shapes[0][1] == W
    with rasterio.open(tmp_path / "rgba.tiff") as src:
        assert src.count == 4
    assert tifffile.imread(tmp_path / "five_d.tiff").shape == (1, 1, 3, H, W)
    assert tifffile.TiffFile(tmp_path / "channel_first.tiff").pages[0].planarconfig == 2  # separate planes


def test_single_band_uint16_and_palette(tmp_path, rgb):
    gray = rgb[..., 0]
    tifffile.imwrite(tmp_path / "gray.tiff", gray)
    assert np.array_equal(read_image(tmp_path / "gray.tiff"), np.repeat(gray[..., None], 3, axis=2))
    tifffile.imwrite(tmp_path / "deep.tiff", rgb.astype(np.uint16) * 257, photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "deep.tiff"), rgb)
    tifffile.imwrite(tmp_path / "deep_gray.tiff", gray.astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "deep_gray.tiff")[..., 2], gray)
    colours = {i: (i, 255 - i, i // 2, 255) for i in range(256)}
    profile = dict(driver="GTiff", height=H, width=W, count=1, dtype="uint8", photometric="palette")
    with rasterio.open(tmp_path / "palette.tiff", "w", **profile) as dst:
        dst.write(gray[None])
        dst.write_colormap(1, colours)
    lut = np.array([colours[i][:3] for i in range(256)], np.uint8)
    assert np.array_equal(read_image(tmp_path / "palette.tiff"), lut[gray])


def test_unsupported_sample_type_is_refused_by_name(tmp_path, rgb):
    tifffile.imwrite(tmp_path / "float.tiff", rgb.astype(np.float32) / 255, photometric="rgb")
    with pytest.raises(ValueError, match=r"float.tiff has \['float32'\] samples; expected one of"):
        open_image(tmp_path / "float.tiff")


def test_shrinking_a_tiff_with_overviews_reads_the_overview(tmp_path):
    rng = np.random.default_rng(1)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), (0, 0), 2)
    path = tmp_path / "pyramid.tiff"
    _write_rasterio(path, smooth, tiled=True, blockxsize=64, blockysize=64)
    with rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4], Resampling.average)
    with rasterio.open(path, overview_level=1) as level:  # the 4× overview as GDAL stored it
        stored = np.moveaxis(level.read(), 0, -1)
    with open_image(path) as reader:
        assert np.array_equal(reader.read(0, 0, 256, 256, out_size=(64, 64)), stored)
        area = cv2.resize(smooth[64:192, 32:160], (32, 32), interpolation=cv2.INTER_AREA)
        assert np.abs(reader.read(64, 32, 128, 128, out_size=(32, 32)).astype(int) - area).max() <= 3
        border = reader.read(-128, 0, 256, 256, out_size=(64, 64), fill=200)
        assert (border[:32] == 200).all() and np.array_equal(border[32:], stored[:32])
        assert np.array_equal(reader.read(0, 0, 256, 256, out_size=(200, 200)),  # < 2×: exact INTER_AREA
                              cv2.resize(smooth, (200, 200), interpolation=cv2.INTER_AREA))


def test_jpeg_and_png_come_back_rgb(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    write_png(tmp_path / "red.png", red)
    assert np.array_equal(read_image(tmp_path / "red.png"), red)
    cv2.imwrite(str(tmp_path / "red.jpeg"), red[..., ::-1])
    with open_image(tmp_path / "red.jpeg") as reader:
        pixel = reader.read_all()[8, 8].astype(int)
        window = reader.read(-4, 8, 8, 16, fill=3)
    assert pixel[0] > 240 and pixel[1] < 15 and pixel[2] < 15
    assert (window[:4] == 3).all() and (window[4:, 8:] == 3).all() and (window[4:, :8, 0] > 240).all()
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((4, 5), 77, np.uint8))
    assert read_image(tmp_path / "gray.png").shape == (4, 5, 3) and (read_image(tmp_path / "gray.png") == 77).all()


def test_reads_do_not_alias_the_decoded_image(tmp_path):
    write_png(tmp_path / "a.png", np.full((8, 8, 3), 10, np.uint8))
    with open_image(tmp_path / "a.png") as reader:
        reader.read_all()[:] = 0
        assert (reader.read_all() == 10).all()


@pytest.mark.parametrize("name", ["t.tiff", "t.png"])
def test_reader_survives_pickling_for_dataloader_workers(tmp_path, rgb, name):
    path = tmp_path / name
    LAYOUTS["tiled"](path, rgb) if name.endswith(".tiff") else write_png(path, rgb)
    reader = open_image(path)
    state = pickle.dumps(reader)
    assert len(state) < 1000  # path and size only: no pixels, no handles
    copy = pickle.loads(state)
    assert copy.shape == (H, W)
    assert np.array_equal(copy.read(0, 0, 5, 5), rgb[:5, :5])
    assert np.array_equal(reader.read(3, 4, 5, 6), rgb[3:8, 4:10])
    reader.close()
    assert np.array_equal(reader.read(0, 0, 2, 2), rgb[:2, :2])  # a read after close re-opens


def _read_in_child(reader, conn):
    conn.send_bytes(reader.read(10, 10, 20, 30).tobytes())
    conn.close()


def test_forked_child_opens_its_own_handles(tmp_path, rgb):
    path = tmp_path / "fork.tiff"
    LAYOUTS["tiled"](path, rgb)
    reader = open_image(path)
    reader.read(0, 0, 4, 4)  # the parent holds open handles when it forks
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_read_in_child, args=(reader, child_end))
    child.start()
    received = parent_end.recv_bytes() if parent_end.poll(60) else b""
    child.join(60)
    assert child.exitcode == 0
    assert np.array_equal(np.frombuffer(received, np.uint8).reshape(20, 30, 3), rgb[10:30, 10:40])
    assert np.array_equal(reader.read(0, 0, 10, 10), rgb[:10, :10])  # the parent's handles still work


def test_threads_can_share_a_reader(tmp_path, rgb):
    path = tmp_path / "threads.tiff"
    LAYOUTS["tiled"](path, rgb)
    boxes = [(y, x, 17, 23) for y in range(0, H, 9) for x in range(0, W, 11)]
    with open_image(path) as reader, ThreadPoolExecutor(4) as pool:
        windows = list(pool.map(lambda box: reader.read(*box), boxes))
    for (y, x, h, w), window in zip(boxes, windows):
        assert np.array_equal(window, _padded_window(rgb, y, x, h, w, 0))


def test_missing_corrupt_and_truncated_files_name_the_path(tmp_path, rgb):
    with pytest.raises(FileNotFoundError, match="nope.tiff"):
        open_image(tmp_path / "nope.tiff")
    (tmp_path / "bad.tiff").write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match="bad.tiff could not be opened as a TIFF"):
        open_image(tmp_path / "bad.tiff")
    (tmp_path / "bad.jpeg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(ValueError, match="bad.jpeg is a truncated JPEG"):
        open_image(tmp_path / "bad.jpeg")
    whole = np.tile(rgb, (4, 4, 1))
    _write_rasterio(tmp_path / "whole.tiff", whole, tiled=True, blockxsize=64, blockysize=64)
    data = (tmp_path / "whole.tiff").read_bytes()
    (tmp_path / "cut.tiff").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.tiff"):
        open_image(tmp_path / "cut.tiff").read_all()
    with pytest.raises(FileNotFoundError, match="m.png"):
        read_png_mask(tmp_path / "m.png")
    (tmp_path / "m.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="m.png could not be decoded"):
        read_png_mask(tmp_path / "m.png")


def test_bad_window_arguments_are_refused(tmp_path, rgb):
    write_png(tmp_path / "a.png", rgb)
    with open_image(tmp_path / "a.png") as reader:
        with pytest.raises(ValueError, match=r"window size must be integers >= 1, got \(0, 5\)"):
            reader.read(0, 0, 0, 5)
        with pytest.raises(ValueError, match="out_size must be integers >= 1"):
            reader.read(0, 0, 5, 5, out_size=(5, -1))
        with pytest.raises(ValueError, match="window origin must be integers"):
            reader.read(0.5, 0, 5, 5)
        with pytest.raises(ValueError, match="fill must be a uint8"):
            reader.read(0, 0, 5, 5, fill=300)


def test_png_mask_keeps_class_ids_and_writes_are_atomic(tmp_path):
    mask = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    write_png(tmp_path / "m.png", mask)
    assert np.array_equal(read_png_mask(tmp_path / "m.png"), mask)
    with pytest.raises(ValueError, match=r"bad.png: expected an H×W or H×W×3 uint8/uint16 array, got float64"):
        write_png(tmp_path / "bad.png", np.zeros((2, 2)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.png"]  # no temporary files left behind


def test_neopolyp_jpeg_mask_to_classes_is_robust_to_jpeg_noise(tmp_path):
    classes = np.zeros((96, 128), np.uint8)
    cv2.circle(classes, (40, 48), 25, 1, -1)
    cv2.ellipse(classes, (95, 40), (20, 14), 30, 0, 360, 2, -1)
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)  # class id -> RGB
    cv2.imwrite(str(tmp_path / "gt.jpeg"), colours[classes][..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
    decoded = read_neopolyp_mask(tmp_path / "gt.jpeg")
    assert decoded.dtype == np.uint8 and decoded.shape == classes.shape
    kernel = np.ones((5, 5), np.uint8)
    for label in (0, 1, 2):
        region = classes == label
        away_from_edges = cv2.erode(region.astype(np.uint8), kernel) > 0
        assert away_from_edges.sum() > 100
        assert (decoded[away_from_edges] == label).mean() >= 0.99, label
    assert neopolyp_mask_to_classes(colours[None]).tolist() == [[0, 1, 2]]
    with pytest.raises(ValueError, match="expected an H×W×3 uint8 RGB mask"):
        neopolyp_mask_to_classes(classes)
