"""Offline proof: the inference kernel, run with the network cut in an environment without kit and smp, installs
them from a simulated wheels dataset and writes a valid submission.csv from a simulated models dataset.

Setup (all offline): a fresh venv (``python -m venv --without-pip``) that sees the project's .venv packages
through a directory of symlinks MINUS kit and segmentation_models_pytorch; a simulated ``/kaggle/input``
(``KIT_KAGGLE_INPUT``) with the competition data (new ``competitions/`` mount), the wheels dataset (kit wheel
built from the source tree, smp wheel repacked from the installed distribution) and the models dataset (a tiny
smp checkpoint + ensemble.json), both in the new ``datasets/<owner>/<slug>`` mounts. The kernel folder's
notebook (as ``kit kernels build`` writes it for pushing) runs under papermill inside ``unshare -n`` (a network
namespace with only loopback); where that is impossible the test warns with the reason and runs behind a socket
guard instead.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pandas as pd
import pytest

from kit.kernels import (
    build_kernel_folders,
    build_models_dataset,
    build_wheels_dataset,
    load_dataset_settings,
    load_kernel_settings,
)
from kit.kernels.sandbox import find_spec_origins, make_offline_env, network_cut, run_notebook_offline
from kit.kernels.settings import repo_root

pytestmark = pytest.mark.slow

COMPETITION = "hubmap-organ-segmentation"
OWNER = "tester"
HIDDEN = ("kit", "segmentation_models_pytorch")  # importable in the fresh env only once installed from the wheels


def tiny_checkpoint(path: Path) -> None:
    """A tiny smp U-Net checkpoint in the trainer's format whose head predicts foreground everywhere, so the
    expected submission is known exactly (every test image fully covered)."""
    import torch

    from kit.models.checkpoint import save_checkpoint
    from kit.models.spec import build_model_from_spec

    spec = {"name": "unet", "num_classes": 1,
            "kwargs": {"encoder_name": "tu-mobilenetv3_small_050", "decoder_channels": (32, 16, 8, 8, 8)}}
    model = build_model_from_spec(spec)
    head = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(20.0)
    save_checkpoint(path, {"model": model.state_dict(), "model_spec": spec, "optimizer": {}})


def simulate_kaggle_input(root: Path) -> Path:
    """``root/input`` laid out like /kaggle/input: competition data, the wheels and the models datasets."""
    from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
    from kit.infer.model_input import ModelInput
    from kit.sample import make_sample

    inputs = root / "input"
    make_sample(COMPETITION, inputs / "competitions" / COMPETITION, n=8, size=128, seed=0)
    slugs = {name: d.slug for name, d in load_dataset_settings().items()}
    build_wheels_dataset(inputs / "datasets" / OWNER / slugs["wheels"], OWNER, download=False,
                         repack=["segmentation-models-pytorch"])
    tiny_checkpoint(root / "runs" / "tiny" / "best.pt")
    model = EnsembleModel("tiny", "tiny/best.pt", input=ModelInput(window=64, overlap=0.25))
    EnsembleConfig(COMPETITION, [model]).save(root / "runs" / "ensemble.json")
    build_models_dataset(inputs / "datasets" / OWNER / slugs["models"], OWNER, root / "runs" / "ensemble.json")
    return inputs


def test_inference_kernel_runs_offline_from_the_wheels_and_models_datasets(tmp_path):
    source = repo_root() / load_kernel_settings()["03-inference"].notebook
    assert source.is_file(), f"{source} is missing: the inference kernel has nothing to run"
    (folder,) = build_kernel_folders(OWNER, COMPETITION, tmp_path / "kernels", names=["03-inference"])
    notebook = folder / json.loads((folder / "kernel-metadata.json").read_text())["code_file"]  # what is pushed
    prefix, why = network_cut()
    if prefix is None:
        warnings.warn(f"network NOT cut for the offline run ({why}); a socket guard stands in", stacklevel=2)
        print(f"offline run without a network namespace: {why}")
    python = make_offline_env(tmp_path, HIDDEN, guard=prefix is None)
    working, home = tmp_path / "working", tmp_path / "home"
    working.mkdir()
    home.mkdir()
    before = find_spec_origins(python, [*HIDDEN, "torch"], working)
    assert before["kit"] is None and before["segmentation_models_pytorch"] is None and before["torch"]
    inputs = simulate_kaggle_input(tmp_path)

    env = {"PATH": f"{python.parent}:{os.environ['PATH']}", "HOME": str(home), "KIT_KAGGLE_INPUT": str(inputs),
           "KIT_KAGGLE_WORKING": str(working), "KAGGLE_KERNEL_RUN_TYPE": "Batch", "MPLBACKEND": "Agg",
           "PYTHONNOUSERSITE": "1", "OMP_NUM_THREADS": "2"}
    parameters = {"COMPETITION": COMPETITION, "SMOKE": True, "DATA_DIR": None, "ENSEMBLE": None}
    returncode, stdout, stderr = run_notebook_offline(python, notebook, tmp_path / "executed.ipynb", parameters,
                                                      working, env, prefix, timeout=120)
    assert returncode == 0, f"offline run failed or passed its time:\n{stdout[-3000:]}\n{stderr[-5000:]}"
    assert "NETWORK: cut" in stdout, stdout  # the namespace (or the guard) refuses the outside

    # installed into the fresh env by the bootstrap cell, from the wheels
    after = find_spec_origins(python, HIDDEN, working)
    env_root = str(tmp_path / "env")
    assert all(str(after[name]).startswith(env_root) for name in HIDDEN), after
    executed = json.loads((tmp_path / "executed.ipynb").read_text())
    (bootstrap,) = [c for c in executed["cells"] if "bootstrap" in c["metadata"].get("tags", [])]
    bootstrap_out = "".join("".join(o.get("text", "")) for o in bootstrap["outputs"])
    assert "installing 2 wheels from" in bootstrap_out and f"datasets/{OWNER}/" in bootstrap_out

    from kit.submit import validate_submission

    data = inputs / "competitions" / COMPETITION
    submission = working / "submission.csv"
    sizes = {str(r.id): (int(r.img_height), int(r.img_width)) for r in pd.read_csv(data / "test.csv").itertuples()}
    validate_submission(submission, COMPETITION, data / "sample_submission.csv", image_sizes=sizes)
    rows = pd.read_csv(submission, dtype=str, keep_default_na=False)
    assert len(rows) == len(sizes) >= 2
    for row in rows.itertuples():  # the model predicts foreground everywhere: one run over the whole image
        height, width = sizes[row.id]
        assert row.rle == f"1 {height * width}", (row.id, row.rle[:80])
