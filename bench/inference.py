"""Inference benchmark: the kit Predictor vs a plain tiled loop, and peak memory on a synthetic gigapixel-class slide.

Run: .venv/bin/python bench/inference.py   (first run writes a 20000x24000 BigTIFF into bench/_work/inference/)
Smoke run: .venv/bin/python bench/inference.py --quick --height 2000 --width 2400

(a) Overhead: the same model, the same windows and batch size, on an in-memory image. The baseline is the plain
    loop most notebooks use: cut windows, normalise, forward, sigmoid, paste into a full float32 map. The kit adds
    lazy reads, blending weights, band-wise merging and uint8 finalisation. Outputs are checked to agree.
(b) Peak RSS: a child process runs ``Predictor.predict_rle`` (reduce 4, 256-px windows, 25 % overlap, gaussian
    blending, column-major RLE streamed band by band) on a tiled BigTIFF written band by band with rasterio;
    the child's peak RSS (VmHWM; its ru_maxrss would include this parent's peak, which Linux carries over a fork
    and exec) is reported next to a child that only imports the kit and opens the slide.
    The RLE is checked against the slide's exact ground truth in sampled windows (Dice).
(c) GPU busy share (model time / wall time), only when CUDA is available.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import rasterio
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from kit.fsutil import atomic_write_text  # noqa: E402
from kit.infer import Member, ModelInput, Predictor, WindowGrid  # noqa: E402
from kit.io import open_image  # noqa: E402
from kit.rle import RleMask  # noqa: E402
from kit.sample.histology import HistologySlide  # noqa: E402
from kit.sample.hubmap2021 import slide_rle, write_slide  # noqa: E402

warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)
WORK = ROOT / "bench" / "_work" / "inference"
RAW = dict(mean=(0.0, 0.0, 0.0), std=(1 / 255, 1 / 255, 1 / 255))  # the model sees raw 0–255 pixels


def bench_net(seed: int = 0) -> torch.nn.Module:
    """A small fully convolutional net (about 0.6 GMAC per 256² window)."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(32, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 1, 3, padding=1),
    ).eval()


def structure_detector() -> torch.nn.Module:
    """Fixed weights that find the FTUs of :class:`HistologySlide` at reduce 4: pale cores (green about 180–225,
    between tissue and glass) and their dark rims (green below about 105)."""
    first = torch.nn.Conv2d(3, 3, 1)
    smooth = torch.nn.Conv2d(3, 1, 5, padding=2)
    with torch.no_grad():
        first.weight.zero_()
        first.weight[:, 1, 0, 0] = torch.tensor([1.0, 1.0, -1.0])
        first.bias.copy_(torch.tensor([-170.0, -225.0, 105.0]))
        smooth.weight.copy_(torch.tensor([1.0, -5.0, 2.0]).view(1, 3, 1, 1).expand(1, 3, 5, 5) / (25 * 5))
        smooth.bias.fill_(-8.0 / 5)
    return torch.nn.Sequential(first, torch.nn.ReLU(), smooth).eval()


# ----------------------------------------------------------------------------- (a) overhead
def plain_loop(image: np.ndarray, model: torch.nn.Module, windows, size: int, batch: int) -> np.ndarray:
    """Baseline: cut windows, normalise, forward in batches, sigmoid, paste into a full-resolution float32 map."""
    out = np.zeros(image.shape[:2], np.float32)
    mean = torch.tensor(RAW["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(RAW["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        for i in range(0, len(windows), batch):
            chunk = windows[i : i + batch]
            crops = np.stack([image[w.y : w.y + size, w.x : w.x + size] for w in chunk])
            x = (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255 - mean) / std
            probs = torch.sigmoid(model(x)).numpy()
            for w, p in zip(chunk, probs):
                out[w.y : w.y + size, w.x : w.x + size] = p[0]
    return out


def best_of(fn, repeats: int = 3):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def overhead(size: int = 1536, window: int = 256, batch: int = 8, repeats: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
    model = bench_net()
    plain_loop(image, model, list(WindowGrid((size, size), window)), window, batch)  # warm-up (oneDNN kernels)
    rows = []
    for overlap, blend in ((0.0, "constant"), (0.0, "gaussian"), (0.25, "gaussian")):
        windows = list(WindowGrid((size, size), window, overlap))
        predictor = Predictor(Member(model, input=ModelInput(window=window, overlap=overlap, blend=blend, **RAW)),
                              batch_size=batch, device="cpu")
        t_base, base = best_of(partial(plain_loop, image, model, windows, window, batch), repeats)
        t_kit, kit = best_of(partial(predictor.predict_probs, image), repeats)
        diff = None
        if overlap == 0.0:  # with overlap the kit blends while the loop overwrites: outputs differ by design
            diff = int(np.abs(kit[0].astype(int) - np.rint(base * 255)).max())
            assert diff <= 1, f"kit and plain loop disagree by {diff}/255"
        rows.append(dict(case=f"overlap {overlap:.2f}, {blend}", windows=len(windows), base=t_base, kit=t_kit,
                         ratio=t_kit / t_base, diff=diff))
    return rows


# ----------------------------------------------------------------------------- (b) peak RSS on a slide
def ensure_slide(height: int, width: int) -> Path:
    """A tiled BigTIFF slide written band by band with rasterio, and its exact ground-truth RLE beside it."""
    path = WORK / f"slide_{height}x{width}.tiff"
    truth = path.with_suffix(".truth.rle")
    if not (path.exists() and truth.exists()):
        print(f"writing the {height}x{width} BigTIFF {path} band by band, and its mask RLE (once) ...", flush=True)
        slide = HistologySlide(height, width, seed=7, style="glomerulus")
        tmp = path.with_suffix(".partial.tiff")
        write_slide(slide, tmp)
        atomic_write_text(truth, slide_rle(slide, "F")[0])
        tmp.rename(path)
    return path


def child(args: argparse.Namespace) -> None:
    """Runs in a subprocess: predict one slide (or only open it) and print JSON with ru_maxrss."""
    reader = open_image(args.slide)
    result = {"height": reader.height, "width": reader.width}
    if not args.open_only:
        torch.set_num_threads(2)
        member = Member(structure_detector(), input=ModelInput(window=256, overlap=0.25, reduce=4, **RAW))
        start = time.perf_counter()
        rle = Predictor(member, batch_size=8, device="cpu").predict_rle(reader, threshold=0.5, order="F")[0]
        result["seconds"] = time.perf_counter() - start
        (WORK / "prediction.rle").write_text(rle)
        result["runs"] = rle.count(" ") // 2 + 1 if rle else 0
    result["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["hwm_mb"] = peak_rss_mb()
    print(json.dumps(result))


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM). Unlike ru_maxrss it does not inherit the parent's peak: Linux
    carries the pre-exec high-water mark of a forked child into ru_maxrss."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(slide: Path, open_only: bool) -> dict:
    command = [sys.executable, __file__, "--child", "--slide", str(slide)] + (["--open-only"] if open_only else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def sampled_dice(slide: Path, height: int, width: int, grid: int = 4, side: int = 1024) -> float:
    """Dice of the predicted RLE vs the slide's exact mask over a grid × grid set of windows spread evenly."""
    truth = RleMask(slide.with_suffix(".truth.rle").read_text(), (height, width), "F")
    predicted = RleMask((WORK / "prediction.rle").read_text(), (height, width), "F")
    inter = total = 0
    for y0 in np.linspace(0, height - side, grid).astype(int):
        for x0 in np.linspace(0, width - side, grid).astype(int):
            t = truth.window(int(y0), int(x0), side, side).astype(bool)
            p = predicted.window(int(y0), int(x0), side, side).astype(bool)
            inter += int((t & p).sum())
            total += int(t.sum() + p.sum())
    return 2 * inter / max(total, 1)


# ----------------------------------------------------------------------------- (c) GPU busy share
class TimedModel(torch.nn.Module):
    """Wraps a model and adds up its synchronised forward time."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.seconds = model, 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.cuda.synchronize()
        start = time.perf_counter()
        out = self.model(x)
        torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return out


def gpu_busy_share(slide: Path) -> dict | None:
    if not torch.cuda.is_available():
        return None
    model = TimedModel(bench_net())
    predictor = Predictor(Member(model, input=ModelInput(window=512, overlap=0.25, reduce=2)), batch_size=16)
    reader = open_image(slide)
    start = time.perf_counter()
    predictor.predict_probs(reader)
    wall = time.perf_counter() - start
    return {"wall": wall, "model": model.seconds, "share": model.seconds / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=20000)
    parser.add_argument("--width", type=int, default=24000)
    parser.add_argument("--quick", action="store_true", help="(a) on a 768-px image, best of 2 (a smoke run)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--open-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--slide", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    torch.set_num_threads(2)
    size, repeats = (768, 2) if args.quick else (1536, 5)
    rows = overhead(size=size, repeats=repeats)
    slide = ensure_slide(args.height, args.width)
    opened = run_child(slide, open_only=True)
    predicted = run_child(slide, open_only=False)
    mpx = predicted["height"] * predicted["width"] / 1e6
    dice = sampled_dice(slide, predicted["height"], predicted["width"])
    busy = gpu_busy_share(slide)
    worst = max(r["ratio"] for r in rows)
    print(f"### Inference (bench/inference.py{' --quick' if args.quick else ''})\n")
    print(f"(a) kit Predictor vs a plain loop (cut, normalise, forward, sigmoid, paste), {size}x{size} RGB, "
          f"256-px windows, batch 8, CPU, best of {repeats}; goal kit/plain <= 1.10: "
          f"{'met' if worst <= 1.10 else 'MISSED'} (worst {worst:.3f}x)\n")
    print("| case | windows | plain s | kit s | kit / plain | max diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        diff = "-" if row["diff"] is None else f"{row['diff']}/255"
        print(f"| {row['case']} | {row['windows']} | {row['base']:.2f} | {row['kit']:.2f} | {row['ratio']:.3f}x | "
              f"{diff} |")
    goal = "met" if predicted["hwm_mb"] <= 2048 else "MISSED"
    print(f"\n(b) predict_rle on a {predicted['height']}x{predicted['width']} tiled BigTIFF ({mpx:.0f} Mpx), reduce 4, "
          f"256-px windows, 25 % overlap, gaussian, CPU\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| peak RSS (VmHWM) | {predicted['hwm_mb']:.0f} MB (goal <= 2048 MB: {goal}) |")
    print(f"| import + open only | {opened['hwm_mb']:.0f} MB |")
    print(f"| a full-resolution float32 map alone | {mpx * 4:.0f} MB |")
    print(f"| time | {predicted['seconds']:.1f} s ({mpx / predicted['seconds']:.1f} Mpx/s) |")
    print(f"| RLE runs; sampled Dice vs the exact mask | {predicted['runs']}; {dice:.3f} |")
    print("\n(c) GPU busy share: " + ("no CUDA device in this session: skipped" if busy is None else
          f"model {busy['model']:.1f} s of {busy['wall']:.1f} s wall = {busy['share']:.0%} (goal >= 90 %: "
          f"{'met' if busy['share'] >= 0.9 else 'MISSED'})"))


if __name__ == "__main__":
    main()
