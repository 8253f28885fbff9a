"""Per-kernel settings read from the repository's ``kernels/`` folder (one JSON file per kernel)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.registry import Registry

__all__ = ["KernelSettings", "DatasetSettings", "load_kernel_settings", "load_dataset_settings", "repo_root"]


def repo_root() -> Path:
    """The folder holding ``kernels/`` and ``notebooks/`` (the kit's source checkout)."""
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class KernelSettings:
    """One kernel: which notebook, GPU or not, internet or not, and which sources it attaches.

    ``datasets`` holds names of ``kernels/datasets.json`` entries ("wheels", "models", "weights"), owned by the
    user the kernels are built for, or any dataset as ``owner/slug`` (e.g. someone's public weights dataset);
    ``kernels`` names other kernels whose output this one reads; ``submission`` marks the code-competition
    kernel, which must stay offline (``internet`` true is refused for it); ``parameters`` are notebook
    parameters the kernel is built with (e.g. the submission kernel's ``SKIP_ERRORS`` and ``BUDGET_MINUTES``),
    injected after the notebook's ``parameters`` cell.
    """

    name: str
    slug: str
    notebook: str
    gpu: bool
    internet: bool
    competition: bool
    datasets: tuple[str, ...] = ()
    kernels: tuple[str, ...] = ()
    submission: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSettings:
    """A dataset the kit builds: its slug and title on Kaggle."""

    name: str
    slug: str
    title: str


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def load_kernel_settings(root: str | Path | None = None) -> Registry[KernelSettings]:
    """All kernel settings under ``root`` (default ``<repo>/kernels``), by name; bad keys are named in the error."""
    folder = Path(root) if root else repo_root() / "kernels"
    fields = set(KernelSettings.__dataclass_fields__)
    found = {}
    for path in sorted(folder.glob("*.json")):
        if path.name == "datasets.json":
            continue
        values = _read(path)
        required = {"name", "slug", "notebook", "gpu", "internet", "competition"}
        unknown, missing = set(values) - fields, required - set(values)
        if unknown or missing:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        values["datasets"] = tuple(values.get("datasets", ()))
        values["kernels"] = tuple(values.get("kernels", ()))
        if values.get("submission") and values["internet"]:
            raise ValueError(f"{path}: the submission kernel must have internet false (code competitions run "
                             f"offline; Kaggle refuses to score a notebook with internet on)")
        if not isinstance(values.get("parameters", {}), dict):
            raise ValueError(f"{path}: 'parameters' must be an object of notebook parameter names to values")
        found[values["name"]] = KernelSettings(**values)
    if not found:
        raise FileNotFoundError(f"no kernel settings (*.json) in {folder}")
    return Registry.of("kernel", found, "unknown kernels {name!r}{hint}; valid: {valid}", sort=False)


def load_dataset_settings(root: str | Path | None = None) -> Registry[DatasetSettings]:
    """The datasets the kernels attach, from ``kernels/datasets.json``."""
    path = (Path(root) if root else repo_root() / "kernels") / "datasets.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: it lists the wheels, models and weights datasets")
    return Registry.of("dataset", {name: DatasetSettings(name=name, **values) for name, values in _read(path).items()},
                       sort=False)
