"""Kernel folders and datasets: our validators, the kaggle CLI's own pre-push validation, push wrappers."""

from __future__ import annotations

import json
import types
import zipfile
from pathlib import Path

import nbformat
import pytest

from kit.kernels import (
    KAGGLE_MISSING_PACKAGES,
    build_kernel_folders,
    build_models_dataset,
    build_wheels_dataset,
    kernel_metadata,
    load_kernel_settings,
    push_dataset,
    push_kernel,
    slugify,
    validate_kernel_metadata,
)
from kit.kernels.datasets import build_kit_wheel, download_command
from kit.kernels.push import parse_kernel_push
from kit.kernels.settings import repo_root


class FakeClient:
    """Stands in for kagglesdk's client: records the save_kernel / create_dataset request instead of sending it."""

    def __init__(self, sink: list) -> None:
        response = types.SimpleNamespace(error="", invalidTags=[], invalidDatasetSources=[],
                                         invalidCompetitionSources=[], invalidKernelSources=[], versionNumber=7,
                                         url="https://www.kaggle.com/code/me/x")
        self.kernels = types.SimpleNamespace(kernels_api_client=types.SimpleNamespace(
            save_kernel=lambda request: sink.append(request) or response))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def kaggle_api(monkeypatch, tmp_path):
    """The installed kaggle CLI's KaggleApi with its network layer replaced (no credentials, no requests)."""
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    sent: list = []
    monkeypatch.setattr(api, "build_kaggle_client", lambda: FakeClient(sent))
    api.sent = sent
    return api


def _fake_notebooks(tmp_path: Path) -> Path:
    """A settings folder like kernels/ whose notebooks are tiny generated ones."""
    settings = tmp_path / "kernels"
    settings.mkdir()
    (settings / "datasets.json").write_text(json.dumps({"wheels": {"slug": "seg-kit-wheels", "title": "seg-kit wheels"},
                                                        "models": {"slug": "seg-kit-models", "title": "seg-kit models"}}))
    for name in load_kernel_settings():
        real = json.loads((repo_root() / "kernels" / f"{name}.json").read_text())
        notebook = nbformat.v4.new_notebook()
        notebook.cells = [nbformat.v4.new_code_cell("COMPETITION = None", metadata={"tags": ["parameters"]}),
                          nbformat.v4.new_code_cell("print(COMPETITION)")]
        notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="stale")]
        path = tmp_path / Path(real["notebook"]).name
        nbformat.write(notebook, path)
        real["notebook"] = str(path)
        (settings / f"{name}.json").write_text(json.dumps(real))
    return settings


def test_every_built_kernel_folder_passes_the_kaggle_cli_validation(tmp_path, kaggle_api):
    settings = _fake_notebooks(tmp_path)
    folders = build_kernel_folders("someuser", "hubmap-organ-segmentation", tmp_path / "build", settings_dir=settings)
    assert sorted(f.name for f in folders) == sorted(load_kernel_settings())
    for folder in folders:
        kaggle_api.kernels_push(str(folder))
    assert len(kaggle_api.sent) == len(folders)
    by_slug = {r.slug: r for r in kaggle_api.sent}
    infer = by_slug["someuser/seg-kit-03-inference"]
    assert infer.enable_internet is False and infer.enable_gpu is True and infer.machine_shape == "NvidiaTeslaT4"
    assert infer.competition_data_sources == ["hubmap-organ-segmentation"]
    assert sorted(infer.dataset_data_sources) == ["someuser/seg-kit-models", "someuser/seg-kit-wheels"]
    train = by_slug["someuser/seg-kit-01-training"]
    assert train.kernel_data_sources == ["someuser/seg-kit-00-tiling"]
    body = json.loads(infer.text)
    assert all(not c.get("outputs") for c in body["cells"] if c["cell_type"] == "code")
    assert "COMPETITION = 'hubmap-organ-segmentation'" in body["cells"][1]["source"]


def test_real_settings_describe_an_offline_gpu_submission_kernel():
    settings = load_kernel_settings()
    infer = [s for s in settings.values() if s.submission]
    assert len(infer) == 1 and infer[0].internet is False and infer[0].gpu and infer[0].competition
    assert set(infer[0].datasets) == {"wheels", "models"}
    for s in settings.values():
        assert (repo_root() / s.notebook).suffix == ".ipynb"
        assert len(s.slug) >= 5 and slugify(s.slug) == s.slug


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": "me/abc"}, "at least five characters"),
        ({"id": "me/Bad_Slug"}, "must be 'owner/slug'"),
        ({"title": "another title"}, "resolve to the slug"),
        ({"code_file": "missing.ipynb"}, "code_file 'missing.ipynb' not found"),
        ({"language": "julia"}, "language 'julia'"),
        ({"kernel_type": "app"}, "kernel_type 'app'"),
        ({"enable_internet": "maybe"}, "enable_internet must be set explicitly"),
        ({"dataset_sources": ["wheels"]}, "dataset_sources entry 'wheels'"),
        ({"machine_shape": None}, "machine_shape 'NvidiaTeslaT4'"),
        ({"enable_internet": True}, "needs a competition source and enable_internet false"),
    ],
)
def test_validator_rejects_each_broken_field(tmp_path, change, message):
    (tmp_path / "nb.ipynb").write_text("{}")
    meta = kernel_metadata("me", "seg-kit-03-inference", "nb.ipynb", gpu=True, internet=False,
                           competition="bkai-igh-neopolyp")
    meta.update(change)
    with pytest.raises(ValueError, match=message):
        validate_kernel_metadata(meta, tmp_path, submission=True)


def test_build_rejects_unknown_competition_kernel_and_user(tmp_path):
    settings = _fake_notebooks(tmp_path)
    with pytest.raises(KeyError, match="valid"):
        build_kernel_folders("me", "no-such-competition", tmp_path / "b", settings_dir=settings)
    with pytest.raises(KeyError, match="unknown kernels \\['99-x'\\]"):
        build_kernel_folders("me", None, tmp_path / "b", settings_dir=settings, names=["99-x"])
    with pytest.raises(ValueError, match="Kaggle user name"):
        build_kernel_folders("me/you", None, tmp_path / "b", settings_dir=settings)


def test_push_reports_version_and_fails_on_invalid_sources(tmp_path):
    settings = _fake_notebooks(tmp_path)
    folder = build_kernel_folders("me", "bkai-igh-neopolyp", tmp_path / "b", settings_dir=settings,
                                  names=["03-inference"])[0]
    ok = "Kernel version 4 successfully pushed.  Please check progress at https://www.kaggle.com/code/me/x"
    calls = []
    assert push_kernel(folder, submission=True, run=lambda a: calls.append(a) or (0, ok)) == 4
    assert calls == [["kernels", "push", "-p", str(folder)]]
    warned = "The following are not valid dataset sources and could not be added to the kernel: ['me/x']\n" + ok
    with pytest.raises(RuntimeError, match="not valid dataset sources"):
        push_kernel(folder, run=lambda a: (0, warned))
    with pytest.raises(RuntimeError, match="did not report a version"):
        parse_kernel_push("something else")


def test_wheels_dataset_holds_the_kit_wheel_and_valid_metadata(tmp_path, monkeypatch):
    commands = []
    real_build = build_kit_wheel
    folder = build_wheels_dataset(tmp_path / "wheels", "someuser", download=True,
                                  run=lambda c: commands.append(c) if "download" in c else real_build.__globals__["_run"](c))
    wheel = next(folder.glob("kit-*-py3-none-any.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "kit/rle.py" in names or any(n.startswith("kit/") for n in names)
    assert "kit/kernels/push.py" in names
    meta = json.loads((folder / "dataset-metadata.json").read_text())
    assert meta == {"title": "seg-kit wheels", "id": "someuser/seg-kit-wheels", "licenses": [{"name": "CC0-1.0"}]}
    (download,) = commands
    assert download == download_command(KAGGLE_MISSING_PACKAGES, folder)
    assert "segmentation-models-pytorch" in download and "3.12" in download and "manylinux2014_x86_64" in download
    calls = []
    push_dataset(folder, run=lambda a: calls.append(a) or (0, "Dataset creation started"))
    assert calls[0][:3] == ["datasets", "create", "-p"]


def test_models_dataset_copies_checkpoints_named_by_ensemble_json(tmp_path):
    run = tmp_path / "runs" / "unet"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"weights")
    ensemble = tmp_path / "runs" / "ensemble.json"
    ensemble.write_text(json.dumps({"models": [{"checkpoint": "unet/best.pt", "weight": 1.0}], "threshold": 0.5}))
    folder = build_models_dataset(tmp_path / "models", "someuser", ensemble)
    config = json.loads((folder / "ensemble.json").read_text())
    assert (folder / config["models"][0]["checkpoint"]).read_bytes() == b"weights"
    (run / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="model 0 checkpoint"):
        build_models_dataset(tmp_path / "models2", "someuser", ensemble)
