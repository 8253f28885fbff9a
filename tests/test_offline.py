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
import signal
import site
import subprocess
import sys
import textwrap
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
from kit.kernels.settings import repo_root

pytestmark = pytest.mark.slow

COMPETITION = "hubmap-organ-segmentation"
OWNER = "tester"
HIDDEN = ("kit", "segmentation_models_pytorch")  # importable in the fresh env only once installed from the wheels

# Runs inside the network namespace with the fresh env's python: loopback up (the kernel talks to papermill over
# it), proof that the outside is unreachable, then the notebook.
DRIVER = textwrap.dedent('''
    import fcntl, json, socket, struct, sys
    args = json.loads(sys.argv[1])
    if args["netns"]:
        with socket.socket() as s:  # SIOCGIFFLAGS / SIOCSIFFLAGS: set IFF_UP on "lo"
            flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
            fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=2).close()
        print("NETWORK: reachable")
    except OSError as err:
        print(f"NETWORK: cut ({err})")
    import papermill
    papermill.execute_notebook(args["notebook"], args["output"], parameters=args["parameters"],
                               kernel_name="python3", cwd=args["cwd"], execution_timeout=args["timeout"],
                               progress_bar=False)
''')

GUARD = textwrap.dedent('''
    import ipaddress, socket
    _connect = socket.socket.connect
    def _guarded(self, address):
        if isinstance(address, tuple) and address[0] not in ("localhost", "") and not ipaddress.ip_address(
                socket.gethostbyname(address[0])).is_loopback:
            raise OSError(f"offline guard: connection to {address!r} refused")
        return _connect(self, address)
    socket.socket.connect = _guarded
''')


def network_cut() -> tuple[list[str] | None, str]:
    """The command prefix that runs a process without network (``unshare -n``, or ``-rn`` as non-root),
    or None and why it is impossible here."""
    reasons = []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            result = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=20)
        except (FileNotFoundError, subprocess.TimeoutExpired) as err:
            return None, f"{' '.join(prefix)}: {err}"
        if result.returncode == 0:
            return prefix, ""
        reasons.append(f"{' '.join(prefix)}: {result.stderr.strip() or result.returncode}")
    return None, "; ".join(reasons)


def make_offline_env(root: Path, guard: bool) -> Path:
    """A fresh venv whose python sees the current packages except HIDDEN; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "env")], check=True)
    python = root / "env" / "bin" / "python"
    env_site = Path(subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    shared = root / "shared-site"
    shared.mkdir()
    for source in site.getsitepackages():
        for entry in Path(source).iterdir():
            top = entry.name.split("-")[0].split(".")[0]
            if top in HIDDEN or ("__editable__" in entry.name and "kit" in entry.name):
                continue
            if not (shared / entry.name).exists():
                (shared / entry.name).symlink_to(entry)
    (env_site / "zz_shared_site.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    if guard:
        (env_site / "offline_guard.py").write_text(GUARD)
        (env_site / "aa_offline_guard.pth").write_text("import offline_guard\n")
    kernel = root / "env" / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "offline", "language": "python"}))
    return python


def tiny_checkpoint(path: Path) -> None:
    """A tiny smp U-Net checkpoint in the trainer's format whose head predicts foreground everywhere, so the
    expected submission is known exactly (every test image fully covered)."""
    import torch

    from kit.train.builders import build_model_from_spec
    from kit.models.checkpoint import save_checkpoint

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
    from kit.infer.ensemble import EnsembleConfig, EnsembleModel
    from kit.infer.predictor import ModelInput
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


def run_in_own_session(command: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int, str, str]:
    """Run ``command``; past ``timeout`` kill its whole process group (papermill's kernel included)."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"offline run passed {timeout} s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    return process.returncode, stdout, stderr


def _find_spec(python: Path, cwd: Path) -> dict[str, str | None]:
    code = ("import importlib.util as u, json; "
            f"print(json.dumps({{n: getattr(u.find_spec(n), 'origin', None) for n in {list(HIDDEN) + ['torch']!r}}}))")
    result = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_inference_kernel_runs_offline_from_the_wheels_and_models_datasets(tmp_path):
    source = repo_root() / load_kernel_settings()["03-inference"].notebook
    assert source.is_file(), f"{source} is missing: the inference kernel has nothing to run"
    (folder,) = build_kernel_folders(OWNER, COMPETITION, tmp_path / "kernels", names=["03-inference"])
    notebook = folder / json.loads((folder / "kernel-metadata.json").read_text())["code_file"]  # what is pushed
    prefix, why = network_cut()
    if prefix is None:
        warnings.warn(f"network NOT cut for the offline run ({why}); a socket guard stands in")
        print(f"offline run without a network namespace: {why}")
    python = make_offline_env(tmp_path, guard=prefix is None)
    working, home = tmp_path / "working", tmp_path / "home"
    working.mkdir()
    home.mkdir()
    before = _find_spec(python, working)
    assert before["kit"] is None and before["segmentation_models_pytorch"] is None and before["torch"]
    inputs = simulate_kaggle_input(tmp_path)

    env = {"PATH": f"{python.parent}:{os.environ['PATH']}", "HOME": str(home), "KIT_KAGGLE_INPUT": str(inputs),
           "KIT_KAGGLE_WORKING": str(working), "KAGGLE_KERNEL_RUN_TYPE": "Batch", "MPLBACKEND": "Agg",
           "PYTHONNOUSERSITE": "1", "OMP_NUM_THREADS": "2"}
    args = {"netns": prefix is not None, "notebook": str(notebook), "output": str(tmp_path / "executed.ipynb"),
            "cwd": str(working), "timeout": 120,
            "parameters": {"COMPETITION": COMPETITION, "SMOKE": True, "DATA_DIR": None, "ENSEMBLE": None}}
    command = [*(prefix or []), str(python), "-c", DRIVER, json.dumps(args)]
    returncode, stdout, stderr = run_in_own_session(command, working, env, timeout=240)
    assert returncode == 0, f"offline run failed:\n{stdout[-3000:]}\n{stderr[-5000:]}"
    assert "NETWORK: cut" in stdout, stdout  # the namespace (or the guard) refuses the outside

    after = _find_spec(python, working)  # installed into the fresh env by the bootstrap cell, from the wheels
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
