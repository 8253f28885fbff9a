"""Re-runs of :func:`kit.sample.make_sample`: a manifest in ``_scoring/sample.json`` records what was written.

A re-run with the same parameters finds the manifest complete and its files present and writes nothing.
Any other re-run first deletes the files the previous sample wrote (the manifest lists them; so no stale image
is left behind to be picked up by a directory listing), then writes afresh. Files the user put beside them
are never deleted; competition files in a folder without a manifest are an error.
"""

from __future__ import annotations

import json
from pathlib import Path

from kit.competitions import CompetitionProfile, get_profile
from kit.fsutil import atomic_write_text, remove_stale_temps
from kit.paths import SCORING_DIR
from kit.sample.common import SampleSummary

__all__ = ["MANIFEST", "begin_sample", "finish_sample"]

MANIFEST = f"{SCORING_DIR}/sample.json"


def _layout_files(out_dir: Path, profile: CompetitionProfile) -> list[Path]:
    """Files under ``out_dir`` in ``profile``'s layout: its CSVs, its image/mask folders, the scoring folder."""
    found: list[Path] = []
    for name in (profile.train_csv, profile.test_csv, profile.metadata_csv, profile.sample_submission):
        if name and (out_dir / name).is_file():
            found.append(out_dir / name)
    patterns = (profile.train_image_pattern, profile.test_image_pattern, profile.train_mask_pattern)
    for folder in {(out_dir / pattern).parent for pattern in patterns if pattern}:
        found.extend(sorted(p for p in folder.glob("*") if p.is_file()) if folder.is_dir() else [])
    scoring = out_dir / SCORING_DIR
    found.extend(sorted(p for p in scoring.rglob("*") if p.is_file()) if scoring.is_dir() else [])
    return found


def _remove(files: list[Path], out_dir: Path) -> None:
    """Delete ``files`` and then the folders under ``out_dir`` that this left empty."""
    folders = set()
    for path in files:
        path.unlink(missing_ok=True)
        folders.update(p for p in path.parents if out_dir in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _written_before(out_dir: Path, manifest: dict) -> list[Path]:
    """The files a previous sample wrote: its manifest's list, or for an interrupted one (no list yet) the
    layout files with the image suffix of its competition and its tables (other files are the user's)."""
    if manifest.get("status") == "complete" and "summary" in manifest:
        return [out_dir / name for name in manifest["summary"].get("files", [])]
    slug = manifest.get("params", {}).get("slug")
    if slug is None:
        return []
    profile = get_profile(slug)
    suffixes = {Path(p).suffix for p in (profile.train_image_pattern, profile.test_image_pattern,
                                          profile.train_mask_pattern) if p} | {".csv"}
    return [p for p in _layout_files(out_dir, profile) if p.suffix in suffixes]


def begin_sample(out_dir: Path, params: dict) -> SampleSummary | None:
    """The previous summary if ``out_dir`` already holds this exact sample; else clear it and mark it in progress.

    Raises ValueError when ``out_dir`` holds competition files that no sample manifest accounts for.
    """
    params = json.loads(json.dumps(params))
    path = out_dir / MANIFEST
    profile = get_profile(params["slug"])
    remove_stale_temps(out_dir, out_dir / SCORING_DIR, *{(out_dir / pattern).parent for pattern in (
        profile.train_image_pattern, profile.test_image_pattern, profile.train_mask_pattern) if pattern})
    try:
        manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except json.JSONDecodeError as err:
        raise ValueError(f"sample manifest {path} is not valid JSON ({err}); delete it and the sample") from None
    if manifest and manifest.get("status") == "complete" and manifest.get("params") == params:
        summary = SampleSummary.from_dict(manifest["summary"])
        if all((out_dir / name).is_file() for name in summary.files):
            summary.out_dir, summary.reused = out_dir, True
            return summary
    existing = _layout_files(out_dir, profile)
    if manifest is None and existing:
        raise ValueError(
            f"{out_dir} already holds competition files that make_sample did not write (e.g. {existing[0]}); "
            "write the sample into an empty folder or remove them"
        )
    if manifest is not None:
        _remove(_written_before(out_dir, manifest) + [path], out_dir)
    atomic_write_text(path, json.dumps({"status": "writing", "params": params}, indent=1))
    return None


def finish_sample(out_dir: Path, params: dict, summary: SampleSummary) -> None:
    """Mark the sample in ``out_dir`` complete (written last, so an interrupted run is never reused)."""
    record = {"status": "complete", "params": params, "summary": summary.to_dict()}
    atomic_write_text(out_dir / MANIFEST, json.dumps(record, indent=1))
