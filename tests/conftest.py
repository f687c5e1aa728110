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
