"""The dependency rule: inference (the offline submission kernel) and the ensemble search load nothing of training,
data generation or the training datasets, checked in a fresh interpreter (the test process has imported them all)."""

from __future__ import annotations

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
