"""Dataset folders for Kaggle: the offline wheels (kit + what the Kaggle image lacks), the trained models and the
pretrained encoder weights.

All are flat folders (``kaggle datasets create`` skips subfolders unless asked to zip them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from kit.fsutil import OUTPUT_MODE, atomic_write_text, swap_folder
from kit.kernels.metadata import DATASET_METADATA_FILE, dataset_metadata, slugify, validate_dataset_metadata
from kit.kernels.settings import load_dataset_settings
from kit.kernels.wheels import (
    KAGGLE_MISSING_PACKAGES,
    build_kit_wheel,
    check_not_in_image,
    download_command,
    repack_installed,
)
from kit.paths import path_inside

__all__ = ["build_wheels_dataset", "build_models_dataset", "build_weights_dataset"]

Runner = Callable[[Sequence[str]], None]


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _metadata(folder: Path, user: str, name: str, settings_dir: str | Path | None,
              resources: Sequence[dict] = ()) -> dict:
    """The validated dataset-metadata.json of dataset ``name`` (checked before anything is written)."""
    settings = load_dataset_settings(settings_dir)[name]
    meta = dataset_metadata(user, settings.slug, settings.title)
    if resources:
        meta["resources"] = list(resources)
    validate_dataset_metadata(meta, folder)
    return meta


def _write_metadata(folder: Path, meta: dict) -> None:
    atomic_write_text(folder / DATASET_METADATA_FILE, json.dumps(meta, indent=2) + "\n")


def _wheel_project(path: Path) -> str:
    return path.name.split("-")[0].lower()


def build_wheels_dataset(
    out_dir: str | Path, user: str, download: bool = True, repack: Sequence[str] = (),
    extra_wheels: Sequence[str | Path] = (), run: Runner = _run, settings_dir: str | Path | None = None,
) -> Path:
    """Write the wheels dataset folder (flat): the kit wheel, wheels of KAGGLE_MISSING_PACKAGES, dataset-metadata.json.

    ``download``: ``pip download`` them, pinned to the versions installed here, for the Kaggle image (cp312,
    manylinux x86_64; needs the network, it is this command's job). ``repack``: installed pure-Python
    distributions rebuilt into wheels instead (offline). ``extra_wheels``: wheel files copied in. A package the
    Kaggle image already has (its snapshot) is refused before anything is written. The folder is built as a
    temporary sibling that replaces the old one only when complete (a failed build keeps the previous wheels; two
    versions of one package would make the notebooks' ``pip install`` fail, so old wheels do not survive a
    successful one). Returns the folder.
    """
    check_not_in_image([*KAGGLE_MISSING_PACKAGES, *repack, *(_wheel_project(Path(w)) for w in extra_wheels)])
    folder = Path(out_dir)
    meta = _metadata(folder, user, "wheels", settings_dir)
    absent = [str(w) for w in extra_wheels if not Path(w).is_file()]
    if absent:
        raise FileNotFoundError(f"extra wheel {absent[0]} not found")
    with swap_folder(folder) as tmp:
        build_kit_wheel(tmp)
        if download:
            run(download_command(KAGGLE_MISSING_PACKAGES, tmp))
            have = {_wheel_project(w) for w in tmp.glob("*.whl")}
            missing = [p for p in KAGGLE_MISSING_PACKAGES if re.sub(r"[-_.]+", "_", p).lower() not in have]
            if missing:
                raise RuntimeError(f"pip download left no wheel of {missing} in {folder}")
        for distribution in repack:
            repack_installed(distribution, tmp)
        for wheel in extra_wheels:
            shutil.copy2(wheel, tmp / Path(wheel).name)
        _write_metadata(tmp, meta)
    return folder


def build_models_dataset(
    out_dir: str | Path, user: str, ensemble_json: str | Path, slim: bool = True,
    settings_dir: str | Path | None = None,
) -> Path:
    """Write the models dataset folder (flat): ``ensemble.json`` and every checkpoint it names, renamed
    ``<NN>_<model name>.pt`` and referred to by that relative name. ``slim`` keeps only what inference needs
    (:func:`kit.models.checkpoint.slim_state`).

    The inference notebook finds the dataset by its ``ensemble.json`` and resolves checkpoints beside it.
    """
    from kit.infer.ensemble_config import EnsembleConfig
    from kit.models.checkpoint import load_checkpoint, save_checkpoint, slim_state

    ensemble_json = Path(ensemble_json)
    if not ensemble_json.exists():
        raise FileNotFoundError(f"{ensemble_json} not found: run notebook 02 (02_ensembling) first")
    config = EnsembleConfig.load(ensemble_json)
    folder = Path(out_dir)
    meta = _metadata(folder, user, "models", settings_dir)
    checkpoints = [path_inside(ensemble_json.parent, m.checkpoint, f"{ensemble_json}: model {i} checkpoint")
                   for i, m in enumerate(config.models)]
    for i, (model, checkpoint) in enumerate(zip(config.models, checkpoints)):
        if not checkpoint.is_file():
            raise FileNotFoundError(f"{ensemble_json}: model {i} ({model.name!r}) checkpoint {checkpoint} not found")
    with swap_folder(folder) as tmp:  # a failed build keeps the previous dataset folder whole
        for i, (model, checkpoint) in enumerate(zip(config.models, checkpoints)):
            target = f"{i:02d}_{slugify(model.name) or 'model'}.pt"
            state = load_checkpoint(checkpoint)  # also for a plain copy: the file is checked to hold no code
            if slim and isinstance(state, dict) and "model" in state:
                save_checkpoint(tmp / target, slim_state(state, checkpoint))
            else:
                shutil.copy2(checkpoint, tmp / target)
                os.chmod(tmp / target, OUTPUT_MODE)
            model.checkpoint = target
        config.save(tmp / "ensemble.json")
        _write_metadata(tmp, meta)
    return folder


def _weights_file_in(from_dir: Path, key) -> tuple[Path, str]:
    """The file of ``key`` in ``from_dir``: a weights folder's manifest entry, ``<encoder>.<tag><suffix>``, or the
    Hugging Face Hub cache layout (``[hub/]models--<org>--<name>/snapshots/*/model.safetensors``)."""
    from kit.models.pretrained import find_in_folder, hub_repo
    from kit.models.weights import WEIGHT_SUFFIXES

    found = find_in_folder(from_dir, key)  # a weights folder: its manifest entry, size and sha256 checked
    if found is not None:
        return found[0], found[1].source
    names = [f"{key.file_stem}{suffix}" for suffix in WEIGHT_SUFFIXES]
    for name in names:
        if (from_dir / name).is_file():
            return from_dir / name, f"{from_dir / name}"
    try:
        repo = hub_repo(key)[0]
    except ValueError:
        repo = None
    if repo:
        cache = f"models--{repo.replace('/', '--')}"
        for base in (from_dir, from_dir / "hub"):
            found = sorted(base.glob(f"{cache}/snapshots/*/model.safetensors")) or sorted(
                base.glob(f"{cache}/snapshots/*/pytorch_model.bin"))
            if found:
                return found[-1], f"huggingface.co/{repo} (from {found[-1]})"
    looked = ", ".join(names) + (f", {cache}/snapshots/*/model.safetensors" if repo else "")
    raise FileNotFoundError(f"--from {from_dir}: no weights for {key.encoder} {key.tag}; looked for {looked}")


def _check_fits(key, path: Path) -> None:
    """Load ``path`` into a fresh encoder of ``key`` (strict): a file that does not fit fails here, not on Kaggle."""
    from segmentation_models_pytorch.encoders import get_encoder

    from kit.models.weights import load_encoder_weights

    load_encoder_weights(get_encoder(key.encoder, weights=None), path)


def build_weights_dataset(
    out_dir: str | Path, user: str, encoders: Sequence[str], from_dir: str | Path | None = None,
    settings_dir: str | Path | None = None,
) -> Path:
    """Write (or add to) the pretrained weights dataset folder: one file per encoder + tag, the manifest
    ``kit-weights.json`` (encoder + tag -> file, sha256, source) and dataset-metadata.json.

    ``encoders``: ``ENCODER[:TAG]`` (tag default ``imagenet``; ``tu-`` encoders may name their timm tag:
    ``tu-convnext_small.fb_in22k``). Files come from ``from_dir`` (see :func:`_weights_file_in`) or, without it,
    from the library's download (needs the network: this command's job). Each file is loaded into a fresh encoder
    before it is added. Entries already in the folder are kept unless rebuilt (no ``encoders`` and no folder: an
    empty weights dataset, as the offline rehearsal mounts). Returns the folder.
    """
    from kit.fingerprint import file_hash
    from kit.models.weights import WEIGHT_SUFFIXES
    from kit.models.pretrained import (MANIFEST_FILE, WeightsEntry, download_weights, read_manifest,
                                       weights_key, write_manifest)

    folder = Path(out_dir)
    entries = {(e.encoder, e.tag): e for e in read_manifest(folder)} if (folder / MANIFEST_FILE).is_file() else {}
    files: dict[tuple[str, str], tuple[Path, str]] = {}  # new entries: (file to copy, source)
    for spec in encoders:
        encoder, _, tag = spec.partition(":")
        key = weights_key(encoder, tag or "imagenet")
        if from_dir is not None:
            source_path, source = _weights_file_in(Path(from_dir), key)
        else:
            try:
                source_path, source = download_weights(key)
            except Exception as err:  # the Hub client, timm and urllib raise many types without the network
                raise RuntimeError(f"downloading {key.encoder} {key.tag} failed ({type(err).__name__}: {err}); run "
                                   f"where the network is allowed, or pass --from DIR with the files") from err
        _check_fits(key, source_path)
        files[(key.encoder, key.tag)] = (source_path, source)
    with swap_folder(folder) as tmp:  # a failed build keeps the previous dataset folder whole
        for pair, entry in entries.items():
            if pair not in files:
                shutil.copy2(path_inside(folder, entry.file, f"{folder / MANIFEST_FILE}: file"), tmp / entry.file)
        for (encoder, tag), (source_path, source) in files.items():
            suffix = source_path.suffix if source_path.suffix in WEIGHT_SUFFIXES else ".pth"  # HF pytorch_model.bin
            target = tmp / f"{encoder}.{tag}{suffix}"
            shutil.copyfile(source_path, target)
            entries[(encoder, tag)] = WeightsEntry(encoder, tag, target.name, file_hash(target), source)
        write_manifest(tmp, list(entries.values()))
        resources = [{"path": MANIFEST_FILE, "description": "kit weights manifest: encoder + tag -> file, sha256, "
                                                            "source"}]
        resources += [{"path": e.file, "description": f"{e.encoder} {e.tag} encoder weights ({e.source})"}
                      for e in sorted(entries.values(), key=lambda e: e.file)]
        _write_metadata(tmp, _metadata(tmp, user, "weights", settings_dir, resources))
    return folder
