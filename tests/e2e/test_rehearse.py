"""The Kaggle rehearsal: each competition's sample runs 00 -> 03 as Kaggle would (fresh working folders, declared
mounts only, kit and smp installed from the wheels dataset by the bootstrap cell, network cut), then the hidden
rerun with a truncated test image; today's (before issue 14) kernel settings fail it.

Smoke sizes (tiny model, 1 epoch): about 3 minutes per competition on the 2-core dev box.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from kit.kernels.rehearse import hidden_test_set, rehearse, smoke_parameters
from kit.kernels.settings import repo_root
from kit.competitions import get_profile
from kit.sample import make_sample

pytestmark = pytest.mark.slow

HUBMAP21, HUBMAP22, NEOPOLYP = "hubmap-kidney-segmentation", "hubmap-organ-segmentation", "bkai-igh-neopolyp"
CHAIN = ["00-tiling", "01-training", "02-ensembling", "03-inference", "03-inference (hidden rerun)"]


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory):
    """One rehearsal per competition for the whole module: (its folder, its report)."""
    done = {}

    def run(competition: str, layout: str = "new"):
        if competition not in done:
            root = tmp_path_factory.mktemp("rehearsal")
            done[competition] = (root, rehearse(competition, root, layout=layout, timeout=300, log=lambda line: None))
        return done[competition]

    return run


@pytest.mark.parametrize("competition, layout", [(HUBMAP22, "new"), (HUBMAP21, "legacy"), (NEOPOLYP, "new")])
def test_rehearsal_passes_for_each_competition_sample(competition, layout, rehearsed):
    root, report = rehearsed(competition, layout)
    print(report)  # the per-kernel table, the interpreter and the network notes
    assert report.ok, str(report)
    assert [r.name for r in report.runs] == CHAIN and all(r.seconds > 0 for r in report.runs)
    assert report.submission == root / competition / "working" / "03-inference" / "submission.csv"
    notes = "\n".join(report.notes)
    assert "network: cut" in notes or "network: NOT cut" in notes
    assert "Python" in notes and f"mount layout: {layout}" in notes and "warning" not in notes
    hidden = pd.read_csv(root / competition / "working" / "03-inference-hidden-rerun" / "predictions.csv")
    assert (hidden["status"] == "error").sum() == 1 and (hidden["status"] == "predicted").sum() >= 1
    assert any(s.endswith("seg-kit-weights") for s in report.runs[1].sources)  # training mounts the weights dataset
    ensembling = report.runs[2]  # 02 sees 01's output only, never 00's tiles
    kernels = [s for s in ensembling.sources if "seg-kit-0" in s]
    assert kernels == [f"{'notebooks/rehearsal/' if layout == 'new' else ''}seg-kit-01-training"], ensembling.sources
    assert not (root / competition / "input" / "02-ensembling").exists()  # mounts end with their kernel


def test_rehearsal_fails_with_todays_kernel_settings(tmp_path, rehearsed):
    """The kernel settings as they were before issue 14: the submission kernel built without SKIP_ERRORS and a
    budget; the hidden rerun's truncated image then stops the notebook. (00-02 are reused from the passing
    NeoPolyp rehearsal: their settings did not change.)"""
    settings = tmp_path / "kernels"
    shutil.copytree(repo_root() / "kernels", settings, ignore=shutil.ignore_patterns("*.md", "*.txt"))
    infer = json.loads((settings / "03-inference.json").read_text())
    infer.pop("parameters")
    (settings / "03-inference.json").write_text(json.dumps(infer))
    report = rehearse(NEOPOLYP, tmp_path / "r", settings_dir=settings, timeout=300, reuse=rehearsed(NEOPOLYP)[0],
                      log=lambda line: None)
    print(report)
    assert not report.ok
    assert [r.status for r in report.runs] == ["reused"] * 3 + ["ok", "failed"]
    assert report.runs[-1].name == CHAIN[-1] and "is a truncated JPEG" in report.runs[-1].error
    assert "SKIP_ERRORS is not True" in str(report) and "BUDGET_MINUTES is None" in str(report)


def test_rehearsal_catches_a_run_folder_that_needs_another_kernels_mount(tmp_path, rehearsed):
    """Today's training output (no input contract in best.pt, no tiling.json/stats.json copies, config.json naming
    the tiles by 00's mount path) fails in 02, which mounts only 01's output, as on Kaggle."""
    from kit.models.checkpoint import load_checkpoint, save_checkpoint

    root, _ = rehearsed(HUBMAP22)
    earlier = tmp_path / "old"
    shutil.copytree(root, earlier, symlinks=True)
    working = earlier / HUBMAP22 / "working"
    shutil.rmtree(working / "02-ensembling")
    (run,) = {p.parent for p in (working / "01-training").rglob("best.pt")}
    for name in ("tiling.json", "stats.json"):
        (run / name).unlink()
    for name in ("best.pt", "last.pt"):
        state = load_checkpoint(run / name)
        state.pop("input_contract")
        save_checkpoint(run / name, state)
    report = rehearse(HUBMAP22, tmp_path / "r", timeout=300, reuse=earlier, log=lambda line: None)
    print(report)
    assert [(r.name, r.status) for r in report.runs[:3]] == [("00-tiling", "reused"), ("01-training", "reused"),
                                                            ("02-ensembling", "failed")]
    assert report.runs[2].error.startswith("FileNotFoundError: ") and "names tiles_dir" in report.runs[2].error
    assert report.runs[3].status == "skipped" and not report.ok


def test_hidden_test_set_adds_a_truncated_image_everywhere_test_images_are_listed(tmp_path):
    profile = get_profile(HUBMAP22)
    make_sample(HUBMAP22, tmp_path / "data", n=8, size=64)
    hidden, broken = hidden_test_set(profile, tmp_path / "data", tmp_path / "hidden")
    sample = pd.read_csv(hidden / "sample_submission.csv", dtype=str)
    test = pd.read_csv(hidden / "test.csv", dtype={"id": str})
    assert sample["id"].iloc[-1] == broken == test["id"].iloc[-1] and len(sample) == len(test)
    assert profile.image_path(hidden, broken, "test").stat().st_size == 256
    assert not (hidden / "_scoring").exists()  # Kaggle's test data has no labels
    assert (tmp_path / "data" / "sample_submission.csv").read_text().count("\n") == len(sample)  # source untouched
    assert smoke_parameters(NEOPOLYP)["01_training"]["TILES_DIR"] is None  # NeoPolyp trains on whole images
    assert smoke_parameters(HUBMAP22)["01_training"]["EPOCHS"] == 1
