"""kernel-metadata.json: our validator rejects each broken field."""

from __future__ import annotations

import pytest

from kit.kernels import kernel_metadata, validate_kernel_metadata


@pytest.mark.parametrize(
    "change, message",
    [
        ({"id": "me/abc"}, "at least five characters"),
        ({"id": "me/Bad_Slug"}, "must be 'owner/slug'"),
        ({"title": "another title"}, "resolve to the slug"),
        ({"code_file": "missing.ipynb"}, "code_file 'missing.ipynb' not found"),
        ({"language": "julia"}, "language 'julia'"),
        ({"kernel_type": "app"}, "kernel_type 'app'"),
        ({"enable_internet": "maybe"}, "enable_internet must be set explicitly"),
        ({"dataset_sources": ["wheels"]}, "dataset_sources entry 'wheels'"),
        ({"machine_shape": None}, "machine_shape 'NvidiaTeslaT4'"),
        ({"enable_internet": True}, "needs a competition source and enable_internet false"),
    ],
)
def test_validator_rejects_each_broken_field(tmp_path, change, message):
    (tmp_path / "nb.ipynb").write_text("{}")
    meta = kernel_metadata("me", "seg-kit-03-inference", "nb.ipynb", gpu=True, internet=False,
                           competition="bkai-igh-neopolyp")
    meta.update(change)
    with pytest.raises(ValueError, match=message):
        validate_kernel_metadata(meta, tmp_path, submission=True)
