"""Notebook 00 (tiling) in smoke mode: tiles, masks, stats and its figures."""

from __future__ import annotations

import nbformat

from kit.artifacts.tiles import read_index, read_stats
from kit.io import read_png_mask

ORGANS = "hubmap-organ-segmentation"
SZ = 64


def test_notebook_runs_in_smoke_mode(tmp_path):
    from kit.notebooks import run_notebook

    output, _ = run_notebook("00_tiling", tmp_path, {"COMPETITION": ORGANS, "SMOKE": True, "SZ": SZ,
                                                    "PIXEL_SIZE": 0.8, "OUT_DIR": "tiles", "WORKERS": 1}, timeout=300)
    index = read_index(tmp_path / "tiles")
    assert len(index) > 0 and index["kept"].any() and set(index["organ"]) - {""}
    for tile in index.loc[index["kept"], "tile"]:
        assert read_png_mask(tmp_path / "tiles" / "masks" / f"{tile}.png").max() <= 1
        assert (tmp_path / "tiles" / "images" / f"{tile}.png").exists()
    assert len(read_stats(tmp_path / "tiles")["mean"]) == 3
    executed = nbformat.read(output, as_version=4)  # figures rendered even under MPLBACKEND=Agg (the suite's)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # random kept tiles, tiles per image, tiles per organ
