"""Inference: window grid, blending, band-wise merging, D4 TTA, the ensemble Predictor, post-processing, OOF search."""

from kit.infer.blend import blend_names, make_weight_map
from kit.infer.ensemble import EnsembleConfig, EnsembleModel, SearchResult, load_oof, search_ensemble
from kit.infer.merge import BandMerger, BandUpsampler, RleSink, encode_probs, upsample
from kit.infer.postprocess import apply_threshold, clean_mask, fill_holes, remove_small_components, resolve_threshold
from kit.infer.predictor import Member, ModelInput, Predictor
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
    "Predictor",
    "RleSink",
    "SearchResult",
    "Window",
    "WindowGrid",
    "apply_threshold",
    "blend_names",
    "clean_mask",
    "encode_probs",
    "fill_holes",
    "get_tta",
    "load_oof",
    "make_weight_map",
    "read_window",
    "remove_small_components",
    "resolve_threshold",
    "search_ensemble",
    "tta_names",
    "upsample",
    "window_grid",
]
