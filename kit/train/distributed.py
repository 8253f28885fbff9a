"""Multi-GPU training with DistributedDataParallel (e.g. both T4s of a Kaggle T4 ×2), launchable from a notebook."""

from __future__ import annotations

import os
import socket
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from kit.train.config import TrainConfig

__all__ = ["fit_distributed", "free_port", "world_size_for", "loader_workers"]

MAX_LOADER_WORKERS = 4


def world_size_for(gpus: int | None) -> int:
    """Training processes for ``gpus``: as given, or (None) every visible GPU (Kaggle T4 x2: 2), at least 1."""
    if gpus is not None:
        if gpus < 1:
            raise ValueError(f"GPUS must be >= 1 or None (every visible GPU), got {gpus}")
        return int(gpus)
    return max(1, torch.cuda.device_count())


def loader_workers(workers: int | None, gpus: int | None = None) -> int:
    """DataLoader workers per training process: as given, or (None) the CPU cores shared out among the
    processes, at most 4 each (Kaggle's T4 x2 box has 4 cores: 2 per GPU)."""
    if workers is not None:
        if workers < 0:
            raise ValueError(f"WORKERS must be >= 0 or None, got {workers}")
        return int(workers)
    return max(0, min(MAX_LOADER_WORKERS, (os.cpu_count() or 1) // world_size_for(gpus)))


def free_port() -> int:
    """A free TCP port on localhost for the process group rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, config: dict[str, Any], port: int, backend: str) -> None:
    from kit.train.trainer import Trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world_size)
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank)
            device = f"cuda:{rank}"
        else:  # gloo: CPU processes sharing the cores
            device = "cpu"
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world_size))
        Trainer(TrainConfig.from_dict(config), rank=rank, world_size=world_size, device=device).fit()
        dist.barrier()
    finally:
        dist.destroy_process_group()


def fit_distributed(config: TrainConfig, world_size: int | None = None, backend: str | None = None) -> None:
    """Train ``config`` on ``world_size`` processes (default: every visible GPU); rank 0 writes the files.

    Runs from a notebook cell: the workers are spawned (not forked) processes that import the kit and get the
    config as a plain dict, so nothing has to be defined in ``__main__`` and CUDA is never initialised before
    the fork. Backend: NCCL when there is a GPU per process, else gloo on CPU (tests, debugging).
    With one GPU or none, prefer :func:`kit.train.run_training`, which also calls this for ``world_size`` > 1.
    """
    world_size = world_size or max(1, torch.cuda.device_count())
    backend = backend or ("nccl" if torch.cuda.is_available() and torch.cuda.device_count() >= world_size else "gloo")
    mp.spawn(_worker, args=(world_size, config.to_dict(), free_port(), backend), nprocs=world_size, join=True)
