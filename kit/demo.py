"""The demo: a synthetic sample → notebooks 00 → 01 → 02 → 03 on CPU → the hold-out score, all in one run folder.

:func:`demo_steps` is a pure builder (which notebook runs with which parameters); :func:`run_demo` writes the
sample, executes the notebooks with papermill, exports their plots and scores ``submission.csv`` against the
sample's hidden test labels with the competition metric. ``make demo`` and ``python -m kit demo`` call it.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from kit.competitions import DEFAULT_COMPETITION, get_profile
from kit.notebooks import as_parameters
from kit.recipes import load_recipe
from kit.registry import Registry

__all__ = ["DemoStep", "DemoSummary", "DEMO_RECIPE", "SAMPLES", "demo_steps", "export_plots", "run_demo"]


@dataclass(frozen=True)
class DemoStep:
    """One notebook run: its name (``kit.notebooks.NOTEBOOKS``) and the papermill parameters."""

    notebook: str
    parameters: dict[str, Any]


DEMO_RECIPE = "demo-cpu"  # kit/recipes/demo-cpu.json: tiling and training per competition (CPU, a few minutes)
SAMPLES: Registry[dict[str, Any]] = Registry.of("demo sample", {  # make_sample options per competition
    "hubmap-organ-segmentation": {},
    "hubmap-kidney-segmentation": {"n": 8},  # 8 slides of 2048×3072: 6 train slides in 3 folds
    "bkai-igh-neopolyp": {"n": 40},  # whole images; notebook 00 only shows tiles
}, "no demo sample for competition {name!r}{hint}; valid: {valid}")
SMOKE_SAMPLE = {"hubmap-kidney-segmentation": {"n": 4, "size": 480}}  # other competitions: n=4, size=160
SMOKE_TILING = {"SZ": 64, "REDUCE": 2.0}
SMOKE_TRAINING = {"N_FOLDS": 3}


def _sample_options(competition: str, smoke: bool) -> dict[str, Any]:
    if smoke:
        return SMOKE_SAMPLE.get(competition, {"n": 4, "size": 160})
    return dict(SAMPLES.get(competition))


def demo_steps(competition: str, run_dir: str | Path, smoke: bool = False, seed: int = 0) -> list[DemoStep]:
    """The four notebook runs of the demo in ``run_dir`` (absolute paths), in order; nothing is written.

    ``smoke`` keeps the notebooks' own tiny settings (seconds on CPU, for tests).
    """
    profile = get_profile(competition)
    recipe = load_recipe(DEMO_RECIPE, profile.slug)
    run_dir = Path(run_dir).resolve()
    data, tiles, runs = run_dir / "data", run_dir / "tiles", run_dir / "runs"
    ensemble = run_dir / "models" / "ensemble.json"
    common = {"COMPETITION": profile.slug, "SMOKE": smoke, "SEED": seed}
    full_images = profile.slug == "bkai-igh-neopolyp"  # NeoPolyp trains on whole images, not tiles
    tiling = SMOKE_TILING if smoke else as_parameters("00_tiling", recipe.tiling or {})
    inference = {} if smoke else as_parameters("02_ensembling", recipe.inference)
    training = {"RECIPE": DEMO_RECIPE, **(SMOKE_TRAINING if smoke else {})}
    return [
        DemoStep("00_tiling", {**common, **tiling, "DATA_DIR": str(data), "OUT_DIR": str(tiles)}),
        DemoStep("01_training", {**common, **training, "DATA_DIR": str(data),
                                 "RUN_DIR": str(runs / "unet"), "TILES_DIR": None if full_images else str(tiles)}),
        DemoStep("02_ensembling", {**common, **inference, "RUN_DIRS": [str(runs / "unet")], "OUT": str(ensemble)}),
        DemoStep("03_inference", {**common, "DATA_DIR": str(data), "ENSEMBLE": str(ensemble),
                                  "SUBMISSION": str(run_dir / "submission.csv")}),
    ]


@dataclass
class DemoSummary:
    """What one demo run made and measured."""

    competition: str
    run_dir: Path
    tiles_kept: int = 0
    tiles_total: int = 0
    last_epoch: dict[str, Any] = field(default_factory=dict)
    oof_dice: float | None = None
    holdout: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        epoch = self.last_epoch
        curve = ", ".join(f"{k} {v}" if k == "epoch" else f"{k} {v:.4f}" for k, v in epoch.items())
        groups = ", ".join(f"{k} {v:.3f}" for k, v in self.holdout.get("by_group", {}).items())
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in self.seconds.items())
        oof = "n/a" if self.oof_dice is None else f"{self.oof_dice:.4f}"
        lines = [
            f"demo ({self.competition}) in {self.run_dir}",
            f"  tiles: {self.tiles_kept} kept of {self.tiles_total} grid tiles",
            f"  end of the training curve: {curve or 'n/a'}",
            f"  OOF Dice of the ensemble (notebook 02): {oof}",
            (f"  hold-out {self.holdout.get('metric', 'score')} of submission.csv on "
             f"{self.holdout.get('n_images', 0)} hidden test images: {self.holdout.get('score', float('nan')):.4f}"
             + (f" ({groups})" if groups else "")),
            f"  wall time: {sum(self.seconds.values()):.0f} s ({timing})",
            (f"  executed notebooks, {len(self.plots)} plots (plots/), checkpoints, ensemble.json and submission.csv "
             f"are in {self.run_dir}"),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (per-image scores left out)."""
        holdout = {k: v for k, v in self.holdout.items() if k != "per_image"}
        return {"competition": self.competition, "run_dir": str(self.run_dir), "tiles_kept": self.tiles_kept,
                "tiles_total": self.tiles_total, "last_epoch": self.last_epoch, "oof_dice": self.oof_dice,
                "holdout": holdout, "seconds": self.seconds, "plots": [str(p) for p in self.plots]}


def export_plots(notebook: str | Path, out_dir: str | Path) -> list[Path]:
    """Write every PNG output of an executed notebook to ``out_dir/<notebook>_<n>.png``; returns the paths."""
    notebook = Path(notebook)
    out_dir = Path(out_dir)
    paths = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                out_dir.mkdir(parents=True, exist_ok=True)
                path = out_dir / f"{notebook.stem}_{len(paths) + 1}.png"
                path.write_bytes(base64.b64decode(data))
                paths.append(path)
    return paths


def _summarise(summary: DemoSummary, steps: list[DemoStep]) -> None:
    """Fill the summary from the files the notebooks wrote."""
    from kit.artifacts.run_folder import read_log
    from kit.artifacts.tiles import read_index
    from kit.infer.scoring import score_submission

    by_name = {s.notebook: s.parameters for s in steps}
    index = read_index(by_name["00_tiling"]["OUT_DIR"])
    summary.tiles_kept, summary.tiles_total = int(index["kept"].sum()), len(index)
    table = read_log(by_name["01_training"]["RUN_DIR"], missing_ok=True)
    if table is not None and len(table):
        last = table.iloc[-1].to_dict()
        summary.last_epoch = {k: int(last[k]) if k == "epoch" else float(last[k])
                              for k in ("epoch", "train_loss", "val_loss", "val_dice") if k in last}
    ensemble = json.loads(Path(by_name["02_ensembling"]["OUT"]).read_text())
    summary.oof_dice = ensemble.get("oof_score")
    inference = by_name["03_inference"]
    summary.holdout = score_submission(summary.competition, inference["SUBMISSION"], inference["DATA_DIR"])


def run_demo(
    competition: str = DEFAULT_COMPETITION, run_dir: str | Path | None = None, smoke: bool = False,
    fresh: bool = False, seed: int = 0, log: Callable[[str], None] = print,
) -> DemoSummary:
    """Write the sample, run notebooks 00 → 03 in ``run_dir`` (default ``runs/demo/<competition>``), score.

    ``fresh`` deletes ``run_dir`` first; otherwise the steps resume (finished tiling and training are kept).
    Executed notebooks go to ``run_dir/notebooks/``, their plots to ``run_dir/plots/``, the summary to
    ``run_dir/summary.json``.
    """
    from kit.fsutil import atomic_write_text
    from kit.notebooks import run_notebook
    from kit.sample import make_sample

    profile = get_profile(competition)
    run_dir = Path(run_dir or Path("runs") / "demo" / profile.slug).resolve()
    if fresh and run_dir.exists():
        shutil.rmtree(run_dir)
    steps = demo_steps(profile.slug, run_dir, smoke=smoke, seed=seed)
    summary = DemoSummary(profile.slug, run_dir)
    start = time.perf_counter()
    log(str(make_sample(profile.slug, run_dir / "data", seed=seed, **_sample_options(profile.slug, smoke))))
    summary.seconds["sample"] = time.perf_counter() - start
    for step in steps:
        log(f"running notebooks/{step.notebook}.ipynb ...")
        executed, seconds = run_notebook(step.notebook, run_dir / "notebooks", step.parameters, cwd=run_dir)
        summary.seconds[step.notebook] = seconds
        summary.plots += export_plots(executed, run_dir / "plots")
        log(f"  done in {seconds:.0f} s -> {executed}")
    _summarise(summary, steps)
    atomic_write_text(run_dir / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str))
    return summary
