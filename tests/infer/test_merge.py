"""Split -> aggregate -> finalize: exact reconstruction, band-wise memory, full-resolution upsampling, Predictor."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from kit.infer.blend import make_weight_map
from kit.infer.merge import BandMerger, BandUpsampler, encode_probs, labels_from_probs, to_uint8, upsample
from kit.infer.model_input import ModelInput
from kit.infer.predictor import Member, Predictor
from kit.infer.windows import window_grid
from kit.rle import decode, encode

SHAPES = {"divisible": (64, 96), "non-divisible": (50, 71), "tiny": (10, 13)}


def split_merge(image: torch.Tensor, window: int, overlap: float, blend: str, axis: int, dtype=torch.float32):
    """Identity "model": cut windows, blend them back band by band, return the merged image."""
    channels, height, width = image.shape
    padded = torch.zeros(channels, height + window, width + window)  # windows may reach past the border
    padded[:, :height, :width] = image
    weights = torch.from_numpy(make_weight_map(blend, window))
    windows = sorted(window_grid((height, width), window, overlap), key=lambda w: (w.x, w.y) if axis else (w.y, w.x))
    merger = BandMerger((height, width), channels, axis=axis, dtype=dtype)
    bands, widest = [], 0
    for i, w in enumerate(windows):
        merger.aggregate(padded[:, w.y : w.y + window, w.x : w.x + window], w.y, w.x, weights)
        widest = max(widest, merger.open_lines)
        start_next = (windows[i + 1].x if axis else windows[i + 1].y) if i + 1 < len(windows) else None
        if start_next is None or start_next > merger.done:
            bands.append(merger.finalize_all() if start_next is None else merger.finalize(start_next))
    return torch.cat(bands, dim=-1 if axis else -2), widest


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("blend", ["constant", "gaussian", "pyramid"])
@pytest.mark.parametrize("axis", [0, 1])
def test_split_merge_reproduces_input(shape, blend, axis):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (2, *shape), dtype=np.uint8)
    image = torch.from_numpy(pixels).float() / 255
    merged, _ = split_merge(image, window=16, overlap=0.25, blend=blend, axis=axis)
    assert merged.shape == image.shape
    # float32 accumulation: exact up to float rounding of the weighted mean
    assert torch.allclose(merged, image, rtol=0, atol=1e-6)
    assert np.array_equal(to_uint8(merged), pixels)  # the uint8 output is bit-exact


def test_float16_accumulation_within_documented_tolerance():
    image = torch.rand(1, 50, 71, generator=torch.Generator().manual_seed(0))
    merged, _ = split_merge(image, 16, 0.5, "gaussian", axis=1, dtype=torch.float16)
    assert (merged - image).abs().max() <= 1 / 255


def test_merger_keeps_only_an_open_band():
    image = torch.rand(1, 32, 1000)
    merged, widest = split_merge(image, 16, 0.5, "pyramid", axis=1)
    assert torch.allclose(merged, image, atol=1e-6)
    assert widest <= 3 * 16  # never the whole 1000-column image


def test_merger_rejects_out_of_order_windows():
    merger = BandMerger((20, 40), 1, axis=1)
    merger.aggregate(torch.ones(1, 10, 10), 0, 20)
    merger.finalize(20)
    with pytest.raises(ValueError, match="already finalized up to 20"):
        merger.aggregate(torch.ones(1, 10, 10), 0, 15)
    with pytest.raises(ValueError, match="1×h×w"):
        merger.aggregate(torch.ones(2, 10, 10), 0, 25)


def test_upsample_matches_opencv_for_integer_scale():
    work = np.random.default_rng(2).random((1, 13, 17)).astype(np.float32)
    ours = upsample(work, (52, 68), 4.0)[0]
    theirs = cv2.resize(work[0], (68, 52), interpolation=cv2.INTER_LINEAR)
    assert np.allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("scale, full", [(4.0, (52, 68)), (3.0, (37, 50)), (2.5, (33, 41))])
def test_band_upsampler_equals_whole_upsample(axis, scale, full):
    work = np.random.default_rng(3).integers(0, 256, (2, 13, 17), dtype=np.uint8)
    whole = upsample(work, full, scale, axis=axis)
    upsampler = BandUpsampler(work.shape[1:], full, scale, axis=axis, block_pixels=90)
    blocks = []
    for start in range(0, work.shape[1 + axis], 3):
        band = work[:, :, start : start + 3] if axis else work[:, start : start + 3]
        blocks += list(upsampler.push(band))
    blocks += list(upsampler.finish())
    assert np.array_equal(np.concatenate(blocks, axis=-1 if axis else -2), whole)


def test_encode_probs_streams_the_thresholded_upsample():
    probs = np.random.default_rng(4).integers(0, 256, (1, 20, 30), dtype=np.uint8)
    full = (80, 119)
    expected = labels_from_probs(upsample(probs, full, 4.0), 0.4)
    assert encode_probs(probs, full, 4.0, threshold=0.4, order="F") == [encode(expected, "F")]


# --------------------------------------------------------------------------- Predictor end to end
def tiny_net(channels: int = 1, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, channels, 3, padding=1)
    )


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(5)
    base = cv2.resize(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8), (200, 150), interpolation=cv2.INTER_CUBIC)
    return base


@pytest.mark.parametrize("blend", ["gaussian", "pyramid", "constant"])
def test_sliding_window_equals_whole_image_in_the_interior(image, blend):
    net = tiny_net()
    whole = Predictor(Member(net, input=ModelInput(window=None, reduce=2)), device="cpu")
    sliding = Predictor(Member(net, input=ModelInput(window=32, overlap=0.25, margin=4, reduce=2, blend=blend)),
                        device="cpu", batch_size=3)
    p_whole, p_sliding = whole.predict_probs(image), sliding.predict_probs(image)
    assert p_whole.shape == p_sliding.shape == (1, 75, 100)
    interior = (slice(None), slice(4, -4), slice(4, -4))  # the border differs: padding vs context
    assert np.abs(p_whole[interior].astype(int) - p_sliding[interior]).max() <= 1


def test_streamed_rle_equals_encoded_full_mask(image):
    predictor = Predictor(Member(tiny_net(), input=ModelInput(window=24, overlap=0.5, reduce=2)), device="cpu")
    mask = predictor.predict_mask(image, threshold=0.5)
    assert mask.shape == image.shape[:2] and 0 < mask.mean() < 1
    assert predictor.predict_rle(image, threshold=0.5, order="F") == [encode(mask, "F")]


def test_multiclass_argmax_rows_in_c_order(image):
    predictor = Predictor(Member(tiny_net(channels=3), input=ModelInput(window=None)), device="cpu")
    labels = predictor.predict_mask(image)
    probs = predictor.predict_probs(image)
    assert probs.shape == (3, 150, 200) and np.all(np.abs(probs.astype(int).sum(0) - 255) <= 2)  # softmax
    rles = predictor.predict_rle(image, order="C")
    assert len(rles) == 2 and set(np.unique(labels)) <= {0, 1, 2}
    for k, rle in zip((1, 2), rles):
        assert np.array_equal(decode(rle, labels.shape, "C"), (labels == k).astype(np.uint8))


def test_ensemble_weights_scales_and_pixel_size(image):
    net_a, net_b = tiny_net(seed=1), tiny_net(seed=2)
    single = Predictor(Member(net_a, input=ModelInput(window=32)), device="cpu").predict_probs(image)
    twins = Predictor([Member(net_a, 0.3, ModelInput(window=32)), Member(net_a, 0.9, ModelInput(window=32))],
                      device="cpu").predict_probs(image)
    assert np.abs(twins.astype(int) - single).max() <= 1
    mixed = Predictor([Member(net_a, 1.0, ModelInput(window=32)), Member(net_b, 1.0, ModelInput(window=16, reduce=2))],
                      device="cpu")
    assert mixed.output_scale(150, 200) == 1.0
    assert mixed.predict_probs(image).shape == (1, 150, 200)
    by_pixel = Predictor(Member(net_a, input=ModelInput(window=32, pixel_size=1.0)), device="cpu")
    assert by_pixel.output_scale(150, 200, pixel_size=0.5) == 2.0
    with pytest.raises(ValueError, match="pixel_size"):
        by_pixel.predict_probs(image)


def test_tiny_image_and_file_input(tmp_path):
    rng = np.random.default_rng(6)
    tiny = rng.integers(0, 256, (9, 14, 3), dtype=np.uint8)
    predictor = Predictor(Member(tiny_net(), input=ModelInput(window=32, margin=2)), device="cpu", tta="d4")
    probs = predictor.predict_probs(tiny)
    assert probs.shape == (1, 9, 14)
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.cvtColor(tiny, cv2.COLOR_RGB2BGR))
    assert np.array_equal(predictor.predict_probs(path), probs)


def test_members_must_agree_on_channels(image):
    members = [Member(tiny_net(1), input=ModelInput(window=64)), Member(tiny_net(3), input=ModelInput(window=64))]
    with pytest.raises(ValueError, match="channels"):
        Predictor(members, device="cpu").predict_probs(image)
    with pytest.raises(ValueError, match="positive weight"):
        Predictor([Member(tiny_net(), weight=0.0)], device="cpu")


class RedLogits(torch.nn.Module):
    """An identity-like model: logit = 10 × the normalised red channel; records every input shape it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return 10 * x[:, :1]


def test_whole_image_member_sees_exactly_the_training_size_and_maps_back_to_the_image():
    image = np.zeros((150, 200, 3), np.uint8)
    image[30:90, 120:180] = 255  # a bright box on a non-square image
    model = RedLogits()
    predictor = Predictor(Member(model, input=ModelInput(window=None, size=(32, 64))), device="cpu", tta="flips")
    mask = predictor.predict_mask(image)
    assert {s[-2:] for s in model.shapes} == {(32, 64)}  # squashed to H×W like the training dataset, no padding
    assert mask.shape == (150, 200) and predictor.output_scale(150, 200) == 1.0
    truth = image[..., 0] > 0
    yy, xx = np.nonzero(mask != truth)  # only along the box edges (one model pixel: 150/32 rows, 200/64 cols)
    rows, cols = np.minimum(abs(yy - 30), abs(yy - 90)), np.minimum(abs(xx - 120), abs(xx - 180))
    near_edge = (rows <= 5) | (cols <= 4)
    assert near_edge.all() and mask[35:85, 125:175].all() and mask.sum() == pytest.approx(truth.sum(), rel=0.1)


def test_whole_image_size_accepts_an_int_as_a_square_and_rejects_bad_sizes():
    assert ModelInput(window=None, size=64).size == (64, 64)  # ensemble.json files that stored an int
    assert ModelInput(window=None, size=[48, 80]).size == (48, 80)
    for bad in (0, [48], [48, -1], 2.5):
        with pytest.raises(ValueError, match="size must be"):
            ModelInput(window=None, size=bad)
