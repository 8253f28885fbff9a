"""Submission files for the supported competitions: rows from masks, an atomic writer, a strict validator.

Formats (competitions.md §5): HuBMAP 2021 ``id,predicted``; HuBMAP+HPA 2022 ``id,rle`` (both column-major "F"
RLE); NeoPolyp ``Id,Expected`` with two row-major "C" rows per image, ``<id>_0`` neoplastic (class 1, red) and
``<id>_1`` non-neoplastic (class 2, green). The pixel order always comes from the competition profile, so rows
built with :func:`mask_rows` / :func:`rle_rows` are in the right order; ids and their order follow
sample_submission.csv; an empty mask is an empty cell.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pandas as pd

from kit.competitions import CompetitionProfile, get_profile
from kit.fsutil import atomic_path
from kit.paths import check_plain_id
from kit.rle import encode, runs_from_rle

__all__ = [
    "row_ids",
    "mask_rows",
    "rle_rows",
    "read_sample_ids",
    "image_id_of",
    "sample_image_ids",
    "sample_from_test_images",
    "write_submission",
    "validate_submission",
    "write_fallback_submission",
]

Rows = Mapping[str, str] | Iterable[tuple[str, str]]


def _profile(profile: CompetitionProfile | str) -> CompetitionProfile:
    return profile if isinstance(profile, CompetitionProfile) else get_profile(profile)


def row_ids(profile: CompetitionProfile | str, image_id: str) -> list[str]:
    """Submission ids of one image: the image id, or ``<id>_0``, ``<id>_1``… for multi-class competitions."""
    profile = _profile(profile)
    if len(profile.classes) == 1:
        return [str(image_id)]
    return [f"{image_id}_{k}" for k in range(len(profile.classes))]


def rle_rows(profile: CompetitionProfile | str, image_id: str, rles: Sequence[str]) -> list[tuple[str, str]]:
    """Rows of one image from one RLE per class (e.g. :meth:`kit.infer.Predictor.predict_rle` output)."""
    ids = row_ids(profile, image_id)
    if len(rles) != len(ids):
        raise ValueError(f"image {image_id}: got {len(rles)} RLE strings, the submission needs {len(ids)} ({ids})")
    return list(zip(ids, (str(r) for r in rles)))


def mask_rows(profile: CompetitionProfile | str, image_id: str, mask) -> list[tuple[str, str]]:
    """Rows of one image from its full-resolution mask (0/1, or class ids 0..n for multi-class competitions)."""
    profile = _profile(profile)
    if len(profile.classes) == 1:
        return rle_rows(profile, image_id, [encode(mask != 0, profile.rle_order)])
    rles = [encode(mask == k, profile.rle_order) for k in range(1, len(profile.classes) + 1)]
    return rle_rows(profile, image_id, rles)


def _read_csv(path: Path) -> pd.DataFrame:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def read_sample_ids(profile: CompetitionProfile | str, sample_submission: str | Path | pd.DataFrame) -> list[str]:
    """The submission ids of sample_submission.csv, in order (its header must be the competition's)."""
    profile = _profile(profile)
    from_file = not isinstance(sample_submission, pd.DataFrame)
    table = _read_csv(Path(sample_submission)) if from_file else sample_submission
    if tuple(table.columns) != tuple(profile.submission_columns):
        name = sample_submission if from_file else "the sample submission table"
        raise ValueError(f"{name} has columns {list(table.columns)}; {profile.slug} expects "
                         f"{list(profile.submission_columns)}")
    return table[profile.submission_columns[0]].astype(str).tolist()


def _is_empty(value: object) -> bool:
    """Empty cells, None and NaN all mean an empty mask (Kaggle fills NaN with "")."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return str(value).strip().lower() in ("", "nan")


def _rows_dict(rows: Rows) -> dict[str, str]:
    items = rows.items() if isinstance(rows, Mapping) else rows
    result: dict[str, str] = {}
    for row_id, rle in items:
        row_id = str(row_id)
        if row_id in result:
            raise ValueError(f"submission row id {row_id!r} appears twice")
        result[row_id] = "" if _is_empty(rle) else str(rle).strip()
    return result


def write_submission(
    rows: Rows,
    path: str | Path,
    profile: CompetitionProfile | str,
    sample_submission: str | Path | pd.DataFrame | None = None,
) -> Path:
    """Write ``rows`` (id -> RLE) as the competition's submission CSV, atomically, in sample_submission order.

    With a sample submission, a missing or an extra id raises ValueError naming it.
    """
    profile = _profile(profile)
    values = _rows_dict(rows)
    if sample_submission is not None:
        ids = read_sample_ids(profile, sample_submission)
        missing = [i for i in ids if i not in values]
        extra = sorted(set(values) - set(ids))
        if missing or extra:
            raise ValueError(f"submission rows do not match sample_submission: missing ids {missing[:5]} "
                             f"({len(missing)}), extra ids {extra[:5]} ({len(extra)})")
    else:
        ids = list(values)
    id_column, rle_column = profile.submission_columns
    table = pd.DataFrame({id_column: ids, rle_column: [values[i] for i in ids]})
    path = Path(path)
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return path


def write_fallback_submission(
    path: str | Path, profile: CompetitionProfile | str, sample_submission: str | Path | pd.DataFrame
) -> Path:
    """A valid submission with every mask empty (when inference fails, still score instead of erroring)."""
    ids = read_sample_ids(profile, sample_submission)
    return write_submission(dict.fromkeys(ids, ""), path, profile, sample_submission)


def image_id_of(profile: CompetitionProfile | str, row_id: str) -> str:
    """The image id of a submission row id (``<id>_<k>`` -> ``<id>`` for multi-class competitions)."""
    profile = _profile(profile)
    if len(profile.classes) == 1:
        return row_id
    stem, _, suffix = row_id.rpartition("_")
    if not stem or not suffix.isdigit() or int(suffix) >= len(profile.classes):
        raise ValueError(f"row id {row_id!r} must be <image id>_<class 0..{len(profile.classes) - 1}>")
    return stem


def sample_image_ids(
    profile: CompetitionProfile | str, sample_submission: str | Path | pd.DataFrame
) -> list[str]:
    """The image ids sample_submission.csv asks for, in order of their first row, each once."""
    profile = _profile(profile)
    ids = [image_id_of(profile, row_id) for row_id in read_sample_ids(profile, sample_submission)]
    name = sample_submission if not isinstance(sample_submission, pd.DataFrame) else "the sample submission"
    return [check_plain_id(i, str(name)) for i in dict.fromkeys(ids)]


def sample_from_test_images(profile: CompetitionProfile | str, data_dir: str | Path) -> pd.DataFrame:
    """The sample submission a competition without one implies (NeoPolyp): every test image's rows, empty, with
    the images in the order the competition lists them (its test table, else the test image files by name)."""
    profile = _profile(profile)
    ids = profile.read_table(data_dir, "test")[profile.id_column].astype(str)
    rows = [row for image_id in ids for row in row_ids(profile, image_id)]
    return pd.DataFrame({profile.submission_columns[0]: rows, profile.submission_columns[1]: ""})


def validate_submission(
    path: str | Path,
    profile: CompetitionProfile | str,
    sample_submission_path: str | Path | pd.DataFrame | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> None:
    """Check a submission file; the first problem raises one ValueError naming the line, the id and what is wrong.

    Checks: header; ids present, unique, and (with a sample submission) exactly its ids in its order; every
    RLE well-formed (integer tokens, even count, positive starts and lengths, sorted non-overlapping runs) and,
    with ``image_sizes`` (image id -> (height, width)), inside the image. Empty cells and NaN are empty masks.
    """
    profile = _profile(profile)
    path = Path(path)
    table = _read_csv(path)
    if tuple(table.columns) != tuple(profile.submission_columns):
        raise ValueError(f"{path}: header {','.join(table.columns)!r}, expected "
                         f"{','.join(profile.submission_columns)!r} for {profile.slug}")
    id_column, rle_column = profile.submission_columns
    ids = table[id_column].astype(str).str.strip().tolist()
    seen: dict[str, int] = {}
    for line, row_id in enumerate(ids, start=2):
        if not row_id:
            raise ValueError(f"{path}: line {line} has no id")
        if row_id in seen:
            raise ValueError(f"{path}: line {line}: id {row_id!r} duplicates line {seen[row_id]}")
        seen[row_id] = line
    if sample_submission_path is not None:
        _check_ids_against_sample(path, ids, read_sample_ids(profile, sample_submission_path))
    for line, (row_id, rle) in enumerate(zip(ids, table[rle_column]), start=2):
        shape = None
        if image_sizes is not None:
            image_id = image_id_of(profile, row_id)
            if image_id not in image_sizes:
                raise ValueError(f"{path}: line {line}: no image size for id {row_id!r} (image {image_id!r})")
            shape = tuple(int(s) for s in image_sizes[image_id])
        try:
            runs_from_rle(None if _is_empty(rle) else str(rle), shape)
        except ValueError as err:
            raise ValueError(f"{path}: line {line} (id {row_id!r}): {err}") from None


def _check_ids_against_sample(path: Path, ids: list[str], expected: list[str]) -> None:
    present, wanted = set(ids), set(expected)
    missing = [i for i in expected if i not in present]
    if missing:
        raise ValueError(f"{path}: id {missing[0]!r} of sample_submission is missing ({len(missing)} missing)")
    extra = [i for i in ids if i not in wanted]
    if extra:
        raise ValueError(f"{path}: id {extra[0]!r} is not in sample_submission ({len(extra)} extra)")
    for line, (got, want) in enumerate(zip(ids, expected), start=2):
        if got != want:
            raise ValueError(f"{path}: line {line}: id {got!r} is out of order; sample_submission has {want!r} there")
