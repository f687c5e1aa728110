"""Teacher-forced loss on the action suffix, through the model backend's own prefix-LM forward (the same
mask, embedding and positions the engine decodes with)."""

from __future__ import annotations

import torch

from mgselect_node.model.backend import VLABackend
from mgselect_node.training.samples import Batch


def suffix_logits(backend: VLABackend, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits (M, V), targets (M,)) over all M suffix tokens of the batch."""
    return backend.teacher_forced_logits(batch.ids, batch.valid, batch.suffix, batch.pixels)


def suffix_loss(backend: VLABackend, batch: Batch) -> tuple[torch.Tensor, float]:
    """Mean cross-entropy over the suffix tokens, the terminator included (it teaches the model to stop after
    exactly horizon x dim coefficients, i.e. to emit VALID sequences), and the token accuracy."""
    logits, targets = suffix_logits(backend, batch)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    accuracy = float((logits.argmax(dim=-1) == targets).float().mean())
    return loss, accuracy
