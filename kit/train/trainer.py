"""Trainer: epochs with AMP, accumulation and clipping, atomic checkpoints, exact resume, logs, OOF predictions."""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from kit.artifacts.run_folder import BEST_FILE, CONFIG_FILE, LAST_FILE, copy_tiles_files, log_columns
from kit.artifacts.run_folder import write_epoch_files
from kit.artifacts.tiles import tiles_contract
from kit.models.checkpoint import load_checkpoint, non_finite_tensors, rng_state, set_rng_state, unwrap
from kit.models.spec import build_model_from_spec
from kit.train.builders import (amp_dtype, build_datasets, build_loader, build_optimizer, model_spec,
                                fold_groups, resolve_spec_weights)
from kit.train.config import TrainConfig
from kit.train.schedule import learning_rate
from kit.outputs import probabilities
from kit.train.validation import WholeImageValidator, score_tiles, tile_oof

__all__ = ["Trainer"]

class Trainer:
    """Fit one model with one recipe; every file it writes lives in ``config.out_dir``.

    Files: ``config.json``, ``tiling.json`` + ``stats.json`` (copies of the tiles', so the folder stands alone),
    ``last.pt`` (every epoch, atomic), ``best.pt`` (best validation Dice: whole held-out images scored with the
    competition metric, :mod:`kit.train.validation`; every checkpoint holds the model's input contract),
    ``log.csv`` (one row per epoch), ``oof.npz`` (per held-out image probabilities of the best model,
    :mod:`kit.artifacts.oof`; the folder's layout: :mod:`kit.artifacts.run_folder`),
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
        self.contract = tiles_contract(config.to_dict(), config.tiles_dir)
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
        self.class_names = config.class_names
        self.log_columns = log_columns(self.class_names)
        self.validator = None
        if self.is_main:
            self.validator = WholeImageValidator.create(config, val_data, self.device)
        self.train_loader = build_loader(train_data, config, train=True, rank=rank, world_size=world_size)
        self.val_loader = build_loader(val_data, config, train=False)
        self.loss_fn = build_loss(config.loss, mode=config.mode, ignore_index=config.ignore_index,
                                  output_kinds=getattr(unwrap(self.model), "output_kinds", None))
        self.optimizer = build_optimizer(self.model, config)
        self.amp_dtype = amp_dtype(config.amp, self.device)
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
        weights = state.get("model", state) if isinstance(state, dict) else state
        try:
            result = unwrap(self.model).load_state_dict(weights, strict=False)
        except (RuntimeError, TypeError, AttributeError) as err:  # shapes, or not a state_dict at all
            raise ValueError(f"init_from {path}: weights do not fit {self.spec['name']} "
                             f"({str(err).splitlines()[-1].strip()[:300]})") from None
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"init_from {path}: weights do not fit {self.spec['name']} "
                f"(missing {result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]})"
            )

    def state(self) -> dict[str, Any]:
        """Everything :meth:`resume` needs to continue as if never stopped, and the model's input contract."""
        from kit.models.contract import CONTRACT_KEY, OUTPUT_KEY, output_contract

        state = {
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
            OUTPUT_KEY: output_contract(self.config.mode, self.class_names),
        }
        if self.contract is not None:
            state[CONTRACT_KEY] = self.contract
        return state

    def resume(self, path: str | Path) -> None:
        """Restore model, optimiser, scaler, schedule step, epoch, history and RNG from a checkpoint."""
        state = load_checkpoint(path)
        same_optimizer = state.get("config", {}).get("optimizer", self.config.optimizer) == self.config.optimizer
        try:  # after an optimiser change (--resume-anyway) the new optimiser starts afresh
            unwrap(self.model).load_state_dict(state["model"])
            if same_optimizer:
                self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise ValueError(f"cannot resume from {path}: it does not fit this recipe's model or optimiser "
                             f"({type(err).__name__}: {str(err).strip()[-300:]}); "
                             "use a new folder or --fresh") from None
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
        last = self.out_dir / LAST_FILE
        if resume and last.exists():
            self.resume(last)
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.out_dir / CONFIG_FILE)
            copy_tiles_files(self.config.tiles_dir, self.out_dir)
            self._wandb = _start_wandb(self.config, self.out_dir)
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
        due = (epoch + 1) % self.config.val_every == 0 or epoch + 1 == self.config.epochs
        val = self._sync(self.validate() if self.is_main and due else None) if due else {}
        bad = non_finite_tensors(unwrap(self.model).state_dict())  # never saved, as best or last
        if bad or not all(math.isfinite(val[k]) for k in ("val_loss", "val_dice", "val_iou") if k in val):
            what = (f"model weights became NaN/inf ({', '.join(bad[:3])})" if bad else
                    f"validation loss became {val['val_loss']} (Dice {val['val_dice']})")
            raise FloatingPointError(self._non_finite_message(what, epoch))
        row = {"epoch": epoch + 1, "lr": self.optimizer.param_groups[0]["lr"], "train_loss": train_loss,
               **{c: val.get(c, math.nan) for c in self.log_columns[3:-1]},
               "seconds": time.perf_counter() - start}
        self.history.append(row)
        self.epoch = epoch + 1
        improved = due and val["val_dice"] > self.best_score
        if improved:
            self.best_score, self.best_epoch = val["val_dice"], epoch
        if self.is_main:
            write_epoch_files(self.out_dir, self.state(), self.history, self.log_columns, improved)
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
                    raise FloatingPointError(self._non_finite_message(f"loss became {loss.item()} (on some rank)",
                                                                      epoch, f", batch {i + 1}"))
                self.scaler.scale(loss / accum).backward()
            if boundary:
                self._optimizer_step()
            total += loss.item() * images.shape[0]
            count += images.shape[0]
            bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)

    def _non_finite_message(self, what: str, epoch: int, where: str = "") -> str:
        """One line: what became NaN/inf, where, which checkpoint is kept, what to try."""
        last = self.out_dir / LAST_FILE
        kept = (f"The last good checkpoint (epoch {self.epoch}) is kept at {last}" if self.epoch and last.exists()
                else "No checkpoint was written yet")
        return (f"{what} at epoch {epoch + 1}{where}; training stopped. {kept}. Lower max_lr, set clip_grad, "
                f"try amp='bf16' or 'off', or check the data.")

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
    @torch.no_grad()
    def predict(self, loader=None):
        """Yield (probabilities N×C×H×W float on CPU, masks) over ``loader`` (default: the validation loader)."""
        model = unwrap(self.model)  # no DDP collectives: rank 0 may evaluate alone
        model.eval()
        for images, masks in loader or self.val_loader:
            images, _ = self._to_device(images, masks)
            with self._autocast():
                logits = model(images)
            yield probabilities(logits, self.config.mode).float().cpu(), masks

    def validate(self) -> dict[str, float]:
        """One log row's validation columns: ``val_dice`` (+ ``val_dice_<class>``) and ``val_iou`` of the whole
        held-out images (the competition metric; tiles when there is no validator), ``val_images``, and from
        the validation loader ``val_loss`` and ``val_tile_dice`` (mean per-tile Dice, empty vs empty = 1)."""
        model = unwrap(self.model)  # no DDP collectives: rank 0 may evaluate alone
        tiles = score_tiles(model, self.val_loader, self.loss_fn, self.config, self._to_device, self._autocast)
        row = {"val_loss": tiles["loss"], "val_tile_dice": tiles["dice"], "val_images": 0}
        if self.validator is None:
            per_class = [tiles["per_class"][k]["dice"] for k in tiles["per_class"]]
            row.update(val_dice=tiles["dice"], val_iou=tiles["iou"])
        else:
            from kit.train.oof import score_images

            images = self.validator.predict(unwrap(self.model))
            scores = score_images(images, self.config.threshold, self.class_names)
            per_class = list(scores["per_class"].values())
            row.update(val_dice=scores["dice"], val_iou=scores["iou"], val_images=len(images))
        if len(self.class_names) > 1:
            row.update({f"val_dice_{name}": float(v) for name, v in zip(self.class_names, per_class)})
        return row

    # ----------------------------------------------------------------- files
    def save_oof(self, path: str | Path | None = None) -> Path:
        """Predict every held-out image with the best checkpoint and write ``oof.npz`` (:mod:`kit.artifacts.oof`):
        whole images at the working resolution, or the validation tiles when validating on tiles."""
        from kit.artifacts.oof import OOF_FILE, write_oof

        path = Path(path or self.out_dir / OOF_FILE)
        best = self.out_dir / BEST_FILE
        if best.exists():
            unwrap(self.model).load_state_dict(load_checkpoint(best)["model"])
        items = getattr(self.val_data, "items", pd.DataFrame())
        if self.validator is not None:
            images = self.validator.predict(unwrap(self.model), self.validator.images, truth=True)
        else:
            images = tile_oof(self.predict(), items, self.config)
        groups = fold_groups(self.config, items, [im.id for im in images])  # grouping of the ensemble's OOF spread
        for im, group in zip(images, groups[1] if groups else []):
            im.fold_group, im.fold_column = group, groups[0]
        return write_oof(path, images)

    def summary(self) -> dict[str, Any]:
        """Best validation Dice and epoch, epochs run, why the last ``fit`` stopped, the per-epoch history."""
        return {"best_dice": self.best_score, "best_epoch": self.best_epoch + 1, "epochs": self.epoch,
                "stopped": self.stopped, "history": list(self.history)}


def _start_wandb(config: TrainConfig, out_dir: Path) -> Any | None:
    """An offline wandb run in ``out_dir`` when ``config.wandb`` (None when off or wandb is not installed)."""
    if not config.wandb:
        return None
    try:
        import wandb
    except ImportError:
        warnings.warn("wandb is not installed; logging to log.csv only", stacklevel=2)
        return None
    os.environ.setdefault("WANDB_MODE", "offline")
    return wandb.init(dir=str(out_dir), config=config.to_dict(), reinit=True)
