"""Kernel folders: built from the settings and notebooks, checked first, accepted by the kaggle CLI's own validation."""

from __future__ import annotations

import ast
import json
import re
import types
from pathlib import Path

import nbformat
import pytest

from kit.__main__ import main
from kit.kernels import BOOTSTRAP_SOURCE, build_kernel_folders, load_kernel_settings
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
