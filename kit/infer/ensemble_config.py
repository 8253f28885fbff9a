"""ensemble.json: what notebook 03 (inference) needs from notebook 02 (ensembling), and the predictor it makes.

:class:`EnsembleConfig` stores the models (checkpoint, architecture, input settings), weights, thresholds, TTA and
post-processing; it is saved atomically and checked on load. This module owns the file: :mod:`kit.ensemble` writes
it through :meth:`EnsembleConfig.save`, inference reads it through :meth:`EnsembleConfig.load` (it lives here, on
the inference side, so that the offline submission kernel never imports the ensemble search).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.fsutil import atomic_write_text
from kit.infer.model_input import ModelInput
from kit.infer.predictor import Member, Predictor
from kit.infer.tta import get_tta
from kit.options import option
from kit.paths import path_inside

__all__ = ["EnsembleModel", "EnsembleConfig"]


@dataclass
class EnsembleModel:
    """One model of the ensemble: its checkpoint, how to build it, and how it sees an image.

    ``arch`` is the model spec of :func:`kit.models.spec.model_spec` (``name``, ``num_classes``, ``kwargs``);
    empty means "read ``model_spec`` from the checkpoint". ``checkpoint`` is relative to the folder of
    ensemble.json (or the ``root`` given to :meth:`EnsembleConfig.build_predictor`) and must stay inside it.
    """

    name: str
    checkpoint: str
    arch: dict[str, Any] = field(default_factory=dict)
    input: ModelInput = field(default_factory=ModelInput)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the input settings as a nested dict)."""
        return {"name": self.name, "checkpoint": self.checkpoint, "arch": self.arch,
                "input": dataclasses.asdict(self.input)}

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> "EnsembleModel":
        """Build from :meth:`to_dict` output; unknown or missing keys raise KeyError naming them."""
        _check_keys(values, {"name", "checkpoint"}, {"arch", "input"}, where)
        settings = dict(values.get("input", {}))
        _check_keys(settings, set(), {f.name for f in dataclasses.fields(ModelInput)}, f"{where}.input")
        try:
            model_input = ModelInput(**settings)
        except ValueError as err:
            raise ValueError(f"{where}.input: {err}") from None
        checkpoint = str(values["checkpoint"])
        if Path(checkpoint).is_absolute() or ".." in Path(checkpoint).parts:
            raise ValueError(f"{where}.checkpoint {checkpoint!r} must be relative to the folder of ensemble.json, "
                             f"without '..' (a models dataset is self-contained)")
        return cls(str(values["name"]), checkpoint, dict(values.get("arch", {})), model_input)


def _check_keys(values: dict[str, Any], required: set[str], optional: set[str], where: str) -> None:
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a JSON object, got {type(values).__name__}")
    missing, unknown = required - set(values), set(values) - required - optional
    if missing or unknown:
        raise KeyError(f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}; "
                       f"valid keys: {sorted(required | optional)}")


@dataclass
class EnsembleConfig:
    """Everything 03_inference needs from 02_ensembling, saved as ensemble.json.

    ``thresholds``: ``{"default": t}`` plus optional organ / data-source / "source/organ" keys
    (:func:`kit.infer.postprocess.resolve_threshold`). ``weights``: one per model (normalised at inference).
    """

    competition: str
    models: list[EnsembleModel]
    weights: list[float] | None = None
    thresholds: dict[str, float] = field(default_factory=lambda: {"default": 0.5})
    tta: list[str] = option(help="TTA transforms (a file without it: identity only)", factory=lambda: ["identity"])
    min_area: int = option(0, "drop predicted components below this many pixels")
    fill_holes: bool = option(False, "fill holes inside predicted components")
    out_reduce: float | None = None
    oof_score: float | None = None
    notes: str = ""
    oof_nonempty: float | None = None  # share of OOF images the ensemble predicted non-empty (None: unknown)
    oof_uncertainty: dict[str, Any] | None = None  # standard_error, groups, column: the OOF Dice's fold-group spread

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("an ensemble needs at least one model")
        self.weights = [1.0] * len(self.models) if self.weights is None else [float(w) for w in self.weights]
        if (len(self.weights) != len(self.models) or not all(math.isfinite(w) for w in self.weights)
                or min(self.weights) < 0 or sum(self.weights) <= 0):
            raise ValueError(f"weights {self.weights} must be {len(self.models)} finite non-negative numbers, "
                             f"not all 0")
        if not isinstance(self.thresholds, dict):
            self.thresholds = {"default": float(self.thresholds)}
        bad = {k: v for k, v in self.thresholds.items() if not 0 <= float(v) <= 1}
        if bad:
            raise ValueError(f"thresholds must be probabilities in [0, 1], got {bad}")
        self.tta = [t.name for t in get_tta(self.tta)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["models"] = [m.to_dict() for m in self.models]
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EnsembleConfig":
        """Build from :meth:`to_dict` output; unknown or missing keys raise KeyError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        _check_keys(values, {"competition", "models"}, names, "ensemble config")
        models = [EnsembleModel.from_dict(m, f"models[{i}]") for i, m in enumerate(values["models"])]
        return cls(**{**values, "models": models})

    def save(self, path: str | Path) -> None:
        """Write ensemble.json atomically."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> "EnsembleConfig":
        """Read ensemble.json; a missing file raises FileNotFoundError, broken content ValueError/KeyError."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"ensemble config {path} not found")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err})") from None
        try:
            return cls.from_dict(values)
        except (KeyError, ValueError) as err:
            raise type(err)(f"{path}: {err.args[0]}") from None

    def build_predictor(self, root: str | Path = ".", device: str | None = None, **kwargs: Any) -> Predictor:
        """Load every checkpoint and return a :class:`Predictor` with these weights, TTA and output scale."""
        from kit.models.checkpoint import load_checkpoint
        from kit.models.contract import read_output_mode
        from kit.models.spec import build_model_from_spec

        members = []
        for entry, weight in zip(self.models, self.weights):
            path = path_inside(root, entry.checkpoint, f"ensemble.json model {entry.name!r} checkpoint")
            state = load_checkpoint(path)
            spec = entry.arch or state.get("model_spec")
            if not spec:
                raise KeyError(f"model {entry.name!r}: no arch in ensemble.json and no model_spec in {path}")
            model = build_model_from_spec(spec)
            try:
                model.load_state_dict(state.get("model", state))
            except RuntimeError as err:
                raise ValueError(f"model {entry.name!r}: {path} does not fit {spec.get('name')!r} ({err})") from None
            members.append(Member(model, weight, entry.input, read_output_mode(state, str(path))))
        return Predictor(members, tta=self.tta, device=device, out_reduce=self.out_reduce, **kwargs)
