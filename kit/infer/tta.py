"""Test-time augmentation over the dihedral group D4: eight exact, invertible transforms of N×C×H×W tensors.

Each transform is a pair of pure functions (``apply`` on images, ``invert`` on the predicted maps). Any subset
can be picked by name; ``"d4"`` is all eight and ``"flips"`` the four flips of the 2021 winners.

>>> [t.name for t in get_tta("flips")]
['identity', 'hflip', 'vflip', 'rot180']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from kit.registry import Registry

__all__ = ["TtaTransform", "TTA_TRANSFORMS", "TTA_PRESETS", "TTA_NAMES", "tta_names", "get_tta", "predict_with_tta"]

TensorFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TtaTransform:
    """One test-time transform: ``invert(apply(x)) == x`` for every tensor x (square in the last two dims
    for the transforms that swap height and width)."""

    name: str
    apply: TensorFn
    invert: TensorFn


def _hflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-1)


def _vflip(x: torch.Tensor) -> torch.Tensor:
    return x.flip(-2)


def _rot(k: int) -> TensorFn:
    def rotate(x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, k, dims=(-2, -1))

    return rotate


def _transpose(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-1, -2)


def _antitranspose(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(-1, -2).flip(-1, -2)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


TTA_TRANSFORMS: dict[str, TtaTransform] = {
    t.name: t
    for t in (
        TtaTransform("identity", _identity, _identity),
        TtaTransform("hflip", _hflip, _hflip),
        TtaTransform("vflip", _vflip, _vflip),
        TtaTransform("rot90", _rot(1), _rot(-1)),
        TtaTransform("rot180", _rot(2), _rot(2)),
        TtaTransform("rot270", _rot(-1), _rot(1)),
        TtaTransform("transpose", _transpose, _transpose),
        TtaTransform("antitranspose", _antitranspose, _antitranspose),
    )
}

TTA_PRESETS: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "flips": ("identity", "hflip", "vflip", "rot180"),
    "d4": tuple(TTA_TRANSFORMS),
}


#: every name ``get_tta`` takes (single transforms, then presets) -> its transforms; case, "-" and "_" are ignored
TTA_NAMES: Registry[tuple[TtaTransform, ...]] = Registry.of(
    "TTA transform",
    {**{name: (t,) for name, t in TTA_TRANSFORMS.items()},
     **{name: tuple(TTA_TRANSFORMS[n] for n in names) for name, names in TTA_PRESETS.items()}},
    sort=False, key=lambda name: name.lower().replace("-", "").replace("_", ""))


def tta_names() -> list[str]:
    """Names of the single transforms, in D4 order."""
    return list(TTA_TRANSFORMS)


def get_tta(names: str | Sequence[str] | None) -> list[TtaTransform]:
    """Transforms by name (single names or the presets "none", "flips", "d4"), duplicates dropped, order kept.

    ``None`` or an empty list means identity only; an unknown name raises :class:`~kit.registry.UnknownNameError`
    listing the valid ones.
    """
    if names is None:
        names = ["identity"]
    elif isinstance(names, str):
        names = [names]
    chosen: dict[str, TtaTransform] = {}
    for name in names:
        for transform in TTA_NAMES.get(name):
            chosen.setdefault(transform.name, transform)
    return list(chosen.values()) or [TTA_TRANSFORMS["identity"]]


def predict_with_tta(
    forward: TensorFn, images: torch.Tensor, transforms: Sequence[TtaTransform], activation: TensorFn
) -> torch.Tensor:
    """Mean over ``transforms`` of ``activation(invert(forward(apply(images))))``, in float32.

    ``forward`` maps N×3×H×W images to N×C×H×W logits; the activation (sigmoid or softmax) is applied after
    the inverse transform, so probabilities, not logits, are averaged.
    """
    total: torch.Tensor | None = None
    for transform in transforms:
        probs = activation(transform.invert(forward(transform.apply(images))).float())
        total = probs if total is None else total.add_(probs)
    if total is None:
        raise ValueError("predict_with_tta needs at least one transform")
    return total.div_(len(transforms)) if len(transforms) > 1 else total
