"""Weights from files only: read a state_dict (.pth/.pt/.bin/.safetensors) and load it into an encoder.

Nothing here downloads. ``encoder_weights`` everywhere in ``kit.models`` is the path of a file, typically in a
Kaggle dataset; a hub tag such as ``"imagenet"`` is refused with an explanation.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn

from kit.models.checkpoint import load_checkpoint

__all__ = ["WEIGHT_SUFFIXES", "CLASSIFIER_PREFIXES", "resolve_weights_path", "read_state_dict", "state_dict_problems",
           "load_encoder_weights", "init_encoder"]

WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors")
#: ImageNet classifier heads found in backbone checkpoints; an encoder has no such layer, so they are skipped
CLASSIFIER_PREFIXES = ("fc.", "_fc.", "classifier.", "last_linear.", "linear.", "head.")
_CONTAINER_KEYS = ("state_dict", "model", "model_state_dict")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")  # DataParallel / DistributedDataParallel, torch.compile


def resolve_weights_path(encoder_weights: str | os.PathLike | None) -> Path | None:
    """``None`` stays ``None``; an existing file becomes its Path; anything else raises a clear error."""
    if encoder_weights is None:
        return None
    if not isinstance(encoder_weights, (str, os.PathLike)):
        raise ValueError(f"encoder_weights must be a file path or None, got {type(encoder_weights).__name__}")
    path = Path(encoder_weights)
    if path.is_file():
        return path
    text = str(encoder_weights)
    if path.suffix.lower() in WEIGHT_SUFFIXES or os.sep in text or "/" in text:
        raise FileNotFoundError(f"encoder weights file {text} not found")
    raise ValueError(
        f"encoder_weights={text!r} is not a file: weights are never downloaded here; pass the path of a "
        f"{'/'.join(WEIGHT_SUFFIXES)} file (e.g. from a Kaggle dataset under /kaggle/input), or None"
    )


def _strip_wrappers(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``: unwraps ``{"state_dict"|"model"|"model_state_dict": ...}`` containers and strips
    ``module.`` / ``_orig_mod.`` prefixes. Raises FileNotFoundError / ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj: object = load_file(str(path), device="cpu")
        except Exception as err:
            raise ValueError(f"weights file {path} is not a readable safetensors file ({err})") from err
    else:
        obj = load_checkpoint(path)
    while isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        inner = next((obj[k] for k in _CONTAINER_KEYS if isinstance(obj.get(k), dict)), None)
        if inner is None:
            bad = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
            raise ValueError(
                f"weights file {path}: entry {bad!r} is not a tensor and no {'/'.join(_CONTAINER_KEYS)} "
                f"state_dict was found inside"
            )
        obj = inner
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"weights file {path} holds no state_dict (found {type(obj).__name__})")
    return {_strip_wrappers(k): v for k, v in obj.items()}


def _timm_features_layout(state: dict[str, torch.Tensor], target_keys) -> dict[str, torch.Tensor]:
    """A bare timm model's keys as an smp ``tu-`` encoder names them: under ``model.``, with the top-level
    Sequentials that timm's ``features_only`` wrapper flattens joined by ``_`` (``stages.0.x`` ->
    ``model.stages_0.x``) wherever the encoder has that name."""
    renamed = {}
    for key, value in state.items():
        parts = key.split(".")
        flat = f"model.{parts[0]}_{'.'.join(parts[1:])}" if len(parts) > 2 else ""
        renamed[flat if flat in target_keys else f"model.{key}"] = value
    return renamed


def _candidates(state: dict[str, torch.Tensor], model_prefix: str, target_keys) -> list[dict[str, torch.Tensor]]:
    """Ways the file's keys may line up with the encoder's: as they are, a full model's ``model_prefix`` part,
    or a bare timm backbone (smp ``tu-`` encoders, see :func:`_timm_features_layout`; always last)."""
    inner = {k[len(model_prefix):]: v for k, v in state.items() if k.startswith(model_prefix)}
    return [state, inner, _timm_features_layout(state, target_keys)]


def _examples(keys, n: int = 5) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f" ... ({len(keys)} in all)" if len(keys) > n else "")


def state_dict_problems(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], hint: str,
                        source_name: str = "file", target_name: str = "encoder", ignored=()) -> list[str]:
    """Why ``source`` does not load into ``target`` (both state_dicts), one phrase per kind (empty: it fits).

    Kinds: shape mismatches (``hint`` names the likely cause), ``target`` keys that ``source`` lacks
    (``num_batches_tracked`` excepted: checkpoints of old PyTorch lack it) and ``source`` keys that ``target``
    lacks (``ignored`` excepted).
    """
    unexpected = source.keys() - target.keys() - set(ignored)
    missing = {k for k in target.keys() - source.keys() if not k.endswith("num_batches_tracked")}
    mismatched = [f"{k}: {source_name} {tuple(source[k].shape)} vs {target_name} {tuple(target[k].shape)}"
                  for k in sorted(source.keys() & target.keys()) if source[k].shape != target[k].shape]
    problems = []
    if mismatched:
        more = f" ... ({len(mismatched)} in all)" if len(mismatched) > 5 else ""
        problems.append(f"shape mismatches ({hint}): {'; '.join(mismatched[:5])}{more}")
    if missing:
        problems.append(f"missing {target_name} keys: {_examples(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_examples(unexpected)}")
    return problems


def load_encoder_weights(encoder: nn.Module, path: str | os.PathLike, model_prefix: str = "encoder.") -> list[str]:
    """Load the weights in ``path`` into ``encoder``.

    The file may hold the encoder alone (backbone checkpoint, timm or smp layout) or a whole model whose encoder
    sits under ``model_prefix``. Strict: a missing encoder key (other than ``num_batches_tracked``), an unexpected
    key (other than a classifier head, or the layers after the last feature stage of a bare timm backbone) or a
    shape mismatch raises ValueError listing the keys. Returns the skipped keys.
    """
    path = Path(path)
    state = read_state_dict(path)
    target = encoder.state_dict()
    candidates = _candidates(state, model_prefix, target.keys())
    source = max(candidates, key=lambda c: len(c.keys() & target.keys()))
    if not source.keys() & target.keys():
        raise ValueError(
            f"weights file {path}: no key matches the encoder; it expects keys like {_examples(target)}, "
            f"the file has {_examples(state)}"
        )
    # a bare timm backbone also holds the layers that timm's features_only wrapper cuts after the last stage
    timm_tail = source is candidates[-1] and not target.keys() - source.keys()
    ignored = sorted(k for k in source.keys() - target.keys()
                     if timm_tail or k.removeprefix("model.").startswith(CLASSIFIER_PREFIXES))
    problems = state_dict_problems(source, target, "different in_channels or encoder?", ignored=ignored)
    if problems:
        raise ValueError(f"weights file {path} does not fit the encoder: " + " | ".join(problems))
    encoder.load_state_dict({k: source[k] for k in target.keys() & source.keys()}, strict=False)
    return ignored


def init_encoder(encoder: nn.Module, encoder_weights: str | os.PathLike | None,
                 model_prefix: str = "encoder.") -> list[str]:
    """:func:`load_encoder_weights` from ``encoder_weights`` (a file path, see :func:`resolve_weights_path`);
    ``None`` keeps the random initialisation. Returns the skipped classifier keys."""
    path = resolve_weights_path(encoder_weights)
    return [] if path is None else load_encoder_weights(encoder, path, model_prefix)
