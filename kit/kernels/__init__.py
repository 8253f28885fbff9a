"""Kaggle packaging: kernel folders, wheels, models and weights datasets, and push wrappers over the kaggle CLI."""

from kit.kernels.bootstrap import BOOTSTRAP_SOURCE, bootstrap_source, sync_notebooks, with_bootstrap
from kit.kernels.build import build_kernel_folder, build_kernel_folders, inject_parameters
from kit.kernels.datasets import build_models_dataset, build_weights_dataset, build_wheels_dataset
from kit.kernels.metadata import (
    dataset_metadata,
    kernel_metadata,
    slugify,
    validate_dataset_metadata,
    validate_kernel_metadata,
)
from kit.kernels.push import push_dataset, push_kernel
from kit.kernels.settings import load_dataset_settings, load_kernel_settings
from kit.kernels.wheels import KAGGLE_MISSING_PACKAGES, build_kit_wheel, repack_installed

__all__ = [
    "BOOTSTRAP_SOURCE",
    "KAGGLE_MISSING_PACKAGES",
    "bootstrap_source",
    "build_kernel_folder",
    "build_kernel_folders",
    "build_kit_wheel",
    "build_models_dataset",
    "build_weights_dataset",
    "build_wheels_dataset",
    "dataset_metadata",
    "inject_parameters",
    "kernel_metadata",
    "load_dataset_settings",
    "load_kernel_settings",
    "push_dataset",
    "push_kernel",
    "repack_installed",
    "slugify",
    "sync_notebooks",
    "validate_dataset_metadata",
    "validate_kernel_metadata",
    "with_bootstrap",
]
