"""Whole-image validation: the fold's held-out images predicted whole by the inference :class:`Predictor`
(sliding windows at the tiles' scale, or the whole-image resize, exactly as notebook 03 will) and scored with the
competition metric (:func:`kit.train.oof.score_images`: per image, per class, empty vs empty = 1).

Tile-trained runs need the source images: ``config.data_dir``, else the competition data found by
:func:`kit.paths.find_competition_data` (Kaggle mounts). ``config.validation``: "images" requires them, "tiles"
scores the validation tiles instead (cheap, not the competition's number), "auto" uses images when found.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import pandas as pd
import torch

from kit.artifacts.oof import OofImage
from kit.outputs import probabilities
from kit.train.config import TrainConfig

__all__ = ["HeldOutImage", "WholeImageValidator", "class_planes", "working_targets", "tile_oof",
           "read_working_image", "score_tiles"]


@dataclass
class HeldOutImage:
    """One held-out source image: id, file, organ / data source / µm per pixel, and its full-resolution mask."""

    id: str
    path: Path
    group: str
    data_source: str
    pixel_size: float | None
    read_mask: Callable[[], np.ndarray]


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _data_folder(config: TrainConfig) -> Path | None:
    from kit.paths import find_competition_data

    try:
        return find_competition_data(config.competition, config.data_dir)
    except FileNotFoundError:
        return None


def _tile_sources(config: TrainConfig, ids: list[str]) -> list[HeldOutImage] | None:
    """The source images (and RLE masks) that the validation tiles were cut from; None when not found."""
    from kit.competitions import get_profile
    from kit.rle import decode

    data_dir = _data_folder(config)
    profile = get_profile(config.competition)
    if data_dir is None:
        return None
    if profile.rle_column is None:  # masks are image files (NeoPolyp tiled)
        from kit.data import image_items

        table = image_items(profile, data_dir).set_index("id", drop=False)
        if not set(ids) <= set(table.index.astype(str)):
            return None
        return [HeldOutImage(i, Path(table.at[i, "image_path"]), "", "", None,
                             lambda p=table.at[i, "mask_path"]: profile.read_mask(p)) for i in ids]
    table = profile.read_table(data_dir, "train")
    table = table.set_index(table[profile.id_column].astype(str))
    missing = [i for i in ids if i not in table.index or not profile.image_path(data_dir, i, "train").is_file()]
    if missing:
        return None
    images = []
    for image_id in ids:
        row = table.loc[image_id]
        path = profile.image_path(data_dir, image_id, "train")
        organ, source = _text(row.get("organ")), _text(row.get("data_source"))
        pixel = row.get("pixel_size")
        if (pixel is None or _text(pixel) == "") and profile.pixel_sizes and organ:
            pixel = profile.pixel_size(organ, source or "HPA")
        rle = row[profile.rle_column]

        def read_mask(path=path, rle=rle) -> np.ndarray:
            from kit.io import open_image

            with open_image(path) as reader:
                return decode(rle if _text(rle) else None, reader.shape, profile.rle_order)

        images.append(HeldOutImage(image_id, path, organ, source, None if _text(pixel) == "" else float(pixel),
                                   read_mask))
    return images


def _held_out(config: TrainConfig, val_data) -> list[HeldOutImage] | None:
    """The fold's held-out whole images, or None when ``validation`` is "tiles" or ("auto") they are not found."""
    if config.validation == "tiles":
        return None
    items = val_data.items
    if config.tiles_dir is None:  # full images with mask files: the validation items are the images
        return [HeldOutImage(str(r["id"]), Path(r["image_path"]), _text(r.get("organ")), _text(r.get("data_source")),
                             None, lambda p=r["mask_path"]: val_data.read_mask(p)) for _, r in items.iterrows()]
    ids = list(dict.fromkeys(items["id"].astype(str)))
    found = _tile_sources(config, ids)
    if found is None:
        where = f"data_dir {config.data_dir}" if config.data_dir else "no data_dir (and none under the Kaggle input)"
        need = f"whole-image validation needs the source images and masks of the tiles ({where}); set data_dir"
        if config.validation == "images":
            raise FileNotFoundError(need)
        warnings.warn(f"{need}. Validating on tiles instead, which is not the competition's metric", stacklevel=3)
    return found


def class_planes(
    mask: np.ndarray, classes: int, binarize: bool = False, ignore_index: int | None = None
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """(one full-resolution boolean plane per foreground class, the not-ignored plane or None when nothing is
    ignored) of a class-id ``mask``; ``binarize``: every non-zero class is the one foreground class."""
    ignored = (mask == ignore_index) if ignore_index is not None else None
    keep = None if ignored is None or not ignored.any() else ~ignored
    if binarize:
        planes = [mask > 0]
    else:
        planes = [mask == k for k in range(1, classes + 1)]
    return ([p & keep for p in planes] if keep is not None else planes), keep


def _share(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """uint8 share × 255 of each working pixel covered by a full-resolution boolean ``plane`` (INTER_AREA)."""
    h, w = shape
    levels = np.empty(plane.shape, np.uint8)  # 0/255 in uint8: one byte per full-resolution pixel
    np.multiply(plane, 255, out=levels, casting="unsafe")
    return levels if levels.shape == (h, w) else cv2.resize(levels, (w, h), interpolation=cv2.INTER_AREA)


def working_targets(
    mask: np.ndarray, shape: tuple[int, int], classes: int, binarize: bool = False, ignore_index: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """(F×h×w uint8 area share × 255 of each foreground class, h×w valid share or None) of a full-resolution
    class-id ``mask`` at the working ``shape`` (INTER_AREA; at the same size the shares are 0/255)."""
    planes, keep = class_planes(mask, classes, binarize, ignore_index)
    return np.stack([_share(p, shape) for p in planes]), (None if keep is None else _share(keep, shape))


class WholeImageValidator:
    """Predicts and scores the held-out whole images of a run's fold (see the module docstring).

    Build it with :meth:`create` (None when validating on tiles). :meth:`predict` gives :class:`OofImage`
    entries (the content of ``oof.npz``); :attr:`subset` is the deterministic selection of images whose total
    forward passes stay within ``config.val_max_windows`` (all of them without a cap; at least one image).
    """

    def __init__(self, config: TrainConfig, images: list[HeldOutImage], device: torch.device) -> None:
        from kit.infer.model_input import ModelInput

        self.config, self.images, self.device = config, images, device
        self.input: ModelInput = _model_input(config)
        self.classes = 1 if config.num_classes == 1 else config.num_classes - 1
        self.subset = self._capped(config.val_max_windows)

    @classmethod
    def create(cls, config: TrainConfig, val_data, device: torch.device) -> "WholeImageValidator | None":
        """The validator of ``config``'s fold, or None when validation runs on tiles."""
        images = _held_out(config, val_data)
        return None if images is None else cls(config, images, device)

    def _predictor(self, model: torch.nn.Module):
        from kit.infer.predictor import Member, Predictor

        return Predictor(Member(model, 1.0, self.input, self.config.mode), device=self.device,
                         batch_size=self.config.batch_size, progress=False)

    def _capped(self, cap: int | None) -> list[HeldOutImage]:
        if not cap:
            return list(self.images)
        from kit.io import open_image

        predictor = self._predictor(torch.nn.Identity())
        order = np.random.default_rng(self.config.seed).permutation(len(self.images))
        chosen, total = [], 0
        for k in order:
            image = self.images[k]
            with open_image(image.path) as reader:
                cost = predictor.window_count(reader.height, reader.width, image.pixel_size)
            if chosen and total + cost > cap:
                continue
            chosen.append(image)
            total += cost
        return sorted(chosen, key=lambda im: im.id)

    @torch.no_grad()
    def predict(self, model: torch.nn.Module, images: list[HeldOutImage] | None = None,
                truth: bool = False) -> list[OofImage]:
        """``model``'s predictions of ``images`` (default: :attr:`subset`) with their working-resolution targets;
        ``truth`` also encodes each class's full-resolution mask as RLE (``oof.npz``, for the submission path)."""
        from kit.competitions import get_profile
        from kit.io import open_image
        from kit.rle import encode

        order = get_profile(self.config.competition).rle_order
        predictor = self._predictor(model)
        out = []
        for image in self.subset if images is None else images:
            with open_image(image.path) as reader:
                probs = predictor.predict_probs(reader, image.pixel_size)
                scale = predictor.output_scale(reader.height, reader.width, image.pixel_size)
                shape = reader.shape
            planes, keep = class_planes(image.read_mask(), self.classes, self.config.binarize,
                                        self.config.ignore_index)
            targets = np.stack([_share(p, probs.shape[1:]) for p in planes])
            valid = None if keep is None else _share(keep, probs.shape[1:])
            rles = tuple(encode(p.astype(np.uint8), order) for p in planes) if truth else ()
            out.append(OofImage(image.id, probs, targets, image.group, image.data_source, scale, shape, valid, rles,
                                order))
        return out


def tile_oof(batches: Iterable[tuple[torch.Tensor, torch.Tensor]], items: pd.DataFrame,
             config: TrainConfig) -> list[OofImage]:
    """One OOF entry per validation tile from (probabilities N×C×H×W, masks) batches in ``items`` order (runs
    validated on tiles; ids are the ``tile`` column, else ``id``, else positions)."""
    from kit.infer.merge import to_uint8

    id_column = "tile" if "tile" in items else "id"
    ids = items[id_column].astype(str).tolist() if id_column in items else []
    classes = 1 if config.num_classes == 1 else config.num_classes - 1
    out = []
    for probs, masks in batches:
        for p, m in zip(probs, masks.numpy()):
            k = len(out)
            row = items.iloc[k] if k < len(items) else {}
            targets, valid = working_targets(m, m.shape, classes, config.binarize, config.ignore_index)
            out.append(OofImage(ids[k] if k < len(ids) else str(k), to_uint8(p), targets,
                                _text(row.get("organ")), _text(row.get("data_source")), 1.0, m.shape, valid))
    return out


def _model_input(config: TrainConfig):
    """How inference will feed this recipe's model: its input contract (the one its checkpoints store)."""
    from kit.artifacts.tiles import tiles_contract
    from kit.infer.model_input import model_input_from_contract

    contract = tiles_contract(config.to_dict(), config.tiles_dir)
    if contract is None:
        raise FileNotFoundError(f"{Path(str(config.tiles_dir)) / 'tiling.json'} not found: the tiles' scale is "
                                "unknown (run the tiler, notebook 00)")
    return model_input_from_contract(contract)


def read_working_image(config: TrainConfig, image: OofImage) -> np.ndarray:
    """The RGB picture behind an OOF entry at its working resolution: the source image (whole-image OOF) or the
    tile (tile OOF of a run validated on tiles)."""
    from kit.artifacts.tiles import tile_paths
    from kit.io import open_image

    h, w = image.probs.shape[1:]
    path = None
    if config.tiles_dir is not None:
        tile = tile_paths(config.tiles_dir, [image.id])[0][0]
        path = tile if tile.is_file() else None
    if path is None:
        from kit.train.builders import build_datasets

        _, val = build_datasets(config)
        found = {im.id: im.path for im in (_held_out(config.replace(validation="images"), val) or [])}
        if image.id not in found:
            raise ValueError(f"OOF id {image.id!r} is not a held-out image of {config.out_dir}")
        path = found[image.id]
    with open_image(path) as reader:
        return reader.read(0, 0, reader.height, reader.width, out_size=(h, w))


@torch.no_grad()
def score_tiles(model: torch.nn.Module, loader: Iterable, loss_fn: Callable, config: TrainConfig,
                to_device: Callable, autocast: Callable) -> dict:
    """Loss and SegmentationMeter scores of ``model`` over a tile loader (``ignore_index`` pixels skipped); labels
    by the kit's one threshold rule (:func:`kit.metrics.labels_from_probs`). ``to_device(images, masks)`` and
    ``autocast()`` are the trainer's."""
    from kit.metrics import SegmentationMeter, labels_from_probs

    meter = SegmentationMeter(num_classes=max(2, config.num_classes), ignore_index=config.ignore_index)
    total, count = 0.0, 0
    model.eval()
    for images, masks in loader:
        images, masks_dev = to_device(images, masks)
        with autocast():
            logits = model(images)
            total += float(loss_fn(logits, masks_dev)) * images.shape[0]
        count += images.shape[0]
        probs = probabilities(logits, config.mode).float().cpu()
        meter.update(np.stack([labels_from_probs(p, config.threshold) for p in probs]), masks.numpy())
    return {"loss": total / max(count, 1), **meter.compute()}
