"""One profile per supported competition: file layout, CSV columns, RLE order, classes, submission format.

Class ids used everywhere in the kit (masks, tiles, models, submissions) — documented once, here:

* HuBMAP 2021 / 2022: 0 background, 1 glomerulus / FTU.
* BKAI-IGH NeoPolyp: 0 background, 1 neoplastic (red in the ground-truth JPEGs, submission row ``<id>_0``),
  2 non-neoplastic (green, row ``<id>_1``). Official models that order channels differently (NeoUNet:
  0 non-neoplastic, 1 neoplastic) are remapped when their checkpoints are imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kit.paths import check_plain_id

__all__ = ["CompetitionProfile", "DEFAULT_COMPETITION", "PROFILES", "get_profile", "list_competitions"]

_HUBMAP_PIXEL_SIZES = {  # µm per pixel (competitions.md §3.3)
    "HPA": {"kidney": 0.4, "largeintestine": 0.4, "lung": 0.4, "spleen": 0.4, "prostate": 0.4},
    "Hubmap": {"kidney": 0.5, "largeintestine": 0.2290, "lung": 0.7562, "spleen": 0.4945, "prostate": 6.263},
}


@dataclass(frozen=True)
class CompetitionProfile:
    """Everything the kit needs to know about one competition's files and submission."""

    slug: str  # Kaggle competition slug, also its data folder name
    title: str
    rle_order: str  # "F" column-major (HuBMAP), "C" row-major (NeoPolyp); see kit.rle
    id_column: str  # image id column of the train/test tables
    rle_column: str | None  # train-table column holding the mask RLE; None when masks are image files
    train_csv: str | None
    test_csv: str | None
    required_train_columns: tuple[str, ...]
    required_test_columns: tuple[str, ...]
    submission_columns: tuple[str, str]  # (id column, prediction column) of submission.csv
    classes: tuple[str, ...]  # foreground classes in class-id order (id 1, 2, ...); background (0) excluded
    train_image_pattern: str  # relative to the data folder, "{id}" replaced by the image id
    test_image_pattern: str
    train_mask_pattern: str | None = None  # ground-truth mask images (NeoPolyp only)
    metadata_csv: str | None = None  # per-image sizes and patient data (HuBMAP 2021)
    sample_submission: str = "sample_submission.csv"
    metric: str = "mean per-image Dice, empty vs empty = 1"
    pixel_sizes: dict[str, dict[str, float]] = field(default_factory=dict, hash=False)  # source -> organ -> µm/px

    @property
    def num_classes(self) -> int:
        """Model output channels: 1 for a binary task, background + classes otherwise."""
        return 1 if len(self.classes) == 1 else len(self.classes) + 1

    def image_path(self, data_dir: str | Path, image_id: str, split: str = "train") -> Path:
        """Path of image ``image_id`` of ``split`` ("train" or "test")."""
        pattern = {"train": self.train_image_pattern, "test": self.test_image_pattern}.get(split)
        if pattern is None:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return Path(data_dir) / pattern.format(id=check_plain_id(image_id, f"{self.slug} {split} image"))

    def mask_path(self, data_dir: str | Path, image_id: str) -> Path:
        """Path of the ground-truth mask image (competitions whose masks are files, i.e. NeoPolyp)."""
        if self.train_mask_pattern is None:
            raise ValueError(f"{self.slug} stores masks as RLE in {self.train_csv}, not as mask files")
        return Path(data_dir) / self.train_mask_pattern.format(id=check_plain_id(image_id, f"{self.slug} mask"))

    def pixel_size(self, organ: str, data_source: str = "HPA") -> float:
        """µm per pixel of ``organ`` images from ``data_source`` ("HPA" or "Hubmap", any letter case)."""
        sources = {source.lower(): organs for source, organs in self.pixel_sizes.items()}
        organs = sources.get(str(data_source).lower(), {})
        if organ not in organs:
            valid = {source: sorted(organs) for source, organs in self.pixel_sizes.items()}
            raise KeyError(
                f"no pixel size for organ {organ!r} from {data_source!r} in {self.slug}; known: {valid or 'none'}"
            )
        return organs[organ]

    def read_table(self, data_dir: str | Path, split: str = "train") -> pd.DataFrame:
        """The image table of ``split``: the competition CSV checked for its columns (ids as strings).

        Competitions without a CSV for the split list image files (NeoPolyp) or use sample_submission
        (HuBMAP 2021 test). Missing columns raise ValueError naming the file and the columns.
        """
        data_dir = Path(data_dir)
        csv_name = {"train": self.train_csv, "test": self.test_csv}.get(split, "?")
        if csv_name == "?":
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if csv_name is None:
            return self._table_from_files(data_dir, split)
        path = data_dir / csv_name
        required = self.required_train_columns if split == "train" else self.required_test_columns
        return _read_csv(path, required, self.id_column)

    def _table_from_files(self, data_dir: Path, split: str) -> pd.DataFrame:
        if self.train_mask_pattern is None:  # HuBMAP 2021 test: ids come from sample_submission
            table = _read_csv(data_dir / self.sample_submission, self.submission_columns, self.id_column)
            return table[[self.id_column]]
        pattern = self.train_image_pattern if split == "train" else self.test_image_pattern
        folder = (data_dir / pattern).parent
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found: expected {split} images as {pattern} under {data_dir}")
        suffix = Path(pattern).suffix
        ids = sorted(p.name[: -len(suffix)] for p in folder.glob(f"*{suffix}"))
        if not ids:
            raise FileNotFoundError(f"no {suffix} images in {folder}")
        table = pd.DataFrame({self.id_column: ids})
        table["image_path"] = [str(self.image_path(data_dir, i, split)) for i in ids]
        if split == "train":
            table["mask_path"] = [str(self.mask_path(data_dir, i)) for i in ids]
            missing = [p for p in table["mask_path"] if not Path(p).exists()]
            if missing:
                raise FileNotFoundError(f"{len(missing)} training images have no mask, e.g. {missing[0]}")
        return table


def _read_csv(path: Path, required: tuple[str, ...], id_column: str) -> pd.DataFrame:
    """``path`` with ids as strings, checked for the ``required`` columns and for blank or repeated ids."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    try:
        table = pd.read_csv(path, dtype={id_column: str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable CSV with columns {list(required)} ({err})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}; it has {list(table.columns)}")
    blank = table[id_column].isna()
    if blank.any():
        raise ValueError(f"{path}: empty {id_column!r} in row(s) {(table.index[blank] + 2).tolist()[:5]} (file lines)")
    duplicated = table[id_column][table[id_column].duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{path}: {id_column!r} values must be unique; repeated: {duplicated[:5]}")
    for line, value in enumerate(table[id_column], start=2):
        check_plain_id(value, f"{path} line {line}")
    return table


PROFILES: dict[str, CompetitionProfile] = {
    p.slug: p
    for p in (
        CompetitionProfile(
            slug="hubmap-kidney-segmentation",
            title="HuBMAP: Hacking the Kidney (2021)",
            rle_order="F",
            id_column="id",
            rle_column="encoding",
            train_csv="train.csv",
            test_csv=None,
            required_train_columns=("id", "encoding"),
            required_test_columns=("id",),
            submission_columns=("id", "predicted"),
            classes=("glomerulus",),
            train_image_pattern="train/{id}.tiff",
            test_image_pattern="test/{id}.tiff",
            metadata_csv="HuBMAP-20-dataset_information.csv",
        ),
        CompetitionProfile(
            slug="hubmap-organ-segmentation",
            title="HuBMAP + HPA: Hacking the Human Body (2022)",
            rle_order="F",
            id_column="id",
            rle_column="rle",
            train_csv="train.csv",
            test_csv="test.csv",
            required_train_columns=("id", "organ", "data_source", "img_height", "img_width", "pixel_size", "rle"),
            required_test_columns=("id", "organ", "data_source", "img_height", "img_width", "pixel_size"),
            submission_columns=("id", "rle"),
            classes=("FTU",),
            train_image_pattern="train_images/{id}.tiff",
            test_image_pattern="test_images/{id}.tiff",
            metric="Dice averaged over images, empty vs empty = 1",
            pixel_sizes=_HUBMAP_PIXEL_SIZES,
        ),
        CompetitionProfile(
            slug="bkai-igh-neopolyp",
            title="BKAI-IGH NeoPolyp",
            rle_order="C",
            id_column="id",
            rle_column=None,
            train_csv=None,
            test_csv=None,
            required_train_columns=("id",),
            required_test_columns=("id",),
            submission_columns=("Id", "Expected"),
            classes=("neoplastic", "non-neoplastic"),
            train_image_pattern="train/train/{id}.jpeg",
            test_image_pattern="test/test/{id}.jpeg",
            train_mask_pattern="train_gt/train_gt/{id}.jpeg",
            metric="Dice over the <id>_0 (neoplastic) and <id>_1 (non-neoplastic) rows",
        ),
    )
}


#: the one default everywhere: the notebooks' COMPETITION, the recipes, ``demo`` and ``kernels build``
DEFAULT_COMPETITION = "hubmap-organ-segmentation"


def list_competitions() -> list[str]:
    """Slugs of the supported competitions."""
    return sorted(PROFILES)


def get_profile(slug: str) -> CompetitionProfile:
    """The profile of ``slug``; an unknown slug raises KeyError listing the valid ones."""
    try:
        return PROFILES[slug]
    except KeyError:
        raise KeyError(f"unknown competition {slug!r}; valid: {', '.join(list_competitions())}") from None
