"""The notebooks' bootstrap cell: canonical in every committed notebook, kept in sync, and finding the wheels."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from kit.__main__ import main
from kit.kernels import BOOTSTRAP_SOURCE, build_kit_wheel, sync_notebooks, with_bootstrap
from kit.kernels.bootstrap import BOOTSTRAP_TAG, sync_notebook
from kit.kernels.settings import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("*.ipynb"))


def _code_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_committed_notebook_starts_with_the_canonical_bootstrap(path):
    notebook = nbformat.read(path, as_version=4)
    first, second = _code_cells(notebook)[:2]
    assert first.source == BOOTSTRAP_SOURCE, f"{path.name}: run `python -m kit kernels sync-notebooks`"
    assert first.metadata["tags"] == [BOOTSTRAP_TAG] and not first.outputs
    assert "parameters" in second.metadata.get("tags", [])
    assert notebook.cells.index(second) == notebook.cells.index(first) + 1  # right before the parameters cell
    assert not sync_notebook(path, check=True)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_renders_figures_inline_from_its_imports_cell(path):
    imports = _code_cells(nbformat.read(path, as_version=4))[2]  # after bootstrap and parameters
    assert imports.source.startswith("%matplotlib inline\n"), f"{path.name}: figures would not show under Agg"


def _notebook(*cells) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = list(cells)
    return notebook


def test_with_bootstrap_inserts_replaces_and_is_idempotent(tmp_path):
    title = nbformat.v4.new_markdown_cell("# Title")
    params = nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]})
    stale = nbformat.v4.new_code_cell("print('old')", metadata={"tags": [BOOTSTRAP_TAG]})
    notebook = with_bootstrap(_notebook(title, params, stale, nbformat.v4.new_code_cell("x = 1")))
    assert [c.source for c in notebook.cells][:3] == ["# Title", BOOTSTRAP_SOURCE, "SEED = 0"]
    assert sum(BOOTSTRAP_TAG in c.metadata.get("tags", []) for c in notebook.cells) == 1
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    before = path.read_text()
    assert sync_notebooks([path]) == [] and path.read_text() == before
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        with_bootstrap(_notebook(title), "x.ipynb")
    with pytest.raises(ValueError, match="x.ipynb: code cell 0 comes before"):
        with_bootstrap(_notebook(nbformat.v4.new_code_cell("import os"), params), "x.ipynb")


def test_sync_command_checks_then_writes(tmp_path, capsys):
    path = tmp_path / "nb.ipynb"
    nbformat.write(_notebook(nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]})), path)
    assert main(["kernels", "sync-notebooks", "--check", str(path)]) == 1 and "stale" in capsys.readouterr().out
    assert main(["kernels", "sync-notebooks", str(path)]) == 0
    assert _code_cells(nbformat.read(path, as_version=4))[0].source == BOOTSTRAP_SOURCE
    assert main(["kernels", "sync-notebooks", "--check", str(path)]) == 0


@pytest.fixture
def without_kit(monkeypatch):
    """Run the bootstrap source as if kit and smp were missing (as on Kaggle); pip calls are recorded, not run."""
    import importlib.metadata

    real_find_spec, real_version = importlib.util.find_spec, importlib.metadata.version

    def hide_kit(name, *args):
        return None if name == "kit" else real_find_spec(name, *args)

    def hide_version(name):
        if name in ("kit", "segmentation_models_pytorch"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.util, "find_spec", hide_kit)
    monkeypatch.setattr(importlib.metadata, "version", hide_version)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.append(command))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("NO_ALBUMENTATIONS_UPDATE", raising=False)
    return calls


@pytest.mark.parametrize("layout", ["datasets/someone/seg-kit-wheels", "seg-kit-wheels", "deep/er/wheels"])
def test_bootstrap_finds_the_wheels_in_new_legacy_and_other_mounts(tmp_path, monkeypatch, without_kit, layout):
    wheels = tmp_path / "input" / layout
    wheels.mkdir(parents=True)
    for name in ("kit-0.1.0-py3-none-any.whl", "segmentation_models_pytorch-0.6.0-py3-none-any.whl"):
        (wheels / name).write_bytes(b"")
    (tmp_path / "input" / "competitions" / "c").mkdir(parents=True)
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path / "input"))
    exec(compile(BOOTSTRAP_SOURCE, "bootstrap", "exec"), {})
    (command,) = without_kit
    assert command[1:7] == ["-m", "pip", "install", "-q", "--no-index", "--no-deps"]
    assert command[7:9] == ["--find-links", str(wheels)]
    assert [Path(p).name for p in command[9:]] == sorted(p.name for p in wheels.iterdir())
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["NO_ALBUMENTATIONS_UPDATE"] == "1"


def test_bootstrap_without_wheels_names_the_dataset_to_attach(tmp_path, monkeypatch, without_kit):
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="attach the wheels dataset"):
        exec(compile(BOOTSTRAP_SOURCE, "bootstrap", "exec"), {})
    assert without_kit == []


def test_bootstrap_never_replaces_a_package_the_image_has(tmp_path):
    """A fresh environment with "affine" 2.4.0 installed (as on Kaggle) and a wheels dataset holding kit and an
    affine 3.0.1 wheel: the bootstrap cell installs kit, keeps affine 2.4.0 and says so."""
    import os
    import subprocess

    from kit.kernels.sandbox import make_offline_env
    from kit.kernels.wheels import write_wheel

    python = make_offline_env(tmp_path / "sandbox", ["kit", "affine"], guard=False)
    site = Path(subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    write_wheel(tmp_path / "image", "affine", "2.4.0", {"affine/__init__.py": b"VERSION = 'image'\n"})
    wheels = tmp_path / "input" / "datasets" / "me" / "seg-kit-wheels"
    build_kit_wheel(wheels)
    write_wheel(wheels, "affine", "3.0.1", {"affine/__init__.py": b"VERSION = 'wheel'\n"})
    with zipfile.ZipFile(next((tmp_path / "image").glob("*.whl"))) as archive:  # "the image's" affine 2.4.0
        archive.extractall(site)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KIT_KAGGLE_INPUT": str(tmp_path / "input"),
           "PYTHONNOUSERSITE": "1"}
    code = BOOTSTRAP_SOURCE + ("\nimport affine, importlib.metadata as m; print('affine', m.version('affine'), "
                               "affine.VERSION)")
    result = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installing 1 wheels from" in result.stdout and "keeping the image's affine 2.4.0" in result.stdout
    assert "affine 2.4.0 image" in result.stdout and f"from {site}" in result.stdout  # kit came from the wheel
