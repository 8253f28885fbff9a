"""Training benchmark: images/s of UNet-ResNet34 at 256², the kit Trainer vs a plain fp32 loop, and data-loader
throughput vs step time; on the CPU and, when CUDA is available, on the GPU.

Run: .venv/bin/python bench/training.py            (UNet-ResNet34, 256² tiles, batch 8, 3 timed epochs)
Smoke run: .venv/bin/python bench/training.py --quick   (128² tiles, 12 images, 1 timed epoch)

Data: a synthetic HuBMAP-2022-layout sample tiled by the kit (bench/_work/training/), "light" augmentation.
(a) One epoch of training, after one warm-up epoch: the kit Trainer's epoch (AMP bf16/fp16 and channels_last on
    a GPU, fp32 on the CPU; kit loss "0.5*bce+0.5*dice") against the plain loop of
    bench/baselines/plain_train_loop.py (fp32, the same loss written inline) on the same dataset, batch size
    and DataLoader workers.
(b) The input pipeline alone (reading PNG tiles, augmenting, collating) against the kit's training step alone
    on one batch held on the device: when the loader delivers fewer images/s than the step consumes, the
    accelerator waits for data. "wait share" = 1 − (step time of the epoch's images) / (epoch time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.baselines.plain_train_loop import plain_train_epoch  # noqa: E402
from kit.models.spec import build_model_from_spec  # noqa: E402
from kit.sample import make_sample  # noqa: E402
from kit.tiling import TileSettings, tile_dataset  # noqa: E402
from kit.train import TrainConfig, Trainer  # noqa: E402

WORK = ROOT / "bench" / "_work" / "training"
ORGANS = "hubmap-organ-segmentation"


def ensure_tiles(n_images: int, tile: int) -> Path:
    """Tiles of side ``tile`` from 512² sample images: 256² at the source's 0.4 µm/px, 128² at 0.8 µm/px (4 per
    image)."""
    data = WORK / f"sample_{n_images}"
    tiles = WORK / f"tiles_{n_images}_{tile}"
    make_sample(ORGANS, data, n=n_images, size=512, seed=0)
    pixel_size = 0.4 * 256 / tile  # 256² tiles at the HPA pixel size; 128² tiles at half the resolution
    tile_dataset(ORGANS, data, tiles, "train", TileSettings(sz=tile, pixel_size=pixel_size, filter=False),
                 progress=False)
    return tiles


def time_kit_epoch(trainer: Trainer, epoch: int) -> tuple[int, float]:
    start = time.perf_counter()
    trainer._train_one_epoch(epoch)
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return len(trainer.train_data), time.perf_counter() - start


def time_loader(loader: DataLoader, epochs: int) -> float:
    """Images/s of the loader alone (no model)."""
    seen, start = 0, time.perf_counter()
    for epoch in range(epochs):
        for holder in (loader.dataset, loader.sampler):
            if hasattr(holder, "set_epoch"):
                holder.set_epoch(epoch)
        for images, _ in loader:
            seen += images.shape[0]
    return seen / (time.perf_counter() - start)


def time_step(trainer: Trainer, steps: int) -> float:
    """Images/s of the kit's training step alone (forward, loss, backward, optimiser) on one resident batch."""
    images, masks = next(iter(trainer.train_loader))
    images, masks = trainer._to_device(images, masks)
    trainer.model.train()

    def step() -> None:
        trainer.scaler.scale(trainer._forward_loss(images, masks)).backward()
        trainer._optimizer_step()

    step()  # warm-up
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize()
    return steps * images.shape[0] / (time.perf_counter() - start)


def bench_device(device: str, tiles: Path, args: argparse.Namespace) -> dict:
    workers = args.workers if args.workers is not None else (0 if device == "cpu" else min(4, os.cpu_count() or 1))
    config = TrainConfig(out_dir=str(WORK / "run"), competition=ORGANS, tiles_dir=str(tiles), arch="unet",
                         encoder="resnet34", loss="0.5*bce+0.5*dice", augment="light", batch_size=args.batch,
                         num_workers=workers, epochs=args.epochs + 1, amp="auto", channels_last=True, progress=False)
    kit = Trainer(config, device=device)
    torch.manual_seed(0)
    model = build_model_from_spec(kit.spec).to(device)
    loader = DataLoader(kit.train_data, batch_size=args.batch, shuffle=True, num_workers=workers,
                        pin_memory=device != "cpu", persistent_workers=workers > 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    time_kit_epoch(kit, 0)  # warm-up: oneDNN / cuDNN kernel selection, worker start
    plain_train_epoch(model, loader, optimizer, torch.device(device))
    kit_runs, plain_runs = [], []
    for epoch in range(1, args.epochs + 1):  # interleaved, so a change in machine load hits both alike
        kit_runs.append(time_kit_epoch(kit, epoch))
        plain_runs.append(plain_train_epoch(model, loader, optimizer, torch.device(device)))

    kit_ips = sum(n for n, _ in kit_runs) / sum(t for _, t in kit_runs)
    plain_ips = sum(n for n, _ in plain_runs) / sum(t for _, t in plain_runs)
    loader_ips = time_loader(kit.train_loader, args.epochs)
    step_ips = time_step(kit, args.steps)
    name = torch.cuda.get_device_name(0) if device != "cpu" else f"CPU x{torch.get_num_threads()}"
    return dict(device=device, name=name,
                amp=str(kit.amp_dtype).replace("torch.", "") if kit.amp_dtype else "fp32", workers=workers,
                images=len(kit.train_data), kit=kit_ips, plain=plain_ips, loader=loader_ips, step=step_ips,
                wait=max(0.0, 1 - kit_ips / step_ips))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="128² tiles, 12 images, 1 timed epoch (smoke run)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=None, help="timed epochs (default 3, quick 1)")
    parser.add_argument("--steps", type=int, default=None, help="timed resident-batch steps (default 10, quick 3)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: 0 CPU, 4 GPU)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    args.epochs = args.epochs or (1 if args.quick else 3)
    args.steps = args.steps or (3 if args.quick else 10)
    torch.set_num_threads(args.threads)
    size, n_images = (128, 12) if args.quick else (256, 32)
    tiles = ensure_tiles(n_images, size)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [bench_device(d, tiles, args) for d in devices]

    print(f"### Training (bench/training.py{' --quick' if args.quick else ''})\n")
    print(f"UNet-ResNet34 (random init), {size}² tiles, batch {args.batch}, 'light' augmentation, "
          f"{rows[0]['images']} training tiles per epoch, {args.epochs} timed epoch(s) after one warm-up; "
          f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.\n")
    print("| device | kit precision | workers | plain fp32 loop img/s | kit Trainer img/s | kit / plain | "
          "loader alone img/s | kit step alone img/s | loader / step | wait share |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['amp']} | {r['workers']} | {r['plain']:.1f} | {r['kit']:.1f} | "
              f"{r['kit'] / r['plain']:.2f}x | {r['loader']:.1f} | {r['step']:.1f} | {r['loader'] / r['step']:.2f} | "
              f"{r['wait']:.0%} |")
    if not torch.cuda.is_available():
        print("\nNo CUDA device in this session: GPU rows skipped (goal on a GPU: kit >= 2x the plain loop, "
              "loader / step > 1 so the GPU never waits for data).")


if __name__ == "__main__":
    main()
