"""Ensembling (notebook 02, ``python -m kit ensemble``): weights and thresholds searched on the runs' out-of-fold
predictions, and ensemble.json with slim checkpoints built from run folders.

``search`` (the OOF weight and threshold search), ``pool`` (folds joined, seeds averaged, families aligned; the
blend scored per threshold and through the submission path), ``checks`` (what a run must satisfy) and ``build``
(run folders -> ensemble.json). The file's schema, :class:`kit.infer.ensemble_config.EnsembleConfig`, sits on the
inference side, which reads it without importing this package.
"""

from kit.ensemble.build import EnsembleBuild, build_ensemble, ensemble_config, family_of
from kit.ensemble.search import SearchResult, dice_by_threshold, load_oof, search_ensemble

__all__ = ["EnsembleBuild", "SearchResult", "build_ensemble", "dice_by_threshold", "ensemble_config", "family_of",
           "load_oof", "search_ensemble"]
