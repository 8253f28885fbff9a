"""The model's input and output contracts: how a trained model must be fed (normalisation, scale, window, resize,
classes) and how its logits read as classes (output mode, the class of each channel).

The trainer computes it once from the recipe and the tiles it trained on (``tiling.json``, ``stats.json``,
the pixel size of the tiled images) and stores it in every checkpoint under :data:`CONTRACT_KEY`, so a run
folder, a slim checkpoint and a models dataset carry it with the weights: notebook 02 and inference read it
from there and never go back to the tiles folder (on Kaggle: another kernel's mount). The output contract sits
beside it under :data:`OUTPUT_KEY`; :func:`read_output_mode` gives an offline predictor the activation without a
model card.
"""

from __future__ import annotations

from typing import Any, Sequence

from kit.outputs import channel_classes, check_output_mode
from kit.registry import Registry

__all__ = ["CONTRACT_KEY", "CONTRACT_FIELDS", "IMAGENET_MEAN", "IMAGENET_STD", "OUTPUT_KEY", "RESIZE_MODES",
           "input_contract", "check_contract", "output_contract", "read_output_mode"]

#: the default normalisation (in [0, 1] units) of the training datasets and the predictor, when tiles have no stats
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: how training images reach the training size: squashed to it ("resize") or cropped at the native scale ("crop")
RESIZE_MODES = Registry.of("resize_mode", ("resize", "crop"),
                           "resize_mode must be 'resize' or 'crop', got {name!r}{hint}; valid: {valid}", sort=False)

CONTRACT_KEY = "input_contract"
#: classes: output channels' classes; mean/std: normalisation in [0, 1] units; tiled: trained on tiles (sliding
#: windows) or on whole images; window: the training side in working pixels (None: whole image, or a non-square
#: training size); resize: whole images resized to (height, width) (None: native scale); reduce / pixel_size:
#: the scale of the tiles (source pixels per working pixel / µm per working pixel); source_pixel_size: µm/px of
#: the tiled images when they all share one (lets inference work in µm/px).
CONTRACT_FIELDS = ("classes", "mean", "std", "tiled", "window", "resize", "reduce", "pixel_size",
                   "source_pixel_size")


def _size(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, int):
        return (value, value)
    height, width = (int(v) for v in value)
    return (height, width)


def input_contract(
    config: dict[str, Any],
    tiling: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
    source_pixel_size: float | None = None,
) -> dict[str, Any]:
    """The contract of a recipe (``TrainConfig.to_dict()`` or config.json) trained on ``tiling`` tiles (pure).

    Tile-trained: the tiles' scale, corrected for a resize of the tiles to ``image_size`` (``reduce`` or
    ``pixel_size`` × tile side / training side); window = the training side. Image-trained (NeoPolyp): the
    training (height, width) each image is squashed to (``resize_mode="crop"``: the native scale).
    Normalisation: the tiles' ``stats`` mean/std, else ImageNet's (what the training datasets use).
    """
    size = _size(config.get("image_size"))
    resized = size is not None and config.get("resize_mode", "resize") == "resize"
    mean, std = (stats["mean"], stats["std"]) if stats else (IMAGENET_MEAN, IMAGENET_STD)
    contract = {"classes": int(config.get("num_classes", 1)), "mean": [float(v) for v in mean],
                "std": [float(v) for v in std], "tiled": tiling is not None, "window": None,
                "resize": list(size) if resized and tiling is None else None, "reduce": None, "pixel_size": None,
                "source_pixel_size": None}
    if tiling is None:
        return contract
    side = int(tiling["sz"]) if size is None else int(size[0])
    factor = int(tiling["sz"]) / side if resized else 1.0
    contract["window"] = side if size is None or size[0] == size[1] else None
    if tiling.get("pixel_size"):
        contract["pixel_size"] = float(tiling["pixel_size"]) * factor
    else:
        contract["reduce"] = float(tiling["reduce"]) * factor
        contract["source_pixel_size"] = float(source_pixel_size) if source_pixel_size else None
    return contract


def check_contract(contract: Any, where: str) -> dict[str, Any]:
    """``contract`` if it has exactly :data:`CONTRACT_FIELDS`; else ValueError naming ``where`` and the keys."""
    if not isinstance(contract, dict) or set(contract) != set(CONTRACT_FIELDS):
        keys = sorted(contract) if isinstance(contract, dict) else type(contract).__name__
        raise ValueError(f"{where}: {CONTRACT_KEY} must have the keys {list(CONTRACT_FIELDS)}, got {keys}")
    return contract


OUTPUT_KEY = "output_contract"
#: mode: the output mode (:data:`kit.outputs.OUTPUT_MODES`); channels: the class of each output channel


def output_contract(mode: str, classes: Sequence[str]) -> dict[str, Any]:
    """The output contract of a model in output ``mode`` for a task with foreground ``classes`` (pure)."""
    return {"mode": check_output_mode(mode), "channels": list(channel_classes(mode, classes))}


def read_output_mode(state: Any, where: str) -> str | None:
    """The output mode a checkpoint ``state`` declares; None for checkpoints written before the output contract
    (their activation follows the channel count: sigmoid for one, softmax for several). ValueError naming
    ``where`` when the contract is malformed."""
    contract = state.get(OUTPUT_KEY) if isinstance(state, dict) else None
    if contract is None:
        return None
    if not isinstance(contract, dict) or set(contract) != {"mode", "channels"}:
        raise ValueError(f"{where}: {OUTPUT_KEY} must be a dict with the keys ['channels', 'mode'], got {contract!r}")
    return check_output_mode(contract["mode"], f"in {where} {OUTPUT_KEY}")
