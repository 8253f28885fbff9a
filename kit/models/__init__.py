"""Model zoo: ``build_model(name, ...)`` for every registered architecture, ``list_models()``, ``model_info(name)``.

Contract: in ``eval()`` a model returns ONE logits tensor N×C×H×W at input size; in ``train()`` a deep-supervised
model returns a list whose first item is that same map. ``encoder_weights`` is a file, None, or a pretrained tag
(``"imagenet"`` ...) resolved by :mod:`kit.models.pretrained` (a weights folder first, the library's download only
when allowed); ``official_checkpoint=PATH`` loads the authors' published weights of the paper models.
"""

from __future__ import annotations

import os

import torch.nn as nn

# Architecture modules: importing one registers its models. Keep this one block.
from kit.models import smp, uresnet_hc, pranet  # noqa: F401  (registration side effect)
from kit.models import sanet, hardnet_mseg, neounet, blazeneo, doubleunet, focalunet  # noqa: F401  (zoo II)

from kit.models.info import ModelInfo, get_builder, model_info, registered_names
from kit.models.official import load_official_checkpoint, official_layout, official_names
from kit.models.pretrained import resolve_encoder_weights
from kit.models.smp import SMP_ARCHITECTURES, default_encoder

__all__ = ["build_model", "list_models", "model_encoder", "model_info", "ModelInfo", "official_names"]


def list_models() -> list[str]:
    """Names accepted by :func:`build_model`, sorted."""
    return registered_names()


#: paper models whose backbone has an smp encoder's layout, so its pretrained tags apply
_SMP_LAYOUT_BACKBONES = {"uresnet34_scse_fpa_hc": "resnet34"}


def model_encoder(name: str, kwargs: dict) -> str | None:
    """The smp / ``tu-`` encoder model ``name`` gets with ``kwargs`` (None: no such encoder, so pretrained tags do
    not apply and its backbone weights come from a file)."""
    if name not in SMP_ARCHITECTURES:
        return _SMP_LAYOUT_BACKBONES.get(name)
    return kwargs.get("encoder_name") or default_encoder(name)


def build_model(name: str, num_classes: int = 1, in_channels: int = 3,
                encoder_weights: str | os.PathLike | None = None, **kwargs) -> nn.Module:
    """Build model ``name`` (see :func:`list_models`); a pretrained tag may download only when allowed.

    Args:
        name: registered architecture; an unknown name raises KeyError listing the valid ones.
        num_classes: output channels (logits).
        in_channels: input channels.
        encoder_weights: path of a .pth/.pt/.bin/.safetensors file (encoder-only or whole-model state_dict)
            loaded into the encoder, None (or "none") for random init, or a pretrained tag of the smp / ``tu-``
            encoder ("imagenet", "ssl", a timm tag ...) resolved by
            :func:`kit.models.pretrained.resolve_encoder_weights`.
        official_checkpoint: (keyword) path of the official published checkpoint of a paper model; it is
            loaded after building (see :mod:`kit.models.official`).
        **kwargs: architecture options (``encoder_name`` for smp models, ``backbone`` for PraNet ...).

    Returns:
        The model, in train mode as ``nn.Module`` leaves it.
    """
    builder = get_builder(name)
    official_checkpoint = kwargs.pop("official_checkpoint", None)
    if official_checkpoint is not None:
        official_layout(name)  # fail before building when the model has no official layout
    weights = resolve_encoder_weights(encoder_weights, model_encoder(name, kwargs))
    try:
        model = builder(num_classes=num_classes, in_channels=in_channels, encoder_weights=weights.path, **kwargs)
    except RuntimeError as err:  # timm: "Unknown model (name)" for a tu- encoder it does not have
        if not str(err).startswith("Unknown model"):
            raise
        raise ValueError(f"model {name!r}: {err} (encoder {kwargs.get('encoder_name')!r}); timm encoders are "
                         f"'tu-' + a name timm.list_models() returns, e.g. 'tu-resnet18'") from None
    if official_checkpoint is not None:
        load_official_checkpoint(model, name, official_checkpoint)
    return model
