"""Segmentation losses on logits, built from a spec string: ``build_loss("0.4*ce + 0.6*dice", mode="binary")``.

Every loss takes logits N×C×H×W and a target (binary: N×1×H×W or N×H×W in [0, 1]; multiclass: N×H×W
class ids), honours ``ignore_index``, and is wrapped for deep supervision (a list of outputs is resized to
the target and averaged). Formulas and parameters: the README's loss table and each class's docstring.
"""

from __future__ import annotations

import inspect
from typing import Sequence

from kit.losses.base import MODES, LossInputs, SegmentationLoss, check_mode, prepare_inputs
from kit.losses.boundary import ActiveContourLoss, StructureLoss
from kit.losses.combine import OUTPUT_KINDS, DeepSupervisionLoss, ForegroundLoss, WeightedSumLoss
from kit.losses.pixel import CrossEntropyLoss, FocalLoss
from kit.losses.region import DiceLoss, FocalTverskyLoss, JaccardLoss, LovaszLoss, TverskyLoss
from kit.losses.spec import LossTerm, parse_loss_spec
from kit.registry import Registry

__all__ = [
    "LOSSES",
    "MODES",
    "OUTPUT_KINDS",
    "build_loss",
    "list_losses",
    "loss_parameters",
    "parse_loss_spec",
    "LossTerm",
    "LossInputs",
    "prepare_inputs",
    "SegmentationLoss",
    "WeightedSumLoss",
    "DeepSupervisionLoss",
    "ForegroundLoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "DiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "FocalTverskyLoss",
    "LovaszLoss",
    "ActiveContourLoss",
    "StructureLoss",
]

# "bce" and "ce" are the same loss: sigmoid BCE in binary mode, softmax cross-entropy in multiclass mode.
LOSSES: Registry[type[SegmentationLoss]] = Registry.of("loss", {
    "bce": CrossEntropyLoss,
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
    "tversky": TverskyLoss,
    "focal_tversky": FocalTverskyLoss,
    "lovasz": LovaszLoss,
    "active_contour": ActiveContourLoss,
    "structure": StructureLoss,
}, "unknown loss {name!r}{where}{hint}; valid names: {valid}")


def list_losses(mode: str | None = None) -> list[str]:
    """Names usable in a loss spec (only those supporting ``mode`` when given), sorted."""
    if mode is not None:
        check_mode(mode)
    return [name for name, cls in LOSSES.items() if mode is None or mode in cls.modes]


def loss_parameters(name: str) -> dict[str, object]:
    """The spec keyword arguments of loss ``name`` with their defaults."""
    cls = _loss_class(name, None)
    params = inspect.signature(cls.__init__).parameters
    return {k: p.default for k, p in params.items() if k not in ("self", "mode", "ignore_index")}


def _loss_class(name: str, spec: str | None) -> type[SegmentationLoss]:
    return LOSSES.get(name, f"in spec {spec!r}" if spec else "")


def _build_term(term: LossTerm, spec: str, mode: str, ignore_index: int | None) -> SegmentationLoss:
    cls = _loss_class(term.name, spec)
    valid = loss_parameters(term.name)
    unknown = sorted(set(term.kwargs) - set(valid))
    if unknown:
        raise ValueError(
            f"loss {term.name!r} in spec {spec!r} has no parameter {', '.join(unknown)}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    if mode not in cls.modes:
        raise ValueError(
            f"loss {term.name!r} in spec {spec!r} supports mode {' or '.join(cls.modes)} only; got {mode!r}"
        )
    try:
        return cls(mode=mode, ignore_index=ignore_index, **term.kwargs)
    except (TypeError, ValueError) as err:
        raise ValueError(f"loss {term.name!r} in spec {spec!r}: {err}") from None


def build_loss(
    spec: str,
    mode: str = "binary",
    ignore_index: int | None = None,
    output_weights: Sequence[float] | None = None,
    output_kinds: Sequence[str] | None = None,
) -> DeepSupervisionLoss:
    """The loss described by ``spec``, e.g. ``"bce"``, ``"0.4*ce+0.6*dice"``, ``"tversky(alpha=0.3,beta=0.7)"``.

    Args:
        spec: weighted sum of losses from :func:`list_losses` (syntax: :mod:`kit.losses.spec`).
        mode: "binary" (1 output channel, sigmoid), "multiclass" (C channels, softmax) or "multilabel" (one
            sigmoid channel per foreground class), see :mod:`kit.losses.base`.
        ignore_index: target value whose pixels are excluded from every term.
        output_weights: deep supervision weights, one per model output (default: equal).
        output_kinds: one of :data:`OUTPUT_KINDS` per model output (default: all "classes"). A "foreground"
            output (1 channel) gets the same spec in binary mode against ``target > 0``, ignored pixels kept
            ignored; in binary mode the target already is the foreground.

    Returns:
        A module ``loss(outputs, target) -> scalar``; ``outputs`` is a logits tensor or a list of them.

    Raises:
        ValueError: unknown loss (listing the valid names), unknown parameter (listing the valid ones),
            a loss that does not support ``mode``, or bad syntax.
    """
    check_mode(mode)
    terms = parse_loss_spec(spec)
    losses = [(t.weight, _build_term(t, spec, mode, ignore_index)) for t in terms]
    combined = WeightedSumLoss(losses, mode, ignore_index, names=[t.name for t in terms])
    foreground = combined if mode == "binary" else None
    if mode != "binary" and "foreground" in (output_kinds or ()):
        ignored = None if ignore_index is None else ForegroundLoss.IGNORE_INDEX
        binary = WeightedSumLoss([(t.weight, _build_term(t, spec, "binary", ignored)) for t in terms], "binary",
                                 ignored, names=[t.name for t in terms])
        foreground = ForegroundLoss(binary, ignore_index)
    return DeepSupervisionLoss(combined, output_weights, output_kinds, foreground)
