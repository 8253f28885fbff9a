"""Dataset folders for Kaggle: the offline wheels (kit + what the Kaggle image lacks) and trained models."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Sequence

from kit.fsutil import atomic_write_text
from kit.kernels.metadata import DATASET_METADATA_FILE, dataset_metadata, validate_dataset_metadata
from kit.kernels.settings import load_dataset_settings, repo_root

__all__ = [
    "KAGGLE_MISSING_PACKAGES",
    "KAGGLE_PYTHON",
    "KAGGLE_PLATFORM",
    "download_command",
    "build_kit_wheel",
    "build_wheels_dataset",
    "build_models_dataset",
]

# The one place that lists what the notebooks import and the Kaggle image (Colab-based, Python 3.12) lacks.
# torch, torchvision, timm, albumentations, opencv, pandas, matplotlib, tqdm, papermill are in the image;
# segmentation-models-pytorch is not (reference/kaggle_kernels.md §3); rasterio and its small pure-Python
# dependencies are shipped too so a change of the image cannot break TIFF reading.
KAGGLE_MISSING_PACKAGES: tuple[str, ...] = (
    "segmentation-models-pytorch",
    "rasterio",
    "affine",
    "cligj",
    "click-plugins",
)
KAGGLE_PYTHON = "3.12"
KAGGLE_PLATFORM = "manylinux2014_x86_64"

Runner = Callable[[Sequence[str]], None]


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def download_command(packages: Sequence[str], dest: str | Path) -> list[str]:
    """The ``pip download`` command for wheels of ``packages`` for the Kaggle image's Python and platform."""
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", KAGGLE_PYTHON, "--implementation", "cp", "--platform", KAGGLE_PLATFORM,
        "--dest", str(dest), *packages,
    ]


def build_kit_wheel(dest: str | Path, run: Runner = _run) -> Path:
    """Build the kit's pure-Python wheel (py3-none-any) into ``dest``; returns its path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.glob("kit-*.whl"))
    for old in before:
        old.unlink()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(repo_root())])
    wheels = sorted(dest.glob("kit-*-py3-none-any.whl"))
    if not wheels:
        raise RuntimeError(f"pip wheel wrote no kit-*-py3-none-any.whl into {dest}")
    return wheels[-1]


def _write_metadata(folder: Path, user: str, name: str, settings_dir: str | Path | None) -> None:
    settings = load_dataset_settings(settings_dir)[name]
    meta = dataset_metadata(user, settings.slug, settings.title)
    validate_dataset_metadata(meta, folder)
    atomic_write_text(folder / DATASET_METADATA_FILE, json.dumps(meta, indent=2) + "\n")


def build_wheels_dataset(
    out_dir: str | Path, user: str, download: bool = True, extra_wheels: Sequence[str | Path] = (),
    run: Runner = _run, settings_dir: str | Path | None = None,
) -> Path:
    """Write the wheels dataset: the kit wheel, wheels of KAGGLE_MISSING_PACKAGES (downloaded for cp312
    manylinux when ``download``), any ``extra_wheels``, and dataset-metadata.json. Returns the folder."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    build_kit_wheel(folder, run)
    if download:
        run(download_command(KAGGLE_MISSING_PACKAGES, folder))
    for wheel in extra_wheels:
        shutil.copy2(wheel, folder / Path(wheel).name)
    _write_metadata(folder, user, "wheels", settings_dir)
    return folder


def build_models_dataset(
    out_dir: str | Path, user: str, ensemble_json: str | Path, settings_dir: str | Path | None = None
) -> Path:
    """Write the models dataset: ``ensemble.json`` and every checkpoint it names (paths rewritten relative).

    The inference notebook finds the dataset by its ``ensemble.json`` and resolves checkpoints beside it.
    """
    ensemble_json = Path(ensemble_json)
    if not ensemble_json.exists():
        raise FileNotFoundError(f"{ensemble_json} not found: run notebook 02 (python -m kit ensemble) first")
    config = json.loads(ensemble_json.read_text())
    folder = Path(out_dir)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    for i, model in enumerate(config.get("models", [])):
        checkpoint = Path(model["checkpoint"])
        if not checkpoint.is_absolute():
            checkpoint = ensemble_json.parent / checkpoint
        if not checkpoint.exists():
            raise FileNotFoundError(f"{ensemble_json}: model {i} checkpoint {checkpoint} not found")
        target = Path("checkpoints") / f"{i:02d}_{checkpoint.parent.name}_{checkpoint.name}"
        shutil.copy2(checkpoint, folder / target)
        model["checkpoint"] = str(target)
    atomic_write_text(folder / "ensemble.json", json.dumps(config, indent=2) + "\n")
    _write_metadata(folder, user, "models", settings_dir)
    return folder
