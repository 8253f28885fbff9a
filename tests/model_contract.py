"""Shared checks for model-zoo tests: the models under test and their tiny settings, the output contract, save/load
roundtrip, and official-reference helpers.

Used by tests/models/. The official-reference recipe: build a state_dict of deterministic random tensors from
the official names/shapes (stored in tests/data/<name>_reference.json), load it, run a seeded input in eval mode and
compare summary numbers with the ones recorded from the official implementation run on the same checkpoint.
"""

from __future__ import annotations

import json
import math
import zlib
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn as nn

__all__ = [
    "DATA_DIR",
    "ZOO_I_CUSTOM",
    "ZOO_II",
    "tiny_kwargs",
    "extra_output_channels",
    "cpu_convolutions_for",
    "check_contract",
    "check_roundtrip",
    "check_encoder_weights_file",
    "load_reference",
    "random_official_state_dict",
    "seeded_input",
    "summarize_map",
    "assert_matches_summary",
]

DATA_DIR = Path(__file__).parent / "data"

#: the custom (non-smp) models of Model zoo I and Model zoo II; with smp's architectures they are every registered model
ZOO_I_CUSTOM = ("pranet", "uresnet34_scse_fpa_hc")
ZOO_II = ("sanet", "hardnet_mseg", "neounet", "blazeneo", "doubleunet", "focalunet")

#: small options where a model's size is free (the wrappers are under test, not smp's encoders and decoders or
#: FocalNet-T); the paper models with official checkpoints keep their official widths. The U-Nets run with scSE.
_UNET_DECODER = {"decoder_channels": (32, 32, 16, 16, 16)}  # scSE squeezes by 16
_TINY = {
    "unet": {**_UNET_DECODER, "decoder_attention_type": "scse"},
    "unetplusplus": {**_UNET_DECODER, "decoder_attention_type": "scse"},
    "manet": {**_UNET_DECODER, "decoder_pab_channels": 16},
    "fpn": {"decoder_pyramid_channels": 32, "decoder_segmentation_channels": 32},  # GroupNorm(32 groups)
    "pspnet": {"psp_out_channels": 32},
    "deeplabv3": {"decoder_channels": 32},
    "deeplabv3plus": {"decoder_channels": 32},
    "upernet": {"decoder_channels": 32},
    "segformer": {"decoder_segmentation_channels": 32},
    "dpt": {"encoder_name": "tu-vit_tiny_patch16_224", "decoder_intermediate_channels": (16, 32, 64, 64),
            "decoder_fusion_channels": 16},
    "focalunet": {"embed_dim": 16, "depths": (1, 1, 1, 1)},
}
_TINY_SMP = {"encoder_name": "resnet18"}
#: convolutions that PyTorch's native CPU kernels run far slower than oneDNN (FocalUNet's large depth-wise and
#: transposed convolutions); every other model-zoo test runs the native kernels, which skip oneDNN's per-shape
#: kernel creation (seconds each on 2 cores for the many one-off shapes of these tests)
_ONEDNN_MODELS = ("focalunet",)


def tiny_kwargs(name: str) -> dict:
    """Builder options for the small test version of model ``name``."""
    from kit.models.smp import SMP_ARCHITECTURES

    smp_encoder = _TINY_SMP if name in SMP_ARCHITECTURES else {}
    return {**smp_encoder, **_TINY.get(name, {})}


def extra_output_channels(name: str) -> tuple[int, ...]:
    """Extra channel counts that ``name``'s train-mode items after the first may have (see :func:`check_contract`)."""
    return (1,) if name == "blazeneo" else ()


@contextmanager
def cpu_convolutions_for(test_id: str):
    """Run a test with the CPU convolution backend that is fastest for its model (named in ``test_id``)."""
    previous = torch.backends.mkldnn.enabled  # set directly: mkldnn.flags() also touches TF32 and warns each time
    torch.backends.mkldnn.enabled = any(name in test_id for name in _ONEDNN_MODELS)
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def _first(output) -> torch.Tensor:
    return output[0] if isinstance(output, (list, tuple)) else output


def check_contract(model: nn.Module, num_classes: int, size: int, batch: int = 2, in_channels: int = 3,
                   deep_supervision: bool | None = None, extra_channels: tuple[int, ...] = ()) -> None:
    """eval -> one finite tensor N×C×H×W; train -> tensor or list whose first item is the eval map; backward works.

    ``deep_supervision``: when given, whether train() must return a list. ``extra_channels``: channel counts
    allowed, besides ``num_classes``, for the train items after the first (BlazeNeo's 1-channel auxiliary map).
    "First item is the eval map" is checked with every sub-module in eval mode (BatchNorm running statistics, no
    dropout) and only the top module in train mode, which is what selects the list output.
    """
    torch.manual_seed(0)
    x = torch.randn(batch, in_channels, size, size)
    expected = (batch, num_classes, size, size)
    model.eval()
    with torch.no_grad():
        out = model(x)
        assert isinstance(out, torch.Tensor), f"eval() returned {type(out).__name__}, expected one tensor"
        assert tuple(out.shape) == expected, f"eval() shape {tuple(out.shape)} != {expected}"
        assert torch.isfinite(out).all()
        model.training = True  # top module only
        frozen = model(x)
        model.training = False
        torch.testing.assert_close(_first(frozen), out, msg="train() first item is not the eval() map")

    model.train()
    out = model(x)
    if deep_supervision is not None:
        assert isinstance(out, list) == deep_supervision, f"train() returned {type(out).__name__}"
    outputs = out if isinstance(out, (list, tuple)) else [out]
    assert tuple(outputs[0].shape) == expected, f"train() first output shape {tuple(outputs[0].shape)} != {expected}"
    for item in outputs[1:]:
        n, c, h, w = item.shape
        assert (n, h, w) == (batch, size, size) and c in (num_classes, *extra_channels), (
            f"train() output shape {tuple(item.shape)}: "
            f"expected {batch}×{(num_classes, *extra_channels)}×{size}×{size}")
    sum(o.float().pow(2).mean() for o in outputs).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads, "backward produced no gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    model.zero_grad(set_to_none=True)


def check_roundtrip(model: nn.Module, rebuild, path: Path, size: int = 64) -> None:
    """state_dict -> file -> ``rebuild()`` -> load -> identical eval outputs."""
    model.eval()
    torch.save(model.state_dict(), path)
    other = rebuild()
    other.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    other.eval()
    x = torch.randn(2, 3, size, size)  # a batch of 2: GroupNorm refuses one value per channel (FPN at stride 32)
    with torch.no_grad():
        torch.testing.assert_close(_first(other(x)), _first(model(x)), rtol=0, atol=0)


def check_encoder_weights_file(build, encoder_of, path: Path, classifier: dict[str, list[int]]) -> None:
    """An encoder state_dict saved to ``path`` (.pth or .safetensors) with an ImageNet ``classifier`` added
    (name -> shape) loads through ``build(encoder_weights=path)``: every encoder tensor equals the file's."""
    state = {k: v.clone() for k, v in encoder_of(build()).state_dict().items()}
    for value in state.values():
        if value.is_floating_point():
            value.uniform_(-1, 1)  # differs from any fresh initialisation
    file_state = {**state, **{k: torch.zeros(shape) for k, shape in classifier.items()}}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(file_state, str(path))
    else:
        torch.save(file_state, path)
    loaded = encoder_of(build(encoder_weights=path)).state_dict()
    assert loaded.keys() == state.keys()
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key


# ----------------------------------------------------------------------------- official references


def load_reference(name: str) -> dict:
    """tests/data/<name>_reference.json: recipe + summary numbers recorded from the official implementation."""
    return json.loads((DATA_DIR / f"{name}_reference.json").read_text())


def random_official_state_dict(shapes: dict[str, list[int]], seed: int) -> dict[str, torch.Tensor]:
    """Deterministic random tensors for the given state_dict names/shapes (each key seeded by seed + crc32(key)).

    conv/linear weights ~ N(0, 1/fan_in); norm weights 1 + 0.1·N; biases 0.1·N; running_mean 0.1·N;
    running_var U[0.5, 1.5); num_batches_tracked 0.
    """
    state = {}
    for key, shape in shapes.items():
        leaf = key.rsplit(".", 1)[-1]
        gen = torch.Generator().manual_seed(seed + zlib.crc32(key.encode()))
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(0, dtype=torch.long)
        elif leaf == "running_var":
            state[key] = 0.5 + torch.rand(shape, generator=gen)
        elif leaf == "running_mean" or leaf == "bias":
            state[key] = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:
            state[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            state[key] = torch.randn(shape, generator=gen) / math.sqrt(math.prod(shape[1:]))
    return state


def seeded_input(shape: list[int], seed: int) -> torch.Tensor:
    """N(0, 1) input drawn from a generator seeded with ``seed``."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def summarize_map(t: torch.Tensor, points: list[list[int]]) -> dict:
    """Shape, mean, std, sum of |x| and the values at ``points`` (float64)."""
    t = t.detach().double()
    return {
        "shape": list(t.shape),
        "mean": t.mean().item(),
        "std": t.std().item(),
        "abs_sum": t.abs().sum().item(),
        "values": [t[tuple(p)].item() for p in points],
    }


def assert_matches_summary(t: torch.Tensor, expected: dict, points: list[list[int]], rtol: float = 1e-4) -> None:
    """``t`` has the recorded shape and summary numbers (relative tolerance; values near 0 against the map's std)."""
    got = summarize_map(t, points)
    assert got["shape"] == expected["shape"]
    scale = expected["std"]
    for field in ("mean", "std", "abs_sum"):
        assert math.isclose(got[field], expected[field], rel_tol=rtol, abs_tol=rtol * scale), (
            field, got[field], expected[field])
    for p, g, e in zip(points, got["values"], expected["values"]):
        assert math.isclose(g, e, rel_tol=rtol, abs_tol=rtol * scale), (p, g, e)
