"""Official checkpoints: one small key-mapping entry per paper model, and a strict loader.

An entry says where the official weights come from, which of their keys are unused by design (prefixes; for
example a backbone's ImageNet classifier that the segmentation forward never runs) and how their values are
converted (e.g. class channels reordered). Every paper model keeps the official module names, so the other keys
are ours as they are. ``build_model(name, official_checkpoint=PATH)`` calls :func:`load_official_checkpoint`,
which fails loudly on anything left over; :func:`import_official_checkpoint` writes the result as a kit checkpoint
(weights, model_spec, input and output contracts) that an ensemble.json can name, so inference runs it offline.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

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
    "import_official_checkpoint",
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


def import_official_checkpoint(name: str, path: str | os.PathLike, target: str | os.PathLike,
                               classes: Sequence[str], image_size: tuple[int, int]) -> nn.Module:
    """Write the official checkpoint ``path`` of model ``name`` as the kit checkpoint ``target``; return the model
    (eval mode).

    ``classes``: the task's foreground classes in class-id order (e.g. the NeoPolyp profile's); the model card's
    ``official_classes`` must be what they make of its channels (ValueError otherwise). ``image_size``: the
    (height, width) whole images are resized to (ImageNet normalisation). The checkpoint holds the weights in the
    kit's layout, the model_spec, and the input and output contracts (:mod:`kit.models.contract`).
    """
    from kit.models import build_model, model_info
    from kit.models.checkpoint import save_checkpoint
    from kit.models.contract import CONTRACT_KEY, OUTPUT_KEY, input_contract, output_contract
    from kit.models.spec import model_spec

    info = model_info(name)
    num_classes = 1 if len(classes) == 1 else len(classes) + 1
    mode, channels = info.output_mode(num_classes), info.channels(num_classes)
    outputs = output_contract(mode, classes)
    if tuple(outputs["channels"]) != info.official_classes:
        raise ValueError(f"official {name!r} predicts {list(info.official_classes) or 'no classes'}; the classes "
                         f"{list(classes)} would read its channels as {outputs['channels']}")
    model = build_model(name, num_classes=channels, official_checkpoint=path)
    size = [int(v) for v in image_size]
    save_checkpoint(target, {
        "model": model.state_dict(),
        "model_spec": model_spec(name, channels),
        CONTRACT_KEY: input_contract({"num_classes": num_classes, "image_size": size}),
        OUTPUT_KEY: outputs,
    })
    return model.eval()


# ----------------------------------------------------------------------------- official layouts, one entry each


register_official(
    "pranet",
    source="DengPingFan/PraNet: lib/PraNet_Res2Net.py (PraNet, published PraNet-19.pth)",
    unused_prefixes=("resnet.fc.",),  # Res2Net ImageNet classifier, never run by PraNet.forward
)
