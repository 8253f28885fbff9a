"""Trainer: epochs with AMP, accumulation and clipping, atomic checkpoints, exact resume, logs, OOF predictions."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from kit.fsutil import atomic_path
from kit.train.builders import (build_datasets, build_loader, build_model_from_spec, build_optimizer, model_spec,
                                resolve_spec_weights)
from kit.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state, unwrap
from kit.train.config import TrainConfig
from kit.train.schedule import learning_rate

__all__ = ["Trainer", "LOG_COLUMNS"]

LOG_COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_dice", "val_iou", "seconds")


def _amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: None on the CPU or with "off"; "auto" is bf16 on compute capability >= 8 (A100, H100, L4)
    and fp16 below (Kaggle's T4 and P100, where bf16 would only be emulated)."""
    if device.type != "cuda" or mode == "off":
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.get_device_capability(device)[0] >= 8 else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


class Trainer:
    """Fit one model with one recipe; every file it writes lives in ``config.out_dir``.

    Files: ``config.json``, ``last.pt`` (every epoch, atomic), ``best.pt`` (best validation Dice),
    ``log.csv`` (one row per epoch), ``oof.npz`` (validation probabilities of the best model),
    and a row in ``<out_dir>/../runs.csv`` (the results table).

    Args:
        config: the recipe.
        model, train_data, val_data: override what the config would build (tests, custom datasets).
        rank, world_size: set by :func:`kit.train.distributed.fit_distributed`; rank 0 writes files.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module | None = None,
        train_data=None,
        val_data=None,
        rank: int = 0,
        world_size: int = 1,
        device: str | torch.device | None = None,
    ) -> None:
        from kit.losses import build_loss

        self.config = config
        self.rank, self.world_size = rank, world_size
        self.out_dir = Path(config.out_dir)
        default = f"cuda:{rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device or default)
        torch.manual_seed(config.seed)
        self.spec = model_spec(config)
        if model is None:
            weights = resolve_spec_weights(self.spec, config.encoder_weights)
            if self.is_main:
                print(f"encoder weights: {weights.source}")
            model = build_model_from_spec(self.spec, weights.path)
        self.model = model
        if config.init_from:
            self._load_weights(config.init_from)
        self.model.to(self.device)
        if config.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        if world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if train_data is None or val_data is None:
            train_data, val_data = build_datasets(config)
        self.train_data, self.val_data = train_data, val_data
        self.train_loader = build_loader(train_data, config, train=True, rank=rank, world_size=world_size)
        self.val_loader = build_loader(val_data, config, train=False)
        self.loss_fn = build_loss(config.loss, mode=config.mode, ignore_index=config.ignore_index,
                                  output_kinds=getattr(unwrap(self.model), "output_kinds", None))
        self.optimizer = build_optimizer(self.model, config)
        self.amp_dtype = _amp_dtype(config.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.steps_per_epoch = math.ceil(self._batches_per_epoch() / config.grad_accum)
        self.total_steps = self.steps_per_epoch * config.epochs
        self.warmup_steps = int(round(config.warmup_epochs * self.steps_per_epoch))
        self.step = 0
        self.epoch = 0
        self.best_score = -math.inf
        self.best_epoch = -1
        self.history: list[dict[str, float]] = []
        self.stopped = ""
        self._wandb = None

    # ----------------------------------------------------------------- state
    @property
    def is_main(self) -> bool:
        """True on the process that writes files (rank 0)."""
        return self.rank == 0

    def _batches_per_epoch(self) -> int:
        batches = len(self.train_loader)
        if self.config.max_steps_per_epoch:
            batches = min(batches, self.config.max_steps_per_epoch * self.config.grad_accum)
        return batches

    def _load_weights(self, path: str) -> None:
        state = load_checkpoint(path)
        weights = state.get("model", state)
        result = unwrap(self.model).load_state_dict(weights, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"init_from {path}: weights do not fit {self.spec['name']} "
                f"(missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]})"
            )

    def state(self) -> dict[str, Any]:
        """Everything :meth:`resume` needs to continue as if never stopped."""
        return {
            "model": unwrap(self.model).state_dict(),
            "model_spec": self.spec,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "rng": rng_state(),
            "config": self.config.to_dict(),
        }

    def resume(self, path: str | Path) -> None:
        """Restore model, optimiser, scaler, schedule step, epoch, history and RNG from a checkpoint."""
        state = load_checkpoint(path)
        unwrap(self.model).load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch = state["step"], state["epoch"]
        self.best_score, self.best_epoch = state["best_score"], state["best_epoch"]
        self.history = list(state["history"])
        set_rng_state(state["rng"])

    # ------------------------------------------------------------------ loop
    def fit(self, resume: bool = True, stop_after: int | None = None) -> dict[str, Any]:
        """Train until ``config.epochs``, early stopping or the ``max_minutes`` budget; resumes from ``last.pt``.

        ``stop_after`` ends the call after that many epochs of this call (the run stays resumable). The time
        budget counts from this call's start: an epoch starts only if the previous one's duration still
        fits. Returns a summary dict (best_dice, best_epoch, epochs, stopped, history).
        """
        start = time.perf_counter()
        last = self.out_dir / "last.pt"
        if resume and last.exists():
            self.resume(last)
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.out_dir / "config.json")
            self._start_wandb()
        done_now, self.stopped = 0, ""
        while not self.stopped:
            self.stopped = self._sync(self._stop_reason(done_now, stop_after, time.perf_counter() - start))
            if not self.stopped:
                self._run_epoch()
                done_now += 1
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None
        return self.summary()

    def _stop_reason(self, done_now: int, stop_after: int | None, elapsed: float) -> str:
        """Why training should stop before the next epoch ("" to go on)."""
        if self.epoch >= self.config.epochs:
            return "epochs"
        if self._should_stop_early():
            return "early_stopping"
        if stop_after is not None and done_now >= stop_after:
            return "stop_after"
        budget = self.config.max_minutes
        if budget and done_now and elapsed + self.history[-1]["seconds"] > budget * 60:
            return "time_budget"
        return ""

    def _sync(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank (so every process takes the same decisions under DDP)."""
        if self.world_size == 1 or not dist.is_initialized():
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _all_finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank (a rank that stopped alone would hang the others)."""
        finite = torch.isfinite(loss.detach()).float().reshape(1)
        if self.world_size > 1 and dist.is_initialized():
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite.item())

    def _should_stop_early(self) -> bool:
        patience = self.config.early_stopping
        return bool(patience) and self.best_epoch >= 0 and self.epoch - 1 - self.best_epoch >= patience

    def _run_epoch(self) -> None:
        epoch = self.epoch
        start = time.perf_counter()
        torch.manual_seed(self.config.seed * 1000 + epoch)  # dropout etc. depend only on (seed, epoch)
        train_loss = self._train_one_epoch(epoch)
        val = self._sync(self.validate() if self.is_main else None)
        row = {
            "epoch": epoch + 1,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "val_loss": val["loss"],
            "val_dice": val["dice"],
            "val_iou": val["iou"],
            "seconds": time.perf_counter() - start,
        }
        self.history.append(row)
        self.epoch = epoch + 1
        improved = val["dice"] > self.best_score
        if improved:
            self.best_score, self.best_epoch = val["dice"], epoch
        if self.is_main:
            self._write_epoch_files(improved)
            if self._wandb is not None:
                self._wandb.log(row)

    def _set_lr(self) -> None:
        c = self.config
        lr = learning_rate(self.step, self.total_steps, c.max_lr, c.min_lr, self.warmup_steps, c.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _autocast(self) -> torch.autocast:
        """Mixed precision at ``amp_dtype`` (disabled when it is None: CPU or amp="off")."""
        dtype = self.amp_dtype or torch.float32
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.amp_dtype is not None)

    def _forward_loss(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        with self._autocast():
            outputs = self.model(images)
            return self.loss_fn(outputs, masks)

    def _train_one_epoch(self, epoch: int) -> float:
        self.model.train()
        for holder in (self.train_data, self.train_loader.sampler, self.train_loader.collate_fn):
            if hasattr(holder, "set_epoch"):
                holder.set_epoch(epoch)
        accum = self.config.grad_accum
        n_batches = self._batches_per_epoch()
        total, count = 0.0, 0
        bar = tqdm(self.train_loader, total=n_batches, desc=f"epoch {epoch + 1}/{self.config.epochs}",
                   disable=not (self.is_main and self.config.progress), leave=False)
        self.optimizer.zero_grad(set_to_none=True)
        for i, (images, masks) in enumerate(bar):
            if i >= n_batches:
                break
            images, masks = self._to_device(images, masks)
            boundary = (i + 1) % accum == 0 or i + 1 == n_batches
            no_sync = getattr(self.model, "no_sync", None) if not boundary else None
            with no_sync() if no_sync is not None else contextlib.nullcontext():
                loss = self._forward_loss(images, masks)
                if not self._all_finite(loss):
                    raise FloatingPointError(self._nan_message(loss, epoch, i))
                self.scaler.scale(loss / accum).backward()
            if boundary:
                self._optimizer_step()
            total += loss.item() * images.shape[0]
            count += images.shape[0]
            bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)

    def _nan_message(self, loss: torch.Tensor, epoch: int, batch: int) -> str:
        last = self.out_dir / "last.pt"
        kept = (f"The last good checkpoint (epoch {self.epoch}) is kept at {last}" if self.epoch and last.exists()
                else "No checkpoint was written yet")
        return (f"loss became {loss.item()} (on some rank) at epoch {epoch + 1}, batch {batch + 1}; training stopped. "
                f"{kept}. Lower max_lr, set clip_grad, try amp='bf16' or 'off', or check the data.")

    def _optimizer_step(self) -> None:
        self._set_lr()
        if self.config.clip_grad:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def _to_device(self, images: torch.Tensor, masks: torch.Tensor):
        images = images.to(self.device, non_blocking=True)
        if self.config.channels_last and self.device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        return images, masks.to(self.device, non_blocking=True)

    # ------------------------------------------------------------ evaluation
    def _probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if isinstance(logits, (list, tuple)):
            logits = logits[0]
        return torch.sigmoid(logits) if self.config.num_classes == 1 else torch.softmax(logits, dim=1)

    def _labels(self, probs: torch.Tensor) -> torch.Tensor:
        if self.config.num_classes == 1:
            return (probs[:, 0] > self.config.threshold).long()
        return probs.argmax(dim=1)

    @torch.no_grad()
    def predict(self, loader=None):
        """Yield (probabilities N×C×H×W float on CPU, masks) over ``loader`` (default: the validation loader)."""
        model = unwrap(self.model)  # no DDP collectives: rank 0 may evaluate alone
        model.eval()
        for images, masks in loader or self.val_loader:
            images, _ = self._to_device(images, masks)
            with self._autocast():
                logits = model(images)
            yield self._probabilities(logits).float().cpu(), masks

    def validate(self) -> dict[str, float]:
        """Validation loss, mean per-image Dice and IoU (Kaggle convention: empty vs empty = 1)."""
        from kit.metrics import SegmentationMeter

        meter = SegmentationMeter(num_classes=max(2, self.config.num_classes + (self.config.num_classes == 1)))
        total, count = 0.0, 0
        model = unwrap(self.model)  # no DDP collectives: rank 0 may evaluate alone
        model.eval()
        with torch.no_grad():
            for images, masks in self.val_loader:
                images, masks_dev = self._to_device(images, masks)
                with self._autocast():
                    logits = model(images)
                    total += float(self.loss_fn(logits, masks_dev)) * images.shape[0]
                count += images.shape[0]
                meter.update(self._labels(self._probabilities(logits)).cpu().numpy(), masks.numpy())
        scores = meter.compute()
        return {"loss": total / max(count, 1), "dice": float(scores["dice"]), "iou": float(scores["iou"])}

    # ----------------------------------------------------------------- files
    def _write_epoch_files(self, improved: bool) -> None:
        state = self.state()
        save_checkpoint(self.out_dir / "last.pt", state)
        if improved:
            save_checkpoint(self.out_dir / "best.pt", state)
        with atomic_path(self.out_dir / "log.csv", suffix=".csv") as tmp:
            pd.DataFrame(self.history, columns=list(LOG_COLUMNS)).to_csv(tmp, index=False)

    def _start_wandb(self) -> None:
        if not self.config.wandb:
            return
        try:
            import wandb
        except ImportError:
            warnings.warn("wandb is not installed; logging to log.csv only", stacklevel=2)
            return
        os.environ.setdefault("WANDB_MODE", "offline")
        self._wandb = wandb.init(dir=str(self.out_dir), config=self.config.to_dict(), reinit=True)

    def save_oof(self, path: str | Path | None = None) -> Path:
        """Predict the validation set with the best checkpoint; write probabilities (uint8 0–255) and targets."""
        path = Path(path or self.out_dir / "oof.npz")
        best = self.out_dir / "best.pt"
        if best.exists():
            unwrap(self.model).load_state_dict(load_checkpoint(best)["model"])
        probs, targets = [], []
        for p, m in self.predict():
            probs.append(np.round(p.numpy() * 255).astype(np.uint8))
            targets.append(m.numpy().astype(np.uint8))
        items = self.val_data.items if hasattr(self.val_data, "items") else pd.DataFrame()
        id_column = "tile" if "tile" in items else "id"
        ids = np.asarray(items.get(id_column, pd.Series(dtype=str)).astype(str).tolist(), dtype=str)
        groups = (np.asarray(items["organ"].astype(str).tolist(), dtype=str) if "organ" in items
                  else np.full(len(ids), "", dtype=str))
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, probs=np.concatenate(probs), targets=np.concatenate(targets), ids=ids,
                                groups=groups)
        return path

    def summary(self) -> dict[str, Any]:
        """Best validation Dice and epoch, epochs run, why the last ``fit`` stopped, the per-epoch history."""
        return {"best_dice": self.best_score, "best_epoch": self.best_epoch + 1, "epochs": self.epoch,
                "stopped": self.stopped, "history": list(self.history)}
