"""The tiles folder's one owner: index.csv read alike by the tiler and the training datasets, one stats.json reader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kit.artifacts.tiles import (INDEX_COLUMNS, normalisation, read_index, read_stats, tile_paths, tiles_contract,
                                 write_index, write_stats)
from kit.data import tile_items
from kit.models.contract import IMAGENET_MEAN, IMAGENET_STD


def _index(tmp_path):
    rows = [dict(zip(INDEX_COLUMNS, ("0042", "0042_00000", 0, 0, 0, 0, 0, 8, 8, 1.0, 0.9, 0.25, True, "", ""))),
            dict(zip(INDEX_COLUMNS, ("0042", "0042_00001", 1, 0, 1, 0, 8, 8, 8, 1.0, 0.1, np.nan, False, "", ""))),
            dict(zip(INDEX_COLUMNS, ("7", "7_00000", 0, 0, 0, 0, 0, 8, 8, 1.0, 0.8, np.nan, True, "kidney", "HPA")))]
    write_index(pd.DataFrame(rows), tmp_path / "index.csv")
    return tmp_path


def test_the_tiler_and_the_training_datasets_read_index_csv_alike(tmp_path):
    folder = _index(tmp_path)
    index = read_index(folder)
    assert index["id"].tolist() == ["0042", "0042", "7"]  # ids stay strings (leading zeros kept)
    assert index["organ"].tolist() == ["", "", "kidney"] and index["data_source"].tolist() == ["", "", "HPA"]
    assert index["kept"].tolist() == [True, False, True] and index["mask_frac"].isna().tolist() == [False, True, True]
    items = tile_items(folder)
    assert items["tile"].tolist() == ["0042_00000", "7_00000"]  # kept tiles only
    kept = index[index["kept"]].reset_index(drop=True)
    for column in INDEX_COLUMNS:
        assert items[column].equals(kept[column]), column
    images, masks = tile_paths(folder, items["tile"])
    assert items["image_path"].tolist() == [str(p) for p in images] and items["mask_path"].tolist() == [str(p)
                                                                                                       for p in masks]
    (folder / "index.csv").write_text("id,tile\n1,1_00000\n")
    with pytest.raises(ValueError, match="index.csv lacks columns"):
        tile_items(folder)


def test_stats_json_has_one_reader_with_one_behaviour(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the tiler"):
        read_stats(tmp_path)
    assert read_stats(tmp_path, missing_ok=True) is None
    assert normalisation(tmp_path) == (IMAGENET_MEAN, IMAGENET_STD)  # no stats: what the datasets always used
    write_stats(tmp_path, {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.1], "pixels": 64})
    assert normalisation(tmp_path) == ((0.5, 0.4, 0.3), (0.2, 0.2, 0.1))
    assert tiles_contract({"num_classes": 1}, tmp_path) is None  # no tiling.json: the tiles' scale is unknown
    (tmp_path / "tiling.json").write_text(json.dumps({"sz": 64, "reduce": 2.0, "pixel_size": None}))
    assert tiles_contract({"num_classes": 1}, tmp_path)["mean"] == [0.5, 0.4, 0.3]
    (tmp_path / "stats.json").write_text(json.dumps({"mean": [0.5, 0.4]}))
    with pytest.raises(ValueError, match="stats.json needs 'mean' and 'std' with 3 values"):
        normalisation(tmp_path)
    (tmp_path / "stats.json").write_text("{")
    with pytest.raises(ValueError, match="stats.json is not valid JSON"):
        read_stats(tmp_path, missing_ok=True)
