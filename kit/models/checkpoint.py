"""Checkpoint I/O: the ONE place a ``torch.load`` of a file happens, always with ``weights_only=True``.

A checkpoint is data, never code: a pickle that needs anything beyond tensors and plain containers (dict, list,
tuple, str, numbers) is refused with a message naming the file and the objects it asks for; there is no
fallback. Models datasets are shared publicly, so this also holds for files the user did not write.
Saving is atomic (temporary sibling, then rename) and every state kit saves is loadable this way, the random
generator states included (:func:`rng_state` stores NumPy's state as a tensor). :func:`slim_checkpoint` is the one
way a training checkpoint is cut down to what inference needs (ensemble folders and models datasets alike).
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kit.fsutil import atomic_path
from kit.models.contract import CONTRACT_KEY, OUTPUT_KEY

__all__ = ["INFERENCE_KEYS", "save_checkpoint", "load_checkpoint", "slim_state", "slim_checkpoint",
           "non_finite_tensors", "rng_state", "set_rng_state", "unwrap"]

#: what inference needs from a training checkpoint: weights, how to build the model (``model_spec``), its recipe and
#: how to feed it and read its output (the input and output contracts, :mod:`kit.models.contract`); optimiser, scaler,
#: RNG and history are dropped
INFERENCE_KEYS = ("model", "model_spec", "config", CONTRACT_KEY, OUTPUT_KEY)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside a DistributedDataParallel / DataParallel wrapper."""
    return getattr(model, "module", model)


def rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and CUDA generator states, in types :func:`load_checkpoint` accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"python": random.getstate(),
             "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generator states saved by :func:`rng_state`."""
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def non_finite_tensors(state: Any, prefix: str = "") -> list[str]:
    """Keys of the floating-point tensors in ``state`` (nested dicts/lists) holding NaN or inf."""
    if isinstance(state, torch.Tensor):
        return [prefix or "tensor"] if state.is_floating_point() and not bool(torch.isfinite(state).all()) else []
    items = state.items() if isinstance(state, dict) else enumerate(state) if isinstance(state, (list, tuple)) else ()
    return [k for key, value in items for k in non_finite_tensors(value, f"{prefix}.{key}" if prefix else str(key))]


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` to a temporary sibling, then rename (an interrupted write keeps the
    old file)."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def _refusal(path: Path, err: Exception) -> ValueError:
    """Why ``path`` was not loaded: the code objects it asks for, or that it is not a checkpoint at all."""
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - not a zip checkpoint: a truncated or foreign file
        needed = []
    if needed:
        return ValueError(
            f"checkpoint {path} refused: it needs {', '.join(needed[:5])}{' ...' if len(needed) > 5 else ''}, "
            f"which could run code; kit loads only tensors and plain containers (weights_only=True). "
            f"Re-save a trusted file as a state_dict or .safetensors"
        )
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ValueError(f"checkpoint {path} could not be read ({type(err).__name__}: {reason[:200]}): "
                      f"truncated, or not a torch.save file")


def load_checkpoint(path: str | Path) -> Any:
    """Read a file written by ``torch.save`` onto the CPU with ``weights_only=True``.

    Raises FileNotFoundError when ``path`` is missing and ValueError naming the file when it is unreadable or
    holds anything but tensors and plain containers (such a file is refused, never executed).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, TypeError, AttributeError,
            ImportError, KeyError, IndexError) as err:  # torch raises several types for foreign files
        raise _refusal(path, err) from None


def slim_state(state: Any, source: str | Path, contract: dict[str, Any] | None = None) -> dict[str, Any]:
    """The :data:`INFERENCE_KEYS` of the checkpoint ``state`` read from ``source``; ``contract`` replaces the stored
    input contract (run folders written before checkpoints held one). A state without ``model`` weights, or
    holding NaN/inf weights, raises ValueError naming ``source``."""
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{source} lacks 'model' (write it with the kit trainer)")
    bad = non_finite_tensors(state["model"])
    if bad:
        raise ValueError(f"{source} holds NaN/inf weights ({', '.join(bad[:3])}): retrain the run")
    slim = {key: state[key] for key in INFERENCE_KEYS if key in state}
    if contract is not None:
        slim[CONTRACT_KEY] = contract
    return slim


def slim_checkpoint(source: str | Path, target: str | Path, contract: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write :func:`slim_state` of checkpoint ``source`` to ``target`` (atomic) and return it."""
    slim = slim_state(load_checkpoint(source), source, contract)
    save_checkpoint(target, slim)
    return slim
