"""Push wrappers around the kaggle CLI: versions reported, invalid sources and CLI errors fail."""

from __future__ import annotations

import pytest

from kit.kernels import build_kernel_folders, build_wheels_dataset, push_dataset, push_kernel
from kit.kernels.push import parse_kernel_push
from tests.kernels.test_build import _fake_notebooks


def test_push_reports_version_and_fails_on_invalid_sources(tmp_path):
    settings = _fake_notebooks(tmp_path)
    folder = build_kernel_folders("me", "bkai-igh-neopolyp", tmp_path / "b", settings_dir=settings,
                                  names=["03-inference"])[0]
    ok = "Kernel version 4 successfully pushed.  Please check progress at https://www.kaggle.com/code/me/x"
    calls = []
    assert push_kernel(folder, submission=True, run=lambda a: calls.append(a) or (0, ok)) == 4
    assert calls == [["kernels", "push", "-p", str(folder)]]
    warned = "The following are not valid dataset sources and could not be added to the kernel: ['me/x']\n" + ok
    with pytest.raises(RuntimeError, match="not valid dataset sources"):
        push_kernel(folder, run=lambda a: (0, warned))
    with pytest.raises(RuntimeError, match="did not report a version"):
        parse_kernel_push("something else")


def test_push_dataset_creates_then_versions_and_fails_on_cli_errors(tmp_path):
    folder = build_wheels_dataset(tmp_path / "wheels", "someuser", download=False)
    created = "Your private Dataset is being created. Please check progress at https://www.kaggle.com/x"
    calls = []
    assert push_dataset(folder, run=lambda a: calls.append(a) or (0, created)) == created
    assert calls == [["datasets", "create", "-p", str(folder), "-r", "zip", "-q"]]
    answers = iter([(0, "Dataset creation error: The requested title is already in use"),
                    (0, "Dataset version is being created. Please check progress at https://www.kaggle.com/x")])
    calls.clear()
    assert "version is being created" in push_dataset(folder, "v2", run=lambda a: calls.append(a) or next(answers))
    assert calls[1][:2] == ["datasets", "version"] and "v2" in calls[1]
    with pytest.raises(RuntimeError, match="create failed"):
        push_dataset(folder, run=lambda a: (0, "Dataset creation error: Invalid license"))
    answers = iter([(0, "title already in use"), (1, "401 Unauthorized")])
    with pytest.raises(RuntimeError, match="version failed"):
        push_dataset(folder, run=lambda a: next(answers))
