"""Training runs: loss falls, the bundle loads, resume is exact and refuses a changed recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mgselect_node.engine.policy import load_policy
from mgselect_node.errors import InputError
from mgselect_node.model.bundle import WEIGHTS_FILE
from mgselect_node.training.checkpoints import CHECKPOINT_DIR
from mgselect_node.training.config import TrainConfig
from mgselect_node.training.trainer import resume_trainer, train

from .synthetic import CAMERA, JOINTS, synthetic_dataset, synthetic_episodes


def config(tmp_path, **kwargs) -> TrainConfig:
    defaults = dict(out=str(tmp_path / "bundle"), steps=30, batch=8, lr=2e-3, horizon=4, fast_vocab=128,
                    checkpoint_every=1000, progress=False, weights_dtype="float32", log_every=1)
    return TrainConfig(**(defaults | kwargs))


def test_smoke_run_lowers_loss_and_writes_a_loadable_bundle(tmp_path):
    dataset = synthetic_dataset(tmp_path / "data")
    trainer = train(dataset, config(tmp_path, weights_dtype="float16"), keep_checkpoint=False)
    losses = [h["loss"] for h in trainer.history]
    assert trainer.step == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    out = tmp_path / "bundle"
    assert not (out / CHECKPOINT_DIR).exists()
    assert all(t.dtype == torch.float16 for t in load_file(str(out / WEIGHTS_FILE)).values())
    policy = load_policy(str(out))  # float32 from float16 storage
    assert policy.spec.joint_names == JOINTS and policy.spec.horizon == 4
    assert policy.spec.joint_lower == [-2.0] * 3 and policy.spec.control_rate == 10.0
    states = np.concatenate([e.state for e in synthetic_episodes()]).astype(np.float32)
    assert policy.spec.state_q01 == pytest.approx(np.quantile(states.astype(np.float64), 0.01, axis=0))
    episode = synthetic_episodes()[0]
    result = policy.select([episode.images[CAMERA][0]], episode.state[0], episode.instruction, strategy="greedy")
    assert result.timing.total_ms > 0 and len(result.candidates) == 1


def test_resume_continues_from_the_checkpoint_step_exactly(tmp_path):
    data = synthetic_dataset(tmp_path / "data")
    straight = train(data, config(tmp_path, steps=6, checkpoint_every=3))
    # The checkpoint holds step 3; resuming must replay steps 4..6 with the same batches and RNG draws.
    resumed = resume_trainer(data, config(tmp_path, steps=6, checkpoint_every=3))
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == 6
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]


def test_resume_refuses_changed_hyperparameters_and_missing_checkpoints(tmp_path):
    data = synthetic_dataset(tmp_path / "data")
    with pytest.raises(InputError, match="no checkpoint"):
        train(data, config(tmp_path), resume=True)
    train(data, config(tmp_path, steps=4, checkpoint_every=2))
    with pytest.raises(InputError, match="lr"):
        train(data, config(tmp_path, steps=8, checkpoint_every=2, lr=1e-2), resume=True)


def test_resume_reads_a_checkpoint_written_before_a_recipe_key_existed(tmp_path):
    data = synthetic_dataset(tmp_path / "data")
    train(data, config(tmp_path, steps=4, checkpoint_every=2))
    state_path = tmp_path / "bundle" / CHECKPOINT_DIR / "train_state.pt"
    state = torch.load(state_path, weights_only=False)
    for key in ("early_fraction", "early_frames"):
        del state["config"][key]
    torch.save(state, state_path)
    assert resume_trainer(data, config(tmp_path, steps=4, checkpoint_every=2)).step == 2  # defaults then
    with pytest.raises(InputError, match="early_fraction"):
        resume_trainer(data, config(tmp_path, steps=4, checkpoint_every=2, early_fraction=0.5))
