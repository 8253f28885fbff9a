"""D4 test-time augmentation: exact inverses on random tensors, the right permutations, equivariant models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kit.infer.tta import TTA_TRANSFORMS, get_tta, predict_with_tta, tta_names

# What each transform must do to the last two axes of an array (numpy reference, rows = H, columns = W).
NUMPY_REFERENCE = {
    "identity": lambda a: a,
    "hflip": lambda a: a[..., ::-1],
    "vflip": lambda a: a[..., ::-1, :],
    "rot90": lambda a: np.rot90(a, 1, axes=(-2, -1)),
    "rot180": lambda a: np.rot90(a, 2, axes=(-2, -1)),
    "rot270": lambda a: np.rot90(a, 3, axes=(-2, -1)),
    "transpose": lambda a: np.swapaxes(a, -1, -2),
    "antitranspose": lambda a: np.swapaxes(a, -1, -2)[..., ::-1, ::-1],
}


def random_tensor(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))


@pytest.mark.parametrize("name", tta_names())
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 5, 9)])
def test_inverse_restores_random_tensor(name, shape):
    transform = TTA_TRANSFORMS[name]
    x = random_tensor(*shape)
    assert torch.equal(transform.invert(transform.apply(x)), x)
    if shape[-1] == shape[-2]:
        assert torch.equal(transform.apply(transform.invert(x)), x)


@pytest.mark.parametrize("name", tta_names())
def test_apply_is_the_named_permutation(name):
    x = random_tensor(1, 2, 6, 7)
    expected = np.ascontiguousarray(NUMPY_REFERENCE[name](x.numpy()))
    assert np.array_equal(TTA_TRANSFORMS[name].apply(x).numpy(), expected)


def test_the_eight_transforms_are_distinct():
    x = random_tensor(1, 1, 6, 6)
    outputs = [TTA_TRANSFORMS[n].apply(x).flatten().tolist() for n in tta_names()]
    assert len(tta_names()) == 8 and len({tuple(o) for o in outputs}) == 8


@pytest.mark.parametrize("preset", ["d4", "flips", ["hflip", "rot90"]])
def test_equivariant_model_gives_the_plain_output(preset):
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 2, kernel_size=1)  # a 1×1 conv commutes with every D4 transform
    x = random_tensor(2, 3, 12, 12)
    with torch.no_grad():
        plain = torch.sigmoid(model(x))
        averaged = predict_with_tta(model, x, get_tta(preset), torch.sigmoid)
    assert torch.allclose(averaged, plain, atol=1e-6)


def test_tta_changes_a_non_equivariant_model():
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 1, kernel_size=3, padding=1)
    x = random_tensor(1, 3, 10, 10)
    with torch.no_grad():
        plain = torch.sigmoid(model(x))
        averaged = predict_with_tta(model, x, get_tta("d4"), torch.sigmoid)
    assert not torch.allclose(averaged, plain, atol=1e-4)


def test_get_tta_names_presets_and_errors():
    assert [t.name for t in get_tta(None)] == ["identity"]
    assert [t.name for t in get_tta("d4")] == tta_names()
    assert [t.name for t in get_tta(["hflip", "flips", "anti-transpose"])] == [
        "hflip", "identity", "vflip", "rot180", "antitranspose"
    ]
    with pytest.raises(KeyError, match="did you mean 'rot90'.*valid: identity"):
        get_tta(["rot91"])
