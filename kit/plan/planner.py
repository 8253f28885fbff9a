"""From a data fingerprint, a GPU and hours to a recipe, with the reason for each choice.

The rules (all in this module, each choice printed with its reason):

* **scale** — objects should span about :data:`TARGET_DIAMETER` pixels: reduce = median object diameter / target,
  between 1 (never upsample) and 8, in steps of 0.5; with known and varying pixel sizes the tiles are cut at one
  µm/px instead. Images with mask files whose long side is at most :data:`WHOLE_IMAGE_SIDE` train whole, resized
  so the long side is at most 640 (multiples of 32); RLE-labelled data is always tiled.
* **window and context** — a window holds about 4 of the largest (p90) objects across: 4 × p90 diameter at the
  working scale, a multiple of 64 in [256, 1024]; inference adds half a p90 object of context per side.
* **batch** — what fits the GPU's memory at fp16 for a U-Net ResNet34 (:data:`GB_PER_256`, an estimate), a power of 2.
* **epochs** — what fits the hours for every fold at the GPU's throughput (:data:`GPUS`, estimates); when fewer
  than 10 epochs per fold would fit, only fold 0 is trained.
* **folds** — grouped by the profile's group column (or the patient column) when the data has one, else by image;
  stratified by organ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kit.plan.fingerprint import DataFingerprint
from kit.registry import Registry

__all__ = ["GPUS", "GpuSpec", "TARGET_DIAMETER", "WHOLE_IMAGE_SIDE", "GB_PER_256", "Choice", "plan_recipe"]

TARGET_DIAMETER = 48  # working pixels across a median object
WHOLE_IMAGE_SIDE = 2048  # images up to this long side are trained whole, not tiled
GB_PER_256 = 0.25  # training memory per 256² image, U-Net ResNet34, fp16 AMP (estimate)


@dataclass(frozen=True)
class GpuSpec:
    """Memory per device (GB), devices, and training throughput per device (256² images/s, U-Net ResNet34, AMP;
    estimates, not measurements)."""

    memory_gb: float
    devices: int
    images_per_second: float


GPUS: Registry[GpuSpec] = Registry.of("gpu", {
    "cpu": GpuSpec(0, 1, 2.3),  # measured on the 2-core dev box (bench/RESULTS.md)
    "t4": GpuSpec(15, 1, 60), "t4x2": GpuSpec(15, 2, 60), "p100": GpuSpec(16, 1, 70),
    "a100": GpuSpec(40, 1, 250), "h100": GpuSpec(80, 1, 400),
}, sort=False)


@dataclass(frozen=True)
class Choice:
    """One planned setting: where it goes (``section.key``), its value and why."""

    key: str
    value: object
    reason: str


def _round_to(value: float, step: float) -> float:
    return round(value / step) * step


def _scale(fp: DataFingerprint) -> tuple[list[Choice], float, dict]:
    """Working scale (reduce) and the tiling section; whole-image datasets get an image size instead."""
    d = fp.object_diameter.get("median", 0.0)
    long_side = max(fp.height["max"], fp.width["max"])
    if long_side <= WHOLE_IMAGE_SIDE and fp.masks == "files":
        r = max(1.0, max(fp.height["median"], fp.width["median"]) / 640)
        size = [max(32, round(fp.height["median"] / r / 32) * 32), max(32, round(fp.width["median"] / r / 32) * 32)]
        why = (f"images are small (long side {long_side:.0f} ≤ {WHOLE_IMAGE_SIDE} px): train on whole images, "
               f"shrunk {r:.2f}× to a long side ≤ 640 (nearest multiples of 32)")
        if d:
            why += f"; the median object ({d:.0f} px) spans {d / r:.0f} px"
        return [Choice("tiling", None, "no tiling: whole images"), Choice("train.image_size", size, why)], r, {}
    if not d:
        reduce, why = 4.0, "no objects found in the sampled masks: the classic reduce 4"
    else:
        reduce = min(8.0, max(1.0, _round_to(d / TARGET_DIAMETER, 0.5)))
        why = (f"median object diameter {d:.0f} px / target {TARGET_DIAMETER} px → reduce {reduce:g} "
               f"(objects span {d / reduce:.0f} px; kept in [1, 8])")
    choices, tiling = [], {}
    pixel = fp.pixel_size
    if pixel and pixel["max"] > 1.05 * pixel["min"]:
        tiling["pixel_size"] = round(pixel["median"] * reduce, 3)
        choices.append(Choice("tiling.pixel_size", tiling["pixel_size"],
                              f"pixel sizes vary ({pixel['min']:g}–{pixel['max']:g} µm/px): every image is "
                              "resampled "
                              f"to {tiling['pixel_size']:g} µm/px = median {pixel['median']:g} × reduce {reduce:g}"))
    else:
        tiling["reduce"] = reduce
        if pixel:
            why += (f"; one pixel size ({pixel['median']:g} µm/px), so inference rescales test images of other "
                    "pixel sizes to the same µm/px")
        choices.append(Choice("tiling.reduce", reduce, why))
    p90 = fp.object_diameter.get("p90", d) / reduce
    window = int(min(1024, max(256, math.ceil(4 * p90 / 64) * 64)))
    tiling["sz"] = window
    choices.append(Choice("tiling.sz", window, f"4 × the p90 object ({p90:.0f} px at the working scale), a multiple "
                                                "of 64 in [256, 1024]: objects with their surroundings"))
    return choices, reduce, tiling


def _pixels(fp: DataFingerprint, tiling: dict, size: list[int] | None) -> tuple[int, float]:
    """(pixels of one training sample, training samples per image)."""
    if size:
        return size[0] * size[1], 1.0
    reduce = tiling.get("reduce") or tiling["pixel_size"] / fp.pixel_size["median"]
    area = fp.height["median"] * fp.width["median"] / reduce**2
    return tiling["sz"] ** 2, max(1.0, fp.tissue_share * area / tiling["sz"] ** 2)


def plan_recipe(fp: DataFingerprint, gpu: str = "t4x2", hours: float = 9.0) -> tuple[dict, list[Choice]]:
    """A recipe dict (the recipe-file schema) and the choices with their reasons."""
    spec = GPUS.get(gpu)
    choices, reduce, tiling = _scale(fp)
    size = next((c.value for c in choices if c.key == "train.image_size"), None)
    train: dict = {"image_size": size} if size else {}
    # folds
    column = fp.group_column
    group, units = (column, fp.group_columns[column]) if column and fp.group_columns[column] >= 2 else ("id", fp.images)
    n_folds = max(2, min(5, units))
    stratify = "organ" if fp.group_columns.get("organ", 0) > 1 else None
    train.update(fold_group=group, n_folds=n_folds, fold_stratify=stratify)
    unit = {"id": "image", "patient_number": "patient"}.get(group, f"{group} value")
    choices.append(Choice("train.fold_group", group, f"{units} {unit}s: the pixels of one {unit} never straddle "
                          f"train and validation; {n_folds} folds" + (", stratified by organ" if stratify else "")))
    # model, loss, augmentation
    binary = len(fp.class_share) == 1
    on_cpu = gpu == "cpu"
    train.update(arch="unet", encoder="resnet18" if on_cpu else "resnet34",
                 encoder_weights=None if on_cpu else "imagenet")
    choices.append(Choice("train.encoder", train["encoder"], "CPU: the small ResNet18, random init (offline)" if on_cpu
                          else "U-Net ResNet34 from ImageNet weights: the strong, cheap baseline of every write-up"))
    foreground = sum(fp.class_share.values())
    train["loss"] = "0.5*bce+0.5*dice" if binary else "0.5*ce+0.5*dice"
    choices.append(Choice("train.loss", train["loss"], f"foreground is {100 * foreground:.1f}% of the pixels and "
                          f"{100 * fp.empty_images:.0f}% of the images are empty: the Dice term counters the "
                          "imbalance, the pixel term keeps empty images meaningful"))
    histology = bool(fp.pixel_size) or fp.tissue_share < 0.95
    train.update(augment="medium" if histology else "light", stain_jitter=0.3 if histology else 0.0)
    choices.append(Choice("train.augment", train["augment"], f"tissue share {fp.tissue_share:.2f}" + (
        ": histology, so medium colour/geometry augmentation and HED stain jitter (p 0.3)" if histology
        else ": not stained tissue, light augmentation")))
    train.update(optimizer="adam", schedule="cosine", max_lr=1e-3 if on_cpu else 1e-4,
                 min_lr=1e-5 if on_cpu else 1e-6)
    # batch
    pixels, per_image = _pixels(fp, tiling, size)
    gb = GB_PER_256 * pixels / 256**2
    if on_cpu:
        batch, why = 8, "CPU: memory is not the limit, 8 keeps steps short"
    else:
        usable = 0.8 * spec.memory_gb - 1.5
        batch = 2 ** int(math.log2(max(2, min(64, usable / gb))))
        why = (f"{usable:.1f} GB usable per device / {gb:.2f} GB per {pixels} px sample (fp16, estimate) → "
               f"{batch} (a power of 2 in [2, 64])" + (f"; ×{spec.devices} devices with --gpus {spec.devices}"
                                                      if spec.devices > 1 else ""))
    train["batch_size"] = batch
    choices.append(Choice("train.batch_size", batch, why))
    # epochs
    samples = fp.images * (n_folds - 1) / n_folds * per_image
    throughput = spec.images_per_second * 256**2 / pixels * spec.devices
    epoch_seconds = 1.25 * samples / throughput  # + validation
    budget = 0.85 * hours * 3600
    folds = "all" if budget / (n_folds * epoch_seconds) >= 10 else [0]
    trained = n_folds if folds == "all" else 1
    epochs = int(min(100, max(3, budget / (trained * epoch_seconds))))
    train.update(epochs=epochs, max_minutes=round(budget / 60 / trained, 1))
    choices.append(Choice("train.epochs", epochs, f"{samples:.0f} samples/epoch at ~{throughput:.1f}/s on {gpu} "
                          f"(estimate) → {epoch_seconds:.1f} s/epoch; 85% of {hours:g} h over {trained} fold(s), "
                          "in [3, 100]; max_minutes caps each fold"))
    choices.append(Choice("folds", folds, "every fold fits ≥ 10 epochs" if folds == "all"
                          else "all folds would get < 10 epochs each: train fold 0 (add folds in later sessions)"))
    inference = {"tta": ["identity", "hflip", "vflip"], "blend": "gaussian", "overlap": 0.25}
    if tiling:
        margin = int(min(tiling["sz"] // 4, _round_to(fp.object_diameter.get("p90", 0) / reduce / 2, 16)))
        inference["margin"] = margin
        choices.append(Choice("inference.margin", margin, "half a p90 object of context per window side, ≤ sz/4"))
    recipe = {
        "description": f"planned by kit plan for {fp.competition} ({fp.images} images) on {gpu} in {hours:g} h",
        "source": "python -m kit plan: rules in kit/plan/planner.py; fingerprint and reasons below",
        "competition": fp.competition, "train": train, "tiling": tiling or None, "inference": inference,
        "folds": folds, "reasons": {c.key: c.reason for c in choices}, "fingerprint": fp.to_dict(),
    }
    return recipe, choices
