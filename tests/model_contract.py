"""Shared checks for model-zoo tests: the output contract, save/load roundtrip, and official-reference helpers.

Used by test_models_zoo*.py. The official-reference recipe: build a state_dict of deterministic random tensors from
the official names/shapes (stored in tests/data/<name>_reference.json), load it, run a seeded input in eval mode and
compare summary numbers with the ones recorded from the official implementation run on the same checkpoint.
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import torch
import torch.nn as nn

__all__ = [
    "DATA_DIR",
    "check_contract",
    "check_roundtrip",
    "load_reference",
    "random_official_state_dict",
    "seeded_input",
    "summarize_map",
    "assert_matches_summary",
]

DATA_DIR = Path(__file__).parent / "data"


def _first(output) -> torch.Tensor:
    return output[0] if isinstance(output, (list, tuple)) else output


def check_contract(model: nn.Module, num_classes: int, size: int, batch: int = 2, in_channels: int = 3,
                   deep_supervision: bool | None = None) -> None:
    """eval -> one finite tensor N×C×H×W; train -> tensor or list (first item that shape); backward gives gradients.

    ``deep_supervision``: when given, whether train() must return a list.
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

    model.train()
    out = model(x)
    if deep_supervision is not None:
        assert isinstance(out, list) == deep_supervision, f"train() returned {type(out).__name__}"
    outputs = out if isinstance(out, (list, tuple)) else [out]
    for item in outputs:
        assert tuple(item.shape) == expected, f"train() output shape {tuple(item.shape)} != {expected}"
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
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(_first(other(x)), _first(model(x)), rtol=0, atol=0)


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
