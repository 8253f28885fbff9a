"""Synthetic datasets in each competition's exact layout (CSV columns, file names, formats, RLE order).

Test labels go to ``<out>/_scoring/`` so a pipeline can be scored on data it never saw. Output is
deterministic for a seed; a re-run with the same parameters writes nothing (see :mod:`kit.sample.manifest`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from numbers import Integral
from pathlib import Path

from kit.competitions import get_profile
from kit.registry import Registry
from kit.sample.common import SampleSummary, split_counts
from kit.sample.hubmap2021 import make_hubmap2021
from kit.sample.hubmap2022 import make_hubmap2022
from kit.sample.manifest import begin_sample, finish_sample
from kit.sample.neopolyp import make_neopolyp

__all__ = ["SampleSummary", "make_sample", "DEFAULTS", "GENERATOR_VERSION"]

GENERATOR_VERSION = 2  # bump when the pixels or tables change, so old samples are rewritten
MIN_SIDE = 64
DEFAULTS: dict[str, tuple[int, int | tuple[int, int]]] = {  # (n, size): small enough for tests, enough to learn
    "hubmap-kidney-segmentation": (4, (2048, 3072)),
    "hubmap-organ-segmentation": (12, 512),
    "bkai-igh-neopolyp": (12, 320),
}
_WRITERS: Registry[Callable[..., SampleSummary]] = Registry.of("sample generator", {
    "hubmap-kidney-segmentation": make_hubmap2021,
    "hubmap-organ-segmentation": make_hubmap2022,
    "bkai-igh-neopolyp": make_neopolyp,
}, "no sample generator for competition {name!r}{hint}; valid: {valid}")


def _resolve_size(slug: str, size: int | tuple[int, int] | None) -> int | tuple[int, int]:
    """The writer's size: (height, width) for 2021 slides (an int is the longer side, 2:3), else one side."""
    size = DEFAULTS[slug][1] if size is None else size
    sides = (size,) if isinstance(size, Integral) else tuple(size)
    if not all(isinstance(s, Integral) for s in sides) or len(sides) not in (1, 2) or min(sides) < MIN_SIDE:
        raise ValueError(f"size must be an int or (height, width) of ints >= {MIN_SIDE}, got {size!r}")
    sides = tuple(int(s) for s in sides)
    if slug == "hubmap-kidney-segmentation":
        return sides if len(sides) == 2 else (max(MIN_SIDE, round(sides[0] * 2 / 3)), sides[0])
    if len(sides) == 2 and (slug != "hubmap-organ-segmentation" or sides[0] != sides[1]):
        raise ValueError(f"{slug} takes a single side as size, got {size!r}")
    return sides[0]


def make_sample(slug: str, out_dir: str | Path, n: int | None = None, size: int | tuple[int, int] | None = None,
                seed: int = 0, **options) -> SampleSummary:
    """Write a synthetic ``slug`` dataset into ``out_dir``; deterministic for ``seed``.

    ``n``: images in all (about a quarter become the test split; at least 2). ``size``: 2021 slides
    (height, width) or their longer side; 2022 the side of the square HPA images; NeoPolyp the longer
    side. ``options`` go to the competition's writer: 2021 ``subdatasets`` (default True: the last
    training slide stores RGB as three pages) and ``bigtiff`` (default True).
    Raises KeyError for an unknown slug, ValueError for bad sizes, counts, seeds or options.
    """
    profile = get_profile(slug)
    writer = _WRITERS.get(profile.slug)
    allowed = [p for p in inspect.signature(writer).parameters if p not in ("out_dir", "n", "size", "seed")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {slug}; valid: {allowed or 'none'}")
    if not isinstance(seed, Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    n = DEFAULTS[slug][0] if n is None else n
    if not isinstance(n, Integral):
        raise ValueError(f"n must be an int, got {n!r}")
    split_counts(n)  # at least one train and one test image, checked before anything is touched
    size = _resolve_size(slug, size)
    out_dir = Path(out_dir)
    params = {"slug": slug, "n": int(n), "size": size, "seed": int(seed), "options": dict(sorted(options.items())),
              "version": GENERATOR_VERSION}
    previous = begin_sample(out_dir, params)
    if previous is not None:
        return previous
    summary = writer(out_dir, n=int(n), size=size, seed=int(seed), **options)
    finish_sample(out_dir, params, summary)
    return summary
