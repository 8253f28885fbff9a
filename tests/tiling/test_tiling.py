"""Streaming tiler: grid positions, exact reassembly, tissue filter, bad inputs, resume, determinism, CLI, plots."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile

from kit.__main__ import main
from kit.artifacts.tiles import read_index, read_stats
from kit.competitions import get_profile
from kit.io import ImageReader, read_image, read_neopolyp_mask
from kit.rle import RleMask, decode, encode
from kit.sample import make_sample
from kit.tiling import TileGrid, TileSettings, TissueFilter, kept_counts, read_tiles, tile_dataset
from kit.viz import overlay, plot_kept_counts, show_tiles

KIDNEY, ORGANS, POLYPS = "hubmap-kidney-segmentation", "hubmap-organ-segmentation", "bkai-igh-neopolyp"
SZ = 64
GLASS, TISSUE = (244, 243, 246), (200, 110, 180)


@pytest.fixture(scope="module")
def kidney(tmp_path_factory) -> Path:
    """Three 2021-style slides of about 300×420 (two train; the second keeps RGB in subdatasets)."""
    root = tmp_path_factory.mktemp("kidney")
    make_sample(KIDNEY, root, n=3, size=(300, 420), seed=3)
    return root


@pytest.fixture(scope="module")
def organs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("organs")
    make_sample(ORGANS, root, n=4, size=160, seed=4)
    return root


def write_organ_set(root: Path, images: dict[str, np.ndarray], rows: dict[str, dict] | None = None) -> Path:
    """A hand-made 2022-style train set: TIFFs plus train.csv (row fields overridable per id)."""
    (root / "train_images").mkdir(parents=True, exist_ok=True)
    table = []
    for image_id, image in images.items():
        tifffile.imwrite(root / "train_images" / f"{image_id}.tiff", image, photometric="rgb")
        h, w = image.shape[:2]
        row = {"id": image_id, "organ": "kidney", "data_source": "HPA", "img_height": h, "img_width": w,
               "pixel_size": 0.4, "rle": encode(np.zeros((h, w), np.uint8))}
        table.append({**row, **(rows or {}).get(image_id, {})})
    pd.DataFrame(table).to_csv(root / "train.csv", index=False)
    return root


def plain(colour, h: int = 128, w: int = 128) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def folder_bytes(out: Path) -> dict[str, bytes]:
    """Every output file except the part files (index.csv, stats.json, PNGs, zips) by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] != "parts"}


# ---------------------------------------------------------------------------------------------- grid
@pytest.mark.parametrize("height, width, sz, reduce", [(300, 420, 64, 2), (1000, 999, 256, 4), (64, 64, 64, 1),
                                                       (10, 700, 32, 3), (5000, 3001, 256, 1)])
def test_grid_is_the_classic_padded_centred_grid(height, width, sz, reduce):
    grid = TileGrid(height, width, sz, reduce)
    block = sz * reduce
    pad0, pad1 = (block - height % block) % block, (block - width % block) % block
    n0, n1 = (height + pad0) // block, (width + pad1) // block
    assert grid.shape == (n0, n1) and grid.padding == (pad0, pad1) and len(grid) == n0 * n1
    for idx in range(len(grid)):
        row, col = divmod(idx, n1)
        assert grid.origin(idx) == (row, col, -(pad0 // 2) + row * block, -(pad1 // 2) + col * block)


def test_overlapping_grid_covers_the_image_centred():
    grid = TileGrid(500, 300, sz=64, reduce=2, stride=32)
    assert grid.step == 64 and grid.window == 128
    rows, cols = grid.shape
    first, last = grid.origin(0), grid.origin(len(grid) - 1)
    assert first[2] <= 0 and last[2] + 128 >= 500 and first[3] <= 0 and last[3] + 128 >= 300
    assert abs(-first[2] - (last[2] + 128 - 500)) <= 1  # the padding is split evenly
    assert (rows, cols) == (int(np.ceil((500 - 128) / 64)) + 1, int(np.ceil((300 - 128) / 64)) + 1)
    with pytest.raises(ValueError, match="stride"):
        TileGrid(100, 100, sz=64, stride=65)
    with pytest.raises(ValueError, match="reduce"):
        TileGrid(100, 100, sz=64, reduce=0)


# ---------------------------------------------------------------------------------------------- outputs
@pytest.fixture(scope="module")
def kidney_tiles(kidney, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kidney_tiles")
    tile_dataset(KIDNEY, kidney, out, settings=TileSettings(sz=SZ, reduce=2, filter=False), progress=False)
    return out


def test_index_rows_follow_the_grid(kidney, kidney_tiles):
    index = read_index(kidney_tiles)
    train = get_profile(KIDNEY).read_table(kidney, "train")
    assert list(index["id"].unique()) == list(train["id"])  # table order
    for image_id, rows in index.groupby("id", sort=False):
        with ImageReader(get_profile(KIDNEY).image_path(kidney, image_id)) as reader:
            grid = TileGrid(reader.height, reader.width, SZ, 2)
        assert list(rows["idx"]) == list(range(len(grid)))
        expected = np.array([grid.origin(i) for i in range(len(grid))])
        assert np.array_equal(rows[["row", "col", "y", "x"]].to_numpy(), expected)
        assert (rows["h"] == 2 * SZ).all() and (rows["w"] == 2 * SZ).all() and (rows["scale"] == 0.5).all()
        assert list(rows["tile"]) == [f"{image_id}_{i:05d}" for i in range(len(grid))]
    assert index["kept"].all()  # no filter


def test_reassembled_tiles_equal_the_classic_whole_image_resize(kidney, kidney_tiles):
    """Padding the whole image (half before) and resizing it by 1/2 gives exactly the tiles put back together.

    Exact because every window edge lies on the reduce grid of the padded image (INTER_AREA then averages the
    same 2×2 blocks; INTER_NEAREST picks the same pixels).
    """
    profile = get_profile(KIDNEY)
    train = profile.read_table(kidney, "train")
    index = read_index(kidney_tiles)
    for image_id, rle in zip(train["id"], train["encoding"]):
        image = read_image(profile.image_path(kidney, image_id))
        h, w = image.shape[:2]
        grid = TileGrid(h, w, SZ, 2)
        (n0, n1), (pad0, pad1) = grid.shape, grid.padding
        padded = np.zeros((h + pad0, w + pad1, 3), np.uint8)
        padded_mask = np.zeros((h + pad0, w + pad1), np.uint8)
        padded[pad0 // 2 : pad0 // 2 + h, pad1 // 2 : pad1 // 2 + w] = image
        padded_mask[pad0 // 2 : pad0 // 2 + h, pad1 // 2 : pad1 // 2 + w] = decode(rle, (h, w), "F")
        expected = cv2.resize(padded, (n1 * SZ, n0 * SZ), interpolation=cv2.INTER_AREA)
        expected_mask = cv2.resize(padded_mask, (n1 * SZ, n0 * SZ), interpolation=cv2.INTER_NEAREST)
        rows = index[index["id"] == image_id]
        tiles, masks = read_tiles(kidney_tiles, rows["tile"])
        canvas = np.zeros_like(expected)
        canvas_mask = np.zeros_like(expected_mask)
        for (r, c), tile, mask in zip(rows[["row", "col"]].to_numpy(), tiles, masks):
            canvas[r * SZ : (r + 1) * SZ, c * SZ : (c + 1) * SZ] = tile
            canvas_mask[r * SZ : (r + 1) * SZ, c * SZ : (c + 1) * SZ] = mask
        assert np.array_equal(canvas, expected)
        assert np.array_equal(canvas_mask, expected_mask) and canvas_mask.max() == 1  # class ids, not 255
        mask_frac = [float(m.mean()) for m in masks]
        assert np.allclose(rows["mask_frac"], mask_frac)


def test_stats_are_the_channel_mean_and_std_of_the_kept_tiles(kidney_tiles):
    index = read_index(kidney_tiles)
    tiles, _ = read_tiles(kidney_tiles, index.loc[index["kept"], "tile"])
    pixels = np.concatenate([t.reshape(-1, 3) for t in tiles]) / 255.0
    stats = read_stats(kidney_tiles)
    assert np.allclose(stats["mean"], pixels.mean(0), atol=1e-6)
    assert np.allclose(stats["std"], pixels.std(0), atol=1e-6)
    assert stats["pixels"] == len(pixels)


def test_neopolyp_masks_come_from_the_colour_jpegs_as_class_ids(tmp_path):
    make_sample(POLYPS, tmp_path / "data", n=3, size=160, seed=5)
    out = tmp_path / "tiles"
    tile_dataset(POLYPS, tmp_path / "data", out, settings=TileSettings(sz=SZ, reduce=1, filter=False), progress=False)
    index = read_index(out)
    profile = get_profile(POLYPS)
    image_id = index["id"].iloc[0]
    classes = read_neopolyp_mask(profile.mask_path(tmp_path / "data", image_id))
    image = read_image(profile.image_path(tmp_path / "data", image_id))
    seen = set()
    for row in index[index["id"] == image_id].itertuples():
        (tile,), (mask,) = read_tiles(out, [row.tile])
        ya, xa = max(row.y, 0), max(row.x, 0)
        yb, xb = min(row.y + SZ, classes.shape[0]), min(row.x + SZ, classes.shape[1])
        inner = (slice(ya - row.y, yb - row.y), slice(xa - row.x, xb - row.x))
        assert np.array_equal(mask[inner], classes[ya:yb, xa:xb]) and np.array_equal(tile[inner], image[ya:yb, xa:xb])
        seen |= set(np.unique(mask).tolist())
    assert seen <= {0, 1, 2} and len(seen) >= 2


def test_pixel_size_sets_the_reduce_per_image(organs, tmp_path):
    for split in ("train", "test"):
        out = tmp_path / split
        tile_dataset(ORGANS, organs, out, split, TileSettings(sz=SZ, pixel_size=0.8), progress=False)
        index = read_index(out)
        table = get_profile(ORGANS).read_table(organs, split)
        for row in table.itertuples():
            window = round(SZ * 0.8 / row.pixel_size)
            rows = index[index["id"] == row.id]
            assert (rows["h"] == window).all() and np.allclose(rows["scale"], SZ / window)
            assert (rows["organ"] == row.organ).all() and (rows["data_source"] == row.data_source).all()
        if split == "test":
            assert index["mask_frac"].isna().all() and not (out / "masks").exists()
            assert (table["data_source"] == "Hubmap").any()  # an upscaled / differently scaled image was tiled


def test_overlapping_tiles_step_by_the_stride(organs, tmp_path):
    tile_dataset(ORGANS, organs, tmp_path, settings=TileSettings(sz=SZ, reduce=1, stride=SZ // 2, filter=False),
                 progress=False)
    index = read_index(tmp_path)
    first = index[index["id"] == index["id"].iloc[0]]
    assert sorted(set(np.diff(sorted(first["x"].unique())))) == [SZ // 2]


# ---------------------------------------------------------------------------------------------- filter
def test_tissue_filter_rules():
    rule = TissueFilter()
    assert rule.threshold(256) == 1000 and rule.threshold(64) == 62.5
    assert rule.keep(plain(GLASS, 64, 64)) == (False, 0.0)
    assert rule.keep(plain(TISSUE, 64, 64)) == (True, 1.0)
    assert rule.keep(plain((0, 0, 0), 64, 64))[0] is False  # black padding
    few = plain(GLASS, 64, 64)
    few[:1, :62] = TISSUE  # 62 saturated pixels: not more than 62.5
    assert rule.keep(few)[0] is False
    few[1, 0] = TISSUE
    assert rule.keep(few)[0] is True
    assert TissueFilter(enabled=False).keep(plain(GLASS, 64, 64))[0] is True


def test_all_glass_keeps_nothing_and_all_tissue_keeps_everything(tmp_path):
    data = write_organ_set(tmp_path / "data", {"1": plain(GLASS), "2": plain(TISSUE)})
    summary = tile_dataset(ORGANS, data, tmp_path / "out", settings=TileSettings(sz=SZ, reduce=1), progress=False)
    counts = kept_counts(read_index(tmp_path / "out"), "id")
    assert counts.loc["1", "kept"] == 0 and counts.loc["1", "dropped"] == 4
    assert counts.loc["2", "kept"] == 4 and counts.loc["2", "dropped"] == 0
    assert summary.kept == 4 and summary.tiles == 8
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == [f"2_{i:05d}.png" for i in range(4)]


# ---------------------------------------------------------------------------------------------- bad input
def test_a_row_without_an_image_is_an_error_naming_it(tmp_path):
    data = write_organ_set(tmp_path, {"1": plain(TISSUE), "2": plain(TISSUE)})
    (data / "train_images" / "2.tiff").unlink()
    with pytest.raises(FileNotFoundError, match=r"'2'.*train_images/2\.tiff"):
        tile_dataset(ORGANS, data, tmp_path / "out", progress=False)


def test_an_image_without_a_row_is_an_error_naming_it(tmp_path):
    data = write_organ_set(tmp_path, {"1": plain(TISSUE)})
    tifffile.imwrite(data / "train_images" / "77.tiff", plain(TISSUE), photometric="rgb")
    with pytest.raises(ValueError, match=r"no row.*77\.tiff"):
        tile_dataset(ORGANS, data, tmp_path / "out", progress=False)


def test_dimensions_that_disagree_with_the_table_are_an_error_naming_id_and_file(tmp_path):
    data = write_organ_set(tmp_path, {"5": plain(TISSUE, 128, 96)}, rows={"5": {"img_width": 128}})
    with pytest.raises(ValueError, match=r"5\.tiff is 128x96.*128x128.*'5'"):
        tile_dataset(ORGANS, data, tmp_path / "out", settings=TileSettings(sz=SZ, reduce=1), progress=False)


def test_a_bad_rle_is_an_error_naming_the_row(tmp_path):
    data = write_organ_set(tmp_path, {"9": plain(TISSUE)}, rows={"9": {"rle": "5 10 3"}})
    with pytest.raises(ValueError, match=r"train.csv row id '9'.*odd number"):
        tile_dataset(ORGANS, data, tmp_path / "out", settings=TileSettings(sz=SZ, reduce=1), progress=False)


def test_other_settings_into_the_same_folder_and_pixel_size_without_a_column_are_refused(kidney, kidney_tiles):
    with pytest.raises(ValueError, match="other settings"):
        tile_dataset(KIDNEY, kidney, kidney_tiles, settings=TileSettings(sz=SZ, reduce=4), progress=False)
    with pytest.raises(ValueError, match="pixel_size"):
        tile_dataset(KIDNEY, kidney, kidney_tiles, settings=TileSettings(sz=SZ, pixel_size=0.5), progress=False)


# ----------------------------------------------------------------------------------- streaming, resume, determinism
def test_reads_and_mask_decodes_stay_window_sized(kidney, tmp_path, monkeypatch):
    seen = []
    read, window = ImageReader.read, RleMask.window
    monkeypatch.setattr(ImageReader, "read",
                        lambda self, y, x, h, w, **kw: seen.append(h * w) or read(self, y, x, h, w, **kw))
    monkeypatch.setattr(RleMask, "window", lambda self, y, x, h, w: seen.append(h * w) or window(self, y, x, h, w))
    monkeypatch.setattr("kit.rle.decode", lambda *a, **k: pytest.fail("the full mask was decoded"))
    tile_dataset(KIDNEY, kidney, tmp_path, settings=TileSettings(sz=SZ, reduce=2), progress=False)
    assert seen and max(seen) == (2 * SZ) ** 2


def test_resume_redoes_only_unfinished_parts_and_gives_the_same_files(kidney, tmp_path, monkeypatch):
    monkeypatch.setattr("kit.tiling.run.PART_TILES", 4)  # several parts per image
    settings = TileSettings(sz=SZ, reduce=2)
    first = tile_dataset(KIDNEY, kidney, tmp_path, settings=settings, make_zip=True, progress=False)
    before = folder_bytes(tmp_path)
    index = read_index(tmp_path)
    parts = sorted((tmp_path / "parts").rglob("*.csv"))
    parts[0].unlink()  # a part that never finished
    lost = index.loc[index["kept"] & (index["id"] != parts[0].parent.name), "tile"].iloc[-1]
    (tmp_path / "images" / f"{lost}.png").unlink()  # a tile lost from another, finished part
    (tmp_path / "index.csv").unlink()
    second = tile_dataset(KIDNEY, kidney, tmp_path, settings=settings, make_zip=True, progress=False)
    assert first.resumed_parts == 0 and second.parts == first.parts == len(parts)
    assert second.resumed_parts == first.parts - 2
    assert folder_bytes(tmp_path) == before


def test_output_bytes_do_not_depend_on_the_worker_count(organs, tmp_path, monkeypatch):
    monkeypatch.setattr("kit.tiling.run.PART_TILES", 4)
    settings = TileSettings(sz=SZ, reduce=1)
    one = tile_dataset(ORGANS, organs, tmp_path / "w1", settings=settings, workers=1, make_zip=True, progress=False)
    tile_dataset(ORGANS, organs, tmp_path / "w2", settings=settings, workers=2, make_zip=True, progress=False)
    assert one.parts > 2 and one.kept > 0
    assert folder_bytes(tmp_path / "w1") == folder_bytes(tmp_path / "w2")


# ---------------------------------------------------------------------------------------------- CLI, plots, notebook
def test_cli_tiles_and_zips_like_the_public_datasets(kidney, tmp_path, capsys):
    code = main(["tile", "--competition", KIDNEY, "--data", str(kidney), "--out", str(tmp_path), "--sz", str(SZ),
                 "--reduce", "2", "--s-th", "30", "--zip"])
    assert code == 0 and "kept of" in capsys.readouterr().out
    index = read_index(tmp_path)
    names = sorted(f"{t}.png" for t in index.loc[index["kept"], "tile"])
    assert names and sorted(zipfile.ZipFile(tmp_path / "train.zip").namelist()) == names
    assert sorted(zipfile.ZipFile(tmp_path / "masks.zip").namelist()) == names
    assert json.loads((tmp_path / "tiling.json").read_text())["s_th"] == 30
    assert main(["tile", "--competition", KIDNEY, "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


def test_plots_return_figures():
    image = plain(GLASS, 32, 32)
    mask = np.zeros((32, 32), np.uint8)
    mask[:8], mask[-8:] = 1, 2
    tinted = overlay(image, mask, alpha=1.0)
    assert tuple(tinted[0, 0]) == (255, 0, 0) and tuple(tinted[-1, 0]) == (0, 255, 0)
    assert np.array_equal(tinted[16], image[16])
    fig = show_tiles([image] * 5, [mask] * 5, titles=list("abcde"), cols=3)
    assert len([ax for ax in fig.axes if ax.images]) == 5
    counts = pd.DataFrame({"kept": [3, 0], "dropped": [1, 4]}, index=["a", "b"])
    assert len(plot_kept_counts(counts).axes[0].patches) == 4
    with pytest.raises(ValueError, match="does not match"):
        overlay(image, mask[:4])
