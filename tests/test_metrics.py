"""Metrics: hand-checked 2×2 cases, Kaggle's empty-vs-empty convention, global vs per image, classes, groups."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kit.metrics import SegmentationMeter, confusion_counts, dice_score, scores_from_counts, threshold

PRED = np.array([[1, 1], [0, 0]])
TARGET = np.array([[1, 0], [0, 0]])  # TP 1, FP 1, FN 0
EMPTY = np.zeros((2, 2), dtype=np.uint8)


def test_scores_of_a_hand_counted_pair():
    counts = confusion_counts(PRED, TARGET, num_classes=2)
    assert counts.tolist() == [[[2, 0, 1], [1, 1, 0]]]  # class 0: TP 2, FN 1; class 1: TP 1, FP 1
    scores = scores_from_counts(counts[0, 1])
    assert scores["dice"] == pytest.approx(2 / 3)
    assert scores["iou"] == pytest.approx(1 / 2)
    assert scores["precision"] == pytest.approx(1 / 2)
    assert scores["recall"] == pytest.approx(1.0)
    assert scores["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)


def test_empty_vs_empty_scores_one_and_empty_vs_full_scores_zero():
    both_empty = scores_from_counts(np.array([0, 0, 0]))
    assert {k: float(v) for k, v in both_empty.items()} == {"dice": 1, "iou": 1, "precision": 1, "recall": 1, "f1": 1}
    missed = scores_from_counts(np.array([0, 0, 3]))  # nothing predicted, 3 target pixels
    assert {k: float(v) for k, v in missed.items()} == {"dice": 0, "iou": 0, "precision": 0, "recall": 0, "f1": 0}
    assert dice_score(EMPTY, EMPTY) == 1.0
    assert dice_score(EMPTY, TARGET) == 0.0


def test_dice_score_is_the_mean_per_image_dice():
    assert dice_score(PRED, TARGET) == pytest.approx(2 / 3)
    stack_pred, stack_target = np.stack([PRED, EMPTY]), np.stack([TARGET, EMPTY])
    assert dice_score(stack_pred, stack_target) == pytest.approx((2 / 3 + 1) / 2)
    big = np.ones((3, 5), dtype=np.uint8)
    assert dice_score([PRED * 255, big], [TARGET, big]) == pytest.approx((2 / 3 + 1) / 2)  # non-zero = foreground
    assert dice_score(torch.tensor(PRED), torch.tensor(TARGET)) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="differs from target shape"):
        dice_score(PRED, big)
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        dice_score([PRED, PRED], [TARGET])


def test_meter_per_image_versus_global():
    meter = SegmentationMeter(num_classes=2)
    meter.update(np.stack([PRED, EMPTY]), np.stack([TARGET, EMPTY]))
    scores = meter.compute()
    assert scores["images"] == 2
    assert scores["dice"] == pytest.approx((2 / 3 + 1) / 2)  # per image, the empty pair scores 1
    assert scores["iou"] == pytest.approx((1 / 2 + 1) / 2)
    assert scores["dice_global"] == pytest.approx(2 / 3)  # summed counts: TP 1, FP 1, FN 0
    assert scores["precision_global"] == pytest.approx(1 / 2)
    assert scores["recall_global"] == pytest.approx(1.0)
    assert list(scores["per_class"]) == [1]


def test_meter_per_class_and_per_group():
    pred = np.array([[[1, 2], [2, 0]], [[0, 0], [1, 1]]])
    target = np.array([[[1, 2], [0, 0]], [[0, 0], [1, 0]]])
    meter = SegmentationMeter(num_classes=3, class_names=["bg", "neo", "non"])
    meter.update(pred[:1], target[:1], group="kidney")
    meter.update(torch.tensor(pred[1:]), torch.tensor(target[1:]), group=["lung"])
    scores = meter.compute()
    # image 0: class 1 perfect (1), class 2 TP1 FP1 (2/3); image 1: class 1 TP1 FP1 (2/3), class 2 empty-empty (1)
    assert scores["per_class"]["neo"]["dice"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["per_class"]["non"]["dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["per_class"]["neo"]["dice_global"] == pytest.approx(2 * 2 / (2 * 2 + 1))
    assert "bg" not in scores["per_class"]
    assert scores["dice"] == pytest.approx(((1 + 2 / 3) / 2 + (2 / 3 + 1) / 2) / 2)
    assert scores["per_group"]["kidney"]["dice"] == pytest.approx((1 + 2 / 3) / 2)
    assert scores["per_group"]["lung"]["images"] == 1
    with_background = SegmentationMeter(num_classes=3, include_background=True)
    with_background.update(pred, target)
    assert set(with_background.compute()["per_class"]) == {0, 1, 2}


def test_meter_ignores_pixels_and_reads_num_classes_one_as_binary():
    target = np.array([[1, 255], [0, 255]])
    pred = np.array([[1, 1], [0, 1]])
    meter = SegmentationMeter(num_classes=1, ignore_index=255)
    meter.update(pred, target)
    assert meter.compute()["dice"] == 1.0
    meter.reset()
    with pytest.raises(ValueError, match="call update"):
        meter.compute()


def test_meter_rejects_bad_input():
    meter = SegmentationMeter(num_classes=2)
    with pytest.raises(ValueError, match=r"target holds class ids in \[0, 255\]; expected \[0, 1\]"):
        meter.update(PRED, np.array([[0, 255], [0, 0]]))
    with pytest.raises(ValueError, match="3 group keys for 1 images"):
        meter.update(PRED, TARGET, group=["a", "b", "c"])
    with pytest.raises(ValueError, match="differs from target shape"):
        meter.update(PRED, np.zeros((3, 3), int))


def test_confusion_counts_match_a_brute_force_count():
    rng = np.random.default_rng(0)
    pred, target = rng.integers(0, 4, (3, 9, 7)), rng.integers(0, 4, (3, 9, 7))
    counts = confusion_counts(pred, target, num_classes=4)
    for i in range(3):
        for c in range(4):
            p, t = pred[i] == c, target[i] == c
            assert counts[i, c].tolist() == [int((p & t).sum()), int((p & ~t).sum()), int((~p & t).sum())]


def test_threshold_floats_and_uint8_probabilities():
    probs = np.array([[0.2, 0.5], [0.51, 1.0]])
    assert threshold(probs).tolist() == [[0, 0], [1, 1]]
    assert threshold(np.array([127, 128], dtype=np.uint8)).tolist() == [0, 1]  # 0.5 * 255 = 127.5
    assert threshold(torch.tensor([0.3, 0.9]), value=0.25).dtype == np.uint8
    with pytest.raises(ValueError, match=r"threshold must lie in \[0, 1\]"):
        threshold(probs, 2.0)
