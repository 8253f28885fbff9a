"""The wheels dataset: the kit wheel, exactly the packages the Kaggle image lacks, reproducible repacks."""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from kit.__main__ import main
from kit.kernels import KAGGLE_MISSING_PACKAGES, build_kit_wheel, build_wheels_dataset, repack_installed
from kit.kernels.settings import repo_root
from kit.kernels.wheels import (
    KAGGLE_IMAGE_SNAPSHOT,
    check_not_in_image,
    download_command,
    normalize,
    read_image_snapshot,
)


def _fake_download(command):
    """Stands in for ``pip download``: writes an empty wheel per requested package==version into --dest."""
    dest = Path(command[command.index("--dest") + 1])
    for package in command[command.index("--dest") + 2:]:
        name, version = package.split("==")
        (dest / f"{name.replace('-', '_')}-{version}-py3-none-any.whl").write_bytes(b"")


def test_wheels_dataset_holds_the_kit_wheel_the_missing_packages_and_valid_metadata(tmp_path):
    commands = []
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "segmentation_models_pytorch-0.1-py3-none-any.whl").write_bytes(b"stale")
    def record(command):
        commands.append(command)
        _fake_download(command)

    folder = build_wheels_dataset(tmp_path / "wheels", "someuser", run=record)
    (download,) = commands
    staging = Path(download[download.index("--dest") + 1])  # built beside the folder, swapped in when complete
    assert staging.parent == folder.parent and staging.name.startswith(".wheels.") and not staging.exists()
    assert download == download_command(KAGGLE_MISSING_PACKAGES, staging)
    assert download[download.index("--python-version") + 1] == "3.12" and "--only-binary=:all:" in download
    import importlib.metadata

    smp = importlib.metadata.version("segmentation-models-pytorch")  # what requirements.txt resolved to here
    assert "manylinux2014_x86_64" in download and f"segmentation-models-pytorch=={smp}" in download
    assert not (folder / "segmentation_models_pytorch-0.1-py3-none-any.whl").exists()  # old versions removed
    assert len(list(folder.glob("*.whl"))) == len(KAGGLE_MISSING_PACKAGES) + 1
    names = zipfile.ZipFile(next(folder.glob("kit-*-py3-none-any.whl"))).namelist()
    assert "kit/kernels/push.py" in names and not any("__pycache__" in n for n in names)
    meta = json.loads((folder / "dataset-metadata.json").read_text())
    assert meta == {"title": "seg-kit wheels", "id": "someuser/seg-kit-wheels", "licenses": [{"name": "CC0-1.0"}]}
    with pytest.raises(RuntimeError, match="no wheel of \\['segmentation-models-pytorch'"):
        build_wheels_dataset(tmp_path / "w2", "someuser", run=lambda c: None)
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(RuntimeError, match="no wheel of"):  # a failed rebuild keeps the previous wheels
        build_wheels_dataset(folder, "someuser", run=lambda c: None)
    assert sorted(p.name for p in folder.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wheels"]  # no staging folder left behind
    with pytest.raises(ValueError, match="already has \\['rasterio 1.5.0'\\]"):  # checked before any write
        build_wheels_dataset(tmp_path / "w3", "someuser", download=False, repack=["rasterio"])
    assert not (tmp_path / "w3").exists()


def _imported_modules(source: str) -> set[str]:
    from IPython.core.inputtransformer2 import TransformerManager

    modules = set()
    for node in ast.walk(ast.parse(TransformerManager().transform_cell(source))):  # magics become calls
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def test_wheels_ship_exactly_the_imported_packages_the_dated_kaggle_image_snapshot_lacks():
    import importlib.metadata

    sources = [p.read_text() for p in (repo_root() / "kit").rglob("*.py")]
    for notebook in (repo_root() / "notebooks").glob("*.ipynb"):
        sources += [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    imported = set().union(*map(_imported_modules, sources)) - set(sys.stdlib_module_names) - {"kit", "__future__"}
    assert {"segmentation_models_pytorch", "torch", "rasterio"} <= imported
    distributions = importlib.metadata.packages_distributions()  # import name -> distributions installed here
    needed = {normalize(d) for module in imported for d in distributions.get(module, [module])}
    snapshot = read_image_snapshot()
    assert sorted(n for n in needed if n not in snapshot) == sorted(map(normalize, KAGGLE_MISSING_PACKAGES))
    assert snapshot["rasterio"] == "1.5.0" and snapshot["affine"] == "2.4.0"  # never shipped: the image has them
    text = (repo_root() / KAGGLE_IMAGE_SNAPSHOT).read_text()
    assert re.search(r"dated \d{4}-\d{2}-\d{2}", text) and "Sources:" in text
    with pytest.raises(ValueError, match="already has \\['rasterio 1.5.0', 'affine 2.4.0'\\]"):
        check_not_in_image(["rasterio", "affine", "segmentation-models-pytorch"])


def _check_record(wheel: Path) -> list[str]:
    """Every file of the wheel is listed in RECORD with its sha256 and size; returns the names."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (record_name,) = [n for n in names if n.endswith(".dist-info/RECORD")]
        rows = {row[0]: row[1:] for row in csv.reader(archive.read(record_name).decode().splitlines())}
        assert set(rows) == set(names)
        for name in names:
            if name != record_name:
                data = archive.read(name)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert rows[name] == [f"sha256={digest}", str(len(data))], name
    return names


def test_kit_wheel_is_reproducible_and_repacks_keep_every_installed_file(tmp_path):
    first = build_kit_wheel(tmp_path / "a")
    second = build_kit_wheel(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    names = _check_record(first)
    assert "kit-0.1.0.dist-info/entry_points.txt" in names and "kit/__init__.py" in names
    smp = repack_installed("segmentation-models-pytorch", tmp_path)
    import importlib.metadata

    installed = {str(f) for f in importlib.metadata.distribution("segmentation_models_pytorch").files
                 if f.suffix == ".py" and "__pycache__" not in f.parts}
    assert installed and installed <= set(_check_record(smp))
    with pytest.raises(ValueError, match="'numpy' is not pure Python"):
        repack_installed("numpy", tmp_path)
    with pytest.raises(ValueError, match="not installed"):
        repack_installed("no-such-package-here", tmp_path)


def test_offline_wheels_command_repacks_the_pure_packages_and_names_the_skipped(tmp_path, capsys, monkeypatch):
    import kit.kernels

    assert main(["datasets", "build", "wheels", "--user", "someuser", "--out", str(tmp_path), "--offline"]) == 0
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "wheels").glob("*.whl"))
    assert names == ["kit", "segmentation_models_pytorch"]  # exactly what the image lacks; nothing skipped
    assert "skipped" not in capsys.readouterr().out
    monkeypatch.setattr(kit.kernels, "KAGGLE_MISSING_PACKAGES", ("segmentation-models-pytorch", "numpy"))
    assert main(["datasets", "build", "wheels", "--user", "someuser", "--out", str(tmp_path), "--offline"]) == 0
    assert "skipped numpy: 'numpy' is not pure Python" in capsys.readouterr().out
    assert main(["datasets", "push", "wheels", "--out", str(tmp_path / "nowhere")]) == 2  # missing folder
