"""Rehearse the Kaggle chain here: build the kernels and datasets, then run 00 -> 01 -> 02 -> 03 the way Kaggle does.

Each kernel runs in a fresh working folder with only its declared sources mounted under a simulated
``/kaggle/input`` (``KIT_KAGGLE_INPUT``; new or legacy mount layout): the competition data, the wheels and models
datasets, and earlier kernels' outputs (their working folders). Kit and the packages the wheels dataset ships are
importable only after the bootstrap cell installed them from it (:mod:`kit.kernels.sandbox`), and the network is
cut. The submission kernel then runs a second time as Kaggle's scoring rerun: a hidden test set with one more
image, truncated, which must leave a valid submission with that image's rows empty and reported.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from kit.competitions import DEFAULT_COMPETITION, CompetitionProfile, get_profile
from kit.kernels.build import KernelFolder, build_kernels, submission_warnings
from kit.kernels.sandbox import make_offline_env, network_cut, pick_python, run_notebook_offline, wheel_top_levels
from kit.kernels.settings import KernelSettings, load_dataset_settings, load_kernel_settings
from kit.registry import Registry

__all__ = ["KernelRun", "Rehearsal", "LAYOUTS", "smoke_parameters", "hidden_test_set", "rehearse"]

LAYOUTS = Registry.of("layout", ("new", "legacy"), "layout {name!r} unknown{hint}; valid: {valid}", sort=False)
_PATH_PARAMETERS = ("DATA_DIR", "OUT_DIR", "RUN_DIR", "RUN_DIRS", "OUT", "ENSEMBLE", "SUBMISSION")
_BROKEN_BYTES = 256  # what is left of the hidden rerun's truncated image


@dataclass
class KernelRun:
    """One kernel run of the rehearsal: "ok", "failed", "skipped" or "reused", how long, what it wrote, why it
    failed, and what was mounted under its input root."""

    name: str
    status: str
    seconds: float = 0.0
    outputs: str = ""
    error: str = ""
    sources: list[str] = field(default_factory=list)


@dataclass
class Rehearsal:
    """The rehearsal's runs, the submissions checked and what it could not simulate."""

    competition: str
    root: Path
    runs: list[KernelRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    submission: Path | None = None

    @property
    def ok(self) -> bool:
        """Every kernel ran (or was reused from an earlier rehearsal) and every check passed."""
        return bool(self.runs) and all(r.status in ("ok", "reused") for r in self.runs)

    def table(self) -> str:
        """The per-kernel table (markdown)."""
        lines = ["| kernel | status | seconds | outputs |", "|---|---|---:|---|"]
        for run in self.runs:
            status = run.status if not run.error else f"{run.status}: {run.error}"
            lines.append(f"| {run.name} | {status} | {run.seconds:.0f} | {run.outputs} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        verdict = "PASSED" if self.ok else "FAILED"
        head = f"rehearsal of {self.competition} in {self.root}: {verdict}"
        tail = [f"validated submission: {self.submission}"] if self.submission else []
        return "\n".join([head, *[f"  {n}" for n in self.notes], self.table(), *tail])


def smoke_parameters(competition: str) -> dict[str, dict[str, Any]]:
    """Per notebook, the tiny settings the smoke demo uses (paths left to the Kaggle mounts), 1 training epoch."""
    from kit.demo import demo_steps

    values = {}
    for step in demo_steps(competition, "unused", smoke=True):
        keep = {k: v for k, v in step.parameters.items()
                if k not in _PATH_PARAMETERS and not (k == "TILES_DIR" and v is not None)}
        values[step.notebook] = keep
    values["01_training"]["EPOCHS"] = 1
    return values


def _link_tree(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    """``target`` mirrors ``source``: folders made, files hard-linked (cheap copies of big data that resolve inside
    ``target``, as checks of paths read from files want), symlinked across file systems."""
    for folder, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d not in skip]
        here = target / Path(folder).relative_to(source)
        here.mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                os.link(Path(folder) / name, here / name)
            except OSError:
                (here / name).symlink_to((Path(folder) / name).resolve())


def _replace_csv(table: pd.DataFrame, path: Path) -> None:
    path.unlink()
    table.to_csv(path, index=False)


def hidden_test_set(profile: CompetitionProfile, data: Path, out: Path) -> tuple[Path, str]:
    """A hidden test set for the scoring rerun: the competition folder mirrored (links, no test labels) plus one
    more test image, a truncated copy of the first one, in every table that lists test images. Returns
    (folder, id of the truncated image)."""
    from kit.paths import SCORING_DIR
    from kit.submit import row_ids, sample_image_ids

    _link_tree(data, out, skip=(SCORING_DIR,))
    sample = out / profile.sample_submission
    ids = (sample_image_ids(profile, sample) if sample.exists()
           else profile.read_table(data, "test")[profile.id_column].astype(str).tolist())
    first = ids[0]
    broken = f"{first}0" if first.isdigit() else f"broken{first}"
    target = profile.image_path(out, broken, "test")
    target.write_bytes(profile.image_path(data, first, "test").read_bytes()[:_BROKEN_BYTES])
    if sample.exists():
        table = pd.read_csv(sample, dtype=str, keep_default_na=False)
        extra = pd.DataFrame({profile.submission_columns[0]: row_ids(profile, broken),
                              profile.submission_columns[1]: ""})
        _replace_csv(pd.concat([table, extra], ignore_index=True), sample)
    if profile.test_csv is not None:
        table = pd.read_csv(out / profile.test_csv, dtype={profile.id_column: str})
        row = table[table[profile.id_column] == first].assign(**{profile.id_column: broken})
        _replace_csv(pd.concat([table, row], ignore_index=True), out / profile.test_csv)
    return out, broken


def _mount_points(settings: KernelSettings, layout: str, user: str, competition: str, dataset_slugs: dict[str, str],
                  kernel_slugs: dict[str, str]) -> dict[str, Path]:
    """Source key ("competition", "dataset:<name>", "kernel:<name>") -> path under the input root."""
    new = layout == "new"
    points: dict[str, Path] = {}
    if settings.competition:
        points["competition"] = Path("competitions", competition) if new else Path(competition)
    for name in settings.datasets:
        owner, slug = name.split("/") if "/" in name else (user, dataset_slugs[name])  # "owner/slug": anyone's
        points[f"dataset:{name}"] = Path("datasets", owner, slug) if new else Path(slug)
    for name in settings.kernels:
        slug = kernel_slugs[name]
        points[f"kernel:{name}"] = Path("notebooks", user, slug) if new else Path(slug)
    return points


def _error_line(stdout: str, stderr: str) -> str:
    """The exception a failed notebook run ended with, in one line."""
    lines = [line.strip() for line in (stderr + "\n" + stdout).splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "Exception" in line]
    return (errors or lines or ["no output"])[-1][:300]


def _outputs(working: Path) -> str:
    files = [p for p in working.rglob("*") if p.is_file()]
    tops = sorted({p.relative_to(working).parts[0] for p in files})
    return f"{len(files)} files: {', '.join(tops[:6])}{', ...' if len(tops) > 6 else ''}"


class _Runner:
    """Runs one kernel at a time in its own input root, working folder and fresh environment."""

    def __init__(self, root: Path, python: str, own_packages: bool, hidden: set[str], timeout: float,
                 log: Callable[[str], None]) -> None:
        self.root, self.python, self.own, self.hidden, self.timeout, self.log = (root, python, own_packages, hidden,
                                                                                  timeout, log)
        self.prefix, self.why = network_cut()

    def run(self, label: str, kernel: KernelFolder, mounts: dict[Path, Path], parameters: dict[str, Any],
            extra_env: dict[str, str] | None = None) -> tuple[KernelRun, Path]:
        slug = label.replace(" ", "-").replace("(", "").replace(")", "")
        inputs, working, sandbox = (self.root / d / slug for d in ("input", "working", "sandbox"))
        for folder in (inputs, working):
            folder.mkdir(parents=True)
        for point, target in mounts.items():  # real folders of linked files: searches walk them as Kaggle's
            _link_tree(target.resolve(), inputs / point)
        env_python = make_offline_env(sandbox, self.hidden, guard=self.prefix is None, python=self.python,
                                      own_packages=self.own)
        home = sandbox / "home"
        home.mkdir()
        env = {"PATH": f"{env_python.parent}:{os.environ.get('PATH', '')}", "HOME": str(home),
               "KIT_KAGGLE_INPUT": str(inputs), "KIT_KAGGLE_WORKING": str(working), "KAGGLE_KERNEL_RUN_TYPE": "Batch",
               "MPLBACKEND": "Agg", "PYTHONNOUSERSITE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
               **(extra_env or {})}
        self.log(f"running {label} ...")
        start = time.perf_counter()
        notebook = kernel.folder / kernel.code_file
        executed = self.root / "executed" / f"{slug}.ipynb"
        executed.parent.mkdir(exist_ok=True)
        try:
            code, stdout, stderr = run_notebook_offline(env_python, notebook, executed, parameters, working, env,
                                                        self.prefix, self.timeout)
        finally:  # a kernel's mounts end with it: paths into them that later kernels kept must fail, as on Kaggle
            shutil.rmtree(inputs)
        seconds = time.perf_counter() - start
        if code is None:
            result = KernelRun(label, "failed", seconds, _outputs(working), f"timed out after {self.timeout * 3:.0f} s")
        elif code != 0:
            result = KernelRun(label, "failed", seconds, _outputs(working), _error_line(stdout, stderr))
        elif "NETWORK: cut" not in stdout:
            result = KernelRun(label, "failed", seconds, _outputs(working), "the network was reachable")
        else:
            result = KernelRun(label, "ok", seconds, _outputs(working))
        result.sources = sorted(str(point) for point in mounts)
        self.log(f"  {result.status} in {seconds:.0f} s{': ' + result.error if result.error else ''}")
        return result, working


def _check_submission(run: KernelRun, profile: CompetitionProfile, working: Path, data: Path,
                      broken: str | None = None) -> None:
    """Validate ``working/submission.csv`` against ``data``; with ``broken``, that image's rows must be empty and
    reported as failed in predictions.csv while the others are predicted. A problem marks ``run`` failed."""
    from kit.submit import image_id_of, sample_from_test_images, validate_submission

    sample = data / profile.sample_submission
    try:
        submission = working / "submission.csv"
        validate_submission(submission, profile, sample if sample.exists() else sample_from_test_images(profile, data))
        if broken is not None:
            rows = pd.read_csv(submission, dtype=str, keep_default_na=False)
            kept = rows[rows.iloc[:, 0].map(lambda r: image_id_of(profile, r)) == broken].iloc[:, 1]
            if (kept != "").any():
                raise ValueError(f"the truncated image {broken} has non-empty rows")
            report = pd.read_csv(working / "predictions.csv", dtype={"image_id": str}, keep_default_na=False)
            status = report.set_index("image_id")["status"].to_dict()
            if status.get(broken) != "error" or not report.loc[report["image_id"] == broken, "error"].iloc[0]:
                raise ValueError(f"predictions.csv does not report the truncated image {broken} with its error")
            if any(s != "predicted" for i, s in status.items() if i != broken):
                raise ValueError(f"good hidden images were not predicted: {status}")
    except (ValueError, FileNotFoundError, KeyError, IndexError) as err:
        run.status, run.error = "failed", f"submission check: {err}"


def rehearse(
    competition: str = DEFAULT_COMPETITION,
    out: str | Path = "build/rehearsal",
    data: str | Path | None = None,
    wheels: str | Path | None = None,
    layout: str = "new",
    weights: str | Path | None = None,
    smoke: bool = True,
    python: str | None = None,
    settings_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    user: str = "rehearsal",
    timeout: float = 600,
    reuse: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> Rehearsal:
    """Build the kernels and datasets and run the chain as Kaggle would (see the module docstring).

    Args:
        competition: the competition; ``data`` its folder (None: a synthetic sample in its layout).
        out: the rehearsal folder (``<out>/<competition>`` is started afresh).
        wheels: a wheels dataset folder (``datasets build wheels``); None: the kit wheel plus the missing
            packages repacked from this environment (offline; binary ones cannot be, and are named).
        weights: a pretrained weights dataset folder (``datasets build weights``); None: an empty one (nothing is
            downloaded here: the smoke settings train from scratch, kernels as built need yours).
        layout: "new" (``competitions/``, ``datasets/<owner>/``, ``notebooks/<owner>/``) or "legacy" mounts.
        smoke: the notebooks' smoke settings (tiny model, 1 epoch); False runs the kernels as built.
        python: the interpreter of the kernels (default: see :func:`pick_python`).
        settings_dir, overrides: kernel settings folder and parameter overrides, as for ``kernels build``.
        timeout: seconds per notebook cell (the whole notebook gets three times that).
        reuse: an earlier rehearsal folder (``out`` of that run): its sample and the outputs of its kernels other
            than the submission kernel are taken as they are ("reused"); only the submission kernel runs again
            (e.g. to try other submission settings).
    """
    from kit.kernels.datasets import build_models_dataset, build_weights_dataset, build_wheels_dataset
    from kit.kernels.wheels import KAGGLE_MISSING_PACKAGES, repackable

    LAYOUTS.check(layout)
    profile = get_profile(competition)
    root = Path(out).resolve() / profile.slug
    earlier = Path(reuse).resolve() / profile.slug if reuse is not None else None
    if earlier is not None and (earlier == root or not (earlier / "working").is_dir()):
        raise ValueError(f"reuse: {earlier} must be another rehearsal folder of {profile.slug} (with working/)")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    report = Rehearsal(profile.slug, root)
    kernels = build_kernels(user, profile.slug, root / "kernels", settings_dir, overrides=overrides)
    for kernel in kernels:
        report.notes += [f"warning: {kernel.folder.name}: {w}" for w in
                         (submission_warnings(kernel.parameters) if kernel.submission else [])]
    if data is None and earlier is not None:
        data = earlier / "data"
    if data is None:
        from kit.demo import _sample_options
        from kit.sample import make_sample

        data = root / "data"
        make_sample(profile.slug, data, **_sample_options(profile.slug, smoke=True))
    data = Path(data).resolve()
    from kit.paths import SCORING_DIR

    public = root / "competition"
    _link_tree(data, public, skip=(SCORING_DIR,))  # Kaggle's test data has no labels
    hidden, broken = hidden_test_set(profile, data, root / "hidden")
    if wheels is None:
        ok, skipped = repackable(KAGGLE_MISSING_PACKAGES)
        if skipped:
            raise ValueError(f"cannot repack {sorted(skipped)} offline: pass --wheels (a folder from "
                             "`python -m kit datasets build wheels`)")
        wheels = build_wheels_dataset(root / "datasets" / "wheels", user, download=False, repack=ok)
    wheels = Path(wheels).resolve()
    python_path, own, python_note = pick_python(python)
    runner = _Runner(root, python_path, own, wheel_top_levels(wheels) | {"kit"}, timeout, log)
    report.notes += [python_note, f"mount layout: {layout}; mode: {'smoke' if smoke else 'as built'}",
                     "network: cut (unshare -n)" if runner.prefix else
                     f"network: NOT cut ({runner.why}); a socket guard refuses non-loopback connections"]
    settings = load_kernel_settings(settings_dir)
    dataset_slugs = {name: d.slug for name, d in load_dataset_settings(settings_dir).items()}
    kernel_slugs = {name: s.slug for name, s in settings.items()}
    smoke_values = smoke_parameters(profile.slug) if smoke else {}
    outputs: dict[str, Path] = {}
    if weights is None:
        report.notes.append("weights dataset: empty (nothing is downloaded here; --weights DIR mounts a built one)")
        weights = build_weights_dataset(root / "datasets" / "weights", user, ())
    datasets: dict[str, Path] = {"wheels": wheels, "weights": Path(weights).resolve()}
    for kernel in kernels:
        name = kernel.folder.name
        kernel_settings = settings[name]
        points = _mount_points(kernel_settings, layout, user, profile.slug, dataset_slugs, kernel_slugs)
        if "models" in kernel_settings.datasets and "models" not in datasets:
            found = sorted(p for w in outputs.values() for p in w.rglob("ensemble.json"))
            if found:
                datasets["models"] = build_models_dataset(root / "datasets" / "models", user, found[0])
        targets = {"competition": public, **{f"dataset:{k}": v for k, v in datasets.items()},
                   **{f"kernel:{k}": v for k, v in outputs.items()}}
        absent = [key for key in points if key not in targets]
        if absent:
            report.runs.append(KernelRun(name, "skipped", error=f"no {', '.join(absent)} to mount (an earlier "
                                                                "kernel failed or nothing builds it here)"))
            continue
        if earlier is not None and not kernel.submission and (earlier / "working" / name).is_dir():
            outputs[name] = earlier / "working" / name
            report.runs.append(KernelRun(name, "reused", outputs=_outputs(outputs[name]), error=str(outputs[name])))
            continue
        parameters = {**kernel.injected, **smoke_values.get(Path(kernel.code_file).stem, {})}
        mounts = {points[key]: targets[key] for key in points}
        result, working = runner.run(name, kernel, mounts, parameters)
        report.runs.append(result)
        if result.status != "ok":
            continue
        outputs[name] = working
        if kernel.submission:
            _check_submission(result, profile, working, data)
            if result.status == "ok":
                report.submission = working / "submission.csv"
            mounts = {points[key]: hidden if key == "competition" else targets[key] for key in points}
            rerun, working = runner.run(f"{name} (hidden rerun)", kernel, mounts, parameters,
                                        {"KAGGLE_IS_COMPETITION_RERUN": "True"})
            report.runs.append(rerun)
            if rerun.status == "ok":
                _check_submission(rerun, profile, working, hidden, broken)
    if report.submission is not None and (data / SCORING_DIR).is_dir():
        from kit.infer.scoring import score_submission

        score = score_submission(profile.slug, report.submission, data)
        report.notes.append(f"hold-out {score['metric']} of the public run: {score['score']:.4f} "
                            f"({score['n_images']} images)")
    return report
