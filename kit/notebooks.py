"""Run the numbered notebooks with papermill parameters (the demo, the smoke tests and CI use this)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kit.kernels.settings import repo_root
from kit.registry import Registry

__all__ = ["NOTEBOOKS", "notebook_path", "run_notebook"]

NOTEBOOKS = Registry.of("notebook", ("00_tiling", "01_training", "02_ensembling", "03_inference"))


def notebook_path(name: str) -> Path:
    """The committed notebook ``notebooks/<name>.ipynb``; unknown names list the valid ones."""
    return repo_root() / "notebooks" / f"{NOTEBOOKS.check(name)}.ipynb"


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
