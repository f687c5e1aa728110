"""Shared data for the tokenization tests: random smooth action chunks normalized to [-1, 1]."""

import numpy as np
import pytest

HORIZON = 10
ACTION_DIM = 7
TRAIN_CHUNKS = 600


def make_smooth_chunks(
    rng: np.random.Generator, count: int, horizon: int = HORIZON, action_dim: int = ACTION_DIM
) -> np.ndarray:
    """Offset + slow sinusoid + linear drift per dimension, clipped to [-1, 1]: robot-like trajectories."""
    t = np.linspace(0.0, 1.0, horizon)[None, :, None]
    shape = (count, 1, action_dim)
    offset = rng.uniform(-0.5, 0.5, shape)
    amplitude = rng.uniform(0.0, 0.4, shape)
    frequency = rng.uniform(0.1, 1.5, shape)
    phase = rng.uniform(0.0, 2 * np.pi, shape)
    drift = rng.uniform(-0.3, 0.3, shape)
    return np.clip(offset + amplitude * np.sin(2 * np.pi * frequency * t + phase) + drift * t, -1.0, 1.0)


@pytest.fixture(scope="session")
def train_chunks() -> np.ndarray:
    return make_smooth_chunks(np.random.default_rng(0), TRAIN_CHUNKS)


@pytest.fixture(scope="session")
def test_chunks() -> np.ndarray:
    return make_smooth_chunks(np.random.default_rng(1), 200)


@pytest.fixture(scope="session")
def fast_tokenizer(train_chunks):
    from mgselect_node.tokenization.fast_tokenizer import FastActionTokenizer

    return FastActionTokenizer.fit(train_chunks, vocab_size=512, scale=10.0)
