"""Shared pieces of the sample writers: the summary, ids, atomic CSVs and the hidden scoring folder."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.fsutil import atomic_path
from kit.paths import SCORING_DIR

__all__ = ["SampleSummary", "write_csv", "hex_ids", "split_counts"]


@dataclass
class SampleSummary:
    """What :func:`kit.sample.make_sample` wrote (``files`` relative to ``out_dir``)."""

    slug: str
    out_dir: Path
    n_train: int
    n_test: int
    image_sizes: list[tuple[int, int]] = field(default_factory=list)
    foreground: float = 0.0
    files: list[str] = field(default_factory=list)
    seed: int = 0
    reused: bool = False

    def __str__(self) -> str:
        sizes = sorted(set(self.image_sizes), key=lambda hw: (hw[0] * hw[1], hw))
        if len(sizes) <= 3:
            shown = ", ".join(f"{h}x{w}" for h, w in sizes)
        else:
            shown = f"{len(sizes)} sizes from {sizes[0][0]}x{sizes[0][1]} to {sizes[-1][0]}x{sizes[-1][1]}"
        done = "already held this sample (same parameters), nothing rewritten" if self.reused else "written"
        return (
            f"{self.slug} synthetic sample in {self.out_dir} ({done}): {self.n_train} train + {self.n_test} test "
            f"images, H x W {shown}, seed {self.seed}, {len(self.files)} files. Labelled structures cover "
            f"{self.foreground:.1%} of the pixels on average. Test labels are kept in {self.out_dir / SCORING_DIR} "
            "(outside the competition layout: use them only to score). Synthetic images check the pipeline end "
            "to end; scores on them say nothing about leaderboard scores."
        )

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SampleSummary:
        """Inverse of :meth:`to_dict`."""
        fields = {**data, "out_dir": Path(data["out_dir"]), "image_sizes": [tuple(s) for s in data["image_sizes"]]}
        return cls(**fields)


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write a CSV atomically (no index column); returns ``path``."""
    with atomic_path(path, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False)
    return path


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
