"""Wheels for the offline Kaggle image: the kit's own wheel, pure wheels repacked from installed packages,
and the ``pip download`` command for what the image lacks.

Wheels are written with the standard library (``zipfile``), so building them needs no network, no build
backend and leaves nothing behind in the source tree.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Mapping, Sequence

from kit.fsutil import atomic_path
from kit.kernels.settings import repo_root

__all__ = [
    "KAGGLE_MISSING_PACKAGES",
    "KAGGLE_IMAGE_SNAPSHOT",
    "KAGGLE_PYTHON",
    "KAGGLE_PLATFORMS",
    "normalize",
    "read_image_snapshot",
    "check_not_in_image",
    "pinned",
    "download_command",
    "write_wheel",
    "build_kit_wheel",
    "repack_installed",
    "repackable",
]

# The packages (distribution names) the kit and the notebooks import that the Kaggle image lacks: the wheels
# dataset carries exactly these, plus the kit. The decision comes from the dated snapshot of the image's packages
# (KAGGLE_IMAGE_SNAPSHOT); tests/kernels/test_wheels.py checks this tuple is exactly "imported, not in the snapshot".
KAGGLE_MISSING_PACKAGES: tuple[str, ...] = ("segmentation-models-pytorch",)
KAGGLE_IMAGE_SNAPSHOT = "kernels/kaggle-image-packages.txt"  # relative to the source checkout
KAGGLE_PYTHON = "3.12"
# Wheels for glibc 2.28 and 2.17 (= manylinux2014): the Colab-based image's glibc is newer than both.
KAGGLE_PLATFORMS: tuple[str, ...] = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible archives: the same files give the same wheel bytes
_DIST_INFO_SKIP = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def normalize(name: str) -> str:
    """A distribution name in its canonical form (PEP 503: lower case, runs of -_. become -)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_image_snapshot(path: str | Path | None = None) -> dict[str, str | None]:
    """The Kaggle image's packages from the snapshot file: canonical name -> version (None: not recorded)."""
    path = Path(path) if path else repo_root() / KAGGLE_IMAGE_SNAPSHOT
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the snapshot of the Kaggle image's packages")
    packages = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) > 2:
            raise ValueError(f"{path}: line {number}: expected 'name [version]', got {line.strip()!r}")
        packages[normalize(fields[0])] = fields[1] if len(fields) == 2 else None
    return packages


def check_not_in_image(packages: Sequence[str], snapshot: dict[str, str | None] | None = None) -> None:
    """Raise ValueError naming the ``packages`` the Kaggle image already has: shipping them would replace its
    versions (rasterio 1.5.0 -> 1.5.2 once broke that way)."""
    snapshot = read_image_snapshot() if snapshot is None else snapshot
    present = [f"{p} {snapshot[normalize(p)] or ''}".strip() for p in packages if normalize(p) in snapshot]
    if present:
        raise ValueError(f"the Kaggle image already has {present} ({KAGGLE_IMAGE_SNAPSHOT}): the wheels dataset "
                         "must not carry them")


def pinned(packages: Sequence[str]) -> list[str]:
    """``name==version`` for each package, at the version installed here (what requirements.txt resolved to)."""
    specs = []
    for name in packages:
        try:
            specs.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            raise ValueError(f"{name!r} is not installed in {sys.prefix}: install requirements.txt first (the wheels "
                             "are pinned to the versions it resolves to)") from None
    return specs


def download_command(packages: Sequence[str], dest: str | Path) -> list[str]:
    """The ``pip download`` command for wheels of ``packages``, pinned to the versions installed here, for the
    Kaggle image's Python and platform."""
    platforms = [arg for p in KAGGLE_PLATFORMS for arg in ("--platform", p)]
    return [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--python-version", KAGGLE_PYTHON, "--implementation", "cp", *platforms,
        "--dest", str(dest), *pinned(packages),
    ]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _escape(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def write_wheel(
    dest: str | Path, name: str, version: str, files: Mapping[str, bytes], metadata: str | None = None,
    dist_info: Mapping[str, str] | None = None, tag: str = "py3-none-any",
) -> Path:
    """Write ``dest/<name>-<version>-<tag>.whl`` holding ``files`` (archive name -> bytes); returns its path.

    ``metadata`` is the METADATA text (a minimal one when None); ``dist_info`` adds files such as
    ``entry_points.txt``. WHEEL and RECORD (sha256 of every file) are generated.
    """
    info = f"{_escape(name)}-{version}.dist-info"
    entries = dict(sorted(files.items()))
    extra = {"METADATA": metadata or f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", **(dist_info or {})}
    extra["WHEEL"] = f"Wheel-Version: 1.0\nGenerator: kit\nRoot-Is-Purelib: true\nTag: {tag}\n"
    for key, text in sorted(extra.items()):
        entries[f"{info}/{key}"] = text.encode()
    record = [_record_line(arcname, data) for arcname, data in entries.items()] + [f"{info}/RECORD,,"]
    entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = Path(dest) / f"{_escape(name)}-{version}-{tag}.whl"
    with atomic_path(target, suffix=".whl") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in entries.items():
            item = zipfile.ZipInfo(arcname, _FIXED_TIME)
            item.compress_type, item.external_attr = zipfile.ZIP_DEFLATED, 0o644 << 16
            archive.writestr(item, data)
    return target


def _project() -> dict:
    path = repo_root() / "pyproject.toml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: build the kit wheel from a source checkout")
    return tomllib.loads(path.read_text())["project"]


def build_kit_wheel(dest: str | Path) -> Path:
    """The kit's pure wheel (py3-none-any) from the source tree: every file of ``kit/`` but caches.

    Name, version, summary and console scripts come from pyproject.toml. Older kit wheels in ``dest`` are removed.
    """
    project = _project()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("kit-*.whl"):
        old.unlink()
    root = repo_root()
    files = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted((root / "kit").rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    }
    metadata = (f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
                f"Summary: {project.get('description', '')}\nRequires-Python: {project.get('requires-python', '')}\n")
    scripts = project.get("scripts", {})
    entry_points = "[console_scripts]\n" + "".join(f"{k} = {v}\n" for k, v in scripts.items()) if scripts else None
    return write_wheel(dest, project["name"], project["version"], files, metadata,
                       {"entry_points.txt": entry_points} if entry_points else None)


def _pure_distribution(distribution: str) -> importlib.metadata.Distribution:
    """The installed ``distribution`` if it can be repacked as a pure wheel; ValueError says why not."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise ValueError(f"{distribution!r} is not installed in {sys.prefix}") from None
    if not dist.files:
        raise ValueError(f"{distribution!r} has no RECORD of its files: cannot repack it")
    compiled = [str(f) for f in dist.files if f.suffix in (".so", ".pyd", ".dylib")]
    if compiled or "Root-Is-Purelib: false" in (dist.read_text("WHEEL") or ""):
        raise ValueError(f"{distribution!r} is not pure Python ({compiled[:3] or 'platlib install'}): "
                         "use pip download for the Kaggle platform instead")
    return dist


def repackable(packages: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``packages`` into those :func:`repack_installed` can rebuild here and the others (with the reason)."""
    ok, skipped = [], {}
    for name in packages:
        try:
            _pure_distribution(name)
            ok.append(name)
        except ValueError as err:
            skipped[name] = str(err)
    return ok, skipped


def repack_installed(distribution: str, dest: str | Path) -> Path:
    """Rebuild a py3-none-any wheel of an installed pure-Python ``distribution`` from its RECORD.

    Useful offline (no index to download from). Compiled files or a non-purelib install raise ValueError;
    files installed outside site-packages (scripts) are left out.
    """
    dist = _pure_distribution(distribution)
    name, version = dist.metadata["Name"], dist.version
    info_dir = f"{_escape(name)}-{version}.dist-info"
    files = {}
    for entry in dist.files:
        path, parts = Path(str(entry.locate())), entry.parts
        if parts[0] == ".." or "__pycache__" in parts or entry.suffix == ".pyc" or not path.is_file():
            continue
        if parts[0].endswith(".dist-info"):
            relative = "/".join(parts[1:])
            if relative not in _DIST_INFO_SKIP and relative not in ("WHEEL", "METADATA"):
                files[f"{info_dir}/{relative}"] = path.read_bytes()
            continue
        files[entry.as_posix()] = path.read_bytes()
    return write_wheel(dest, name, version, files, dist.read_text("METADATA"))
