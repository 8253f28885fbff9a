"""Kernel folders and datasets: our validators, the kaggle CLI's own pre-push validation, push wrappers."""

from __future__ import annotations

import ast
import base64
import csv
import hashlib
import json
import re
import sys
import types
import zipfile
from pathlib import Path

import nbformat
import pytest

from kit.kernels import (
    BOOTSTRAP_SOURCE,
    KAGGLE_MISSING_PACKAGES,
    build_kernel_folders,
    build_kit_wheel,
    build_models_dataset,
    build_wheels_dataset,
    kernel_metadata,
    load_kernel_settings,
    push_dataset,
    push_kernel,
    repack_installed,
    slugify,
    validate_kernel_metadata,
)
from kit.kernels.push import parse_kernel_push
from kit.kernels.settings import repo_root
from kit.kernels.wheels import (
    KAGGLE_IMAGE_SNAPSHOT,
    check_not_in_image,
    download_command,
    normalize,
    read_image_snapshot,
)


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
    (settings / "datasets.json").write_text((repo_root() / "kernels" / "datasets.json").read_text())
    for name in load_kernel_settings():
        real = json.loads((repo_root() / "kernels" / f"{name}.json").read_text())
        notebook = nbformat.v4.new_notebook()
        knobs = "".join(f"\n{k} = None" for k in real.get("parameters", {}))
        notebook.cells = [nbformat.v4.new_code_cell("COMPETITION = None" + knobs, metadata={"tags": ["parameters"]}),
                          nbformat.v4.new_code_cell("print(COMPETITION)")]
        notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="stale")]
        path = tmp_path / Path(real["notebook"]).name
        nbformat.write(notebook, path)
        real["notebook"] = str(path)
        (settings / f"{name}.json").write_text(json.dumps(real))
    return settings


def test_every_built_kernel_folder_passes_the_kaggle_cli_validation(tmp_path, kaggle_api, capsys):
    settings = _fake_notebooks(tmp_path)
    folders = build_kernel_folders("someuser", "hubmap-organ-segmentation", tmp_path / "build", settings_dir=settings)
    assert sorted(f.name for f in folders) == sorted(load_kernel_settings())
    for folder in folders:
        kaggle_api.kernels_push(str(folder))
    assert len(kaggle_api.sent) == len(folders)
    assert "surprising" not in capsys.readouterr().out  # the CLI warns when the title does not slugify to the slug
    by_slug = {r.slug: r for r in kaggle_api.sent}
    infer = by_slug["someuser/seg-kit-03-inference"]
    assert infer.enable_internet is False and infer.enable_gpu is True and infer.machine_shape == "NvidiaTeslaT4"
    assert infer.competition_data_sources == ["hubmap-organ-segmentation"]
    assert sorted(infer.dataset_data_sources) == ["someuser/seg-kit-models", "someuser/seg-kit-wheels"]
    train = by_slug["someuser/seg-kit-01-training"]
    assert train.kernel_data_sources == ["someuser/seg-kit-00-tiling"]
    assert sorted(train.dataset_data_sources) == ["someuser/seg-kit-weights", "someuser/seg-kit-wheels"]
    body = json.loads(infer.text)
    code = [c for c in body["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") for c in code)
    assert code[0]["source"] == BOOTSTRAP_SOURCE and code[1]["metadata"]["tags"] == ["parameters"]
    assert code[2]["metadata"]["tags"] == ["injected-parameters"]
    assert "COMPETITION = 'hubmap-organ-segmentation'" in code[2]["source"]


def test_committed_notebooks_build_into_folders_the_kaggle_cli_accepts(tmp_path, kaggle_api, capsys):
    missing = [s.notebook for s in load_kernel_settings().values() if not (repo_root() / s.notebook).is_file()]
    assert not missing, f"kernels/*.json name notebooks that do not exist: {missing}"
    folders = build_kernel_folders("someuser", "bkai-igh-neopolyp", tmp_path / "build")
    for folder in folders:
        kaggle_api.kernels_push(str(folder))
        meta = json.loads((folder / "kernel-metadata.json").read_text())
        notebook = nbformat.read(folder / meta["code_file"], as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code[0].source == BOOTSTRAP_SOURCE and not any(c.outputs for c in code), folder.name
    assert len(kaggle_api.sent) == len(folders) == len(load_kernel_settings())
    assert "surprising" not in capsys.readouterr().out


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
        build_kernel_folders("me", "bkai-igh-neopolyp", tmp_path / "b", settings_dir=settings, names=["99-x"])
    with pytest.raises(ValueError, match="Kaggle user name"):
        build_kernel_folders("me/you", "bkai-igh-neopolyp", tmp_path / "b", settings_dir=settings)
    assert not (tmp_path / "b").exists()


def test_build_without_competition_names_the_flag_and_the_cli_uses_the_one_default(tmp_path, capsys):
    from kit.__main__ import main
    from kit.competitions import DEFAULT_COMPETITION
    from kit.kernels.build import notebook_parameters

    with pytest.raises(ValueError, match="pass --competition SLUG"):
        build_kernel_folders("me", None, tmp_path / "b")
    assert not (tmp_path / "b").exists()  # nothing written, not even the kernels that need no submission check
    assert main(["kernels", "build", "--user", "me", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert f"no --competition given: using the notebooks' default '{DEFAULT_COMPETITION}'" in out
    assert "warning" not in out  # the submission kernel is built rerun-safe
    for name, s in load_kernel_settings().items():  # one default competition everywhere
        assert notebook_parameters(nbformat.read(repo_root() / s.notebook, as_version=4))["COMPETITION"] \
            == DEFAULT_COMPETITION, s.notebook
        meta = json.loads((tmp_path / "b" / name / "kernel-metadata.json").read_text())
        assert meta["competition_sources"] == [DEFAULT_COMPETITION]
        assert (tmp_path / "b" / name / "kernel-metadata.json").stat().st_mode & 0o777 == 0o644


def _injected(folder: Path) -> dict:
    from kit.kernels.build import notebook_parameters

    notebook = nbformat.read(next(folder.glob("*.ipynb")), as_version=4)
    values = notebook_parameters(notebook)
    (cell,) = [c for c in notebook.cells if "injected-parameters" in c.metadata.get("tags", [])]
    values.update(ast.literal_eval("{" + ", ".join(f"{k!r}: {v}" for k, v in (
        line.split(" = ", 1) for line in cell.source.splitlines()[1:])) + "}"))
    return values


def test_submission_kernel_is_built_rerun_safe_unless_overridden_and_everything_is_checked_first(tmp_path, capsys):
    from kit.__main__ import main

    (infer,) = build_kernel_folders("me", "bkai-igh-neopolyp", tmp_path / "a", names=["03-inference"])
    values = _injected(infer)
    assert values["SKIP_ERRORS"] is True and values["BUDGET_MINUTES"] == 500 and values["COMPETITION"] == \
        "bkai-igh-neopolyp"
    assert main(["kernels", "build", "--user", "me", "--competition", "bkai-igh-neopolyp", "--out",
                 str(tmp_path / "b"), "--set", "SKIP_ERRORS=False", "--set", "BUDGET_MINUTES=None"]) == 0
    out = capsys.readouterr().out
    assert "warning: 03-inference: SKIP_ERRORS is not True" in out and "BUDGET_MINUTES is None" in out
    assert _injected(tmp_path / "b" / "03-inference")["SKIP_ERRORS"] is False
    assert "SKIP_ERRORS" not in _injected(tmp_path / "b" / "00-tiling")  # only where the notebook has it
    for bad, message in ((["--set", "BUDGET_MINUTES=600"], "must be a number of minutes in \\(0, 540\\)"),
                         (["--set", "NO_SUCH_KNOB=1"], "no kernel notebook has the parameters \\['NO_SUCH_KNOB'\\]"),
                         (["--set", "SKIP_ERRORS"], "expected NAME=VALUE")):
        assert main(["kernels", "build", "--user", "me", "--out", str(tmp_path / "c"), *bad]) == 2
        assert re.search(message, capsys.readouterr().err), bad
        assert not (tmp_path / "c").exists()  # validated before anything is written


def test_settings_parameters_must_exist_in_the_notebook(tmp_path):
    settings = _fake_notebooks(tmp_path)
    path = settings / "02-ensembling.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "parameters": {"TYPO": 1}}))
    with pytest.raises(KeyError, match="kernel 02-ensembling: .* has no parameters \\['TYPO'\\]"):
        build_kernel_folders("me", "bkai-igh-neopolyp", tmp_path / "b", settings_dir=settings)
    assert not (tmp_path / "b").exists()


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


def test_push_dataset_creates_then_versions_and_fails_on_cli_errors(tmp_path):
    folder = build_wheels_dataset(tmp_path / "wheels", "someuser", download=False)
    created = "Your private Dataset is being created. Please check progress at https://www.kaggle.com/x"
    calls = []
    assert push_dataset(folder, run=lambda a: calls.append(a) or (0, created)) == created
    assert calls == [["datasets", "create", "-p", str(folder), "-r", "zip", "-q"]]
    answers = iter([(0, "Dataset creation error: The requested title is already in use"),
                    (0, "Dataset version is being created. Please check progress at https://www.kaggle.com/x")])
    calls.clear()
    assert "version is being created" in push_dataset(folder, "v2", run=lambda a: calls.append(a) or next(answers))
    assert calls[1][:2] == ["datasets", "version"] and "v2" in calls[1]
    with pytest.raises(RuntimeError, match="create failed"):
        push_dataset(folder, run=lambda a: (0, "Dataset creation error: Invalid license"))
    answers = iter([(0, "title already in use"), (1, "401 Unauthorized")])
    with pytest.raises(RuntimeError, match="version failed"):
        push_dataset(folder, run=lambda a: next(answers))


def test_models_dataset_packs_slim_checkpoints_named_by_ensemble_json(tmp_path):
    import torch

    from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
    from kit.models.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "runs" / "unet"
    spec = {"name": "unet", "num_classes": 1, "kwargs": {}}
    save_checkpoint(run / "best.pt", {"model": {"w": torch.ones(2)}, "model_spec": spec, "optimizer": {"big": 1}})
    ensemble = tmp_path / "runs" / "ensemble.json"
    EnsembleConfig("hubmap-kidney-segmentation", [EnsembleModel("Unet r34", "unet/best.pt")]).save(ensemble)
    folder = build_models_dataset(tmp_path / "models", "someuser", ensemble)
    config = EnsembleConfig.load(folder / "ensemble.json")
    assert config.models[0].checkpoint == "00_unet-r34.pt"
    assert sorted(p.name for p in folder.iterdir()) == ["00_unet-r34.pt", "dataset-metadata.json", "ensemble.json"]
    state = load_checkpoint(folder / "00_unet-r34.pt")
    assert sorted(state) == ["model", "model_spec"] and torch.equal(state["model"]["w"], torch.ones(2))
    assert json.loads((folder / "dataset-metadata.json").read_text())["id"] == "someuser/seg-kit-models"
    (run / "best.pt").unlink()
    with pytest.raises(FileNotFoundError, match="model 0 \\('Unet r34'\\) checkpoint"):
        build_models_dataset(tmp_path / "models2", "someuser", ensemble)
    with pytest.raises(FileNotFoundError, match="run notebook 02"):
        build_models_dataset(tmp_path / "models3", "someuser", tmp_path / "nowhere.json")


def test_offline_wheels_command_repacks_the_pure_packages_and_names_the_skipped(tmp_path, capsys, monkeypatch):
    import kit.kernels
    from kit.__main__ import main

    assert main(["datasets", "build", "wheels", "--user", "someuser", "--out", str(tmp_path), "--offline"]) == 0
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "wheels").glob("*.whl"))
    assert names == ["kit", "segmentation_models_pytorch"]  # exactly what the image lacks; nothing skipped
    assert "skipped" not in capsys.readouterr().out
    monkeypatch.setattr(kit.kernels, "KAGGLE_MISSING_PACKAGES", ("segmentation-models-pytorch", "numpy"))
    assert main(["datasets", "build", "wheels", "--user", "someuser", "--out", str(tmp_path), "--offline"]) == 0
    assert "skipped numpy: 'numpy' is not pure Python" in capsys.readouterr().out
    assert main(["datasets", "push", "wheels", "--out", str(tmp_path / "nowhere")]) == 2  # missing folder


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
    code = BOOTSTRAP_SOURCE + "\nimport affine, importlib.metadata as m; print('affine', m.version('affine'), " \
                              "affine.VERSION)"
    result = subprocess.run([str(python), "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "installing 1 wheels from" in result.stdout and "keeping the image's affine 2.4.0" in result.stdout
    assert "affine 2.4.0 image" in result.stdout and f"from {site}" in result.stdout  # kit came from the wheel
