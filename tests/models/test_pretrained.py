"""Pretrained encoders offline: a weights dataset under a simulated /kaggle/input starts training from exactly its
tensors, the checkpoint then predicts with no weights anywhere, a missing tag is one clear error, and the
``datasets build weights`` folder passes the kaggle CLI's own dataset validation. Nothing here downloads."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from kit.kernels import build_weights_dataset
from kit.models import build_model
from kit.fingerprint import file_hash
from kit.models.pretrained import MANIFEST_FILE, read_manifest, resolve_encoder_weights
from kit.train import TrainConfig, Trainer

ENCODER = "tu-test_resnet"  # timm's 2.3 M-parameter test network; its default pretrained tag is r160_in1k
TINY_DECODER = {"decoder_channels": [16, 8, 8, 8, 8]}


class Blobs(Dataset):
    """Tiny 3×64×64 images whose mask is where channel 0 is bright."""

    def __init__(self, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.images = rng.normal(size=(n, 3, 64, 64)).astype(np.float32)
        self.masks = (self.images[:, 0] > 0.3).astype(np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return torch.from_numpy(self.images[i]), torch.from_numpy(self.masks[i])


def _fake_pretrained_timm(folder: Path) -> dict[str, torch.Tensor]:
    """A "pretrained" bare timm test_resnet (classifier included) in the Hugging Face Hub cache layout."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(123)
    model = timm.create_model("test_resnet", pretrained=False)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # far from any fresh initialisation
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    snapshot = folder / "hub" / "models--timm--test_resnet.r160_in1k" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    return state


@pytest.fixture
def kaggle_input(tmp_path, monkeypatch):
    """A simulated /kaggle/input with no weights (KIT_WEIGHTS unset, downloads off)."""
    root = tmp_path / "kaggle-input"
    root.mkdir()
    monkeypatch.setenv("KIT_KAGGLE_INPUT", str(root))
    monkeypatch.delenv("KIT_WEIGHTS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return root


def test_training_starts_from_the_attached_weights_dataset_and_its_checkpoint_predicts_without_it(
        tmp_path, kaggle_input, capsys):
    state = _fake_pretrained_timm(tmp_path / "hf-cache")
    built = build_weights_dataset(tmp_path / "build" / "weights", "someuser", [ENCODER], from_dir=tmp_path / "hf-cache")
    mount = kaggle_input / "datasets" / "someuser" / "seg-kit-weights"
    shutil.copytree(built, mount)

    config = TrainConfig(out_dir=str(tmp_path / "runs" / "pre"), tiles_dir=str(tmp_path), arch="unet",
                         encoder=ENCODER, encoder_weights="imagenet", model_kwargs=TINY_DECODER, epochs=1,
                         batch_size=4, max_steps_per_epoch=1, channels_last=False, progress=False,
                         validation="tiles")
    trainer = Trainer(config, train_data=Blobs(8, 0), val_data=Blobs(4, 1))
    printed = capsys.readouterr().out
    assert f"encoder weights: {ENCODER} r160_in1k from weights folder {mount}" in printed
    encoder = trainer.model.encoder.state_dict()
    assert len(encoder) == 90
    for key, value in encoder.items():  # every encoder tensor is exactly the dataset's (classifier skipped)
        assert torch.equal(value, state[key.removeprefix("model.")]), key
    trainer.fit()

    shutil.rmtree(kaggle_input)  # no weights folder anywhere, downloads off: inference must not need them
    shutil.rmtree(built)
    from kit.infer.ensemble_config import EnsembleConfig, EnsembleModel
    from kit.infer.model_input import ModelInput
    from kit.models.checkpoint import load_checkpoint

    best = Path(config.out_dir) / "best.pt"
    ensemble = EnsembleConfig("hubmap-organ-segmentation", [EnsembleModel("pre", best.name, input=ModelInput(
        window=None, pad_multiple=32))])
    predictor = ensemble.build_predictor(root=best.parent, device="cpu")
    trained = load_checkpoint(best)["model"]
    rebuilt = predictor.members[0].model.state_dict()
    assert rebuilt.keys() == trained.keys() and all(torch.equal(rebuilt[k], trained[k]) for k in trained)
    assert not torch.equal(trained["encoder.model.conv1.0.weight"], state["conv1.0.weight"])  # it did train
    probs = predictor.predict_probs(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert probs.shape == (1, 64, 64) and probs.dtype == np.uint8


def test_a_tag_with_no_weights_folder_and_no_network_is_one_clear_error(tmp_path, kaggle_input, monkeypatch,
                                                                       capsys):
    empty = tmp_path / "my-weights"
    empty.mkdir()
    monkeypatch.setenv("KIT_WEIGHTS", str(empty))
    with pytest.raises(FileNotFoundError) as caught:
        build_model("unet", encoder_name="resnet18", encoder_weights="imagenet")
    message = str(caught.value)
    for part in ("encoder resnet18", "'imagenet'", str(empty), str(kaggle_input), "downloads are off",
                 "python -m kit datasets build weights --user ME --encoder resnet18", "--encoder-weights none"):
        assert part in message, part
    from kit.__main__ import main

    # `kit train` defaults to imagenet for resnet18: the same error as one line, exit 2, before any data is read
    assert main(["train", "--tiles", str(tmp_path), "--out", str(tmp_path / "run"), "--encoder", "resnet18"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no 'imagenet' weights for encoder resnet18" in err
    with pytest.raises(ValueError, match="resnet18 has no 'instagram' weights; its tags: imagenet, ssl, swsl"):
        build_model("unet", encoder_name="resnet18", encoder_weights="instagram")
    with pytest.raises(ValueError, match="no smp or tu- encoder"):
        build_model("pranet", encoder_weights="imagenet")


def test_weights_folder_first_then_the_library_download_only_when_allowed(tmp_path, kaggle_input, monkeypatch):
    import kit.models.pretrained as pretrained

    calls = []

    def fake_download(key):  # stands in for the library's download: the tests never reach the network
        calls.append(key)
        path = tmp_path / "fake-hub.safetensors"
        from safetensors.torch import save_file

        save_file(build_model("unet", encoder_name="resnet18").encoder.state_dict(), str(path))
        return path, "fake hub"

    monkeypatch.setattr(pretrained, "download_weights", fake_download)
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        resolve_encoder_weights("imagenet", "resnet18")
    assert not calls
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    resolved = resolve_encoder_weights("imagenet", "resnet18")
    assert calls and resolved.path == tmp_path / "fake-hub.safetensors" and "fake hub" in resolved.source
    def no_network(key):
        raise OSError("Name or service not known")

    monkeypatch.setattr(pretrained, "download_weights", no_network)
    with pytest.raises(FileNotFoundError, match="no 'imagenet' weights for encoder resnet18 .* download failed "
                                                 "\\(OSError: Name or service not known\\). Build the weights"):
        resolve_encoder_weights("imagenet", "resnet18")
    monkeypatch.setenv("KIT_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="downloads are off"):
        resolve_encoder_weights("imagenet", "resnet18")
    assert resolve_encoder_weights("none", "resnet18").path is None
    assert resolve_encoder_weights(None, None).source.startswith("none")


def test_manifest_files_are_checked_and_stay_inside_their_folder(tmp_path, kaggle_input, monkeypatch):
    _fake_pretrained_timm(tmp_path / "src")
    folder = build_weights_dataset(tmp_path / "w", "someuser", [f"{ENCODER}.r160_in1k"], from_dir=tmp_path / "src")
    (entry,) = read_manifest(folder)
    assert (entry.encoder, entry.tag, entry.file) == (ENCODER, "r160_in1k", "tu-test_resnet.r160_in1k.safetensors")
    assert entry.sha256 == file_hash(folder / entry.file) and "huggingface.co/timm/test_resnet" in entry.source
    legacy = kaggle_input / "seg-kit-weights"  # the legacy mount /kaggle/input/<slug>/
    shutil.copytree(folder, legacy)
    assert resolve_encoder_weights("r160_in1k", ENCODER).path == legacy / entry.file
    shutil.rmtree(legacy)
    monkeypatch.setenv("KIT_WEIGHTS", str(folder))
    assert resolve_encoder_weights("r160_in1k", ENCODER).path == folder / entry.file
    with open(folder / entry.file, "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ValueError, match="sha256 differs"):
        resolve_encoder_weights("imagenet", ENCODER)
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    manifest["weights"][0]["file"] = "../outside.safetensors"
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="weights\\[0\\] file '../outside.safetensors' must be a path relative"):
        resolve_encoder_weights("imagenet", ENCODER)
    with pytest.raises(FileNotFoundError, match="no weights for resnet18 imagenet; looked for resnet18.imagenet.pth"):
        build_weights_dataset(tmp_path / "w2", "someuser", ["resnet18"], from_dir=tmp_path / "src")
    import kit.models.pretrained as pretrained

    def no_network(key):
        raise OSError("Name or service not known")

    monkeypatch.setattr(pretrained, "download_weights", no_network)
    with pytest.raises(RuntimeError, match="downloading resnet18 imagenet failed .*or pass --from DIR"):
        build_weights_dataset(tmp_path / "w3", "someuser", ["resnet18"])


def test_the_uresnet34_paper_model_takes_the_resnet34_tag(tmp_path, kaggle_input, monkeypatch):
    from safetensors.torch import save_file

    torch.manual_seed(9)
    encoder = build_model("unet", encoder_name="resnet34").encoder.state_dict()
    src = tmp_path / "src"
    src.mkdir()
    save_file({k: v + 1 for k, v in encoder.items()}, str(src / "resnet34.imagenet.safetensors"))
    monkeypatch.setenv("KIT_WEIGHTS", str(build_weights_dataset(tmp_path / "w", "me", ["resnet34"], from_dir=src)))
    model = build_model("uresnet34_scse_fpa_hc", encoder_weights="imagenet")
    loaded = model.encoder.state_dict()
    assert all(torch.equal(loaded[k], encoder[k] + 1) for k in loaded if k in encoder) and loaded.keys() & encoder


@pytest.mark.parametrize("name", ["test_convnext", "test_efficientnet", "test_byobnet"])
def test_a_bare_timm_checkpoint_loads_into_the_tu_encoder_exactly(tmp_path, name):
    """timm's features wrapper renames flattened stages (``stages.0`` -> ``stages_0``) and cuts the layers after the
    last stage; a file saved from the bare timm model still loads, every encoder tensor equal to the file's."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(5)
    state = {k: v + 1 for k, v in timm.create_model(name).state_dict().items()}
    save_file(state, str(tmp_path / "bare.safetensors"))
    encoder = build_model("unet", encoder_name=f"tu-{name}", encoder_weights=tmp_path / "bare.safetensors").encoder
    renamed = {k: k.removeprefix("model.") for k in encoder.state_dict()}
    for key, value in encoder.state_dict().items():
        head, _, rest = renamed[key].partition("_")
        source = renamed[key] if renamed[key] in state else f"{head}.{rest}"
        assert torch.equal(value, state[source]), key


class _Client:
    """Stands in for kagglesdk's client (a context manager): ``api`` records requests instead of sending them."""

    def __init__(self, **api) -> None:
        self.__dict__.update(api)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_weights_dataset_from_dir_passes_the_kaggle_cli_dataset_validation(tmp_path, kaggle_input, monkeypatch,
                                                                           capsys):
    from kit.__main__ import main

    _fake_pretrained_timm(tmp_path / "src")
    out = tmp_path / "build"
    assert main(["datasets", "build", "weights", "--user", "someuser", "--out", str(out), "--encoder", ENCODER,
                 "--from", str(tmp_path / "src")]) == 0
    folder = out / "weights"
    assert sorted(p.name for p in folder.iterdir()) == ["dataset-metadata.json", MANIFEST_FILE,
                                                         "tu-test_resnet.r160_in1k.safetensors"]
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    from requests.exceptions import HTTPError
    from kaggle.api.kaggle_api_extended import KaggleApi

    api, sent, uploaded = KaggleApi(), [], []
    api.config_values = {api.CONFIG_NAME_USER: "someuser"}

    def not_found(ref, *args, **kwargs):
        raise HTTPError("404: no such dataset yet")

    monkeypatch.setattr(api, "dataset_status", not_found)
    monkeypatch.setattr(api, "_upload_blob", lambda path, *a, **k: uploaded.append(Path(path).name) or "token")
    response = types.SimpleNamespace(error="", status="ok", url="https://www.kaggle.com/datasets/x")
    datasets = types.SimpleNamespace(dataset_api_client=types.SimpleNamespace(
        create_dataset=lambda request: sent.append(request) or response))
    monkeypatch.setattr(api, "build_kaggle_client", lambda: _Client(datasets=datasets))
    result = api.dataset_create_new(str(folder), quiet=True)
    assert result.error is None
    (request,) = sent
    assert (request.owner_slug, request.slug, request.license_name) == ("someuser", "seg-kit-weights", "CC0-1.0")
    assert sorted(uploaded) == [MANIFEST_FILE, "tu-test_resnet.r160_in1k.safetensors"]
    assert len(request.files) == 2 and all(f.description for f in request.files)  # resources describe each file


def _settings(tmp_path: Path, training: dict, inference: dict | None = None) -> Path:
    """A kernels/ folder with the real datasets.json, tiny notebooks and the given training / inference settings."""
    import nbformat

    from kit.kernels.settings import repo_root

    folder = tmp_path / "kernels"
    folder.mkdir(parents=True)
    shutil.copy(repo_root() / "kernels" / "datasets.json", folder)
    for name, changes in (("01-training", training), ("03-inference", inference or {})):
        values = {**json.loads((repo_root() / "kernels" / f"{name}.json").read_text()), **changes}
        notebook = nbformat.v4.new_notebook()
        knobs = "".join(f"\n{k} = None" for k in values.get("parameters", {}))
        notebook.cells = [nbformat.v4.new_code_cell("COMPETITION = None" + knobs, metadata={"tags": ["parameters"]})]
        values["notebook"] = str(tmp_path / f"{name}.ipynb")
        values["kernels"] = []
        nbformat.write(notebook, values["notebook"])
        (folder / f"{name}.json").write_text(json.dumps(values))
    return folder


def test_training_kernel_attaches_any_weights_dataset_and_may_go_online_but_the_submission_kernel_may_not(
        tmp_path, monkeypatch):
    import nbformat

    from kit.kernels import bootstrap_source, build_kernel_folders, load_kernel_settings

    settings = _settings(tmp_path, {"internet": True, "datasets": ["wheels", "weights", "someone/imagenet-weights"]})
    folders = {f.name: f for f in build_kernel_folders("someuser", "bkai-igh-neopolyp", tmp_path / "b",
                                                       settings_dir=settings)}
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    from kaggle.api.kaggle_api_extended import KaggleApi

    api, sent = KaggleApi(), []
    response = types.SimpleNamespace(error="", invalidTags=[], invalidDatasetSources=[], invalidCompetitionSources=[],
                                     invalidKernelSources=[], versionNumber=1, url="https://www.kaggle.com/code/x")
    kernels = types.SimpleNamespace(kernels_api_client=types.SimpleNamespace(
        save_kernel=lambda request: sent.append(request) or response))
    monkeypatch.setattr(api, "build_kaggle_client", lambda: _Client(kernels=kernels))
    for folder in folders.values():
        api.kernels_push(str(folder))  # the kaggle CLI's own pre-push validation
    train, infer = sent
    assert train.dataset_data_sources == ["someuser/seg-kit-wheels", "someuser/seg-kit-weights",
                                          "someone/imagenet-weights"]
    assert train.enable_internet is True and infer.enable_internet is False
    assert sorted(infer.dataset_data_sources) == ["someuser/seg-kit-models", "someuser/seg-kit-wheels"]
    cells = {name: nbformat.read(f / f"{name}.ipynb", as_version=4).cells[0].source for name, f in folders.items()}
    assert cells["01-training"] == bootstrap_source(online=True) and 'HF_HUB_OFFLINE", "0"' in cells["01-training"]
    assert cells["03-inference"] == bootstrap_source() and 'HF_HUB_OFFLINE", "1"' in cells["03-inference"]

    refused = _settings(tmp_path / "second", {}, {"internet": True})
    with pytest.raises(ValueError, match="03-inference.json: the submission kernel must have internet false"):
        load_kernel_settings(refused)

