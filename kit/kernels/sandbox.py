"""A Kaggle-like sandbox for running a kernel's notebook here: a fresh Python environment that lacks the packages
the wheels dataset ships (so the bootstrap cell must install them), the network cut, papermill as the runner.

* :func:`network_cut`: the ``unshare -n`` prefix (a network namespace with only loopback), or why there is none;
  without it a socket guard inside the environment refuses every non-loopback connection instead.
* :func:`make_offline_env`: a venv whose python sees this environment's packages minus ``hidden`` (or, for an
  interpreter that has its own packages, e.g. a Python 3.12 with the Kaggle image's versions, those).
* :func:`run_notebook_offline`: papermill inside the namespace, the whole process group killed past a timeout.
* :func:`pick_python`: the interpreter (a Kaggle-like Python 3.12 when there is one); :func:`wheel_top_levels`:
  the names the wheels dataset ships (hidden from the sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["DRIVER", "GUARD", "IMAGE_MODULES", "network_cut", "make_offline_env", "find_spec_origins",
           "run_in_own_session", "run_notebook_offline", "pick_python", "wheel_top_levels"]

IMAGE_MODULES = ("torch", "numpy", "pandas", "papermill", "ipykernel", "nbformat")  # a Kaggle-like Python has them

# Runs inside the network namespace with the sandbox's python: loopback up (the kernel talks to papermill over
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


def _hidden_entry(name: str, hidden: set[str]) -> bool:
    top = name.split("-")[0].split(".")[0].lower()
    return top in hidden or ("__editable__" in name and any(h in name.lower() for h in hidden))


def make_offline_env(root: str | Path, hidden: Iterable[str], guard: bool, python: str | Path | None = None,
                     own_packages: bool = False) -> Path:
    """A fresh venv in ``root/env``; returns its python.

    Default: it sees the packages of this environment except the import names ``hidden`` (and their
    dist-info), through a folder of symlinks. ``own_packages``: ``python`` (e.g. a Python 3.12 that has the
    Kaggle image's packages) keeps its own site-packages instead. ``guard`` installs the socket guard.
    A Jupyter kernel spec ``python3`` for the venv is written so papermill runs the notebook with it.
    """
    root = Path(root)
    hidden = {h.lower().replace("-", "_") for h in hidden}
    command = [str(python or sys.executable), "-m", "venv", "--without-pip", str(root / "env")]
    subprocess.run(command + (["--system-site-packages"] if own_packages else []), check=True)
    env_python = root / "env" / "bin" / "python"
    env_site = Path(subprocess.run([str(env_python), "-c", "import site; print(site.getsitepackages()[0])"],
                                   capture_output=True, text=True, check=True).stdout.strip())
    if not own_packages:
        shared = root / "shared-site"
        shared.mkdir(parents=True, exist_ok=True)
        for source in site.getsitepackages():
            for entry in Path(source).iterdir():
                if not _hidden_entry(entry.name, hidden) and not (shared / entry.name).exists():
                    (shared / entry.name).symlink_to(entry)
        (env_site / "zz_shared_site.pth").write_text(f"import site; site.addsitedir({str(shared)!r})\n")
    if guard:
        (env_site / "offline_guard.py").write_text(GUARD)
        (env_site / "aa_offline_guard.pth").write_text("import offline_guard\n")
    kernel = root / "env" / "share" / "jupyter" / "kernels" / "python3"
    kernel.mkdir(parents=True, exist_ok=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(env_python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "offline", "language": "python"}))
    return env_python


def find_spec_origins(python: str | Path, names: Sequence[str], cwd: str | Path) -> dict[str, str | None]:
    """Where ``python`` would import each module in ``names`` from (None: not importable), without this process's
    ``PYTHONPATH`` (a kernel does not get it)."""
    code = ("import importlib.util as u, json, sys; "
            "print(json.dumps({n: getattr(u.find_spec(n), 'origin', None) for n in sys.argv[1:]}))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([str(python), "-c", code, *names], cwd=cwd, env={**env, "PYTHONNOUSERSITE": "1"},
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def run_in_own_session(command: Sequence[str], cwd: str | Path, env: dict[str, str],
                       timeout: float) -> tuple[int | None, str, str]:
    """Run ``command``; past ``timeout`` kill its whole process group (papermill's kernel included) and return
    None as the exit code."""
    process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout, stderr
    return process.returncode, stdout, stderr


def run_notebook_offline(
    python: str | Path, notebook: str | Path, output: str | Path, parameters: dict, cwd: str | Path,
    env: dict[str, str], prefix: list[str] | None, timeout: float,
) -> tuple[int | None, str, str]:
    """Execute ``notebook`` with papermill in the sandbox ``python`` (inside ``prefix``, e.g. ``unshare -n``);
    returns (exit code or None on timeout, stdout, stderr). Cells get ``timeout`` seconds each, the run 3×."""
    args = {"netns": prefix is not None, "notebook": str(notebook), "output": str(output), "cwd": str(cwd),
            "timeout": int(timeout), "parameters": parameters}
    command = [*(prefix or []), str(python), "-c", DRIVER, json.dumps(args)]
    return run_in_own_session(command, cwd, env, timeout * 3)


def pick_python(python: str | None = None) -> tuple[str, bool, str]:
    """(interpreter, has its own Kaggle-like packages, note): ``python``, else a ``python3.12`` that can import
    the image's packages (Kaggle runs 3.12), else this interpreter with this environment's packages."""
    version = sys.version.split()[0]
    candidate = python or shutil.which("python3.12")
    reason = "no python3.12 on PATH"
    if candidate:
        code = f"import sys, {', '.join(IMAGE_MODULES)}; print(sys.version.split()[0])"
        try:
            result = subprocess.run([candidate, "-c", code], capture_output=True, text=True, timeout=300)
            found = result.stdout.strip() if result.returncode == 0 else ""
            reason = (f"{candidate} cannot import {', '.join(IMAGE_MODULES)} "
                      f"({(result.stderr.strip().splitlines() or ['?'])[0]})") if not found else ""
        except (OSError, subprocess.TimeoutExpired) as err:
            found, reason = "", f"{candidate}: {err}"
        if found:
            return candidate, True, f"Python {found} ({candidate}) with its own packages"
        if python:
            raise ValueError(f"--python {reason}")
    return sys.executable, False, (f"Python {version} ({sys.executable}) with this environment's package versions: "
                                   f"Kaggle runs Python 3.12, but {reason}")


def wheel_top_levels(folder: Path) -> set[str]:
    """Import names and distribution names inside the wheels of ``folder`` (hidden from the sandbox)."""
    names = set()
    for wheel in folder.glob("*.whl"):
        names.add(wheel.name.split("-")[0].lower())
        with zipfile.ZipFile(wheel) as archive:
            names |= {n.split("/")[0].removesuffix(".py").lower() for n in archive.namelist()
                      if not n.split("/")[0].endswith((".dist-info", ".data"))}
    return names
