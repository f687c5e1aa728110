"""Training: the forward pass matches transformers' prefix-LM, loss falls, resume is exact, dropout is right."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mgselect_node.engine.policy import load_policy
from mgselect_node.errors import InputError
from mgselect_node.model.bundle import WEIGHTS_FILE
from mgselect_node.training.train import (
    CHECKPOINT_DIR,
    PROMPT_VARIANTS,
    Dataset,
    Episode,
    TrainConfig,
    action_chunks,
    new_trainer,
    parse_dropout,
    sample_prompt_variants,
    suffix_logits,
    train,
)

JOINTS = ["j1", "j2", "j3"]
INSTRUCTIONS = ["touch the red pad", "touch the blue pad"]
FRAMES = 12
IMAGE = 32


def synthetic_dataset(episodes: int = 4, seed: int = 0) -> Dataset:
    """Smooth joint trajectories towards an instruction-dependent goal, with a coloured square in the image."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(episodes):
        goal = np.array([0.8, -0.4, 0.3]) * (1 if k % 2 == 0 else -1)
        start = rng.uniform(-0.2, 0.2, len(JOINTS))
        alpha = np.linspace(0.0, 1.0, FRAMES)[:, None]
        states = start + (goal - start) * alpha
        actions = np.vstack([states[1:], states[-1:]])
        images = np.zeros((FRAMES, 1, IMAGE, IMAGE, 3), dtype=np.uint8)
        images[:, 0, 4:12, 4:12, k % 2 * 2] = 255
        out.append(Episode(images=images, states=states, actions=actions, instruction=INSTRUCTIONS[k % 2]))
    return Dataset(episodes=out, joint_names=JOINTS, camera_names=["front"], control_rate=10.0,
                   joint_lower=[-2.0] * 3, joint_upper=[2.0] * 3, source="synthetic test data")


def config(tmp_path, **kwargs) -> TrainConfig:
    defaults = dict(out=str(tmp_path / "bundle"), steps=30, batch=8, lr=2e-3, horizon=4, fast_vocab=128,
                    checkpoint_every=1000, progress=False, weights_dtype="float32", log_every=1)
    return TrainConfig(**(defaults | kwargs))


def test_action_chunks_pad_with_the_last_action():
    actions = np.arange(6, dtype=float).reshape(3, 2)
    chunks = action_chunks(actions, 4)
    assert chunks.shape == (3, 4, 2)
    np.testing.assert_array_equal(chunks[1], [[2, 3], [4, 5], [4, 5], [4, 5]])


def test_training_forward_matches_transformers_prefix_lm(tmp_path):
    """Our explicit-mask forward must give the logits transformers' PaliGemma gives with token_type_ids."""
    trainer = new_trainer(synthetic_dataset(), config(tmp_path))
    model = trainer.model.eval()
    batch = trainer.data.batch(np.array([0, 5, 17]), np.array([0, 1, 3]))
    with torch.no_grad():
        ours, targets = suffix_logits(model, batch)
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


def test_smoke_run_lowers_loss_and_writes_a_loadable_bundle(tmp_path):
    trainer = train(synthetic_dataset(), config(tmp_path, weights_dtype="float16"), keep_checkpoint=False)
    losses = [h["loss"] for h in trainer.history]
    assert trainer.step == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3]), losses
    out = tmp_path / "bundle"
    assert not (out / CHECKPOINT_DIR).exists()
    assert all(t.dtype == torch.float16 for t in load_file(str(out / WEIGHTS_FILE)).values())
    policy = load_policy(str(out))  # float32 from float16 storage
    assert policy.spec.joint_names == JOINTS and policy.spec.horizon == 4
    assert policy.spec.state_q01 == pytest.approx(
        np.quantile(np.concatenate([e.states for e in synthetic_dataset().episodes]), 0.01, axis=0))
    episode = synthetic_dataset().episodes[0]
    result = policy.select([episode.images[0, 0]], episode.states[0], episode.instruction, strategy="greedy")
    assert result.timing.total_ms > 0 and len(result.candidates) == 1


def test_resume_continues_from_the_checkpoint_step_exactly(tmp_path):
    data = synthetic_dataset()
    straight = train(data, config(tmp_path, steps=6, checkpoint_every=3))
    # The checkpoint holds step 3; resuming must replay steps 4..6 with the same batches and RNG draws.
    resumed_cfg = config(tmp_path, steps=6, checkpoint_every=3)
    from mgselect_node.training.train import resume_trainer

    resumed = resume_trainer(data, resumed_cfg)
    assert resumed.step == 3
    resumed.run()
    assert resumed.step == 6
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(),
                            strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history]


def test_resume_refuses_changed_hyperparameters_and_missing_checkpoints(tmp_path):
    data = synthetic_dataset()
    with pytest.raises(InputError, match="no checkpoint"):
        train(data, config(tmp_path), resume=True)
    train(data, config(tmp_path, steps=4, checkpoint_every=2))
    with pytest.raises(InputError, match="lr"):
        train(data, config(tmp_path, steps=8, checkpoint_every=2, lr=1e-2), resume=True)


def test_dropout_one_for_text_gives_only_text_masked_prompts(tmp_path):
    rng = np.random.default_rng(0)
    variants = sample_prompt_variants(rng, 500, parse_dropout("text=1"))
    assert set(variants.tolist()) == {PROMPT_VARIANTS.index("text")}
    trainer = new_trainer(synthetic_dataset(), config(tmp_path, dropout=parse_dropout("text=1")))
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


@pytest.mark.parametrize("text", ["image=0.1", "text=2", "text=0.6,state=0.6", "text=abc", "text"])
def test_bad_dropout_is_rejected_clearly(text):
    with pytest.raises(InputError, match="dropout"):
        parse_dropout(text)


def color_swap_fixture():
    from mgselect_node.training.train import ColorSwap

    names = ["red", "green", "blue"]
    palette = np.array([[214, 24, 24], [24, 178, 36], [24, 59, 225]], dtype=np.float32)
    return ColorSwap(names, palette, background=np.array([195, 185, 166], dtype=np.float32))


def test_color_swap_recolours_pads_and_words_together_and_nothing_else():
    swap = color_swap_fixture()
    image = np.empty((8, 8, 3), dtype=np.uint8)
    image[:] = swap.background.astype(np.uint8)
    image[1:3, 1:3] = swap.palette[0]                                   # a red pad
    image[5, 5] = np.round(0.5 * swap.background + 0.5 * swap.palette[2])  # half a blue pixel (pad edge)
    image[6, 1] = (142, 147, 156)                                       # grey arm highlight: not a pad
    labels, alpha = swap.maps(image)
    perm = np.array([2, 0, 1])  # red -> blue, green -> red, blue -> green
    out = swap.apply(image, labels, alpha, perm)
    np.testing.assert_array_equal(out[1:3, 1:3], np.broadcast_to(swap.palette[2], (2, 2, 3)))
    np.testing.assert_allclose(out[5, 5], 0.5 * swap.background + 0.5 * swap.palette[1], atol=1.5)
    untouched = np.ones((8, 8), dtype=bool)
    untouched[1:3, 1:3] = untouched[5, 5] = False
    np.testing.assert_array_equal(out[untouched], image[untouched])
    np.testing.assert_array_equal(swap.apply(image, labels, alpha, np.arange(3)), image)
    assert swap.instruction("touch the red pad", perm) == "touch the blue pad"
    assert swap.instruction("touch the reddish pad near green", perm) == "touch the reddish pad near red"


def test_color_swapped_rows_get_the_swapped_instruction(tmp_path):
    trainer = new_trainer(synthetic_dataset(), config(tmp_path))
    swap = color_swap_fixture()
    trainer.data.enable_color_swap(swap)
    index = next(i for i, text in enumerate(trainer.data.instructions) if "red" in text)
    from mgselect_node.training.train import Recolor

    batch = trainer.data.batch(np.array([index, index]), np.array([0, 0]), [Recolor(np.array([2, 0, 1])), None])
    texts = [trainer.text_tokenizer.decode(batch.ids[r][batch.valid[r] & ~batch.suffix[r]].tolist(),
                                           skip_special_tokens=True) for r in range(2)]
    assert "touch the blue pad" in texts[0] and "touch the red pad" in texts[1]
    # The suffix (the action) is the same: only the naming of the target changed.
    assert batch.ids[0][batch.suffix[0]].tolist() == batch.ids[1][batch.suffix[1]].tolist()


def test_distractor_removal_keeps_only_the_named_pad():
    swap = color_swap_fixture()
    image = np.empty((6, 6, 3), dtype=np.uint8)
    image[:] = swap.background.astype(np.uint8)
    image[1, 1] = swap.palette[0]  # red (named)
    image[4, 4] = swap.palette[2]  # blue (distractor)
    labels, alpha = swap.maps(image)
    out = swap.apply(image, labels, alpha, np.arange(3), keep=swap.target("touch the red pad"))
    np.testing.assert_array_equal(out[1, 1], swap.palette[0])
    np.testing.assert_array_equal(out[4, 4], swap.background)
    assert swap.target("touch the blue pad") == 2 and swap.target("wave hello") is None


def test_mirror_doubles_episodes_with_flipped_images_and_negated_joints():
    from mgselect_node.training.train import mirrored

    data = synthetic_dataset(episodes=2)
    both = mirrored(data, ["j1"])
    assert len(both.episodes) == 4 and "mirror" in both.source
    original, flipped = both.episodes[0], both.episodes[2]
    np.testing.assert_array_equal(flipped.images, original.images[:, :, :, ::-1])
    np.testing.assert_allclose(flipped.states[:, 0], -original.states[:, 0])
    np.testing.assert_allclose(flipped.actions[:, 1:], original.actions[:, 1:])
    assert flipped.instruction == original.instruction
    with pytest.raises(InputError, match="mirror-joints"):
        mirrored(data, ["elbow"])
