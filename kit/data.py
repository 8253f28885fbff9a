"""Training datasets (tiles from index.csv, full images resized or cropped) and grouped, stratified folds."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from kit.artifacts.tiles import read_index, tile_paths
from kit.models.contract import IMAGENET_MEAN, IMAGENET_STD, RESIZE_MODES

__all__ = [
    "SegmentationDataset",
    "tile_items",
    "image_items",
    "image_metadata",
    "make_folds",
    "erode_mask",
    "to_tensor",
]

MaskReader = Callable[[str], np.ndarray]


def to_tensor(image: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """H×W×3 uint8 RGB -> 3×H×W float32 tensor normalised with ``mean``/``std`` given in [0, 1] units."""
    x = image.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))


def erode_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Erode every class region of a class-id mask by ``pixels`` (each class separately; background grows)."""
    if pixels <= 0:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pixels + 1, 2 * pixels + 1))
    out = np.zeros_like(mask)
    for value in np.unique(mask):
        if value == 0:
            continue
        region = cv2.erode((mask == value).astype(np.uint8), kernel)
        out[region > 0] = value
    return out


def _seed_for(*parts: object) -> int:
    """A stable 31-bit seed from the given parts (same value in every process)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


class SegmentationDataset(Dataset):
    """Image/mask pairs from a table with ``image_path`` and ``mask_path`` columns.

    Args:
        items: table from :func:`tile_items` or :func:`image_items` (columns image_path, mask_path, id, group...).
        read_mask: turns a mask path into a class-id map (PNG tiles: :func:`kit.io.read_png_mask`; NeoPolyp
            JPEG masks: :func:`kit.io.read_neopolyp_mask`).
        size: (height, width) of the output; ``None`` keeps the stored size.
        mode: "resize" (whole image resized to ``size``) or "crop" (random crop of ``size``, padded if smaller).
        transform: an albumentations transform applied to image and mask (seeded per item and epoch, so runs
            and resumed runs see the same augmentations).
        binarize: map every non-zero class to 1 (binary training on a multi-class mask).
        erode: erode each class region by this many pixels (the NeoPolyp write-up's label cleaning).
        mean, std: normalisation in [0, 1] units.
        seed: base seed of the per-item augmentation randomness.

    Items are ``(image 3×H×W float32, mask H×W int64)``.
    """

    def __init__(
        self,
        items: pd.DataFrame,
        read_mask: MaskReader,
        size: tuple[int, int] | None = None,
        mode: str = "resize",
        transform: Callable | None = None,
        binarize: bool = False,
        erode: int = 0,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        seed: int = 0,
    ) -> None:
        missing = {"image_path", "mask_path"} - set(items.columns)
        if missing:
            raise ValueError(f"dataset table lacks columns {sorted(missing)}; it has {list(items.columns)}")
        RESIZE_MODES.check(mode)
        self.items = items.reset_index(drop=True)
        self.read_mask = read_mask
        self.size = size
        self.mode = mode
        self.transform = transform
        self.binarize = binarize
        self.erode = erode
        self.mean, self.std = tuple(mean), tuple(std)
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def set_epoch(self, epoch: int) -> None:
        """Choose the augmentation randomness of this epoch (called by the trainer)."""
        self.epoch = epoch

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The raw (image RGB uint8, class-id mask uint8) of item ``index`` before resizing and augmentation."""
        from kit.io import read_image

        row = self.items.iloc[index]
        image = read_image(row["image_path"])
        mask = self.read_mask(row["mask_path"])
        if mask.shape[:2] != image.shape[:2]:
            raise ValueError(
                f"mask {row['mask_path']} is {mask.shape[:2]} but image {row['image_path']} is {image.shape[:2]}"
            )
        return image, mask

    def _fit_size(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator):
        if self.size is None:
            return image, mask
        h, w = self.size
        if self.mode == "resize":
            if image.shape[:2] != (h, w):
                image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
                mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST)
            return image, mask
        pad_h, pad_w = max(0, h - image.shape[0]), max(0, w - image.shape[1])
        if pad_h or pad_w:
            image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)))
            mask = np.pad(mask, ((0, pad_h), (0, pad_w)))
        y0 = int(rng.integers(0, image.shape[0] - h + 1))
        x0 = int(rng.integers(0, image.shape[1] - w + 1))
        return image[y0 : y0 + h, x0 : x0 + w], mask[y0 : y0 + h, x0 : x0 + w]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        seed = _seed_for(self.seed, self.epoch, index)
        image, mask = self.load(index)
        image, mask = self._fit_size(image, mask, np.random.default_rng(seed))
        if self.transform is not None:
            if hasattr(self.transform, "set_random_seed"):
                self.transform.set_random_seed(seed)
            out = self.transform(image=image, mask=mask)
            image, mask = out["image"], out["mask"]
        if self.erode:
            mask = erode_mask(mask, self.erode)
        if self.binarize:
            mask = (mask > 0).astype(np.uint8)
        return to_tensor(image, self.mean, self.std), torch.from_numpy(np.ascontiguousarray(mask)).long()


def tile_items(tiles_dir: str | Path, kept_only: bool = True) -> pd.DataFrame:
    """Rows of a tiler output folder's ``index.csv`` with ``image_path``/``mask_path`` columns added.

    The group column for folds is the source image id (``id``); ``organ`` is kept when present.
    """
    tiles_dir = Path(tiles_dir)
    table = read_index(tiles_dir)
    if kept_only:
        table = table[table["kept"]]
    table = table.reset_index(drop=True)
    images, masks = tile_paths(tiles_dir, table["tile"])
    table["image_path"], table["mask_path"] = [str(p) for p in images], [str(p) for p in masks]
    return table


def image_items(competition: str, data_dir: str | Path) -> pd.DataFrame:
    """Full training images of a competition whose masks are image files (NeoPolyp, custom profiles): id,
    image_path, mask_path, plus the per-image columns of its ``metadata_csv`` (e.g. a video sequence)."""
    from kit.competitions import get_profile

    profile = get_profile(competition)
    if profile.train_mask_pattern is None:
        raise ValueError(
            f"training on full images from {data_dir} needs mask files, but {profile.slug} stores masks as RLE in "
            f"{profile.train_csv}: tile it first (python -m kit tile) and train on the tiles, or, for NeoPolyp "
            f"data, pass --competition bkai-igh-neopolyp"
        )
    table = profile.read_table(data_dir, "train")
    if "image_path" not in table.columns:
        table["image_path"] = [str(profile.image_path(data_dir, i, "train")) for i in table[profile.id_column]]
    if "mask_path" not in table.columns:
        table["mask_path"] = [str(profile.mask_path(data_dir, i)) for i in table[profile.id_column]]
    table = table.rename(columns={profile.id_column: "id"})
    return _join_metadata(table, profile, Path(data_dir))


def image_metadata(competition: str, data_dir: str | Path) -> pd.DataFrame:
    """Per-image columns of a competition's training tables, one row per ``id`` (no RLE column).

    HuBMAP 2022: train.csv (organ, data_source, age, sex ...); HuBMAP 2021 adds the dataset information
    CSV (``patient_number``, ...), joined on the image file name. Used to group folds by patient.
    """
    from kit.competitions import get_profile

    profile = get_profile(competition)
    table = profile.read_table(data_dir, "train").rename(columns={profile.id_column: "id"})
    table = table.drop(columns=[c for c in (profile.rle_column, "encoding") if c and c in table.columns])
    table["id"] = table["id"].astype(str)
    return _join_metadata(table, profile, Path(data_dir))


def _join_metadata(table: pd.DataFrame, profile, data_dir: Path) -> pd.DataFrame:
    """``table`` (an ``id`` column) joined with the profile's ``metadata_csv`` when the file exists."""
    info_path = data_dir / profile.metadata_csv if profile.metadata_csv else None
    if info_path is None or not info_path.exists():
        return table
    key = profile.metadata_id_column
    info = pd.read_csv(info_path, dtype={key: str})
    if key not in info.columns:
        raise ValueError(f"{info_path} lacks column {key!r}; it has {list(info.columns)}")
    info["id"] = [Path(str(f)).stem for f in info[key]]
    return table.merge(info.drop(columns=[key]), on="id", how="left", suffixes=("", "_info"))


def make_folds(
    table: pd.DataFrame, n_folds: int = 5, group: str = "id", stratify: str | None = None, seed: int = 0
) -> np.ndarray:
    """Fold number per row; rows sharing ``group`` stay together, ``stratify`` values spread evenly over folds.

    Groups are shuffled with ``seed``, then dealt largest-first to the fold that holds the fewest rows of
    the group's stratum (ties: fewest rows overall), which balances both strata and fold sizes.
    """
    for column in (group, stratify):
        if column is not None and column not in table.columns:
            raise ValueError(f"fold column {column!r} not in table; columns are {list(table.columns)}")
    groups = table[group].astype(str).to_numpy()
    strata = table[stratify].astype(str).to_numpy() if stratify else np.zeros(len(table), dtype=str)
    unique_groups = np.unique(groups)
    if len(unique_groups) < n_folds:
        raise ValueError(f"{len(unique_groups)} distinct {group!r} values cannot fill {n_folds} folds")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(unique_groups))
    sizes = {g: int((groups == g).sum()) for g in unique_groups}
    stratum_of = {g: strata[groups == g][0] for g in unique_groups}
    ranked = sorted((unique_groups[i] for i in order), key=lambda g: -sizes[g])
    per_stratum: dict[str, np.ndarray] = {}
    totals = np.zeros(n_folds, dtype=np.int64)
    fold_of: dict[str, int] = {}
    for g in ranked:
        counts = per_stratum.setdefault(stratum_of[g], np.zeros(n_folds, dtype=np.int64))
        fold = int(np.lexsort((totals, counts))[0])
        fold_of[g] = fold
        counts[fold] += sizes[g]
        totals[fold] += sizes[g]
    return np.array([fold_of[g] for g in groups], dtype=np.int64)
