"""Training samples: chunks, the one dataset format, condition dropout and its prompt variants."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.training.config import TrainConfig, parse_dropout
from mgselect_node.training.samples import (
    PROMPT_VARIANTS,
    action_chunks,
    sample_prompt_variants,
    training_episodes,
)
from mgselect_node.training.trainer import new_trainer

from .synthetic import synthetic_dataset, synthetic_episodes


def test_action_chunks_pad_with_the_last_action():
    actions = np.arange(6, dtype=float).reshape(3, 2)
    chunks = action_chunks(actions, 4)
    assert chunks.shape == (3, 4, 2)
    np.testing.assert_array_equal(chunks[1], [[2, 3], [4, 5], [4, 5], [4, 5]])


def test_training_reads_collect_datasets_skipping_failures_and_capping(tmp_path):
    episodes = synthetic_episodes(4)
    episodes[1] = replace(episodes[1], success=False)
    dataset = synthetic_dataset(tmp_path / "data", episodes)
    loaded = training_episodes(dataset)
    assert [e.seed for e in loaded] == [0, 2, 3]
    assert all(e.state.dtype == np.float64 and e.action.dtype == np.float64 for e in loaded)
    assert [e.seed for e in training_episodes(dataset, max_episodes=2)] == [0, 2]


def test_a_dataset_without_successes_is_refused(tmp_path):
    dataset = synthetic_dataset(tmp_path / "data", [replace(e, success=False) for e in synthetic_episodes(2)])
    with pytest.raises(InputError, match="no successful episodes"):
        training_episodes(dataset)


def test_dropout_one_for_text_gives_only_text_masked_prompts(tmp_path):
    rng = np.random.default_rng(0)
    variants = sample_prompt_variants(rng, 500, parse_dropout("text=1"))
    assert set(variants.tolist()) == {PROMPT_VARIANTS.index("text")}
    config = TrainConfig(out=str(tmp_path / "bundle"), horizon=4, fast_vocab=128, progress=False,
                         dropout=parse_dropout("text=1"))
    trainer = new_trainer(synthetic_dataset(tmp_path / "data"), config)
    batch = trainer.data.batch(trainer.rng.integers(len(trainer.data), size=16),
                               sample_prompt_variants(trainer.rng, 16, trainer.config.dropout))
    for row in range(16):
        prompt = batch.ids[row][batch.valid[row] & ~batch.suffix[row]].tolist()
        text = trainer.text_tokenizer.decode(prompt, skip_special_tokens=True)
        assert "Task: , State: " in text.replace("task", "Task").replace("state", "State")
        assert not any(word in text for word in ("red", "blue", "touch"))
        assert any(ch.isdigit() for ch in text)  # the state is still there


def test_dropout_mixture_frequencies_and_vanilla():
    rng = np.random.default_rng(1)
    assert set(sample_prompt_variants(rng, 200, parse_dropout("")).tolist()) == {0}
    counts = np.bincount(sample_prompt_variants(rng, 20000, parse_dropout("text=0.2,state=0.1,both=0.3")),
                         minlength=4) / 20000
    np.testing.assert_allclose(counts, [0.4, 0.2, 0.1, 0.3], atol=0.02)


def test_early_fraction_draws_that_share_of_each_batch_from_the_first_frames(tmp_path):
    config = TrainConfig(out=str(tmp_path / "bundle"), horizon=4, fast_vocab=128, progress=False)
    data = new_trainer(synthetic_dataset(tmp_path / "data"), config).data
    rng = np.random.default_rng(0)
    rows = np.stack([data.sample_indices(rng, 16, 0.5, 2) for _ in range(200)])
    early = data.frame_index[rows] < 2
    assert early[:, :8].all()  # the early half of every batch
    assert early[:, 8:].mean() == pytest.approx(np.mean(data.frame_index < 2), abs=0.05)  # the rest uniform
    # early_fraction 0 draws exactly what the plain recipe drew (same batches for existing recipes)
    np.testing.assert_array_equal(data.sample_indices(np.random.default_rng(3), 16, 0.0, 2),
                                  np.random.default_rng(3).integers(len(data), size=16))
    with pytest.raises(InputError, match="early_fraction"):
        TrainConfig(out="x", early_fraction=1.5)
