"""Augmentation: presets keep shapes and class sets, colour transfer and stain jitter, multi-scale batches."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from kit.augment import (
    PRESETS,
    ColorTransfer,
    MultiScaleCollate,
    StainJitter,
    build_augmentation,
    lab_stats,
    reinhard_transfer,
    rgb_to_hed,
    stain_jitter,
)
from kit.augment.color import RGB_FROM_HED, hed_to_rgb

CLASSES = {0, 1, 2}


def _smooth_image(seed: int, base: tuple[int, int, int], spread: float, shape=(64, 64)) -> np.ndarray:
    """A textured colour image: ``base`` RGB plus blurred Gaussian noise of standard deviation ``spread``."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 1, (*shape, 3)).astype(np.float32), (0, 0), 4)
    return np.clip(np.asarray(base) + spread * noise / noise.std(), 0, 255).astype(np.uint8)


def _mask(shape=(64, 64)) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[10:30, 12:40] = 1
    mask[40:60, 30:50] = 2
    return mask


def _gray_ramp() -> np.ndarray:
    return np.repeat(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], 8, axis=0).repeat(3, axis=2)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("shape", [(64, 64), (48, 64)])
def test_presets_keep_shapes_and_class_values(preset, shape):
    image, mask = _smooth_image(0, (160, 100, 140), 30, shape), _mask(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecated albumentations arguments
        transform = build_augmentation(preset)
        for seed in range(6):
            transform.set_random_seed(seed)
            out = transform(image=image, mask=mask)
            assert out["image"].shape == image.shape and out["image"].dtype == np.uint8
            assert out["mask"].shape == mask.shape
            assert set(np.unique(out["mask"])) <= CLASSES


def test_heavy_preset_changes_pixels_and_size_resizes():
    image, mask = _smooth_image(0, (160, 100, 140), 30), _mask()
    transform = build_augmentation("heavy", size=(32, 48))
    transform.set_random_seed(0)
    out = transform(image=image, mask=mask)
    assert out["image"].shape == (32, 48, 3) and out["mask"].shape == (32, 48)
    assert set(np.unique(out["mask"])) <= CLASSES
    unchanged = build_augmentation("none")(image=image, mask=mask)
    assert np.array_equal(unchanged["image"], image) and np.array_equal(unchanged["mask"], mask)
    with pytest.raises(ValueError, match="unknown augmentation preset 'extreme'; valid: none, light"):
        build_augmentation("extreme")


def test_presets_are_deterministic_with_a_seed():
    image, mask = _smooth_image(0, (160, 100, 140), 30), _mask()
    extra = [ColorTransfer([lab_stats(_smooth_image(1, (90, 60, 40), 20))], p=0.5), StainJitter(p=0.5)]
    transform = build_augmentation("heavy", extra=extra)
    runs = []
    for seed in (3, 3, 4):
        transform.set_random_seed(seed)
        runs.append(transform(image=image, mask=mask))
    assert np.array_equal(runs[0]["image"], runs[1]["image"]) and np.array_equal(runs[0]["mask"], runs[1]["mask"])
    assert not np.array_equal(runs[0]["image"], runs[2]["image"])


@pytest.mark.parametrize(
    "source,reference",
    [
        (((170, 110, 150), 25), ((120, 90, 60), 20)),
        (((235, 235, 235), 15), ((30, 25, 20), 10)),  # bright image, dark reference
        (((30, 25, 20), 10), ((235, 235, 235), 15)),  # dark image, bright reference
    ],
)
def test_color_transfer_moves_lab_statistics_to_the_reference(source, reference):
    image = _smooth_image(2, *source)
    ref_mean, ref_std = lab_stats(_smooth_image(3, *reference))
    transform = ColorTransfer([(ref_mean, ref_std)], p=1.0)
    out = transform(image=image)["image"]
    assert out.dtype == np.uint8 and out.shape == image.shape
    mean, std = lab_stats(out)
    np.testing.assert_allclose(mean, ref_mean, atol=1.0)
    np.testing.assert_allclose(std, ref_std, atol=1.0)


@pytest.mark.parametrize("ref_mean", [(95.0, 0.0, 0.0), (8.0, 0.0, 0.0)])
def test_color_transfer_clips_instead_of_wrapping(ref_mean):
    ramp = _gray_ramp()  # monotonic brightness; a wrap-around would break the order
    out = reinhard_transfer(ramp, np.array(ref_mean), np.array([45.0, 5.0, 5.0])).astype(int)
    assert (np.diff(out, axis=1) >= 0).all()
    extreme = 255 if ref_mean[0] > 50 else 0
    assert (out[:, -1] == 255).all() if extreme == 255 else (out[:, 0] == 0).all()


def test_color_transfer_draws_from_its_pool_and_checks_it():
    image = _smooth_image(4, (150, 120, 130), 20)
    pool = [lab_stats(_smooth_image(5, (200, 80, 80), 15)), lab_stats(_smooth_image(6, (60, 140, 200), 15))]
    transform = ColorTransfer(pool, p=1.0)
    means = set()
    for seed in range(8):
        transform.set_random_seed(seed)
        means.add(round(float(lab_stats(transform(image=image)["image"])[0][1])))
    assert len(means) == 2  # both references were drawn
    with pytest.raises(ValueError, match="reference_pool must be a non-empty list"):
        ColorTransfer([], p=1.0)
    with pytest.raises(ValueError, match="negative or non-finite"):
        ColorTransfer([((50, 0, 0), (-1, 1, 1))])


def test_hed_matches_the_ruifrok_stain_vectors():
    assert np.abs(rgb_to_hed(np.full((1, 1, 3), 255, np.uint8))).max() < 1e-9  # white: no stain
    for stain in range(3):
        concentration = np.zeros(3)
        concentration[stain] = 0.05
        pixel = hed_to_rgb(concentration[None, None])  # a pure stain at a known concentration
        np.testing.assert_allclose(rgb_to_hed(pixel)[0, 0], concentration, atol=2e-3)
    assert RGB_FROM_HED.shape == (3, 3)


def test_stain_jitter_identity_range_and_determinism():
    image = np.random.default_rng(7).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.abs(stain_jitter(image, np.ones(3), np.zeros(3)).astype(int) - image).max() <= 1
    identity = StainJitter(sigma=0.0, bias=0.0, p=1.0)
    assert np.abs(identity(image=image)["image"].astype(int) - image).max() <= 1
    strong = StainJitter(sigma=0.5, bias=0.2, p=1.0)
    outputs = []
    for seed in (1, 1, 2):
        strong.set_random_seed(seed)
        outputs.append(strong(image=image)["image"])
    assert outputs[0].dtype == np.uint8 and outputs[0].shape == image.shape
    assert np.array_equal(outputs[0], outputs[1]) and not np.array_equal(outputs[0], outputs[2])
    assert np.abs(outputs[0].astype(int) - image).max() > 10
    with pytest.raises(ValueError, match="sigma must lie in"):
        StainJitter(sigma=1.5)


def _batch(n: int, seed: int, size: int = 32) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [
        (torch.rand(3, size, size, generator=gen), torch.randint(0, 3, (size, size), generator=gen)) for _ in range(n)
    ]


def test_multiscale_collate_sizes_values_and_determinism():
    sizes = [32, (48, 64), 64]
    collate = MultiScaleCollate(sizes, seed=0)
    seen = set()
    for seed in range(12):
        batch = _batch(3, seed)
        images, masks = collate(batch)
        size = tuple(images.shape[-2:])
        assert size in {(32, 32), (48, 64), (64, 64)} and tuple(masks.shape) == (3, *size)
        assert masks.dtype == torch.long and set(masks.unique().tolist()) <= CLASSES
        again = MultiScaleCollate(sizes, seed=0)(batch)[0]
        assert torch.equal(images, again)  # same batch, same seed: same size and pixels
        seen.add(size)
    assert len(seen) == 3


def test_multiscale_collate_in_a_dataloader_keeps_ignore_values():
    masks = torch.randint(0, 2, (4, 16, 16))
    masks[:, :4] = 255
    dataset = TensorDataset(torch.rand(4, 3, 16, 16), masks)
    loader = DataLoader(dataset, batch_size=2, collate_fn=MultiScaleCollate([32], seed=1))
    for images, batch_masks in loader:
        assert images.shape == (2, 3, 32, 32)
        assert set(batch_masks.unique().tolist()) <= {0, 1, 255}
        assert (batch_masks[:, :8] == 255).all()  # nearest: the top quarter stays ignored
    with pytest.raises(ValueError, match="at least one size"):
        MultiScaleCollate([])
