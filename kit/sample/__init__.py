"""Synthetic datasets in each competition's exact layout (CSV columns, file names, formats, RLE order).

Test labels go to ``<out>/_scoring/`` so a pipeline can be scored on data it never saw.
"""

from __future__ import annotations

from pathlib import Path

from kit.competitions import get_profile
from kit.sample.common import SCORING_DIR, SampleSummary
from kit.sample.hubmap2021 import make_hubmap2021
from kit.sample.hubmap2022 import make_hubmap2022
from kit.sample.neopolyp import make_neopolyp

__all__ = ["SCORING_DIR", "SampleSummary", "make_sample", "DEFAULTS"]

DEFAULTS = {  # (n, size) per competition: small enough for tests, big enough to learn from
    "hubmap-kidney-segmentation": (4, (2048, 3072)),
    "hubmap-organ-segmentation": (12, 512),
    "bkai-igh-neopolyp": (12, 320),
}
_WRITERS = {
    "hubmap-kidney-segmentation": make_hubmap2021,
    "hubmap-organ-segmentation": make_hubmap2022,
    "bkai-igh-neopolyp": make_neopolyp,
}


def make_sample(slug: str, out_dir: str | Path, n: int | None = None, size=None, seed: int = 0,
                **options) -> SampleSummary:
    """Write a synthetic ``slug`` dataset into ``out_dir``; deterministic for ``seed``.

    ``size``: image side (2022), longer side (NeoPolyp) or (height, width) / longer side (2021 slides).
    ``options`` go to the competition's writer (e.g. ``subdatasets=False`` for 2021).
    """
    get_profile(slug)  # unknown slugs: KeyError listing the valid ones
    default_n, default_size = DEFAULTS[slug]
    size = default_size if size is None else size
    if slug == "hubmap-kidney-segmentation" and isinstance(size, int):
        size = (int(size * 2 / 3), size)
    return _WRITERS[slug](Path(out_dir), n=n or default_n, size=size, seed=seed, **options)
