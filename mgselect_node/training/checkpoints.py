"""Resumable checkpoints: OUT/checkpoint holds a loadable float32 bundle plus train_state.pt (optimizer, LR
schedule, step, numpy + torch RNG states), so `--resume` continues bit for bit (same batches, same dropout
draws)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mgselect_node.errors import InputError
from mgselect_node.model.bundle import PolicyBundle, load_bundle, save_bundle
from mgselect_node.training.config import TrainConfig

if TYPE_CHECKING:
    from mgselect_node.training.trainer import Trainer

CHECKPOINT_DIR = "checkpoint"
CHECKPOINT_BUNDLE = "bundle"
TRAIN_STATE_FILE = "train_state.pt"
CHECKPOINT_WEIGHTS_DTYPE = "float32"  # exact continuation needs the full-precision weights


def save_checkpoint(trainer: Trainer) -> Path:
    """Write OUT/checkpoint atomically (a temporary directory renamed over the old one)."""
    root = Path(trainer.config.out)
    final, tmp = root / CHECKPOINT_DIR, root / (CHECKPOINT_DIR + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_bundle(tmp / CHECKPOINT_BUNDLE, trainer.spec, trainer.model, trainer.text_tokenizer,
                trainer.action_tokenizer, weights_dtype=CHECKPOINT_WEIGHTS_DTYPE)
    torch.save({
        "step": trainer.step, "config": trainer.config.to_dict(), "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(), "numpy_rng": trainer.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(), "history": trainer.history, "elapsed_s": trainer.elapsed_s,
    }, tmp / TRAIN_STATE_FILE)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def load_checkpoint(config: TrainConfig) -> tuple[PolicyBundle, dict[str, Any]]:
    """The checkpoint's bundle and training state; refuses one written with a different recipe."""
    root = Path(config.out) / CHECKPOINT_DIR
    state_path = root / TRAIN_STATE_FILE
    if not state_path.is_file():
        raise InputError(f"--resume: no checkpoint at {root} (expected {TRAIN_STATE_FILE} there)")
    state = torch.load(state_path, weights_only=False)
    saved = state["config"]
    # A key the checkpoint predates had its default then.
    defaults = TrainConfig(out=config.out)
    changed = [k for k in TrainConfig.RESUME_KEYS if saved.get(k, getattr(defaults, k)) != getattr(config, k)]
    if changed:
        raise InputError(f"--resume: {changed} differ from the checkpoint's "
                         f"({ {k: saved.get(k) for k in changed} }); pass the same values to continue")
    return load_bundle(str(root / CHECKPOINT_BUNDLE), dtype=CHECKPOINT_WEIGHTS_DTYPE), state


def restore_state(trainer: Trainer, state: dict[str, Any]) -> None:
    """Put the optimizer, schedule, RNG streams, step and history back where the checkpoint left them."""
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scheduler.load_state_dict(state["scheduler"])
    trainer.rng.bit_generator.state = state["numpy_rng"]
    torch.set_rng_state(state["torch_rng"])
    trainer.step = int(state["step"])
    trainer.history = list(state["history"])
    trainer.elapsed_s = float(state["elapsed_s"])


def discard_checkpoint(out: str | Path) -> None:
    shutil.rmtree(Path(out) / CHECKPOINT_DIR, ignore_errors=True)
