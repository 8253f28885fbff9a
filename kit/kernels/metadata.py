"""Pure builders and validators for kernel-metadata.json and dataset-metadata.json (the kaggle CLI's rules)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "KERNEL_METADATA_FILE",
    "DATASET_METADATA_FILE",
    "GPU_MACHINE_SHAPE",
    "slugify",
    "kernel_metadata",
    "dataset_metadata",
    "validate_kernel_metadata",
    "validate_dataset_metadata",
]

KERNEL_METADATA_FILE = "kernel-metadata.json"
DATASET_METADATA_FILE = "dataset-metadata.json"
GPU_MACHINE_SHAPE = "NvidiaTeslaT4"  # "GPU T4 x2"; a bare enable_gpu runs on P100, which current torch cannot use
_BOOLEANS = ("is_private", "enable_gpu", "enable_tpu", "enable_internet")
_REF = re.compile(r"^[A-Za-z0-9_-]+/[a-z0-9]+(?:-[a-z0-9]+)*$")


def slugify(text: str) -> str:
    """Kaggle's slug of a title: ASCII, lower case, runs of other characters turned into one '-'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def kernel_metadata(
    user: str,
    slug: str,
    code_file: str,
    gpu: bool,
    internet: bool,
    competition: str | None = None,
    datasets: tuple[str, ...] = (),
    kernels: tuple[str, ...] = (),
    private: bool = True,
) -> dict[str, Any]:
    """kernel-metadata.json for one notebook: title == slug text, every boolean explicit, T4 ×2 for GPU."""
    meta: dict[str, Any] = {
        "id": f"{user}/{slug}",
        "title": slug,
        "code_file": code_file,
        "language": "python",
        "kernel_type": "notebook",
        "is_private": private,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": internet,
        "dataset_sources": list(datasets),
        "competition_sources": [competition] if competition else [],
        "kernel_sources": list(kernels),
        "model_sources": [],
    }
    if gpu:
        meta["machine_shape"] = GPU_MACHINE_SHAPE
    return meta


def dataset_metadata(user: str, slug: str, title: str, license_name: str = "CC0-1.0") -> dict[str, Any]:
    """dataset-metadata.json with exactly one license."""
    return {"title": title, "id": f"{user}/{slug}", "licenses": [{"name": license_name}]}


def _problem(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def validate_kernel_metadata(meta: dict[str, Any], folder: str | Path, submission: bool = False,
                             files: Iterable[str] | None = None) -> None:
    """Raise ValueError naming the field if ``meta`` would fail (or silently misbehave) in ``kaggle kernels push``.

    Checks the CLI's own rules (id form, slug and title >= 5 chars, code_file present, language, kernel type,
    booleans, source formats) plus the kit's: title resolves to the slug, every boolean set, GPU kernels on
    T4 ×2, and (``submission``) a competition source with internet off, as code competitions require.
    ``files``: the names the folder will hold (checked before anything is written); None: look on disk.
    """
    where = str(Path(folder) / KERNEL_METADATA_FILE)
    kernel_id = meta.get("id", "")
    if not _REF.match(kernel_id):
        raise _problem(where, f"id {kernel_id!r} must be 'owner/slug' with a lower-case, dash-separated slug")
    slug = kernel_id.split("/")[1]
    if len(slug) < 5:
        raise _problem(where, f"kernel slug {slug!r} must be at least five characters")
    title = meta.get("title", "")
    if len(title) < 5 or slugify(title) != slug:
        raise _problem(where, f"title {title!r} must be >= 5 characters and resolve to the slug {slug!r}")
    code_file = meta.get("code_file", "")
    present = (code_file in set(files)) if files is not None else (Path(folder) / code_file).is_file()
    if not code_file or not present:
        raise _problem(where, f"code_file {code_file!r} not found in the folder")
    if meta.get("language") not in ("python", "r", "rmarkdown"):
        raise _problem(where, f"language {meta.get('language')!r} must be python, r or rmarkdown")
    if meta.get("kernel_type") not in ("script", "notebook"):
        raise _problem(where, f"kernel_type {meta.get('kernel_type')!r} must be script or notebook")
    for key in _BOOLEANS:
        if not isinstance(meta.get(key), bool):
            raise _problem(where, f"{key} must be set explicitly to true or false (the CLI's defaults surprise)")
    for key in ("dataset_sources", "kernel_sources"):
        for ref in meta.get(key, []):
            if not _REF.match(ref):
                raise _problem(where, f"{key} entry {ref!r} must be 'owner/slug'")
    if meta["enable_gpu"] and meta.get("machine_shape") != GPU_MACHINE_SHAPE:
        raise _problem(where, f"GPU kernels need machine_shape {GPU_MACHINE_SHAPE!r} (a bare enable_gpu gets a P100)")
    if submission and (meta["enable_internet"] or not meta.get("competition_sources")):
        raise _problem(where, "a submission kernel needs a competition source and enable_internet false")


def validate_dataset_metadata(meta: dict[str, Any], folder: str | Path) -> None:
    """Raise ValueError naming the field if ``meta`` would fail ``kaggle datasets create``."""
    where = str(Path(folder) / DATASET_METADATA_FILE)
    ref = meta.get("id", "")
    if not _REF.match(ref):
        raise _problem(where, f"id {ref!r} must be 'owner/slug'")
    slug, title = ref.split("/")[1], meta.get("title", "")
    if not 6 <= len(slug) <= 50:
        raise _problem(where, f"dataset slug {slug!r} must be 6–50 characters")
    if not 6 <= len(title) <= 50:
        raise _problem(where, f"dataset title {title!r} must be 6–50 characters")
    if "INSERT_" in ref or "INSERT_" in title:
        raise _problem(where, "replace the template placeholders (INSERT_SLUG_HERE / INSERT_TITLE_HERE)")
    licenses = meta.get("licenses", [])
    if len(licenses) != 1 or not licenses[0].get("name"):
        raise _problem(where, "exactly one license with a name is required")
