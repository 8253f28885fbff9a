"""Model-zoo benchmark: forward images/s at 352×352, batch 8, for every zoo model, on CPU and on a GPU when present.

Run: .venv/bin/python bench/models.py            (every zoo configuration; tens of minutes on 2 CPU cores)
Smoke run: .venv/bin/python bench/models.py --quick   (4 models, 1 warm-up + 1 timed batch each)
README table: .venv/bin/python bench/models.py --table   (name, paper / source, parameters, outputs; no timing)

Each model is built with random weights (nothing is downloaded), put in ``eval()`` and run under
``torch.inference_mode()`` on a fixed N(0, 1) batch, in fp32. Throughput = batch × timed batches / wall time after
the warm-up batches (CUDA: synchronised). The ratio column is against smp Unet-ResNet34 measured in the same run on
the same device, the in-repo baseline. The papers' FPS are their own figures (batch 1, their GPUs), quoted for
orientation only: a different batch size, GPU and software stack.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kit.models import build_model, list_models, model_info  # noqa: E402
from kit.models.smp import SMP_ARCHITECTURES, default_encoder  # noqa: E402

__all__ = ["BenchConfig", "CONFIGS", "QUICK", "images_per_second", "run_bench", "main"]


@dataclass(frozen=True)
class BenchConfig:
    """One configuration: ``build_model(name, num_classes, **kwargs)``, its ``key`` on the command line, a
    description of its non-default options, and the paper's FPS if any."""

    key: str
    name: str
    num_classes: int = 1
    kwargs: dict = field(default_factory=dict)
    paper_fps: str = ""

    @property
    def label(self) -> str:
        """Registry name with its encoder (smp), options and class count, for the tables."""
        details = []
        if self.name in SMP_ARCHITECTURES:
            details.append(self.kwargs.get("encoder_name", default_encoder(self.name)))
        details += [f"{k}={v}" for k, v in self.kwargs.items() if k != "encoder_name"]
        if self.num_classes != 1:
            details.append(f"{self.num_classes} classes")
        return f"`{self.name}`" + (f" ({', '.join(details)})" if details else "")


BASELINE = "unet"
_PAPER_MODELS = [
    BenchConfig("pranet", "pranet", paper_fps="~50 (PraNet paper)"),
    BenchConfig("sanet", "sanet", paper_fps="72 (SANet README)"),
    BenchConfig("hardnet_mseg", "hardnet_mseg", paper_fps="88 (2080 Ti, HarDNet-MSEG README)"),
    BenchConfig("neounet", "neounet", 2, paper_fps="68.3 (BlazeNeo README table)"),
    BenchConfig("blazeneo", "blazeneo", 3, paper_fps="81.5 (V100, BlazeNeo README)"),
    BenchConfig("doubleunet", "doubleunet", paper_fps="7.5 (HarDNet-MSEG README table)"),
    BenchConfig("focalunet", "focalunet"),
    BenchConfig("uresnet34_scse_fpa_hc", "uresnet34_scse_fpa_hc"),
]
_SMP_ENCODERS = ["resnet101", "se_resnext101_32x4d", "efficientnet-b4", "tu-resnest200e", "tu-res2net50_26w_4s"]
_SMP_MODELS = (
    [BenchConfig(arch, arch) for arch in sorted(SMP_ARCHITECTURES)]
    + [BenchConfig("unet+scse", "unet", kwargs={"decoder_attention_type": "scse"})]
    + [BenchConfig(f"unet:{encoder}", "unet", kwargs={"encoder_name": encoder}) for encoder in _SMP_ENCODERS]
)
#: every zoo configuration: the custom models, every smp architecture with its default encoder (resnet34 where
#: smp allows it), and the smp configurations named in the model-zoo issues (U-Net with scSE, with named encoders)
CONFIGS: list[BenchConfig] = _PAPER_MODELS + _SMP_MODELS
QUICK = (BASELINE, "pranet", "hardnet_mseg", "blazeneo")


def _by_key() -> dict[str, BenchConfig]:
    configs = {c.key: c for c in CONFIGS}
    missing = set(list_models()) - {c.name for c in CONFIGS}
    if len(configs) != len(CONFIGS) or BASELINE not in configs or missing:
        raise RuntimeError(f"bench configurations: keys must be unique, include {BASELINE!r} and cover every "
                           f"registered model (missing: {sorted(missing)})")
    return configs


def _parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def images_per_second(model: nn.Module, device: torch.device, size: int, batch: int, warmup: int,
                      iterations: int) -> float:
    """Forward throughput of ``model`` (eval, inference mode, fp32) on a fixed ``batch``×3×``size``×``size`` input."""
    model = model.to(device).eval()
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        _synchronize(device)
        start = time.perf_counter()
        for _ in range(iterations):
            model(x)
        _synchronize(device)
        seconds = time.perf_counter() - start
    return batch * iterations / seconds


def _devices(requested: str) -> list[torch.device]:
    devices = [torch.device("cpu")] if requested in ("all", "cpu") else []
    if requested in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if requested == "cuda" and not devices:
        raise SystemExit("--device cuda: no CUDA device is available")
    return devices


def _device_names(devices: list[torch.device]) -> str:
    names = [f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"]
    if any(d.type == "cuda" for d in devices):
        names.append(f"GPU ({torch.cuda.get_device_name(0)})")
    else:
        names.append("GPU: none detected (torch.cuda.is_available() is False), GPU column not measured")
    return "; ".join(names)


def run_bench(configs: list[BenchConfig], devices: list[torch.device], size: int, batch: int, warmup: int,
              iterations: int) -> list[dict]:
    """Measure every config on every device; one row per config (images/s per device type)."""
    rows = []
    for config in configs:
        model = build_model(config.name, num_classes=config.num_classes, **config.kwargs)
        row = {"config": config, "params": _parameters(model)}
        for device in devices:
            row[device.type] = images_per_second(model, device, size, batch, warmup, iterations)
            print(f"  {config.key} on {device.type}: {row[device.type]:.2f} images/s", file=sys.stderr, flush=True)
        rows.append(row)
        del model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def _cell(row: dict, baseline: dict, device: str) -> str:
    if device not in row:
        return "n/a"
    return f"{row[device]:.2f} ({row[device] / baseline[device]:.2f}×)"


def print_bench_table(rows: list[dict], devices: list[torch.device], args: argparse.Namespace) -> None:
    """The ready-to-paste markdown block of a bench run."""
    baseline = next(r for r in rows if r["config"].key == BASELINE)
    mode = " --quick" if args.quick else ""
    print(f"### Model zoo forward throughput (bench/models.py{mode})\n")
    print(f"{args.size}×{args.size}, batch {args.batch}, fp32, eval + inference_mode, random weights; "
          f"{args.warmup} warm-up + {args.iterations} timed batches. torch {torch.__version__}. "
          f"{_device_names(devices)}. Ratios (×) are against {baseline['config'].label} on the same device.\n")
    print("| model | params | CPU images/s | GPU images/s | paper FPS (their GPU, batch 1) |")
    print("|---|---:|---:|---:|---|")
    for row in rows:
        config = row["config"]
        print(f"| {config.label} | {row['params'] / 1e6:.2f}M | {_cell(row, baseline, 'cpu')} | "
              f"{_cell(row, baseline, 'cuda')} | {config.paper_fps or '–'} |")


def print_model_table() -> None:
    """README model table: every zoo configuration, parameters counted by building it, source and outputs from the
    model card."""
    print("| model | paper / source | params | outputs |")
    print("|---|---|---:|---|")
    for config in _by_key().values():
        model = build_model(config.name, num_classes=config.num_classes, **config.kwargs)
        info = model_info(config.name)
        print(f"| {config.label} | {info.source} | {_parameters(model):,} | {info.outputs} |")
        del model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}; 1 warm-up + 1 timed batch")
    parser.add_argument("--models", help="comma-separated config keys (default: all, or the quick set)")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    parser.add_argument("--size", type=int, default=352)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--warmup", type=int, help="warm-up batches (default 2; quick 1)")
    parser.add_argument("--iterations", type=int, help="timed batches (default 5; quick 1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    parser.add_argument("--table", action="store_true", help="print the README model table and exit")
    args = parser.parse_args()
    if args.table:
        print_model_table()
        return
    torch.set_num_threads(args.threads)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.iterations = args.iterations if args.iterations is not None else (1 if args.quick else 5)
    configs = _by_key()
    keys = args.models.split(",") if args.models else (list(QUICK) if args.quick else list(configs))
    unknown = [key for key in keys if key not in configs]
    if unknown:
        raise SystemExit(f"unknown config key(s) {unknown}; valid: {', '.join(configs)}")
    if BASELINE not in keys:
        keys.insert(0, BASELINE)
    devices = _devices(args.device)
    rows = run_bench([configs[key] for key in keys], devices, args.size, args.batch, args.warmup,
                     args.iterations)
    print_bench_table(rows, devices, args)


if __name__ == "__main__":
    main()
