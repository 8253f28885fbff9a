"""The numbered notebooks: run them with papermill parameters (the demo, the smoke tests and CI use this), read
their ``parameters`` cells, and name the library default each parameter stands for."""

from __future__ import annotations

import ast
import importlib
import json
import time
from pathlib import Path
from typing import Any

from kit.kernels.settings import repo_root
from kit.options import default_of
from kit.registry import Registry

__all__ = ["NOTEBOOKS", "PARAMETER_DEFAULTS", "notebook_path", "parameter_values", "library_default",
           "as_parameters", "run_notebook"]

NOTEBOOKS = Registry.of("notebook", ("00_tiling", "01_training", "02_ensembling", "03_inference"))

_TRAIN = "kit.train.config:TrainConfig."
_TRAIN_FIELDS = ("competition", "arch", "encoder", "encoder_weights", "model_kwargs", "num_classes", "loss", "epochs",
                 "batch_size", "image_size", "resize_mode", "multi_scale", "augment", "stain_jitter",
                 "color_transfer", "min_lr", "warmup_epochs", "optimizer", "fold", "n_folds", "fold_group", "amp",
                 "grad_accum", "clip_grad", "early_stopping", "validation", "val_every", "val_max_windows",
                 "init_from", "max_minutes", "notes", "wandb", "seed")
_TILE = "kit.tiling.jobs:TileSettings."
_ENSEMBLE = "kit.ensemble.build:build_ensemble."
_ENSEMBLE_OPTIONS = {"TTA": "tta", "STEP": "step", "PER_ORGAN": "per_group", "MIN_AREA": "min_area",
                     "FILL_HOLES": "fill_holes", "WINDOW": "window", "OVERLAP": "overlap", "MARGIN": "margin",
                     "BLEND": "blend", "TILES_DIR": "tiles_dir", "PHYSICAL_SCALE": "physical_scale"}
_PREDICT = "kit.infer.runner:predict_submission."

#: notebook -> {parameter: the library default it stands for, "module:owner.name" (a dataclass field or a function
#: parameter)}. A parameters cell holds that default, or None where the named recipe (01's RECIPE) supplies it;
#: the defaults test compares them, and the demo maps a recipe's tiling and inference sections onto notebooks 00
#: and 02 through it.
PARAMETER_DEFAULTS: dict[str, dict[str, str]] = {
    "00_tiling": {"SPLIT": "kit.tiling.run:tile_dataset.split", "SZ": _TILE + "sz", "REDUCE": _TILE + "reduce",
                  "PIXEL_SIZE": _TILE + "pixel_size", "STRIDE": _TILE + "stride", "S_TH": _TILE + "s_th",
                  "P_TH": _TILE + "p_th", "FILTER": _TILE + "filter", "ZIP": "kit.tiling.run:tile_dataset.make_zip"},
    "01_training": {"LR": _TRAIN + "max_lr", **{name.upper(): _TRAIN + name for name in _TRAIN_FIELDS}},
    "02_ensembling": {parameter: _ENSEMBLE + name for parameter, name in _ENSEMBLE_OPTIONS.items()},
    "03_inference": {"DATA_DIR": _PREDICT + "data_dir", "ENSEMBLE": _PREDICT + "ensemble",
                     "SUBMISSION": _PREDICT + "out", "DEVICE": _PREDICT + "device",
                     "BATCH_SIZE": _PREDICT + "batch_size", "SKIP_ERRORS": _PREDICT + "skip_errors"},
}


def notebook_path(name: str) -> Path:
    """The committed notebook ``notebooks/<name>.ipynb``; unknown names list the valid ones."""
    return repo_root() / "notebooks" / f"{NOTEBOOKS.check(name)}.ipynb"


def parameter_values(name: str) -> dict[str, Any]:
    """The values assigned in notebook ``name``'s ``parameters`` cell (literals only), in cell order."""
    path = notebook_path(name)
    cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
             if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected one cell tagged 'parameters', found {len(cells)}")
    source = "".join(cells[0]["source"])
    values = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise ValueError(f"{path}: the parameters cell may hold only NAME = literal lines, "
                             f"got {ast.get_source_segment(source, node)!r}")
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{path}: parameter {node.targets[0].id} is not a literal") from None
    return values


def library_default(reference: str) -> Any:
    """The default a :data:`PARAMETER_DEFAULTS` reference ("module:owner.name") names."""
    module, _, path = reference.partition(":")
    owner, _, name = path.rpartition(".")
    return default_of(getattr(importlib.import_module(module), owner), name)


def as_parameters(notebook: str, values: dict[str, Any]) -> dict[str, Any]:
    """Library settings by name (a recipe's tiling or inference section) as ``notebook``'s parameters."""
    references = PARAMETER_DEFAULTS[NOTEBOOKS.check(notebook)].items()
    names = {reference.rpartition(".")[2]: parameter for parameter, reference in references}
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise KeyError(f"notebook {notebook} has no parameter for {unknown}; it takes {', '.join(sorted(names))}")
    return {names[name]: value for name, value in values.items()}


def run_notebook(
    name: str, output_dir: str | Path, parameters: dict[str, Any], cwd: str | Path | None = None,
    timeout: int | None = 1800,
) -> tuple[Path, float]:
    """Execute notebook ``name`` with ``parameters`` injected after its ``parameters`` cell.

    The executed copy (with outputs) is written to ``output_dir/<name>.ipynb``; returns (path, seconds).
    A failing cell raises papermill's PapermillExecutionError naming the cell and the exception.
    """
    import papermill

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    output = output_dir / f"{name}.ipynb"
    start = time.perf_counter()
    papermill.execute_notebook(
        str(notebook_path(name)), str(output), parameters=parameters, kernel_name="python3",
        cwd=str(cwd or output_dir), execution_timeout=timeout, progress_bar=False, log_output=False,
    )
    return output, time.perf_counter() - start
