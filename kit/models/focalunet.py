"""Focal-UNet (Naderi et al., arXiv 2212.09263): a Swin-UNet-shaped U-Net built from focal-modulation blocks.

Reference: givkashi/Focal-Unet (``networks/FocalNet/classification/focalUnet.py``); no checkpoint is published.
Differences from that code, on purpose: any input whose sides are multiples of 32 works (the reference hard-codes
a 224 input through its patch-expand grids), ``num_classes`` and ``in_channels`` are free (it hard-codes 9
Synapse classes and repeats a 1-channel input to 3). The encoder keeps the key layout of Microsoft's FocalNet
classifier (``patch_embed``, ``layers.{i}.blocks.{j}``, ``layers.{i}.downsample``, ``norm``), so a FocalNet
ImageNet state_dict (e.g. ``focalnet_tiny_lrf.pth``, classifier ``head`` skipped) loads as ``encoder_weights``.
Default = FocalNet-T LRF: embed 96, depths (2, 2, 6, 2), focal level 3, window 3; decoder depth 1 per stage.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import DropPath

from kit.models.info import ModelInfo, register
from kit.models.weights import init_encoder

__all__ = ["FocalUNet", "FocalEncoder", "FocalModulation", "FocalNetBlock", "build_focalunet"]


class FocalModulation(nn.Module):
    """Focal modulation on channels-last tokens (N×H×W×C).

    ``f`` projects to a query, a context and ``level + 1`` gates; the context passes ``level`` depth-wise convs
    (kernel ``window + 2ℓ``, GELU) hierarchically, each level weighted by its gate, plus a gated global average;
    ``h`` (1x1 conv) turns the sum into a modulator that multiplies the query; ``proj`` mixes the result.
    """

    def __init__(self, dim: int, focal_level: int, focal_window: int, focal_factor: int = 2) -> None:
        super().__init__()
        self.focal_level = focal_level
        self.f = nn.Linear(dim, 2 * dim + focal_level + 1)
        self.h = nn.Conv2d(dim, dim, 1)
        self.act = nn.GELU()
        self.proj = nn.Linear(dim, dim)
        kernels = [focal_window + focal_factor * level for level in range(focal_level)]
        self.focal_layers = nn.ModuleList(
            nn.Sequential(nn.Conv2d(dim, dim, k, padding=k // 2, groups=dim, bias=False), nn.GELU()) for k in kernels
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dim = x.shape[-1]
        query, context, gates = torch.split(self.f(x).permute(0, 3, 1, 2), (dim, dim, self.focal_level + 1), 1)
        aggregated = 0
        for level, layer in enumerate(self.focal_layers):
            context = layer(context)
            aggregated = aggregated + context * gates[:, level:level + 1]
        global_context = self.act(context.mean(dim=(2, 3), keepdim=True))
        aggregated = aggregated + global_context * gates[:, self.focal_level:]
        modulated = query * self.h(aggregated)
        return self.proj(modulated.permute(0, 2, 3, 1))


class Mlp(nn.Module):
    """Linear → GELU → Linear."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class FocalNetBlock(nn.Module):
    """Pre-norm residual block: x + modulation(LN(x)); x + MLP(LN(x)) (MLP ratio 4), with stochastic depth."""

    def __init__(self, dim: int, focal_level: int, focal_window: int, drop_path: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.modulation = FocalModulation(dim, focal_level, focal_window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, 4 * dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.modulation(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch``×``patch`` conv (NCHW in) + LayerNorm → channels-last tokens."""

    def __init__(self, in_channels: int, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class PatchExpand(nn.Module):
    """Transposed ``factor``×``factor`` conv on channels-last tokens (+ LayerNorm unless ``norm=False``)."""

    def __init__(self, in_dim: int, out_dim: int, factor: int = 2, norm: bool = True) -> None:
        super().__init__()
        self.proj = nn.ConvTranspose2d(in_dim, out_dim, factor, stride=factor)
        self.norm = nn.LayerNorm(out_dim) if norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class FocalStage(nn.Module):
    """``depth`` focal blocks, then an optional 2× ``downsample`` (patch embed) or ``upsample`` (patch expand)."""

    def __init__(self, dim: int, depth: int, focal_level: int, focal_window: int, drop_paths: list[float],
                 downsample_to: int | None = None, upsample_to: int | None = None) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(FocalNetBlock(dim, focal_level, focal_window, dp) for dp in drop_paths[:depth])
        self.downsample = PatchEmbed(dim, downsample_to, 2) if downsample_to else None
        self.upsample = PatchExpand(dim, upsample_to) if upsample_to else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        if self.downsample is not None:
            x = self.downsample(x.permute(0, 3, 1, 2))
        if self.upsample is not None:
            x = self.upsample(x)
        return x


class FocalEncoder(nn.Module):
    """FocalNet trunk (Microsoft key layout). ``forward`` returns the input of every stage (strides 4, 8, 16, 32;
    the U-Net skips) and the normalised deepest features, all channels-last."""

    def __init__(self, in_channels: int, embed_dim: int, depths: tuple[int, ...], focal_level: int,
                 focal_window: int, drop_path_rate: float) -> None:
        super().__init__()
        dims = [embed_dim * 2 ** i for i in range(len(depths))]
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.patch_embed = PatchEmbed(in_channels, embed_dim, 4)
        self.layers = nn.ModuleList(
            FocalStage(dims[i], depths[i], focal_level, focal_window, rates[sum(depths[:i]):],
                       downsample_to=dims[i + 1] if i + 1 < len(depths) else None)
            for i in range(len(depths))
        )
        self.norm = nn.LayerNorm(dims[-1])
        self.dims = dims

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = self.patch_embed(x)
        skips = []
        for layer in self.layers:
            skips.append(x)
            x = layer(x)
        return skips, self.norm(x)


class FocalUNet(nn.Module):
    """Focal-modulation U-Net: FocalNet encoder, mirrored decoder (patch expand, skip concat + linear, one focal
    block per stage), 4× transposed-conv expansion and a 7x7 output conv. One logit map at input size."""

    def __init__(self, num_classes: int = 1, in_channels: int = 3, embed_dim: int = 96,
                 depths: tuple[int, ...] = (2, 2, 6, 2), focal_level: int = 3, focal_window: int = 3,
                 drop_path_rate: float = 0.1) -> None:
        super().__init__()
        self.encoder = FocalEncoder(in_channels, embed_dim, tuple(depths), focal_level, focal_window, drop_path_rate)
        dims = self.encoder.dims
        self.divisor = 4 * 2 ** (len(dims) - 1)
        decoder_rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers_up = nn.ModuleList([PatchExpand(dims[-1], dims[-2])])
        self.concat_back_dim = nn.ModuleList()
        for i in range(len(dims) - 2, -1, -1):
            self.concat_back_dim.append(nn.Linear(2 * dims[i], dims[i]))
            self.layers_up.append(FocalStage(dims[i], 1, focal_level, focal_window, [decoder_rates[i]],
                                             upsample_to=dims[i - 1] if i > 0 else None))
        self.norm_up = nn.LayerNorm(dims[0])
        self.patch_expand = nn.ConvTranspose2d(dims[0], dims[0], 4, stride=4)
        self.output = nn.Conv2d(dims[0], num_classes, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.divisor or x.shape[-1] % self.divisor:
            raise ValueError(f"FocalUNet input height and width must be multiples of {self.divisor}, "
                             f"got {tuple(x.shape[-2:])}")
        skips, y = self.encoder(x)
        y = self.layers_up[0](y)
        for skip, merge, stage in zip(reversed(skips[:-1]), self.concat_back_dim, self.layers_up[1:]):
            y = stage(merge(torch.cat([y, skip], dim=-1)))
        y = self.norm_up(y).permute(0, 3, 1, 2)
        return self.output(self.patch_expand(y))


@register(
    ModelInfo(
        name="focalunet",
        source="Naderi et al., arXiv 2212.09263; givkashi/Focal-Unet",
        outputs="one logit map at input size (any size divisible by 32)",
    )
)
def build_focalunet(num_classes: int = 1, in_channels: int = 3, encoder_weights: str | None = None,
                    **options) -> FocalUNet:
    """Focal-UNet; ``options``: embed_dim, depths, focal_level, focal_window, drop_path_rate (FocalNet-T LRF by
    default). ``encoder_weights`` = path of a Microsoft FocalNet state_dict of the same configuration, or None."""
    model = FocalUNet(num_classes, in_channels, **options)
    init_encoder(model.encoder, encoder_weights)
    return model
