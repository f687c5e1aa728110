"""Build policy bundles in code: random-weight bundles for tests and benchmarks, and the skeleton that
training fills in. Nothing is downloaded."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mgselect_node.model.bundle import save_bundle
from mgselect_node.model.presets import TINY, ModelDims, build_config, build_model
from mgselect_node.model.spec import PolicySpec
from mgselect_node.tokenization.bin_tokenizer import BinActionTokenizer
from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer
from mgselect_node.tokenization.text_tokenizer import build_text_tokenizer

DEFAULT_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow", "wrist_flex", "wrist_roll", "gripper")
DEFAULT_INSTRUCTIONS = ("pick up the red cube", "push the blue block to the green pad",
                        "touch the yellow ball", "open the gripper", "place the cube in the bowl")
SYNTHETIC_CHUNKS = 2000
SYNTHETIC_FREQUENCIES = 3  # smooth chunks: a few low-frequency components per joint


def synthetic_chunks(count: int, horizon: int, action_dim: int, seed: int = 0) -> np.ndarray:
    """Smooth random chunks in normalized units [-1, 1], shaped like joint trajectories."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    offset = rng.uniform(-0.6, 0.6, (count, 1, action_dim))
    amp = rng.uniform(0.0, 0.3, (count, SYNTHETIC_FREQUENCIES, 1, action_dim))
    freq = rng.uniform(0.2, 1.5, (count, SYNTHETIC_FREQUENCIES, 1, action_dim))
    phase = rng.uniform(0, 2 * np.pi, (count, SYNTHETIC_FREQUENCIES, 1, action_dim))
    waves = (amp * np.sin(2 * np.pi * freq * t[:, None] + phase)).sum(axis=1)
    return np.clip(offset + waves, -1.0, 1.0)


def fit_action_tokenizer(kind: str, chunks: np.ndarray, vocab_size: int):
    if kind == "fast":
        return FastActionTokenizer.fit(chunks, vocab_size=vocab_size)
    return BinActionTokenizer.fit(chunks)


def make_bundle(out: str | Path, spec: PolicySpec, action_chunks: np.ndarray, instructions: Sequence[str],
                dims: ModelDims = TINY, fast_vocab_size: int = 256, seed: int = 0):
    """A bundle with freshly initialised weights, tokenizers fitted to `action_chunks` (normalized).

    Returns (path, model, text_tokenizer, action_tokenizer) so training can continue from it.
    """
    text_tokenizer = build_text_tokenizer(list(instructions))
    action_tokenizer = fit_action_tokenizer(spec.action_tokenizer, action_chunks, fast_vocab_size)
    vocab = text_tokenizer.get_vocab_size() + action_tokenizer.vocab_size
    model = build_model(build_config(vocab, dims), seed=seed)
    path = save_bundle(Path(out), spec, model, text_tokenizer, action_tokenizer)
    return path, model, text_tokenizer, action_tokenizer


def random_spec(name: str = "tiny-random", joints: Sequence[str] = DEFAULT_JOINTS, cameras: Sequence[str] = ("front",),
                horizon: int = 10, control_rate: float = 10.0, image_size: int = TINY.image_size,
                action_tokenizer: str = "fast", action_mode: str = "absolute",
                max_action_tokens: int = 48) -> PolicySpec:
    dim = len(joints)
    return PolicySpec(
        name=name, camera_names=list(cameras), image_size=image_size, joint_names=list(joints),
        horizon=horizon, control_rate=control_rate, state_q01=[-1.5] * dim, state_q99=[1.5] * dim,
        action_q01=[-1.5] * dim, action_q99=[1.5] * dim, action_mode=action_mode,
        action_tokenizer=action_tokenizer, max_action_tokens=max_action_tokens,
        joint_lower=[-2.0] * dim, joint_upper=[2.0] * dim,
        description="random weights: for tests and benchmarks, not for moving a robot")


def make_random_bundle(out: str | Path, dims: ModelDims = TINY, seed: int = 0, **spec_kwargs) -> Path:
    """A complete random-weight bundle (tests, benchmarks, presets)."""
    spec = random_spec(image_size=dims.image_size, **spec_kwargs)
    chunks = synthetic_chunks(SYNTHETIC_CHUNKS, spec.horizon, spec.action_dim, seed=seed)
    return make_bundle(out, spec, chunks, DEFAULT_INSTRUCTIONS, dims=dims, seed=seed)[0]
