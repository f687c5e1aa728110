"""Generate the LeRobot pi0_fast golden files: a tiny trained checkpoint saved by LeRobot 0.6.1 itself, and
LeRobot's own outputs on fixed observations (prompt ids, greedy tokens, per-step logits, actions).

Run inside the side venv made by make_venv.sh (never the project's venv):
    /work/side/lerobot-venv/bin/python scripts/lerobot_golden/make_golden.py tests/data/lerobot_pi0fast_tiny

Why trained: a random tiny model emits garbage that LeRobot's prefix check rejects. A few hundred steps of
LeRobot's own training forward on synthetic chunks teach it the suffix layout ("Action: " FAST ids "|"), and
three special tasks teach it deliberately broken suffixes, so the goldens cover every decode outcome:
valid, too few / too many coefficients (LeRobot pads / truncates) and an id LeRobot cannot decode (its
zero chunk).
"""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import lerobot_shims
import numpy as np
import synthetic_tokenizers as st
import torch

torch.set_num_threads(1)
torch.manual_seed(0)

VOCAB = lerobot_shims.VOCAB  # text tokenizer base vocabulary (= embedding rows, as in LeRobot)
FAST_VOCAB = 512            # FAST BPE vocabulary
SCALE, MIN_TOKEN = 10.0, -354
HORIZON, ACTION_DIM, STATE_DIM = 10, 6, 6
CAMERAS = ("base", "wrist")
RESOLUTION = 28         # SigLIP image size (patch 14: 4 tokens per camera)
TASKS = ["pick up the red cube", "open the drawer", "move left", "stack the blue cube", "push the button",
         "close the drawer"]
# Special tasks whose training suffix is deliberately broken (see module docstring).
SHORT_TASK, LONG_TASK, BROKEN_TASK = "wave", "wave right", "wave left"
STATE_MEAN = np.array([0.1, -0.2, 0.3, 0.0, 0.5, -0.4])
STATE_STD = np.array([0.5, 0.4, 0.6, 0.3, 0.2, 0.7])
ACTION_MEAN = np.array([0.0, 0.1, -0.1, 0.2, 0.0, 0.3])
ACTION_STD = np.array([0.3, 0.5, 0.4, 0.2, 0.6, 0.1])


def chunk_for(task: str, state_norm: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normalized (H, D) action chunk: a smooth ramp from the state towards a task-specific target."""
    vec = np.random.default_rng(sum(map(ord, task))).normal(0, 0.6, ACTION_DIM)
    t = np.linspace(0, 1, HORIZON)[:, None]
    return np.tanh(state_norm[:ACTION_DIM])[None] * (1 - t) + vec[None] * t + rng.normal(0, 0.02, (1, ACTION_DIM))


def build_tokenizers(out: Path, rng: np.random.Generator):
    text = st.build_text_tokenizer(VOCAB)
    st.save_text_tokenizer(text, out / "paligemma_tokenizer")
    states = rng.normal(0, 1, (4000, STATE_DIM))
    tasks = rng.choice(TASKS, 4000)
    chunks = np.stack([chunk_for(k, s, rng) for k, s in zip(tasks, states, strict=True)])
    fast = st.build_fast_tokenizer(chunks, FAST_VOCAB, SCALE, MIN_TOKEN)
    st.save_fast_tokenizer(fast, out / "fast_tokenizer", SCALE, MIN_TOKEN)
    return text, fast


def make_policy(tok_dir: Path):
    from lerobot.configs import FeatureType, NormalizationMode, PolicyFeature
    from lerobot.policies.pi0_fast.configuration_pi0_fast import PI0FastConfig
    from lerobot.policies.pi0_fast.modeling_pi0_fast import PI0FastPolicy
    from lerobot.policies.pi0_fast.processor_pi0_fast import make_pi0_fast_pre_post_processors

    inputs = {f"observation.images.{c}": PolicyFeature(FeatureType.VISUAL, (3, RESOLUTION, RESOLUTION))
              for c in CAMERAS}
    inputs["observation.state"] = PolicyFeature(FeatureType.STATE, (STATE_DIM,))
    config = PI0FastConfig(
        input_features=inputs, output_features={"action": PolicyFeature(FeatureType.ACTION, (ACTION_DIM,))},
        chunk_size=HORIZON, n_action_steps=HORIZON, max_state_dim=8, max_action_dim=8, max_action_tokens=56,
        max_decoding_steps=48, tokenizer_max_length=48, image_resolution=(RESOLUTION, RESOLUTION),
        text_tokenizer_name=str(tok_dir / "paligemma_tokenizer"),
        action_tokenizer_name=str(tok_dir / "fast_tokenizer"), device="cpu", push_to_hub=False,
        normalization_mapping={"VISUAL": NormalizationMode.IDENTITY, "STATE": NormalizationMode.MEAN_STD,
                               "ACTION": NormalizationMode.MEAN_STD})
    policy = PI0FastPolicy(config)
    stats = {"observation.state": {"mean": torch.tensor(STATE_MEAN, dtype=torch.float32),
                                   "std": torch.tensor(STATE_STD, dtype=torch.float32)},
             "action": {"mean": torch.tensor(ACTION_MEAN, dtype=torch.float32),
                        "std": torch.tensor(ACTION_STD, dtype=torch.float32)}}
    pre, post = make_pi0_fast_pre_post_processors(config, dataset_stats=stats)
    return policy, pre, post


def suffix_ids(text, fast, chunk: np.ndarray, task: str) -> list[int]:
    """Training suffix [BOS] "Action: " FAST "|" EOS, broken on purpose for the special tasks."""
    fast_ids = fast.encode(st.fast_strings(chunk[None], SCALE, MIN_TOKEN)[0]).ids
    model_ids = [VOCAB - 1 - 128 - k for k in fast_ids]
    if task == SHORT_TASK:
        model_ids = model_ids[:-3]
    elif task == LONG_TASK:
        model_ids = model_ids + model_ids[:4]
    elif task == BROKEN_TASK:
        model_ids = [*model_ids[:3], text.token_to_id("<seg005>"), *model_ids[3:]]
    action = text.encode("Action: ", add_special_tokens=False).ids
    return [2, *action, *model_ids, text.token_to_id("|"), 1]


def random_batch(rng: np.random.Generator, size: int, tasks: list[str]):
    states = rng.normal(0, 1, (size, STATE_DIM))
    chosen = [tasks[i] for i in rng.integers(0, len(tasks), size)]
    batch = {f"observation.images.{c}": torch.rand(size, 3, RESOLUTION, RESOLUTION) for c in CAMERAS}
    batch["observation.state"] = torch.tensor(STATE_MEAN + states * STATE_STD, dtype=torch.float32)
    batch["task"] = chosen
    return batch, states, chosen


def train(policy, pre, text, fast, steps: int, rng: np.random.Generator) -> None:
    """LeRobot's own model-level training forward on synthetic (observation, suffix) pairs."""
    tasks = TASKS * 3 + [SHORT_TASK, LONG_TASK, BROKEN_TASK]
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-3, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    policy.train()
    for step in range(steps):
        batch, states, chosen = random_batch(rng, 16, tasks)
        processed = pre(batch)
        images, img_masks = policy._preprocess_images(processed)
        suffixes = [suffix_ids(text, fast, chunk_for(k, s, rng), k) for k, s in zip(chosen, states, strict=True)]
        width = max(map(len, suffixes))
        act = torch.zeros((16, width), dtype=torch.long)
        mask = torch.zeros((16, width), dtype=torch.bool)
        for i, ids in enumerate(suffixes):
            act[i, :len(ids)] = torch.tensor(ids)
            mask[i, :len(ids)] = True
        loss = policy.model.forward(images, img_masks, processed["observation.language.tokens"],
                                    processed["observation.language.attention_mask"], act, mask)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.3f}", flush=True)
    policy.eval()


def main(out: Path, steps: int) -> None:
    rng = np.random.default_rng(0)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    text, fast = build_tokenizers(out, rng)
    lerobot_shims.install()
    policy, pre, post = make_policy(out)
    lerobot_shims.untie_lm_head(policy)
    train(policy, pre, text, fast, steps, rng)
    ckpt = out / "checkpoint"
    policy.save_pretrained(ckpt)
    pre.save_pretrained(ckpt)
    post.save_pretrained(ckpt)
    import golden_record
    golden_record.record(out, ckpt, text, fast)
    lerobot_shims.publish_names(ckpt)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 600)
