"""Official checkpoints: one small key-mapping entry per paper model, and a strict loader.

An entry says where the official weights come from, which of their keys are unused by design (prefixes; for
example a backbone's ImageNet classifier that the segmentation forward never runs) and how their values are
converted (e.g. class channels reordered). Every paper model keeps the official module names, so the other keys
are ours as they are. ``build_model(name, official_checkpoint=PATH)`` calls :func:`load_official_checkpoint`,
which fails loudly on anything left over.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from kit.models.weights import read_state_dict, state_dict_problems
from kit.registry import Registry

__all__ = [
    "OfficialLayout",
    "register_official",
    "official_layout",
    "official_names",
    "map_official_state_dict",
    "load_official_checkpoint",
]

StateConvert = Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class OfficialLayout:
    """How the official state_dict of model ``name`` maps onto ours."""

    name: str
    source: str
    unused_prefixes: tuple[str, ...]
    convert: StateConvert | None = None  # applied to the renamed state_dict (e.g. reorder class channels)

    def is_unused(self, key: str) -> bool:
        """True for official keys that the official forward never uses (dropped when loading)."""
        return key.startswith(self.unused_prefixes)


_LAYOUTS: Registry[OfficialLayout] = Registry(
    "official layout", "model {name!r} has no official checkpoint layout{hint}; models with one: {valid}")


def register_official(name: str, *, source: str, unused_prefixes: tuple[str, ...] = (),
                      convert: StateConvert | None = None) -> OfficialLayout:
    """Register the official checkpoint layout of model ``name`` (keys = our keys, minus ``unused_prefixes``);
    ``convert`` (optional) then transforms the state_dict's values."""
    return _LAYOUTS.add(name, OfficialLayout(name, source, tuple(unused_prefixes), convert))


def official_names() -> list[str]:
    """Models with an official checkpoint layout, sorted."""
    return _LAYOUTS.names()


def official_layout(name: str) -> OfficialLayout:
    """The layout of ``name``; KeyError listing the models that have one."""
    return _LAYOUTS.get(name)


def map_official_state_dict(name: str, state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our state_dict, official keys dropped as unused by design) for an official ``state``."""
    layout = official_layout(name)
    dropped = sorted(k for k in state if layout.is_unused(k))
    mapped = {k: v for k, v in state.items() if not layout.is_unused(k)}
    if layout.convert is not None:
        mapped = layout.convert(mapped)
    return mapped, dropped


def load_official_checkpoint(model: nn.Module, name: str, path: str | os.PathLike) -> list[str]:
    """Load the official checkpoint at ``path`` into ``model`` (registered as ``name``); return the dropped keys.

    Every official key must land on a model key of the same shape and every model key must be filled
    (``num_batches_tracked`` excepted: checkpoints from old PyTorch lack it); otherwise ValueError lists them.
    """
    path = Path(path)
    mapped, dropped = map_official_state_dict(name, read_state_dict(path))
    problems = state_dict_problems(mapped, model.state_dict(), "num_classes/backbone differ from the official model?",
                                   source_name="checkpoint", target_name="model")
    if problems:
        raise ValueError(f"official checkpoint {path} does not fit model {name!r}: " + " | ".join(problems))
    model.load_state_dict(mapped, strict=False)
    return dropped


# ----------------------------------------------------------------------------- official layouts, one entry each


register_official(
    "pranet",
    source="DengPingFan/PraNet: lib/PraNet_Res2Net.py (PraNet, published PraNet-19.pth)",
    unused_prefixes=("resnet.fc.",),  # Res2Net ImageNet classifier, never run by PraNet.forward
)
