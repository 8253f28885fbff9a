"""Shared pieces of the sample writers: the summary, ids, atomic CSVs and the hidden scoring folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.fsutil import atomic_path

__all__ = ["SampleSummary", "SCORING_DIR", "write_csv", "hex_ids", "split_counts"]

SCORING_DIR = "_scoring"  # test labels live here, outside the competition layout notebooks read


@dataclass
class SampleSummary:
    """What :func:`kit.sample.make_sample` wrote."""

    slug: str
    out_dir: Path
    n_train: int
    n_test: int
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    foreground: float = 0.0
    files: int = 0

    def __str__(self) -> str:
        sizes = sorted(set(self.image_sizes))
        shown = ", ".join(f"{h}x{w}" for h, w in sizes[:4]) + (" ..." if len(sizes) > 4 else "")
        return (
            f"{self.slug}: {self.n_train} train + {self.n_test} test images ({shown}) in {self.out_dir}; "
            f"{self.files} files; mean foreground {self.foreground:.1%}; test labels in "
            f"{self.out_dir / SCORING_DIR} (not part of the competition layout)"
        )


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a CSV atomically (no index column)."""
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)


def hex_ids(rng: np.random.Generator, n: int, length: int) -> list[str]:
    """``n`` distinct random lower-case hex ids of ``length`` characters."""
    ids: list[str] = []
    while len(ids) < n:
        candidate = "".join(rng.choice(list("0123456789abcdef"), length))
        if candidate not in ids:
            ids.append(candidate)
    return ids


def split_counts(n: int) -> tuple[int, int]:
    """(train, test) counts for ``n`` images: about a quarter held out, at least one of each."""
    if n < 2:
        raise ValueError(f"a sample needs at least 2 images (one train, one test), got n={n}")
    n_test = max(1, n // 4)
    return n - n_test, n_test
