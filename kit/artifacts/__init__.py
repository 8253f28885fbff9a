"""The on-disk artifacts that pass between the notebooks, one owner module each: every reader and writer goes
through it, so a missing value or a broken file means the same to every step.

* :mod:`kit.artifacts.tiles`: the tiles folder (``index.csv``, ``stats.json``, ``tiling.json``, tile PNGs);
* :mod:`kit.artifacts.run_folder`: a training run folder (``config.json``, ``log.csv``, checkpoints, tiles copies);
* :mod:`kit.artifacts.oof`: ``oof.npz``, the out-of-fold predictions of a run.

The checkpoint's owner is :mod:`kit.models.checkpoint` (one loader, ``weights_only=True``, one slimmer), ensemble.json's
is :mod:`kit.infer.ensemble_config`. Import the modules themselves: this package imports none of them, so the tiler
does not load the model zoo the run folder's checkpoints need.
"""
