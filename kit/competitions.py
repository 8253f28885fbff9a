"""Competition profiles: file layout, CSV columns, RLE order, classes, mask colours, submission format, folds.

A profile is a small JSON file (schema: :data:`REQUIRED_FIELDS` + :data:`OPTIONAL_FIELDS`). The three built-in
ones ship as ``kit/profiles/<slug>.json``; any other folder of images + masks gets its own file, passed as
``--competition path/to/profile.json`` or registered from Python with :func:`register_profile`.

Class ids used everywhere in the kit (masks, tiles, models, submissions) — documented once, here:

* HuBMAP 2021 / 2022: 0 background, 1 glomerulus / FTU.
* BKAI-IGH NeoPolyp: 0 background, 1 neoplastic (red in the ground-truth JPEGs, submission row ``<id>_0``),
  2 non-neoplastic (green, row ``<id>_1``). Official models that order channels differently (NeoUNet:
  0 non-neoplastic, 1 neoplastic) are remapped when their checkpoints are imported.
* A custom profile: 0 background, then its ``classes`` in order; a mask pixel takes the class whose
  ``mask_colours`` entry is nearest (background is black), so grey masks with ``{"polyp": 255}`` read as
  "> 127 is polyp".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from kit.paths import check_plain_id
from kit.registry import Registry

__all__ = ["CompetitionProfile", "DEFAULT_COMPETITION", "PROFILES", "MASK_READERS", "SPLITS", "REQUIRED_FIELDS",
           "OPTIONAL_FIELDS", "get_profile", "list_competitions", "load_profile", "profile_from_dict",
           "register_profile"]

SPLITS = Registry.of("split", ("train", "test"), "split must be 'train' or 'test', got {name!r}{hint}", sort=False)
REQUIRED_FIELDS = ("slug", "title", "classes", "rle_order", "id_column", "submission_columns",
                   "train_image_pattern", "test_image_pattern")
# masks: train_mask_pattern + mask_colours (image files), or train_csv + rle_column (RLE in a CSV)


@dataclass(frozen=True)
class CompetitionProfile:
    """Everything the kit needs to know about one competition's files and submission."""

    slug: str  # Kaggle competition slug (or any name), also its data folder name
    title: str
    classes: tuple[str, ...]  # foreground classes in class-id order (id 1, 2, ...); background (0) excluded
    rle_order: str  # "F" column-major (HuBMAP), "C" row-major (NeoPolyp); see kit.rle
    id_column: str  # image id column of the train/test tables
    submission_columns: tuple[str, str]  # (id column, prediction column) of submission.csv
    train_image_pattern: str  # relative to the data folder, "{id}" replaced by the image id (the glob's "*")
    test_image_pattern: str
    train_mask_pattern: str | None = None  # ground-truth mask images; None: RLE in train_csv
    mask_colours: dict[str, Any] = field(default_factory=dict, hash=False)  # class -> grey value or [r, g, b]
    mask_reader: str = "nearest_colour"  # a name of MASK_READERS
    rle_column: str | None = None  # train-table column holding the mask RLE; None when masks are image files
    train_csv: str | None = None
    test_csv: str | None = None
    required_train_columns: tuple[str, ...] = ()  # besides id_column (and rle_column)
    required_test_columns: tuple[str, ...] = ()
    metadata_csv: str | None = None  # per-image columns (sizes, patient, sequence), joined on metadata_id_column
    metadata_id_column: str = "image_file"  # its image column: an id or a file name (the stem is the id)
    group_column: str | None = None  # default fold grouping column (of the tables or metadata_csv); None: id
    sample_submission: str = "sample_submission.csv"
    metric: str = "mean per-image Dice, empty vs empty = 1"
    pixel_sizes: dict[str, dict[str, float]] = field(default_factory=dict, hash=False)  # source -> organ -> µm/px

    @property
    def num_classes(self) -> int:
        """Model output channels: 1 for a binary task, background + classes otherwise."""
        return 1 if len(self.classes) == 1 else len(self.classes) + 1

    def image_path(self, data_dir: str | Path, image_id: str, split: str = "train") -> Path:
        """Path of image ``image_id`` of ``split`` ("train" or "test")."""
        pattern = self.train_image_pattern if SPLITS.check(split) == "train" else self.test_image_pattern
        return Path(data_dir) / pattern.format(id=check_plain_id(image_id, f"{self.slug} {split} image"))

    def mask_path(self, data_dir: str | Path, image_id: str) -> Path:
        """Path of the ground-truth mask image (competitions whose masks are files, e.g. NeoPolyp)."""
        if self.train_mask_pattern is None:
            raise ValueError(f"{self.slug} stores masks as RLE in {self.train_csv}, not as mask files")
        return Path(data_dir) / self.train_mask_pattern.format(id=check_plain_id(image_id, f"{self.slug} mask"))

    def read_mask(self, path: str | Path) -> np.ndarray:
        """A ground-truth mask file as an H×W uint8 map of class ids (by ``mask_reader``)."""
        return MASK_READERS.get(self.mask_reader)(self, path)

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

        Competitions without a CSV for the split list image files (NeoPolyp, custom folders) or use
        sample_submission (HuBMAP 2021 test). Missing columns raise ValueError naming the file and the columns.
        """
        data_dir = Path(data_dir)
        csv_name = self.train_csv if SPLITS.check(split) == "train" else self.test_csv
        if csv_name is None:
            return self._table_from_files(data_dir, split)
        required = self.required_train_columns if split == "train" else self.required_test_columns
        required = tuple(dict.fromkeys((self.id_column, *required)))
        return _read_csv(data_dir / csv_name, required, self.id_column)

    def _table_from_files(self, data_dir: Path, split: str) -> pd.DataFrame:
        if self.train_mask_pattern is None:  # HuBMAP 2021 test: ids come from sample_submission
            table = _read_csv(data_dir / self.sample_submission, self.submission_columns, self.id_column)
            return table[[self.id_column]]
        pattern = self.train_image_pattern if split == "train" else self.test_image_pattern
        prefix, _, suffix = pattern.partition("{id}")
        folder = (data_dir / f"{prefix}_").parent  # the folder the ids' files are in
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} not found: expected {split} images as {pattern} under {data_dir}")
        ids = sorted(p.relative_to(data_dir).as_posix()[len(prefix):-len(suffix) or None]
                     for p in data_dir.glob(prefix + "*" + suffix))
        if not ids:
            raise FileNotFoundError(f"no {suffix or 'image'} images in {folder} (pattern {pattern})")
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


def _nearest_colour(profile: CompetitionProfile, path: str | Path) -> np.ndarray:
    from kit.io import colour_mask_to_classes, read_image

    return colour_mask_to_classes(read_image(path), [profile.mask_colours[c] for c in profile.classes])


def _neopolyp_hsv(profile: CompetitionProfile, path: str | Path) -> np.ndarray:
    from kit.io import read_neopolyp_mask

    return read_neopolyp_mask(path)


MASK_READERS: Registry[Callable[[CompetitionProfile, str | Path], np.ndarray]] = Registry("mask reader")
MASK_READERS.add("nearest_colour", _nearest_colour)
MASK_READERS.add("neopolyp_hsv", _neopolyp_hsv)  # HSV ranges tolerant of the JPEG noise (kit.io)

_FIELDS = {f.name: f for f in fields(CompetitionProfile)}
OPTIONAL_FIELDS = tuple(name for name in _FIELDS if name not in REQUIRED_FIELDS)
_TUPLES = ("classes", "submission_columns", "required_train_columns", "required_test_columns")


def profile_from_dict(values: dict[str, Any], source: str = "competition profile") -> CompetitionProfile:
    """A profile from its JSON fields; a missing or unknown field, or a bad value, raises ValueError naming it."""
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a JSON object of profile fields, got {type(values).__name__}")
    missing = [name for name in REQUIRED_FIELDS if name not in values]
    if missing:
        raise ValueError(f"{source} lacks required field {missing[0]!r} (required: {', '.join(REQUIRED_FIELDS)})")
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ValueError(f"{source}: unknown field {unknown[0]!r}; valid fields: {', '.join(_FIELDS)}")
    values = {k: tuple(v) if k in _TUPLES and isinstance(v, list) else v for k, v in values.items()}

    def bad(name: str, expected: str) -> ValueError:
        return ValueError(f"{source}: field {name!r} must be {expected}; got {values.get(name)!r}")

    if values["rle_order"] not in ("C", "F"):
        raise bad("rle_order", '"C" (row-major) or "F" (column-major)')
    if not values["classes"] or not all(isinstance(c, str) and c for c in values["classes"]):
        raise bad("classes", "a non-empty list of class names")
    if len(values["submission_columns"]) != 2:
        raise bad("submission_columns", "[id column, prediction column]")
    for name in ("train_image_pattern", "test_image_pattern", "train_mask_pattern"):
        if values.get(name) is not None and "{id}" not in str(values[name]):
            raise bad(name, 'a path pattern holding "{id}", e.g. "images/{id}.png"')
    for name in ("train_image_pattern", "test_image_pattern", "train_mask_pattern", "train_csv", "test_csv",
                 "metadata_csv", "sample_submission"):
        if values.get(name) is not None and (Path(values[name]).is_absolute() or ".." in Path(values[name]).parts):
            raise bad(name, "a path relative to the data folder, inside it")
    if values.get("train_mask_pattern") is None and not (values.get("train_csv") and values.get("rle_column")):
        raise ValueError(f"{source} lacks field 'train_mask_pattern' (mask files) or 'train_csv' + 'rle_column' "
                         "(RLE masks in a CSV)")
    if values.get("train_mask_pattern") is not None and values.get("mask_reader", "nearest_colour") == "nearest_colour":
        absent = [c for c in values["classes"] if c not in values.get("mask_colours", {})]
        if absent:
            raise ValueError(f"{source} lacks field 'mask_colours' for class {absent[0]!r} "
                             '(grey value or [r, g, b] per class, e.g. {"polyp": 255})')
    if values.get("mask_reader", "nearest_colour") not in MASK_READERS:
        raise bad("mask_reader", f"one of {', '.join(MASK_READERS.names())}")
    return CompetitionProfile(**values)


def load_profile(path: str | Path) -> CompetitionProfile:
    """The profile in JSON file ``path`` (see :func:`profile_from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"competition profile {path} not found")
    try:
        values = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"competition profile {path} is not valid JSON ({err})") from None
    return profile_from_dict(values, f"competition profile {path}")


PROFILES: Registry[CompetitionProfile] = Registry(
    "competition", "unknown competition {name!r}{hint}; valid: {valid} (or a profile .json file)")
for _file in sorted((Path(__file__).parent / "profiles").glob("*.json")):
    PROFILES.add(_file.stem, load_profile(_file))


#: the one default everywhere: the notebooks' COMPETITION, the recipes, ``demo`` and ``kernels build``
DEFAULT_COMPETITION = "hubmap-organ-segmentation"


def register_profile(profile: CompetitionProfile | dict[str, Any] | str | Path) -> CompetitionProfile:
    """Add a profile (object, dict of fields or JSON file) under its slug; a slug taken twice raises ValueError."""
    if isinstance(profile, dict):
        profile = profile_from_dict(profile)
    elif not isinstance(profile, CompetitionProfile):
        profile = load_profile(profile)
    return PROFILES.add(profile.slug, profile)


def list_competitions() -> list[str]:
    """Names of the registered competitions (the three built-ins and any registered from Python)."""
    return PROFILES.names()


def get_profile(name: str | Path | CompetitionProfile) -> CompetitionProfile:
    """The profile registered as ``name``, or the one in profile file ``name`` (a path ending in .json).

    An unknown name raises KeyError suggesting the closest name and listing the valid ones.
    """
    if isinstance(name, CompetitionProfile):
        return name
    if str(name) not in PROFILES and str(name).endswith(".json"):
        return load_profile(name)
    return PROFILES.get(str(name))
