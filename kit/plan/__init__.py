"""The planner: fingerprint a training set, then choose scale, window, batch, epochs and folds for a GPU budget."""

from kit.plan.fingerprint import DataFingerprint, fingerprint
from kit.plan.planner import GPUS, Choice, GpuSpec, plan_recipe

__all__ = ["GPUS", "Choice", "DataFingerprint", "GpuSpec", "fingerprint", "plan_recipe"]
