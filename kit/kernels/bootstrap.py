"""The bootstrap cell every notebook starts with, and the function that writes it into the notebooks.

On Kaggle the kit is not installed: the cell finds the attached wheels dataset under the input root (new mounts
``datasets/<owner>/<slug>/``, legacy ``<slug>/``, then any folder below) and installs every wheel there with
``pip install --no-index --no-deps``, except those whose distribution is already installed (the image's own
versions are never replaced). Locally (kit importable) it only sets the offline flags. It cannot import
the kit, so its source is this module's text constant; ``python -m kit kernels sync-notebooks`` refreshes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import nbformat

from kit.fsutil import atomic_write_text

__all__ = ["BOOTSTRAP_TAG", "BOOTSTRAP_SOURCE", "bootstrap_source", "bootstrap_cell", "with_bootstrap", "sync_notebook",
           "sync_notebooks"]

BOOTSTRAP_TAG = "bootstrap"
_TEMPLATE = '''\
# Bootstrap (written by `python -m kit kernels sync-notebooks`; do not edit here): offline flags, and on Kaggle
# install kit + the packages the image lacks from the attached wheels dataset (no internet needed).
import importlib, importlib.metadata, importlib.util, os, subprocess, sys
from pathlib import Path

HUB_LINE
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
if importlib.util.find_spec("kit") is None:
    _input = Path(os.environ.get("KIT_KAGGLE_INPUT", "/kaggle/input"))
    _found = (sorted(_input.glob("datasets/*/*/kit-*.whl")) or sorted(_input.glob("*/kit-*.whl"))
              or sorted(_input.rglob("kit-*.whl")))
    if not _found:
        raise FileNotFoundError(f"kit is not installed and no kit-*.whl is under {_input}: attach the wheels "
                                "dataset (python -m kit datasets build wheels / datasets push wheels)")
    _wheels, _install, _kept = _found[-1].parent, [], []
    for _wheel in sorted(_wheels.glob("*.whl")):  # never replace a package the image has: skip it, no deps
        try:
            _kept.append(f"{_wheel.name.split('-')[0]} {importlib.metadata.version(_wheel.name.split('-')[0])}")
        except importlib.metadata.PackageNotFoundError:
            _install.append(str(_wheel))
    print(f"installing {len(_install)} wheels from {_wheels}" + (f"; keeping the image's {', '.join(_kept)}"
                                                                  if _kept else ""))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                    "--find-links", str(_wheels), *_install], check=True)
    importlib.invalidate_caches()
import kit

print(f"kit {kit.__version__} from {Path(kit.__file__).parent}")'''
_OFFLINE_LINE = 'os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from files, never from the Hub'
_ONLINE_LINE = 'os.environ.setdefault("HF_HUB_OFFLINE", "0")  # internet kernel: pretrained weights may download'


def bootstrap_source(online: bool = False) -> str:
    """The bootstrap cell's source; ``online`` (kernels with internet on) lets pretrained weights download."""
    return _TEMPLATE.replace("\nHUB_LINE\n", f"\n{_ONLINE_LINE if online else _OFFLINE_LINE}\n")


BOOTSTRAP_SOURCE = bootstrap_source()


def bootstrap_cell(source: str = BOOTSTRAP_SOURCE) -> nbformat.NotebookNode:
    """A fresh bootstrap code cell (fixed id, tagged ``bootstrap``, no outputs)."""
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [BOOTSTRAP_TAG]})
    cell.id = "bootstrap"
    return cell


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def with_bootstrap(notebook: nbformat.NotebookNode, where: str = "notebook",
                   online: bool = False) -> nbformat.NotebookNode:
    """Put the canonical bootstrap cell (``online``: see :func:`bootstrap_source`) right before the ``parameters``
    cell (replacing an old one), in place.

    Raises ValueError naming ``where`` if there is no ``parameters`` cell or another code cell precedes it.
    """
    cells = [c for c in notebook.cells if BOOTSTRAP_TAG not in _tags(c)]
    index = next((i for i, c in enumerate(cells) if "parameters" in _tags(c)), None)
    if index is None:
        raise ValueError(f"{where}: no cell tagged 'parameters' (the bootstrap cell goes right before it)")
    early = [i for i, c in enumerate(cells[:index]) if c.cell_type == "code"]
    if early:
        raise ValueError(f"{where}: code cell {early[0]} comes before the 'parameters' cell; only markdown may")
    old = next((c for c in notebook.cells if BOOTSTRAP_TAG in _tags(c)), None)
    source = bootstrap_source(online)
    keep = old is not None and old.cell_type == "code" and old.source == source and not old.get("outputs")
    cells.insert(index, old if keep else bootstrap_cell(source))
    notebook.cells = cells
    return notebook


def sync_notebook(path: str | Path, check: bool = False) -> bool:
    """Refresh the bootstrap cell of the notebook at ``path``; True if it was (``check``: would be) changed."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"notebook {path} not found")
    text = path.read_text(encoding="utf-8")
    notebook = with_bootstrap(nbformat.reads(text, as_version=4), str(path))
    new_text = nbformat.writes(notebook)
    new_text += "" if new_text.endswith("\n") else "\n"
    changed = new_text != text
    if changed and not check:
        mode = path.stat().st_mode & 0o777
        atomic_write_text(path, new_text)
        path.chmod(mode)  # the temporary file of the atomic write is private (0600)
    return changed


def sync_notebooks(paths: Iterable[str | Path] | None = None, check: bool = False) -> list[Path]:
    """Sync ``paths`` (default: every ``notebooks/*.ipynb``); returns those changed (``check``: stale)."""
    if paths is None:
        from kit.kernels.settings import repo_root

        paths = sorted((repo_root() / "notebooks").glob("*.ipynb"))
    return [Path(p) for p in paths if sync_notebook(p, check)]
