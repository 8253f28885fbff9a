"""Write kernel folders (kernel-metadata.json + notebook) from the settings in ``kernels/``.

Every folder is prepared and checked in memory first (metadata, notebook parameters, the submission kernel's
rerun safety); only when all of them pass is anything written.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from kit.fsutil import atomic_write_text
from kit.kernels.bootstrap import with_bootstrap
from kit.kernels.metadata import KERNEL_METADATA_FILE, kernel_metadata, validate_kernel_metadata
from kit.kernels.settings import KernelSettings, load_dataset_settings, load_kernel_settings, repo_root
from kit.registry import Registry

__all__ = ["KAGGLE_LIMIT_MINUTES", "KernelFolder", "inject_parameters", "notebook_parameters",
           "submission_warnings", "prepare_kernel_folder", "build_kernel_folder", "build_kernel_folders",
           "build_kernels"]

KAGGLE_LIMIT_MINUTES = 540  # a code-competition notebook's 9 hours; the submission kernel's budget stays below


@dataclass
class KernelFolder:
    """One kernel folder, prepared in memory: where it goes, its notebook text and metadata, what it injects."""

    folder: Path
    code_file: str
    notebook: str
    metadata: dict[str, Any]
    parameters: dict[str, Any]  # the notebook's effective parameters (defaults + injected)
    injected: dict[str, Any]  # what the injected-parameters cell sets
    submission: bool = False

    def write(self) -> Path:
        """Write the notebook and kernel-metadata.json (atomic, 0644); returns the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / self.code_file, self.notebook)
        atomic_write_text(self.folder / KERNEL_METADATA_FILE, json.dumps(self.metadata, indent=2) + "\n")
        return self.folder


def _parameters_cell(notebook: nbformat.NotebookNode) -> int:
    index = next((i for i, c in enumerate(notebook.cells) if "parameters" in c.get("metadata", {}).get("tags", [])),
                 None)
    if index is None:
        raise ValueError("notebook has no cell tagged 'parameters'")
    return index


def notebook_parameters(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """Names assigned in the ``parameters`` cell, with their literal default (None where not a literal)."""
    tree = ast.parse(notebook.cells[_parameters_cell(notebook)].source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    try:
                        found[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        found[target.id] = None
    return found


def inject_parameters(notebook: nbformat.NotebookNode, values: dict) -> nbformat.NotebookNode:
    """Insert an ``injected-parameters`` cell after the ``parameters`` cell (papermill's convention)."""
    index = _parameters_cell(notebook)
    source = "# Parameters set by kit kernels build\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)
    for c in notebook.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return notebook


def submission_warnings(parameters: dict[str, Any]) -> list[str]:
    """What makes the submission kernel unsafe in the hidden rerun, from its effective ``parameters``.

    A budget over Kaggle's limit raises ValueError (the rerun would time out for sure); no budget or
    ``SKIP_ERRORS`` off (one bad hidden image stops the notebook) come back as warnings: the user may mean them.
    """
    budget = parameters.get("BUDGET_MINUTES")
    if budget is not None and (not isinstance(budget, (int, float)) or not 0 < budget < KAGGLE_LIMIT_MINUTES):
        raise ValueError(f"BUDGET_MINUTES {budget!r} must be a number of minutes in (0, {KAGGLE_LIMIT_MINUTES}) "
                         f"(Kaggle stops a code-competition notebook after {KAGGLE_LIMIT_MINUTES} minutes)")
    problems = []
    if budget is None:
        problems.append("BUDGET_MINUTES is None: the hidden rerun has no time limit of its own and may time out")
    if parameters.get("SKIP_ERRORS") is not True:
        problems.append("SKIP_ERRORS is not True: one unreadable hidden test image stops the whole rerun")
    return problems


def prepare_kernel_folder(
    settings: KernelSettings, user: str, out_dir: str | Path, competition: str,
    dataset_slugs: dict[str, str] | None = None, kernel_slugs: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> KernelFolder:
    """The folder ``out_dir/<name>/`` in memory: the notebook (bootstrap cell refreshed; ``COMPETITION``, the
    settings' parameters and those ``overrides`` the notebook has injected; outputs cleared) and its validated
    kernel-metadata.json. Raises naming the kernel when a source, a parameter name or a metadata field is wrong."""
    source = repo_root() / settings.notebook
    if not source.exists():
        raise FileNotFoundError(f"kernel {settings.name}: notebook {source} not found")
    folder = Path(out_dir) / settings.name
    notebook = with_bootstrap(nbformat.read(source, as_version=4), str(source), online=settings.internet)
    known = notebook_parameters(notebook)
    mine = {k: v for k, v in (overrides or {}).items() if k in known}
    values = {"COMPETITION": competition, **settings.parameters, **mine}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise KeyError(f"kernel {settings.name}: {source.name} has no parameters {unknown}; "
                       f"valid: {', '.join(sorted(known))}")
    inject_parameters(notebook, values)
    unknown_source = (f"kernel {settings.name} refers to unknown {{kind}} {{name!r}}{{hint}} (valid: {{valid}}; "
                      "a name of kernels/datasets.json or kernels/*.json, or a dataset as owner/slug)")
    dataset_slugs = Registry.of("dataset", dataset_slugs or {}, unknown_source)
    kernel_slugs = Registry.of("kernel", kernel_slugs or {}, unknown_source)
    datasets = tuple(name if "/" in name else f"{user}/{dataset_slugs.get(name)}" for name in settings.datasets)
    kernels = tuple(f"{user}/{kernel_slugs.get(name)}" for name in settings.kernels)
    code_file = Path(settings.notebook).name
    meta = kernel_metadata(
        user, settings.slug, code_file, gpu=settings.gpu, internet=settings.internet,
        competition=competition if settings.competition else None, datasets=datasets, kernels=kernels,
    )
    validate_kernel_metadata(meta, folder, submission=settings.submission, files=[code_file])
    if settings.submission:
        submission_warnings({**known, **values})  # raises on an impossible budget
    return KernelFolder(folder, code_file, nbformat.writes(notebook), meta, {**known, **values}, values,
                        settings.submission)


def build_kernel_folder(
    settings: KernelSettings, user: str, out_dir: str | Path, competition: str,
    dataset_slugs: dict[str, str] | None = None, kernel_slugs: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Prepare, check and write one kernel folder (see :func:`prepare_kernel_folder`); returns the folder."""
    return prepare_kernel_folder(settings, user, out_dir, competition, dataset_slugs, kernel_slugs, overrides).write()


def build_kernel_folders(
    user: str, competition: str | None, out_dir: str | Path = "build/kernels",
    settings_dir: str | Path | None = None, names: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[Path]:
    """Build every kernel folder (or only ``names``) for Kaggle user ``user``; returns the folders
    (see :func:`build_kernels`)."""
    return [k.folder for k in build_kernels(user, competition, out_dir, settings_dir, names, overrides)]


def build_kernels(
    user: str, competition: str | None, out_dir: str | Path = "build/kernels",
    settings_dir: str | Path | None = None, names: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[KernelFolder]:
    """Build every kernel folder (or only ``names``) for Kaggle user ``user``; returns what was written.

    ``overrides``: notebook parameters injected over the settings' ones, in every kernel whose notebook has
    them (e.g. ``{"SKIP_ERRORS": False}`` for the submission kernel); a name no built notebook has raises.
    Nothing is written unless every folder passes its checks.
    """
    from kit.competitions import get_profile, list_competitions

    if not user or "/" in user:
        raise ValueError(f"--user must be a Kaggle user name, got {user!r}")
    if competition is None:
        raise ValueError(f"the kernels need a competition: pass --competition SLUG "
                         f"(one of {', '.join(list_competitions())})")
    get_profile(competition)  # unknown slugs fail here with the valid list
    settings = load_kernel_settings(settings_dir)
    settings.check_all(names or ())
    dataset_slugs = {name: d.slug for name, d in load_dataset_settings(settings_dir).items()}
    kernel_slugs = {name: s.slug for name, s in settings.items()}
    prepared = [
        prepare_kernel_folder(s, user, out_dir, competition, dataset_slugs, kernel_slugs, overrides)
        for name, s in settings.items()
        if not names or name in names
    ]
    unused = sorted(set(overrides or ()) - {k for p in prepared for k in p.parameters})
    if unused:
        raise KeyError(f"no kernel notebook has the parameters {unused}")
    for folder in prepared:
        folder.write()
    return prepared
