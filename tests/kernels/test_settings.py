"""Kernel settings: the committed ones describe one offline GPU submission kernel."""

from __future__ import annotations

from kit.kernels import load_kernel_settings, slugify
from kit.kernels.settings import repo_root


def test_real_settings_describe_an_offline_gpu_submission_kernel():
    settings = load_kernel_settings()
    infer = [s for s in settings.values() if s.submission]
    assert len(infer) == 1 and infer[0].internet is False and infer[0].gpu and infer[0].competition
    assert set(infer[0].datasets) == {"wheels", "models"}
    for s in settings.values():
        assert (repo_root() / s.notebook).suffix == ".ipynb"
        assert len(s.slug) >= 5 and slugify(s.slug) == s.slug
