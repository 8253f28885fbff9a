"""Every architecture of the installed segmentation_models_pytorch, with any smp encoder or ``tu-<timm name>``.

The names are smp's own lower-case class names (``unet``, ``unetplusplus``, ``fpn``, ``deeplabv3`` ...), read from
``smp.MODEL_ARCHITECTURES_MAPPING`` so the list follows the installed version. Models are always built with
``encoder_weights=None`` (smp then passes ``pretrained=False`` to timm: nothing is downloaded); a weights file, if
given, is loaded into ``model.encoder`` afterwards. Extra keyword arguments go to the smp class
(``decoder_attention_type="scse"``, ``encoder_depth`` ...). smp 0.6 maps the legacy ``timm-res2net*`` /
``timm-resnest*`` names onto ``tu-`` encoders; ``tu-resnest200e`` and ``tu-res2net50_26w_4s`` name them directly.
"""

from __future__ import annotations

import inspect

import segmentation_models_pytorch as smp
import torch.nn as nn

from kit.models.info import ModelInfo, register
from kit.models.weights import init_encoder
from kit.registry import Registry

__all__ = ["SMP_ARCHITECTURES", "DEFAULT_ENCODER", "default_encoder", "build_smp"]

SMP_ARCHITECTURES: Registry[type[nn.Module]] = Registry.of(
    "smp architecture", smp.MODEL_ARCHITECTURES_MAPPING, "unknown smp architecture {name!r}{hint}; valid: {valid}",
    sort=False)
DEFAULT_ENCODER = "resnet34"
#: keyword arguments that would break the "one logits tensor" contract or trigger a download
_REFUSED = {
    "activation": "models return logits; apply sigmoid/softmax outside",
    "aux_params": "a classification head makes forward return a tuple",
    "classes": "use num_classes",
    "encoder_weights": "pass encoder_weights to build_model (a file, a pretrained tag or None)",
}
#: smallest input side that runs with the default encoder (PAN's pyramid pools need a 4x4 map at stride 32)
_MIN_SIZE = {"pan": 128}
#: ViT encoders work in patches of 16 and, with dynamic_img_size, take any multiple of it
_DIVISOR = {"dpt": 16}


def _smp_default_encoder(cls: type[nn.Module]) -> str | None:
    return inspect.signature(cls.__init__).parameters["encoder_name"].default


def default_encoder(arch: str) -> str:
    """``resnet34``, or smp's own default where it accepts only timm encoders (DPT: a ViT)."""
    smp_default = _smp_default_encoder(SMP_ARCHITECTURES[arch])
    return smp_default if isinstance(smp_default, str) and smp_default.startswith("tu-") else DEFAULT_ENCODER


def build_smp(arch: str, num_classes: int = 1, in_channels: int = 3, encoder_weights=None,
              encoder_name: str | None = None, **kwargs) -> nn.Module:
    """smp ``arch`` with ``encoder_name`` (default :func:`default_encoder`), random init, then the weights file."""
    architecture = SMP_ARCHITECTURES.get(arch)
    refused = sorted(set(kwargs) & _REFUSED.keys())
    if refused:
        raise ValueError("; ".join(f"{arch}: argument {k!r} is not accepted ({_REFUSED[k]})" for k in refused))
    encoder_name = encoder_name or default_encoder(arch)
    if arch == "dpt":
        kwargs.setdefault("dynamic_img_size", True)
    model = architecture(
        encoder_name=encoder_name, encoder_weights=None, in_channels=in_channels, classes=num_classes, **kwargs
    )
    init_encoder(model.encoder, encoder_weights)
    return model


def _register(arch: str, cls: type[nn.Module]) -> None:
    def builder(num_classes: int = 1, in_channels: int = 3, encoder_weights=None, **kwargs) -> nn.Module:
        return build_smp(arch, num_classes, in_channels, encoder_weights, **kwargs)

    builder.__name__ = builder.__qualname__ = f"build_{arch}"
    builder.__doc__ = f"smp {cls.__name__}; keyword arguments as :func:`kit.models.smp.build_smp`."
    register(ModelInfo(
        name=arch,
        source=f"segmentation_models_pytorch {smp.__version__}: {cls.__name__}",
        outputs="1 map",
        divisor=_DIVISOR.get(arch, 32),
        min_size=_MIN_SIZE.get(arch, 32),
    ))(builder)


for _arch, _cls in SMP_ARCHITECTURES.items():
    _register(_arch, _cls)
