"""Write kernel folders (kernel-metadata.json + notebook) from the settings in ``kernels/``."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from kit.fsutil import atomic_write_text
from kit.kernels.bootstrap import with_bootstrap
from kit.kernels.metadata import KERNEL_METADATA_FILE, kernel_metadata, validate_kernel_metadata
from kit.kernels.settings import KernelSettings, load_dataset_settings, load_kernel_settings, repo_root

__all__ = ["inject_parameters", "build_kernel_folder", "build_kernel_folders"]


def inject_parameters(notebook: nbformat.NotebookNode, values: dict) -> nbformat.NotebookNode:
    """Insert an ``injected-parameters`` cell after the ``parameters`` cell (papermill's convention)."""
    cells = notebook.cells
    index = next((i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if index is None:
        raise ValueError("notebook has no cell tagged 'parameters'")
    source = "# Parameters set by kit kernels build\n" + "\n".join(f"{k} = {v!r}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    cells.insert(index + 1, cell)
    for c in cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    return notebook


def build_kernel_folder(
    settings: KernelSettings, user: str, out_dir: str | Path, competition: str | None = None,
    dataset_slugs: dict[str, str] | None = None, kernel_slugs: dict[str, str] | None = None,
) -> Path:
    """Write ``out_dir/<name>/`` with the notebook (bootstrap cell refreshed, parameters injected, outputs
    cleared) and a validated kernel-metadata.json."""
    source = repo_root() / settings.notebook
    if not source.exists():
        raise FileNotFoundError(f"kernel {settings.name}: notebook {source} not found")
    folder = Path(out_dir) / settings.name
    folder.mkdir(parents=True, exist_ok=True)
    notebook = with_bootstrap(nbformat.read(source, as_version=4), str(source), online=settings.internet)
    if competition:
        inject_parameters(notebook, {"COMPETITION": competition})
    code_file = Path(settings.notebook).name
    atomic_write_text(folder / code_file, nbformat.writes(notebook))
    dataset_slugs, kernel_slugs = dataset_slugs or {}, kernel_slugs or {}
    try:
        datasets = tuple(name if "/" in name else f"{user}/{dataset_slugs[name]}" for name in settings.datasets)
        kernels = tuple(f"{user}/{kernel_slugs[name]}" for name in settings.kernels)
    except KeyError as err:
        raise KeyError(f"kernel {settings.name} refers to unknown source {err.args[0]!r} (a name of "
                       f"kernels/datasets.json or kernels/*.json, or a dataset as owner/slug)") from None
    meta = kernel_metadata(
        user, settings.slug, code_file, gpu=settings.gpu, internet=settings.internet,
        competition=competition if settings.competition else None, datasets=datasets, kernels=kernels,
    )
    validate_kernel_metadata(meta, folder, submission=settings.submission)
    atomic_write_text(folder / KERNEL_METADATA_FILE, json.dumps(meta, indent=2) + "\n")
    return folder


def build_kernel_folders(
    user: str, competition: str | None = None, out_dir: str | Path = "build/kernels",
    settings_dir: str | Path | None = None, names: list[str] | None = None,
) -> list[Path]:
    """Build every kernel folder (or only ``names``) for Kaggle user ``user``; returns the folders."""
    if not user or "/" in user:
        raise ValueError(f"--user must be a Kaggle user name, got {user!r}")
    if competition is not None:
        from kit.competitions import get_profile

        get_profile(competition)  # unknown slugs fail here with the valid list
    settings = load_kernel_settings(settings_dir)
    unknown = sorted(set(names or ()) - set(settings))
    if unknown:
        raise KeyError(f"unknown kernels {unknown}; valid: {', '.join(settings)}")
    dataset_slugs = {name: d.slug for name, d in load_dataset_settings(settings_dir).items()}
    kernel_slugs = {name: s.slug for name, s in settings.items()}
    return [
        build_kernel_folder(s, user, out_dir, competition, dataset_slugs, kernel_slugs)
        for name, s in settings.items()
        if not names or name in names
    ]
