"""Test-wide isolation: DDS on loopback with a random domain for this run (children inherit it)."""

import os

from mgselect_node.ros.dds_env import use_loopback

use_loopback()
os.environ.setdefault("MUJOCO_GL", "egl")
# One torch/OpenMP thread per process: the suite runs node and replay processes beside the test process on
# a 2-core machine, and oversubscribed OpenMP threads make CPU inference 10-50x slower.
os.environ["OMP_NUM_THREADS"] = "1"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def random_bundle(tmp_path_factory) -> str:
    """A random-weight tiny bundle (FAST actions), built once per test session."""
    from mgselect_node.model.random_bundle import make_random_bundle

    return str(make_random_bundle(tmp_path_factory.mktemp("bundle") / "tiny-random", seed=0))


LEROBOT_TINY = os.path.join(os.path.dirname(__file__), "data", "lerobot_pi0fast_tiny")


@pytest.fixture(scope="session")
def lerobot_tiny():
    """(checkpoint dir, LoadOptions) of the tiny pi0_fast policy saved by LeRobot 0.6.1 (scripts/lerobot_golden)."""
    from mgselect_node.model.formats import LoadOptions

    return os.path.join(LEROBOT_TINY, "checkpoint"), LoadOptions(
        text_tokenizer=os.path.join(LEROBOT_TINY, "paligemma_tokenizer"),
        action_tokenizer=os.path.join(LEROBOT_TINY, "fast_tokenizer"))


@pytest.fixture(scope="session")
def lerobot_tiny_bundle(lerobot_tiny):
    from mgselect_node.model.bundle import load_bundle

    path, options = lerobot_tiny
    return load_bundle(path, options=options)


EARLY_END_BUDGET = 40


@pytest.fixture(scope="session")
def early_ending_pairs():
    """(reference engine, engine, images, state, seeds, temperature) -> one (reference result, result) pair per
    seed, decoded hot among the terminator and three action tokens (select(allowed_tokens=...)), so rows end
    early and at different steps: tests of the decode loop's finished handling. Also returns whether some
    call ended well before the budget with rows of different lengths (the case under test)."""
    from mgselect_node.config import SelectionConfig

    def run(reference, engine, images, state, seeds, temperature):
        allowed = engine.token_mask() & ~engine.token_mask(terminator=False)  # the terminator alone
        first = engine.bundle.layout.first_action_model_id
        allowed[first:first + 3] = True
        pairs, ended_early = [], False
        for seed in seeds:
            config = SelectionConfig(num_candidates=4, temperature=temperature, seed=seed,
                                     max_action_tokens=EARLY_END_BUDGET, complete_chunks=False)
            pair = tuple(e.select(images, state, "pick up the red cube", config, fallback=False,
                                  allowed_tokens=allowed) for e in (reference, engine))
            lengths = [len(t) for t in pair[1].tokens]
            ended_early |= max(lengths) < EARLY_END_BUDGET - 4 and len(set(lengths)) > 1
            pairs.append(pair)
        return pairs, ended_early

    return run
