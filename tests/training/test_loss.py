"""The training forward is the backend's prefix-LM forward, and it matches transformers' own prefix-LM."""

from __future__ import annotations

import numpy as np
import torch

from mgselect_node.training.config import TrainConfig
from mgselect_node.training.loss import suffix_logits, suffix_loss
from mgselect_node.training.trainer import new_trainer

from .synthetic import synthetic_dataset


def test_training_forward_matches_transformers_prefix_lm(tmp_path):
    """The backend's teacher-forced logits equal PaliGemma's with token_type_ids, row by row, unpadded."""
    config = TrainConfig(out=str(tmp_path / "bundle"), horizon=4, fast_vocab=128, progress=False)
    trainer = new_trainer(synthetic_dataset(tmp_path / "data"), config)
    model = trainer.model.eval()
    batch = trainer.data.batch(np.array([0, 5, 17]), np.array([0, 1, 3]))
    with torch.no_grad():
        ours, targets = suffix_logits(trainer.backend, batch)
        start = 0
        for row in range(batch.ids.shape[0]):
            n = int(batch.valid[row].sum())
            ids = batch.ids[row:row + 1, :n]
            token_type = batch.suffix[row:row + 1, :n].long()
            hf = model(input_ids=ids, pixel_values=batch.pixels[row:row + 1], token_type_ids=token_type).logits
            suffix_len = int(token_type.sum())
            expected = hf[0, n - suffix_len - 1:n - 1].float()
            torch.testing.assert_close(ours[start:start + suffix_len], expected, atol=1e-4, rtol=1e-4)
            assert targets[start:start + suffix_len].tolist() == ids[0, n - suffix_len:].tolist()
            start += suffix_len
        assert start == len(targets)


def test_loss_has_gradients_and_is_the_mean_cross_entropy(tmp_path):
    config = TrainConfig(out=str(tmp_path / "bundle"), horizon=4, fast_vocab=128, progress=False)
    trainer = new_trainer(synthetic_dataset(tmp_path / "data"), config)
    batch = trainer.data.batch(np.array([1, 2, 3]), np.array([0, 0, 2]))
    loss, accuracy = suffix_loss(trainer.backend, batch)
    loss.backward()
    assert trainer.model.model.vision_tower.get_input_embeddings().weight.grad.abs().sum() > 0
    logits, targets = suffix_logits(trainer.backend, batch)
    expected = -torch.log_softmax(logits, dim=-1)[torch.arange(len(targets)), targets].mean()
    torch.testing.assert_close(loss.detach(), expected.detach())
    assert 0.0 <= accuracy <= 1.0
