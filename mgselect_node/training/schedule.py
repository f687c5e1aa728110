"""Optimizer and learning-rate schedule: AdamW (no decay on embeddings, norms, biases), linear warm-up, then
cosine decay to a floor (or constant)."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from mgselect_node.training.config import TrainConfig

WARMUP_FRACTION = 0.05
MIN_LR_FRACTION = 0.1        # cosine decays to this fraction of the peak LR
WEIGHT_DECAY = 0.01
ADAM_BETAS = (0.9, 0.95)


def lr_lambda(total_steps: int, schedule: str) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to MIN_LR_FRACTION (or constant)."""
    warmup = max(1, int(total_steps * WARMUP_FRACTION))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return MIN_LR_FRACTION + (1.0 - MIN_LR_FRACTION) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def make_optimizer(model: torch.nn.Module, config: TrainConfig
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    decay = [p for n, p in model.named_parameters() if _decays(n, p)]
    no_decay = [p for n, p in model.named_parameters() if not _decays(n, p)]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=ADAM_BETAS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config.steps, config.schedule))
    return optimizer, scheduler


def _decays(name: str, parameter: torch.nn.Parameter) -> bool:
    """Weight decay only on matrices that are not embeddings."""
    return parameter.ndim >= 2 and "embed" not in name
