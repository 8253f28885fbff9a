"""The dependency rule: inference (the offline submission kernel) and the ensemble search load nothing of training,
data generation or the training datasets, checked in a fresh interpreter (the test process has imported them all)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("kit.train", "kit.sample", "kit.data", "albumentations")

_PROBE = """
import json, sys
def loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("kit", "albumentations"))
import kit.infer.runner
infer = loaded()
import kit.ensemble
print(json.dumps({"infer": infer, "ensemble": loaded()}))
"""


def _loaded_modules() -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_inference_and_ensembling_load_no_training_sampling_or_dataset_code():
    loaded = _loaded_modules()
    assert "kit.infer.runner" in loaded["infer"] and "kit.infer.predictor" in loaded["infer"]
    assert _forbidden(loaded["infer"]) == []
    assert [m for m in loaded["infer"] if m.startswith("kit.ensemble")] == []  # inference never needs the search
    assert "kit.ensemble.build" in loaded["ensemble"] and _forbidden(loaded["ensemble"]) == []


def _kit_imports(path: Path) -> set[str]:
    """Every kit module ``path`` imports, at the top, inside functions or under TYPE_CHECKING."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.split(".")[0] == "kit"}


def test_no_lazy_import_crosses_the_rule_either():
    """The fresh-interpreter check sees module-level imports only; an import inside a function crosses too."""
    crossing = {f"{path.relative_to(ROOT)}: {name}"
                for package in ("infer", "ensemble", "models", "artifacts")
                for path in sorted((ROOT / "kit" / package).rglob("*.py"))
                for name in _kit_imports(path) if _forbidden([name])}
    assert crossing == set()
