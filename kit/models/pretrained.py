"""Pretrained encoder weights by tag, resolved offline first: a weights folder, else the library's download.

``encoder_weights`` takes what smp takes: ``"imagenet"`` and the other tags of an smp encoder (``"ssl"``,
``"swsl"`` ...); for a ``tu-`` encoder the timm pretrained tag (``"fb_in22k"``, or in the name:
``tu-convnext_small.fb_in22k``), where ``"imagenet"`` means the name's tag, else timm's default one. A tag is
resolved in this order:

1. a weights folder: ``$KIT_WEIGHTS`` (folders joined by ``os.pathsep``), then every folder holding the manifest
   ``kit-weights.json`` under the Kaggle input root (an attached weights dataset, new or legacy mount). The
   manifest maps encoder + tag to a file of that folder, its sha256 (checked) and where it came from;
   ``python -m kit datasets build weights`` writes such a folder;
2. the library's own download (smp: the Hugging Face Hub; timm: its pretrained source), unless downloads are off
   (``HF_HUB_OFFLINE`` or ``KIT_OFFLINE`` set to 1/true/yes/on, as in the tests and offline kernels);
3. otherwise one error naming the encoder, the tag, the folders searched and the command that builds the dataset.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kit.fingerprint import file_hash
from kit.models.weights import WEIGHT_SUFFIXES, resolve_weights_path
from kit.paths import find_marked_folders, kaggle_input_root, path_inside
from kit.registry import Registry

__all__ = ["MANIFEST_FILE", "IMAGENET", "WeightsKey", "WeightsEntry", "ResolvedWeights", "weights_key",
           "default_encoder_weights", "read_manifest", "write_manifest", "weights_folders",
           "downloads_allowed", "hub_repo", "download_weights", "resolve_encoder_weights"]

MANIFEST_FILE = "kit-weights.json"
IMAGENET = "imagenet"
_MANIFEST_FORMAT = "kit-weights/1"
_ENTRY_KEYS = ("encoder", "tag", "file", "sha256", "source")
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class WeightsKey:
    """One set of pretrained weights: the encoder (``tu-<timm model>`` without tag, or an smp name) and the tag."""

    encoder: str
    tag: str

    @property
    def file_stem(self) -> str:
        """The name of its file in a weights folder, without suffix: ``resnet34.imagenet``."""
        return f"{self.encoder}.{self.tag}"


@dataclass(frozen=True)
class WeightsEntry:
    """A manifest row: encoder + tag -> file (in the manifest's folder), sha256 and where it came from."""

    encoder: str
    tag: str
    file: str
    sha256: str
    source: str


@dataclass(frozen=True)
class ResolvedWeights:
    """What ``encoder_weights`` became: a file (None: random initialisation) and a line saying where from."""

    path: Path | None
    source: str


def _timm_key(encoder: str, tag: str) -> WeightsKey:
    import timm
    from timm.models import get_pretrained_cfg, is_model, split_model_name_tag

    arch, name_tag = split_model_name_tag(encoder[3:])
    if not is_model(arch):
        raise ValueError(f"encoder {encoder}: timm has no model {arch!r}")
    if tag != IMAGENET and name_tag and tag != name_tag:
        raise ValueError(f"encoder {encoder} names the timm tag {name_tag!r} but encoder_weights is {tag!r}: "
                         f"use one of them")
    wanted = name_tag if tag == IMAGENET else tag
    try:
        cfg = get_pretrained_cfg(f"{arch}.{wanted}" if wanted else arch)
    except RuntimeError:  # timm: "Invalid pretrained tag"
        cfg = None
    if cfg is None or not cfg.tag:
        tags = Registry.of("pretrained tag", [name.partition(".")[2] for name in timm.list_pretrained(f"{arch}.*")],
                           f"encoder {encoder}: timm has no pretrained weights {{name!r}} for {arch}{{hint}}; "
                           "its tags: {valid}", sort=False)
        raise tags.error(wanted or "by default")
    return WeightsKey(f"tu-{arch}", cfg.tag)


def weights_key(encoder: str, tag: str) -> WeightsKey:
    """The canonical key of ``tag`` for ``encoder``; an unknown encoder or tag raises ValueError listing the tags."""
    if encoder.startswith("tu-"):
        return _timm_key(encoder, tag)
    import segmentation_models_pytorch as smp

    if encoder not in smp.encoders.encoders:
        raise ValueError(f"encoder {encoder}: not an smp encoder nor tu-<timm name>, so it has no pretrained tags; "
                         f"pass a weights file or None")
    tags = Registry.of("pretrained tag", smp.encoders.encoders[encoder].get("pretrained_settings", {}),
                       f"encoder {encoder} has no {{name!r}} weights{{hint}}; its tags: {{valid}}", sort=False)
    tags.check(tag)
    return WeightsKey(encoder, tag)


def default_encoder_weights(encoder: str | None) -> str | None:
    """``"imagenet"`` when ``encoder`` has such weights (smp tag, or any timm pretrained tag), else None."""
    if encoder is None:
        return None
    try:
        weights_key(encoder, IMAGENET)
    except ValueError:
        return None
    return IMAGENET


def read_manifest(folder: str | os.PathLike) -> list[WeightsEntry]:
    """The entries of ``folder/kit-weights.json``; a broken manifest raises ValueError naming it and the entry.
    Files must be weights files inside ``folder`` (paths read from the manifest stay inside it)."""
    path = Path(folder) / MANIFEST_FILE
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(values, dict) or values.get("format") != _MANIFEST_FORMAT or not isinstance(
            values.get("weights"), list):
        raise ValueError(f"{path}: expected {{\"format\": \"{_MANIFEST_FORMAT}\", \"weights\": [...]}}")
    entries = []
    for i, row in enumerate(values["weights"]):
        if not isinstance(row, dict) or set(row) != set(_ENTRY_KEYS):
            raise ValueError(f"{path}: weights[{i}] must have exactly the keys {', '.join(_ENTRY_KEYS)}")
        path_inside(folder, str(row["file"]), f"{path}: weights[{i}] file")
        if not str(row["file"]).endswith(WEIGHT_SUFFIXES):
            raise ValueError(f"{path}: weights[{i}] file {row['file']!r} is not a {'/'.join(WEIGHT_SUFFIXES)} file")
        entries.append(WeightsEntry(**{k: str(row[k]) for k in _ENTRY_KEYS}))
    return entries


def write_manifest(folder: str | os.PathLike, entries: list[WeightsEntry]) -> Path:
    """Write ``folder/kit-weights.json`` atomically, entries sorted by encoder and tag."""
    from kit.fsutil import atomic_write_text

    rows = [asdict(e) for e in sorted(entries, key=lambda e: (e.encoder, e.tag))]
    path = Path(folder) / MANIFEST_FILE
    atomic_write_text(path, json.dumps({"format": _MANIFEST_FORMAT, "weights": rows}, indent=2) + "\n")
    return path


def weights_folders() -> list[Path]:
    """Folders searched for weights, in order: ``$KIT_WEIGHTS`` entries, then attached datasets with a manifest."""
    listed = [Path(p) for p in os.environ.get("KIT_WEIGHTS", "").split(os.pathsep) if p]
    return listed + [f for f in find_marked_folders(MANIFEST_FILE) if f not in listed]


def downloads_allowed() -> bool:
    """False when ``HF_HUB_OFFLINE`` or ``KIT_OFFLINE`` is set to 1/true/yes/on (offline kernels, the tests)."""
    return not any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("HF_HUB_OFFLINE", "KIT_OFFLINE"))


def find_in_folder(folder: Path, key: WeightsKey) -> tuple[Path, WeightsEntry] | None:
    """(file, manifest entry) of ``key`` in weights folder ``folder``; None when its manifest has no such entry; a
    listed file that is missing or whose sha256 differs raises."""
    if not (folder / MANIFEST_FILE).is_file():
        return None
    entry = next((e for e in read_manifest(folder) if (e.encoder, e.tag) == (key.encoder, key.tag)), None)
    if entry is None:
        return None
    path = path_inside(folder, entry.file, f"{folder / MANIFEST_FILE}: file")
    if not path.is_file():
        raise FileNotFoundError(f"{folder / MANIFEST_FILE} lists {entry.file} for {key.encoder} {key.tag}, "
                                f"but the file is missing")
    if file_hash(path) != entry.sha256:
        raise ValueError(f"{path}: sha256 differs from {folder / MANIFEST_FILE} (truncated or replaced file); "
                         f"rebuild the weights dataset")
    return path, entry


def hub_repo(key: WeightsKey) -> tuple[str, str | None]:
    """(Hugging Face Hub repository, revision) the library downloads ``key`` from (revision None: default)."""
    if key.encoder.startswith("tu-"):
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(f"{key.encoder[3:]}.{key.tag}")
        if not cfg.hf_hub_id:
            raise ValueError(f"timm serves {key.file_stem} from {cfg.url or 'no source'}, not from the Hugging Face "
                             f"Hub")
        return cfg.hf_hub_id, None
    import segmentation_models_pytorch as smp

    settings = smp.encoders.encoders[key.encoder]["pretrained_settings"][key.tag]
    return settings["repo_id"], settings.get("revision")


def download_weights(key: WeightsKey) -> tuple[Path, str]:
    """The library's own download of ``key`` (needs the network; the tests never call it): (file, source).

    smp encoders: ``model.safetensors`` of smp's Hub repository, as ``smp.encoders.get_encoder`` fetches it
    (into the Hub cache). timm: ``timm.create_model(name, pretrained=True)`` (timm's own source and cache), whose
    state_dict is saved under ``$TORCH_HOME/hub/kit/``.
    """
    if not key.encoder.startswith("tu-"):
        from huggingface_hub import hf_hub_download

        repo, revision = hub_repo(key)
        path = hf_hub_download(repo, filename="model.safetensors", revision=revision)
        return Path(path), f"huggingface.co/{repo}" + (f"@{revision}" if revision else "")
    import timm
    import torch
    from safetensors.torch import save_file

    from kit.fsutil import atomic_path

    model = timm.create_model(f"{key.encoder[3:]}.{key.tag}", pretrained=True)
    path = Path(torch.hub.get_dir()) / "kit" / f"{key.file_stem}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, str(tmp))
    cfg = model.pretrained_cfg
    return path, f"timm {key.encoder[3:]}.{key.tag} ({cfg.get('hf_hub_id') or cfg.get('url') or 'timm source'})"


def _missing_message(key: WeightsKey, asked: str, folders: list[Path], why: str) -> str:
    searched = ", ".join(map(str, folders)) or "none"
    if key.encoder.startswith("tu-"):
        option = key.file_stem
    else:
        option = key.encoder if key.tag == IMAGENET else f"{key.encoder}:{key.tag}"
    return (f"no {key.tag!r} weights for encoder {asked} (encoder_weights={key.tag!r}): weights folders searched: "
            f"{searched} ($KIT_WEIGHTS and folders with {MANIFEST_FILE} under {kaggle_input_root()}); "
            f"{why}. Build the weights dataset where the network is "
            f"allowed: python -m kit datasets build weights --user ME --encoder {option} (then datasets push "
            f"weights and attach it, or set KIT_WEIGHTS to build/datasets/weights), or train from scratch with "
            f"--encoder-weights none")


def resolve_encoder_weights(encoder_weights: str | os.PathLike | None, encoder: str | None) -> ResolvedWeights:
    """What ``encoder_weights`` means for ``encoder`` (the smp / ``tu-`` encoder name; None: the model has none).

    None or ``"none"``: random initialisation. A file: that file. A tag: the weights folders, then the library's
    download, else FileNotFoundError with everything needed to fix it (see the module docstring).
    """
    if encoder_weights is None or str(encoder_weights).strip().lower() == "none":
        return ResolvedWeights(None, "none (random initialisation)")
    text = str(encoder_weights)
    if isinstance(encoder_weights, os.PathLike) or Path(text).is_file() or "/" in text or os.sep in text \
            or text.lower().endswith(WEIGHT_SUFFIXES):
        path = resolve_weights_path(encoder_weights)
        return ResolvedWeights(path, f"file {path}")
    if encoder is None:
        raise ValueError(f"encoder_weights={text!r} is a pretrained tag, but this model has no smp or tu- encoder: "
                         f"pass a weights file or None")
    key = weights_key(encoder, text)
    folders = weights_folders()
    for folder in folders:
        found = find_in_folder(folder, key)
        if found:
            path, entry = found
            return ResolvedWeights(path, f"{key.encoder} {key.tag} from weights folder {folder} ({entry.file}, "
                                         f"sha256 checked; source {entry.source})")
    if not downloads_allowed():
        why = "downloads are off (HF_HUB_OFFLINE/KIT_OFFLINE)"
        raise FileNotFoundError(_missing_message(key, encoder, folders, why))
    try:
        path, source = download_weights(key)
    except Exception as err:  # the Hub client, timm and urllib raise many types when the network is missing
        why = f"the library's download failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        raise FileNotFoundError(_missing_message(key, encoder, folders, why)) from err
    return ResolvedWeights(path, f"{key.encoder} {key.tag} downloaded by the library: {source} ({path})")
