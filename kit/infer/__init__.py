"""Inference: window grid, blending, band-wise merging, D4 TTA, the ensemble Predictor, post-processing, the
ensemble.json schema, the test-split runner that writes submission.csv, and the hold-out scorer.

It imports nothing of training, data generation or the ensemble search (:mod:`kit.ensemble`): the offline
submission kernel needs only this package, :mod:`kit.models` and the shared helpers."""

from kit.infer.blend import blend_names, make_weight_map
from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
from kit.infer.merge import BandMerger, BandUpsampler, RleSink, encode_probs, upsample
from kit.infer.model_input import ModelInput, model_input_for
from kit.infer.outcome import PredictionReport
from kit.infer.postprocess import apply_threshold, clean_mask, clean_probs, fill_holes, remove_small_components
from kit.infer.postprocess import resolve_threshold
from kit.infer.predictor import Member, Predictor
from kit.infer.runner import predict_submission
from kit.infer.scoring import score_submission
from kit.infer.tta import get_tta, tta_names
from kit.infer.windows import ArrayReader, Window, WindowGrid, read_window, window_grid

__all__ = [
    "ArrayReader",
    "BandMerger",
    "BandUpsampler",
    "EnsembleConfig",
    "EnsembleModel",
    "Member",
    "ModelInput",
    "PredictionReport",
    "Predictor",
    "RleSink",
    "Window",
    "WindowGrid",
    "apply_threshold",
    "blend_names",
    "clean_mask",
    "clean_probs",
    "encode_probs",
    "fill_holes",
    "get_tta",
    "make_weight_map",
    "model_input_for",
    "predict_submission",
    "read_window",
    "remove_small_components",
    "resolve_threshold",
    "score_submission",
    "tta_names",
    "upsample",
    "window_grid",
]
