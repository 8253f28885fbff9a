"""Losses: minima at perfect predictions, finite gradients, ignore_index, documented conventions, spec parsing."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from kit.losses import build_loss, list_losses, loss_parameters, parse_loss_spec
from kit.losses import functional as LF
from kit.losses.lovasz import lovasz_hinge
from kit.losses.spec import LossTerm

BINARY = list_losses("binary")
MULTICLASS = list_losses("multiclass")
NOT_ZERO_AT_OPTIMUM = {"active_contour"}  # pays the length of the true contour even when perfect
IGNORE = 255


def _binary_target(n: int = 2, size: int = 16) -> torch.Tensor:
    target = torch.zeros(n, size, size, dtype=torch.long)
    target[0, 3:9, 4:12] = 1
    target[1, 8:14, 2:7] = 1
    return target


def _multiclass_target(n: int = 2, size: int = 16) -> torch.Tensor:
    target = torch.zeros(n, size, size, dtype=torch.long)
    target[:, 2:8, 2:8] = 1
    target[:, 9:14, 5:15] = 2
    target[1, 0:3, 10:16] = 2
    return target


def _perfect_logits(target: torch.Tensor, num_classes: int, scale: float = 20.0) -> torch.Tensor:
    if num_classes == 1:
        return (2 * target.float() - 1).unsqueeze(1) * scale
    return (2 * F.one_hot(target, num_classes).permute(0, 3, 1, 2).float() - 1) * scale


def _case(mode: str) -> tuple[torch.Tensor, int]:
    return (_binary_target(), 1) if mode == "binary" else (_multiclass_target(), 3)


@pytest.mark.parametrize("mode,name", [("binary", n) for n in BINARY] + [("multiclass", n) for n in MULTICLASS])
def test_perfect_prediction_is_the_minimum(mode, name):
    target, classes = _case(mode)
    loss = build_loss(name, mode=mode)
    perfect = loss(_perfect_logits(target, classes), target)
    wrong = loss(-_perfect_logits(target, classes), target)
    random_logits = torch.randn(target.shape[0], classes, *target.shape[1:], generator=torch.Generator().manual_seed(0))
    noisy = loss(random_logits, target)
    assert float(perfect) < float(wrong)
    if name not in NOT_ZERO_AT_OPTIMUM:  # (a noisy map has shorter contours than a 16×16 multi-region target)
        assert float(perfect) < 1e-4
        assert float(perfect) < float(noisy) < float(wrong)


@pytest.mark.parametrize("mode,name", [("binary", n) for n in BINARY] + [("multiclass", n) for n in MULTICLASS])
@pytest.mark.parametrize("case", ["random", "empty", "all_ignored", "perfect"])
def test_gradients_are_finite(mode, name, case):
    target, classes = _case(mode)
    if case == "empty":
        target = torch.zeros_like(target)
    elif case == "all_ignored":
        target = torch.full_like(target, IGNORE)
    if case == "perfect":
        logits = _perfect_logits(target, classes)
    else:
        logits = torch.randn(target.shape[0], classes, *target.shape[1:], generator=torch.Generator().manual_seed(1))
    logits.requires_grad_(True)
    value = build_loss(name, mode=mode, ignore_index=IGNORE)(logits, target)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(logits.grad).all()
    if case == "all_ignored":
        assert value.item() == 0.0
        assert logits.grad.abs().max().item() == 0.0


@pytest.mark.parametrize("mode,name", [("binary", n) for n in BINARY] + [("multiclass", n) for n in MULTICLASS])
def test_ignored_pixels_do_not_change_the_loss(mode, name):
    target, classes = _case(mode)
    target = target.clone()
    target[:, 10:16, 0:6] = IGNORE
    ignored = (target == IGNORE).unsqueeze(1).expand(-1, classes, -1, -1)
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(target.shape[0], classes, *target.shape[1:], generator=gen)
    changed = logits.clone()
    changed[ignored] = 50 * torch.randn(int(ignored.sum()), generator=gen)
    loss = build_loss(name, mode=mode, ignore_index=IGNORE)
    assert torch.allclose(loss(logits, target), loss(changed, target), atol=1e-6)


def test_ignored_pixels_leave_the_mean_of_a_pixel_loss():
    target = _binary_target()
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    ignored_target = target.clone()
    ignored_target[:, :, :8] = IGNORE
    expected = F.binary_cross_entropy_with_logits(logits[..., 8:], target[:, None, :, 8:].float())
    assert torch.allclose(build_loss("bce", ignore_index=IGNORE)(logits, ignored_target), expected, atol=1e-6)


def test_dice_and_jaccard_on_hand_counts():
    probs = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    valid = torch.ones_like(target)
    # TP = 1, FP = 1, FN = 0
    assert LF.dice_loss(probs, target, valid, smooth=0).item() == pytest.approx(1 - 2 / 3)
    assert LF.jaccard_loss(probs, target, valid, smooth=0).item() == pytest.approx(1 - 1 / 2)


def test_tversky_alpha_weights_false_positives_and_beta_false_negatives():
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:6, 2:6] = 1  # 16 foreground pixels
    fp_only = target.clone()
    fp_only[..., 0, :4] = 1  # the true region + 4 false positives
    fn_only = target.clone()
    fn_only[..., 2, 2:6] = 0  # the true region minus 4 pixels: 4 false negatives
    valid = torch.ones_like(target)
    alpha, beta = 0.2, 0.8
    fp_loss = LF.tversky_loss(fp_only, target, valid, alpha, beta, smooth=0).item()
    fn_loss = LF.tversky_loss(fn_only, target, valid, alpha, beta, smooth=0).item()
    assert fp_loss == pytest.approx(1 - 16 / (16 + alpha * 4), rel=1e-5)
    assert fn_loss == pytest.approx(1 - 12 / (12 + beta * 4), rel=1e-5)
    assert fn_loss > fp_loss
    # the same through the module on logits: swapping alpha and beta swaps which error costs more
    logits_fp, logits_fn = (2 * fp_only - 1) * 30, (2 * fn_only - 1) * 30
    heavy_fn = build_loss("tversky(alpha=0.2, beta=0.8, smooth=0)")
    heavy_fp = build_loss("tversky(alpha=0.8, beta=0.2, smooth=0)")
    assert heavy_fn(logits_fn, target) > heavy_fn(logits_fp, target)
    assert heavy_fp(logits_fp, target) > heavy_fp(logits_fn, target)


def test_focal_with_gamma_zero_is_bce_and_focal_tversky_matches_formula():
    target = _binary_target()
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(build_loss("focal(gamma=0)")(logits, target), build_loss("bce")(logits, target))
    tversky = build_loss("tversky(alpha=0.3, beta=0.7)")(logits, target)
    focal_tversky = build_loss("focal_tversky(alpha=0.3, beta=0.7, gamma=2)")(logits, target)
    assert focal_tversky.item() == pytest.approx(tversky.item() ** 0.5, rel=1e-5)


def test_lovasz_hinge_on_a_hand_example():
    # errors 1 - x*(2g-1): [0.5, 1.0] -> sorted [1.0 (g=0), 0.5 (g=1)]; Jaccard gradient [0.5, 0.5]
    logits = torch.tensor([0.5, 0.0]).view(1, 1, 1, 2)
    target = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    loss = lovasz_hinge(logits, target, torch.ones_like(target))
    assert loss.item() == pytest.approx(1.0 * 0.5 + 0.5 * 0.5)


def test_active_contour_terms_and_weights():
    target = _binary_target().unsqueeze(1).float()
    probs = torch.full_like(target, 0.5)  # flat: the length term is sqrt(1e-8) everywhere
    valid = torch.ones_like(target)
    fg = target.mean().item()
    value = LF.active_contour_loss(probs, target, valid, lam=3.0, mu=2.0, length_weight=10.0).item()
    assert value == pytest.approx(10 * 1e-4 + 3.0 * (2.0 * 0.5 * (1 - fg) + 0.5 * fg), rel=1e-5)


def _plain_bce_iou(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean((2, 3))
    p = torch.sigmoid(logits)
    inter, union = (p * target).sum((2, 3)), (p + target).sum((2, 3))
    return (bce + 1 - (inter + 1) / (union - inter + 1)).mean()


def test_structure_loss_weights_the_bce_for_real():
    target = _binary_target().unsqueeze(1).float()
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(5))
    uniform = LF.structure_loss(logits, target, weight=torch.ones_like(target))
    assert torch.allclose(uniform, _plain_bce_iou(logits, target), atol=1e-6)
    weighted = LF.structure_loss(logits, target, kernel=5)
    assert abs(weighted.item() - uniform.item()) > 1e-3
    # the official code's quirk: BCE averaged before weighting, only the IoU weighted
    weight = LF.structure_weight(target, kernel=5)
    quirk = F.binary_cross_entropy_with_logits(logits, target) + (
        LF.structure_loss(logits, target, weight=weight) - _weighted_bce(logits, target, weight)
    )
    assert abs(weighted.item() - quirk.item()) > 1e-3


def _weighted_bce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return ((weight * bce).sum((2, 3)) / weight.sum((2, 3))).mean()


def test_structure_weight_is_one_inside_flat_regions_and_larger_at_edges():
    target = torch.zeros(1, 1, 40, 40)
    target[..., 10:30, 10:30] = 1
    weight = LF.structure_weight(target, kernel=5, edge_weight=5.0)
    assert weight[0, 0, 20, 20].item() == pytest.approx(1.0)  # deep inside: pooled == mask
    assert weight[0, 0, 3, 20].item() == pytest.approx(1.0)  # deep in the background
    assert weight[0, 0, 10, 20].item() == pytest.approx(1 + 5 * (1 - 15 / 25))  # top edge: 15 of 25 neighbours set


def test_spec_parsing_weights_kwargs_and_literals():
    terms = parse_loss_spec(" 0.4*ce + 0.6 * dice(smooth=0, per_image=True) + tversky(alpha=.3,beta=7e-1)")
    assert terms == [
        LossTerm(0.4, "ce", {}),
        LossTerm(0.6, "dice", {"smooth": 0, "per_image": True}),
        LossTerm(1.0, "tversky", {"alpha": 0.3, "beta": 0.7}),
    ]
    assert parse_loss_spec("focal(alpha=[1, 2.5, 3])")[0].kwargs == {"alpha": [1, 2.5, 3]}


def test_combined_loss_is_the_weighted_sum_of_its_terms():
    target = _multiclass_target()
    logits = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    combined = build_loss("0.4*ce+0.6*dice", mode="multiclass")(logits, target)
    parts = 0.4 * build_loss("ce", mode="multiclass")(logits, target) + 0.6 * build_loss("dice", mode="multiclass")(
        logits, target
    )
    assert torch.allclose(combined, parts)
    tversky = build_loss("tversky(alpha=0.2,beta=0.8)").loss.terms[0]
    assert (tversky.alpha, tversky.beta) == (0.2, 0.8)
    focal = build_loss("focal(alpha=[0.2, 1, 1])", mode="multiclass")
    assert torch.isfinite(focal(logits, target))


@pytest.mark.parametrize(
    "spec,mode,message",
    [
        ("dcie", "binary", "unknown loss 'dcie'.*valid names: active_contour, bce"),
        ("0.5*ce + foo(x=1)", "binary", "unknown loss 'foo'"),
        ("dice(alpah=0.3)", "binary", "no parameter alpah; valid: smooth, per_image"),
        ("dice(0.3)", "binary", "key=value"),
        ("dice(smooth=abs)", "binary", "must be a literal"),
        ("dice(smooth=1", "binary", "unbalanced"),
        ("dice +", "binary", "expected"),
        ("dice dice", "binary", "expected '\\+' or the end"),
        ("0*dice", "binary", "must be > 0"),
        ("", "binary", "non-empty"),
        ("structure", "multiclass", "supports mode binary only"),
        ("tversky(alpha=-1)", "binary", "alpha must be >= 0"),
        ("ce(pos_weight=2)", "multiclass", "binary' only"),
        ("dice", "ternary", "mode must be one of"),
    ],
)
def test_spec_errors_are_clear(spec, mode, message):
    with pytest.raises(ValueError, match=message):
        build_loss(spec, mode=mode)


def test_bad_targets_raise_clear_errors():
    with pytest.raises(ValueError, match=r"binary target values must lie in \[0, 1\]"):
        build_loss("bce")(torch.zeros(1, 1, 4, 4), torch.full((1, 4, 4), 255))
    with pytest.raises(ValueError, match="class ids in \\[5, 5\\] but logits have 3 channels"):
        build_loss("ce", mode="multiclass")(torch.zeros(1, 3, 4, 4), torch.full((1, 4, 4), 5))
    with pytest.raises(ValueError, match="does not fit logits"):
        build_loss("dice")(torch.zeros(1, 1, 4, 4), torch.zeros(1, 5, 5))


def test_deep_supervision_averages_outputs_of_different_sizes():
    target = _binary_target()
    gen = torch.Generator().manual_seed(7)
    full = torch.randn(2, 1, 16, 16, generator=gen)
    half = torch.randn(2, 1, 8, 8, generator=gen)
    single = build_loss("bce+dice")
    upsampled = F.interpolate(half, size=(16, 16), mode="bilinear", align_corners=False)
    expected = (single(full, target) + single(upsampled, target)) / 2
    assert torch.allclose(single([full, half], target), expected)
    weighted = build_loss("bce+dice", output_weights=[3, 1])
    assert torch.allclose(weighted([full, half], target), (3 * single(full, target) + single(upsampled, target)) / 4)
    with pytest.raises(ValueError, match="2 weights but the model returned 3 outputs"):
        weighted([full, half, half], target)


def test_foreground_output_gets_a_binary_loss_of_target_above_zero_with_ignored_pixels_kept():
    target = _multiclass_target().clone()
    target[:, 10:16, 0:6] = IGNORE
    gen = torch.Generator().manual_seed(5)
    classes, aux = torch.randn(2, 3, 16, 16, generator=gen), torch.randn(2, 1, 16, 16, generator=gen)
    loss = build_loss("ce+dice", mode="multiclass", ignore_index=IGNORE, output_kinds=["classes", "foreground"])
    foreground = torch.where(target == IGNORE, IGNORE, (target > 0).long())
    binary = build_loss("ce+dice", mode="binary", ignore_index=IGNORE)(aux, foreground)
    multiclass = build_loss("ce+dice", mode="multiclass", ignore_index=IGNORE)(classes, target)
    assert torch.allclose(loss([classes, aux], target), (multiclass + binary) / 2, atol=1e-6)
    changed = aux.clone()
    changed[(target == IGNORE).unsqueeze(1)] = 50.0
    assert torch.allclose(loss([classes, aux], target), loss([classes, changed], target), atol=1e-6)
    with pytest.raises(ValueError, match="2 output kinds but the model returned 3 outputs"):
        loss([classes, aux, aux], target)
    with pytest.raises(ValueError, match="unknown output kinds"):
        build_loss("ce", mode="multiclass", output_kinds=["classes", "edges"])
    binary_target = _binary_target()  # binary mode: the target already is the foreground
    both = build_loss("bce+dice", output_kinds=["classes", "foreground"])([aux, aux], binary_target)
    assert torch.allclose(both, build_loss("bce+dice")(aux, binary_target))


def test_list_losses_and_parameters():
    assert "structure" in list_losses("binary") and "structure" not in list_losses("multiclass")
    assert set(list_losses()) >= {"bce", "ce", "focal", "dice", "jaccard", "tversky", "focal_tversky", "lovasz"}
    assert loss_parameters("tversky") == {"alpha": 0.3, "beta": 0.7, "smooth": 1.0, "per_image": False}
    assert loss_parameters("active_contour") == {"lam": 1.0, "mu": 1.0, "length_weight": 1.0}


MULTILABEL = list_losses("multilabel")


@pytest.mark.parametrize("name", MULTILABEL)
def test_multilabel_is_the_binary_loss_of_every_foreground_channel(name):
    """Channel c of a multilabel output is trained against target == c + 1 exactly as a binary map would be
    (channel by channel for per-class losses; the pixel losses average the channels' pixels)."""
    target = _multiclass_target()
    target[0, 0, :] = IGNORE
    logits = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(5))
    multilabel = float(build_loss(name, mode="multilabel", ignore_index=IGNORE)(logits, target))
    binary = build_loss(name, mode="binary", ignore_index=IGNORE)
    per_channel = [float(binary(logits[:, c : c + 1], torch.where(target == IGNORE, IGNORE, (target == c + 1).long())))
                   for c in range(2)]
    if name != "lovasz":  # the hinge sorts every channel's pixels together: no per-channel split
        assert multilabel == pytest.approx(sum(per_channel) / 2, rel=1e-5)
    assert torch.isfinite(torch.tensor(multilabel))
    perfect = _perfect_logits(target.clamp(max=2), 3)[:, 1:]
    if name not in NOT_ZERO_AT_OPTIMUM:
        assert float(build_loss(name, mode="multilabel", ignore_index=IGNORE)(perfect, target)) < 1e-3


def test_multilabel_losses_and_their_errors():
    assert "structure" not in MULTILABEL and {"bce", "dice", "lovasz", "focal"} <= set(MULTILABEL)
    with pytest.raises(ValueError, match="multilabel target holds class ids in \\[0, 2\\] but logits have 1"):
        build_loss("bce", mode="multilabel")(torch.zeros(2, 1, 16, 16), _multiclass_target())
