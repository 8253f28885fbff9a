"""OOF ensemble search (weights, global and per-group thresholds), OOF loading."""

from __future__ import annotations


import numpy as np
import pytest

from kit.artifacts.oof import OofImage, write_oof
from kit.ensemble.search import dice_by_threshold, load_oof, search_ensemble
from kit.infer.postprocess import apply_threshold, resolve_threshold


def brute_dice(pred: np.ndarray, target: np.ndarray) -> float:
    total = pred.sum() + target.sum()
    return 1.0 if total == 0 else 2.0 * (pred & target).sum() / total


def test_dice_by_threshold_matches_brute_force():
    rng = np.random.default_rng(0)
    probs = rng.integers(0, 256, (5, 6, 7)).astype(np.float32) / 255
    targets = rng.random((5, 6, 7)) < 0.3
    targets[4] = False  # an empty target: empty vs empty scores 1
    table = dice_by_threshold(probs, targets)
    assert table.shape == (5, 255)
    for level in (0, 60, 128, 254):
        pred = probs > (level + 0.5) / 255
        for i in range(5):
            assert table[i, level] == pytest.approx(brute_dice(pred[i], targets[i]))
    assert table[4, 254] == 1.0


def constructed_case(n: int = 6, size: int = 8):
    """Two runs that separate foreground from background only when averaged with weights near 0.5/0.5.

    Foreground: both runs say 0.5. Half the background: run A says 0.9, run B 0. The other half: A 0, B 0.9.
    With weights (w, 1-w) the background reaches max(0.9w, 0.9(1-w)) < 0.5 only for 0.444 < w < 0.556.
    """
    targets = np.zeros((n, size, size), np.uint8)
    targets[:, 2:6, 2:6] = 1
    run_a = np.where(targets == 1, 0.5, 0.0).astype(np.float32)
    run_b = run_a.copy()
    run_a[:, :, :2][targets[:, :, :2] == 0] = 0.9
    run_b[:, :, 6:][targets[:, :, 6:] == 0] = 0.9
    return [run_a, run_b], targets


@pytest.mark.parametrize("method", ["grid", "coordinate"])
def test_search_finds_the_known_optimum(method):
    runs, targets = constructed_case()
    result = search_ensemble(runs, targets, step=0.1, method=method)
    assert result.weights == pytest.approx([0.5, 0.5])
    assert result.score == pytest.approx(1.0)
    # foreground sits at level 128, background at level 115: any threshold between separates them
    assert 115 / 255 < result.threshold < 128 / 255
    assert search_ensemble([runs[0]], targets).weights == [1.0]
    assert search_ensemble(runs, targets, step=0.1, method="grid").score > search_ensemble(
        [runs[0]], targets
    ).score


def test_three_runs_put_no_weight_on_noise():
    runs, targets = constructed_case()
    noise = np.random.default_rng(1).random(targets.shape).astype(np.float32)
    result = search_ensemble([runs[0], runs[1], noise], targets, step=0.1)  # 66-point grid
    assert result.weights == pytest.approx([0.5, 0.5, 0.0])
    assert result.score == pytest.approx(1.0)


def test_per_group_thresholds_are_found_and_applied():
    targets = np.zeros((4, 8, 8), np.uint8)
    targets[:, 2:6, 2:6] = 1
    organs = ["kidney", "kidney", "lung", "lung"]
    probs = np.empty(targets.shape, np.uint8)
    probs[:2] = np.where(targets[:2] == 1, 80, 20)  # kidney: separable between 20 and 80 (0.08..0.31)
    probs[2:] = np.where(targets[2:] == 1, 220, 150)  # lung: separable between 150 and 220 (0.59..0.86)
    result = search_ensemble([probs], targets, groups=organs)
    assert result.group_score == pytest.approx(1.0)
    assert result.score < 1.0  # one global threshold cannot separate both organs
    assert 20 / 255 < result.group_thresholds["kidney"] < 80 / 255
    assert 150 / 255 < result.group_thresholds["lung"] < 220 / 255
    table = {"default": result.threshold, **result.group_thresholds}
    for prob, target, organ in zip(probs, targets, organs):
        assert np.array_equal(apply_threshold(prob, resolve_threshold(table, organ=organ)), target)


def test_multiclass_weights():
    targets = np.zeros((3, 6, 6), np.int64)
    targets[:, :3] = 1
    targets[:, 3:, :3] = 2
    good = np.eye(3, dtype=np.float32)[targets].transpose(0, 3, 1, 2)  # one-hot: perfect
    bad = np.roll(good, 1, axis=1)  # every pixel gets the wrong class
    result = search_ensemble([good * 0.2 + 0.4, bad], targets, step=0.25)  # only weight 1 on "good" is right
    assert result.weights == pytest.approx([1.0, 0.0]) and result.threshold is None
    assert result.score == pytest.approx(1.0)


def test_search_rejects_mismatched_inputs():
    runs, targets = constructed_case()
    with pytest.raises(ValueError, match="run 1 has 3 images"):
        search_ensemble([runs[0], runs[1][:3]], targets)
    with pytest.raises(ValueError, match="run 1 image 0 has shape"):
        search_ensemble([runs[0], runs[1][:, :, :2]], targets)
    with pytest.raises(ValueError, match="groups has 2 keys"):
        search_ensemble(runs, targets, groups=["a", "b"])
    with pytest.raises(ValueError, match="method"):
        search_ensemble(runs, targets, method="random")


def test_load_oof_aligns_runs_on_ids(tmp_path):
    rng = np.random.default_rng(2)
    targets = rng.integers(0, 2, (4, 1, 5, 5)).astype(np.uint8) * 255
    probs = rng.integers(0, 256, (4, 1, 5, 5)).astype(np.uint8)
    ids, groups = ["a", "b", "c", "d"], ["k", "k", "l", "l"]
    write_oof(tmp_path / "r1.npz", [OofImage(i, p, t, g) for i, p, t, g in zip(ids, probs, targets, groups)])
    order = [3, 1, 0]  # a different order and image "c" missing
    write_oof(tmp_path / "r2.npz", [OofImage(ids[k], probs[k], targets[k]) for k in order])
    runs, got_targets, got_ids, got_groups = load_oof([tmp_path / "r1.npz", tmp_path / "r2.npz"])
    assert got_ids.tolist() == ["a", "b", "d"] and got_groups.tolist() == ["k", "k", "l"]
    assert np.array_equal(runs[0], runs[1]) and np.array_equal(got_targets, targets[[0, 1, 3]])
    write_oof(tmp_path / "r3.npz", [OofImage(i, p, 255 - t) for i, p, t in zip(ids, probs, targets)])
    with pytest.raises(ValueError, match="disagree on the targets"):
        load_oof([tmp_path / "r1.npz", tmp_path / "r3.npz"])
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_oof([tmp_path / "nope.npz"])
    np.savez(tmp_path / "old.npz", probs=probs, targets=targets[:, 0], ids=np.asarray(ids))
    with pytest.raises(ValueError, match="older kit"):
        load_oof([tmp_path / "old.npz"])


def test_search_on_whole_images_of_different_sizes_uses_area_shares():
    """Lists of whole images of any sizes; the shares of a coarse map score like the full-resolution masks."""
    full = [np.zeros((8, 8), np.uint8), np.zeros((4, 6), np.uint8)]
    full[0][:4, :6] = 1
    full[1][2:, :3] = 1
    probs = [np.where(m[None] == 1, 200, 10).astype(np.uint8) for m in full]
    result = search_ensemble([probs], [m[None] * 255 for m in full])
    assert result.score == pytest.approx(1.0) and 10 / 255 < result.threshold < 200 / 255
    coarse = np.zeros((1, 4, 4), np.uint8)  # image 0 at half resolution: a 2×3 block of whole working pixels
    coarse[0, :2, :3] = 200
    shares = np.zeros((1, 4, 4), np.uint8)
    shares[0, :2, :3] = 255
    assert search_ensemble([[coarse]], [shares]).score == pytest.approx(1.0)
    half = shares.copy()
    half[0, :2, 2] = 128  # the third column is half covered at full resolution: Dice 2·10 / (12 + 10)
    assert search_ensemble([[coarse]], [half]).score == pytest.approx(2 * (4 + 2 * 128 / 255) / (6 + 4 + 2 * 128 / 255))
