"""Kaggle path resolution against a simulated /kaggle/input (KIT_KAGGLE_INPUT) in new and legacy mounts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kit.paths import (find_competition_data, find_dataset, find_file, find_step_output, find_training_inputs,
                       kaggle_input_root, on_kaggle, working_root)

SLUG = "bkai-igh-neopolyp"


@pytest.fixture
def kaggle(tmp_path, monkeypatch):
    """A fake Kaggle machine: input and working roots under tmp_path, not inside a kernel."""
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path / "input"))
    monkeypatch.setenv("KIT_KAGGLE_WORKING", str(tmp_path / "working"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    return tmp_path / "input"


def test_roots_follow_the_environment(kaggle, tmp_path, monkeypatch):
    assert kaggle_input_root() == kaggle and working_root() == tmp_path / "working"
    assert not on_kaggle()  # the simulated input root does not exist yet
    kaggle.mkdir()
    assert on_kaggle()
    monkeypatch.delenv("KIT_KAGGLE_INPUT")
    monkeypatch.delenv("KIT_KAGGLE_WORKING")
    assert str(kaggle_input_root()) == "/kaggle/input"
    monkeypatch.chdir(tmp_path)
    assert working_root() == (Path("/kaggle/working") if os.path.isdir("/kaggle/working") else tmp_path)


def test_inside_a_kernel_the_run_type_variable_is_enough(kaggle, monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    assert on_kaggle()


def test_competition_data_new_mount_wins_over_legacy(kaggle):
    with pytest.raises(FileNotFoundError) as error:
        find_competition_data(SLUG)
    message = str(error.value)
    assert str(kaggle / "competitions" / SLUG) in message and str(kaggle / SLUG) in message
    legacy = kaggle / SLUG
    legacy.mkdir(parents=True)
    assert find_competition_data(SLUG) == legacy
    new = kaggle / "competitions" / SLUG
    new.mkdir(parents=True)
    assert find_competition_data(SLUG) == new


def test_explicit_local_folder_must_exist(kaggle, tmp_path):
    (kaggle / "competitions" / SLUG).mkdir(parents=True)
    local = tmp_path / "my data"
    with pytest.raises(FileNotFoundError, match="my data"):
        find_competition_data(SLUG, local=local)
    local.mkdir()
    assert find_competition_data(SLUG, local=local) == local
    assert find_competition_data(SLUG, local=str(local)) == local


def test_datasets_any_owner_given_owner_and_legacy(kaggle):
    with pytest.raises(FileNotFoundError, match=r"(?s)dataset seg-kit-wheels not found.*datasets/<owner>/seg-kit-"):
        find_dataset("seg-kit-wheels")
    legacy = kaggle / "seg-kit-wheels"
    legacy.mkdir(parents=True)
    assert find_dataset("seg-kit-wheels") == legacy
    wheels = kaggle / "datasets" / "someone" / "seg-kit-wheels"
    wheels.mkdir(parents=True)
    assert find_dataset("seg-kit-wheels") == wheels
    assert find_dataset("seg-kit-wheels", owner="someone") == wheels
    assert find_dataset("seg-kit-wheels", owner="other") == legacy
    with pytest.raises(FileNotFoundError) as error:
        find_dataset("seg-kit-models", owner="someone")
    message = str(error.value)
    assert str(kaggle / "datasets" / "someone" / "seg-kit-models") in message
    assert str(kaggle / "seg-kit-models") in message


def test_find_file_searches_roots_recursively(kaggle, tmp_path):
    wheels = kaggle / "datasets" / "someone" / "seg-kit-models" / "ensemble"
    wheels.mkdir(parents=True)
    (wheels / "ensemble.json").write_text("{}")
    assert find_file("ensemble.json") == wheels / "ensemble.json"
    assert find_file("*.json", [tmp_path / "elsewhere", kaggle]) == wheels / "ensemble.json"
    with pytest.raises(FileNotFoundError, match="no file named 'model.pt' under"):
        find_file("model.pt")


def test_step_output_is_the_local_folder_else_an_attached_kernel_output(kaggle, tmp_path):
    local = tmp_path / "tiles"
    attached = kaggle / "someone-tiling-kernel" / "tiles"  # kernel 00's output attached as a source
    attached.mkdir(parents=True)
    (attached / "tiling.json").write_text("{}")
    assert find_step_output("tiles-not-here", "tiling.json") == attached
    local.mkdir()
    (local / "tiling.json").write_text("{}")
    assert find_step_output(local, "tiling.json") == local  # a local folder with the marker wins
    with pytest.raises(FileNotFoundError, match=r"no oof\.npz in .*tiles nor under .*input"):
        find_step_output(local, "oof.npz")


def test_training_inputs_find_the_tiles_or_the_competition_data(kaggle, tmp_path):
    tiles = kaggle / "tiling-kernel" / "tiles"
    tiles.mkdir(parents=True)
    (tiles / "tiling.json").write_text("{}")
    assert find_training_inputs(SLUG, "tiles", None) == (str(tiles), None)  # tiles need no data folder
    with pytest.raises(FileNotFoundError, match="competition data for bkai-igh-neopolyp"):
        find_training_inputs(SLUG, None, None)
    data = kaggle / "competitions" / SLUG
    data.mkdir(parents=True)
    assert find_training_inputs(SLUG, None, None) == (None, str(data))  # full images: the attached data
    assert find_training_inputs(SLUG, str(tiles), tmp_path) == (str(tiles), str(tmp_path))
