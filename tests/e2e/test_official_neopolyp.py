"""Official NeoUNet and BlazeNeo checkpoints predict a valid NeoPolyp submission end to end.

Seeded weights in the official layout (names and shapes of tests/data/<name>_reference.json) are imported with
:func:`kit.models.official.import_official_checkpoint` (``build_model(name, official_checkpoint=...)`` + the
contracts of the model card), named in an ensemble.json and run by the offline runner on a synthetic NeoPolyp
sample. The runner reads the activation from the checkpoint alone; its labels must be what the raw model
output says: NeoUNet's two independent sigmoids (polyp where the larger passes 0.5, class = the larger),
BlazeNeo's softmax over (background, neoplastic, non-neoplastic).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from kit.competitions import get_profile
from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
from kit.infer.model_input import ModelInput
from kit.infer.runner import predict_submission
from kit.io import open_image
from kit.models.checkpoint import load_checkpoint
from kit.models.official import import_official_checkpoint
from kit.rle import decode
from kit.sample import make_sample
from kit.submit import validate_submission
from tests.infer_helpers import NEOPOLYP
from tests.model_contract import cpu_convolutions_for, load_reference, random_official_state_dict

PROFILE = get_profile(NEOPOLYP)
WORKING = (64, 64)  # (height, width) the frames are resized to: multiples of the models' divisor 32


@pytest.fixture(autouse=True)
def _cpu_convolutions(request):
    with cpu_convolutions_for(request.node.name):
        yield


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_sample(NEOPOLYP, tmp_path_factory.mktemp("neopolyp"), n=4, size=128).out_dir  # 1 test frame


def expected_labels(name: str, logits: torch.Tensor) -> np.ndarray:
    """Class ids (0 background, 1 neoplastic, 2 non-neoplastic) from the raw eval output, by the official rules,
    and the margin of each pixel's decision."""
    if name == "neounet":  # independent sigmoids, kit channel order (neoplastic, non-neoplastic)
        p = torch.sigmoid(logits[0])
        top, which = p.max(dim=0)
        labels = torch.where(top > 0.5, which + 1, 0)
        margin = torch.minimum((top - 0.5).abs(), (p[0] - p[1]).abs())
    else:  # softmax over (background, neoplastic, non-neoplastic)
        p = torch.softmax(logits[0], dim=0)
        ranked = p.sort(dim=0, descending=True).values
        labels, margin = p.argmax(dim=0), ranked[0] - ranked[1]
    return labels.numpy(), margin.numpy()


@pytest.mark.parametrize("name", ["neounet", "blazeneo"])
def test_official_checkpoint_predicts_a_valid_neopolyp_submission(sample, tmp_path, name):
    ref = load_reference(name)
    official = tmp_path / f"{name}_official.pth"
    torch.save(random_official_state_dict(ref["official_state_dict"], ref["seed"]), official)
    model = import_official_checkpoint(name, official, tmp_path / "models" / f"{name}.pt", PROFILE.classes, WORKING)
    state = load_checkpoint(tmp_path / "models" / f"{name}.pt")
    member = EnsembleModel(name, f"{name}.pt", input=ModelInput(window=None, size=WORKING))
    EnsembleConfig(NEOPOLYP, [member]).save(tmp_path / "models" / "ensemble.json")

    out = tmp_path / "submission.csv"
    report = predict_submission(NEOPOLYP, tmp_path / "models", sample, out, device="cpu", progress=False)
    validate_submission(out, NEOPOLYP, sample / "sample_submission.csv")
    rows = pd.read_csv(out, dtype=str, keep_default_na=False).set_index("Id")["Expected"]
    (image,) = sorted((sample / "test" / "test").glob("*.jpeg"))
    assert report.predicted == 1 and sorted(rows.index) == [f"{image.stem}_0", f"{image.stem}_1"]

    with open_image(image) as reader:
        height, width = reader.height, reader.width
        frame = reader.read(0, 0, height, width, out_size=WORKING)  # what the predictor feeds the model
    mean, std = (torch.tensor(state["input_contract"][k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    x = (torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255 - mean) / std
    with torch.no_grad():
        labels, margin = expected_labels(name, model(x))
    predicted = np.zeros((height, width), dtype=np.uint8)
    for k in (1, 2):  # row <id>_0 = class 1 (neoplastic), <id>_1 = class 2 (non-neoplastic)
        mask = decode(rows[f"{image.stem}_{k - 1}"], (height, width), PROFILE.rle_order)
        assert not (predicted.astype(bool) & mask.astype(bool)).any()  # one class per pixel
        predicted[mask == 1] = k
    # working pixels whose 3×3 neighbourhood shares a clear decision keep it at full resolution
    checked = 0
    for y in range(1, WORKING[0] - 1):
        for x_ in range(1, WORKING[1] - 1):
            block = labels[y - 1 : y + 2, x_ - 1 : x_ + 2]
            if (block == labels[y, x_]).all() and margin[y - 1 : y + 2, x_ - 1 : x_ + 2].min() > 0.02:
                full_y, full_x = int((y + 0.5) * height / WORKING[0]), int((x_ + 0.5) * width / WORKING[1])
                assert predicted[full_y, full_x] == labels[y, x_], (y, x_)
                checked += 1
    assert checked > WORKING[0] * WORKING[1] // 4
    assert {1, 2} <= set(np.unique(predicted)) and {1, 2} <= set(np.unique(labels))  # both classes predicted
