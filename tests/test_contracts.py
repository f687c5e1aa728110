"""The process contracts: names every process agrees on, and the seed formulas replay and evaluation rely on."""

from __future__ import annotations

import pytest

from mgselect_node import contracts as c


def test_topic_names():
    assert c.private_topic(c.SELECTION) == "/mgselect/selection"
    assert c.private_topic(c.INSTRUCTION) == "/mgselect/instruction"
    assert c.private_topic(c.EPISODE_RESULT, c.SIM_NODE_NAME) == "/mgselect_sim/episode_result"
    assert c.private_topic(c.SELECTION, "/r1/mgselect/") == "/r1/mgselect/selection"
    assert c.trajectory_topic() == "arm_controller/joint_trajectory"
    assert c.trajectory_topic("/left_arm/") == "/left_arm/joint_trajectory"
    assert c.lifecycle_service("mgselect", "get_state") == "/mgselect/get_state"
    assert c.diagnostic_prefix() == "mgselect:"


@pytest.mark.parametrize("base, index", [(0, 0), (7, 3), (2**31 - 1, 1), (5, 2**31 + 4)])
def test_inference_seed_wraps_into_the_seed_range_and_base_seed_inverts_it(base, index):
    seed = c.inference_seed(base, index)
    assert 0 <= seed < c.SEED_MODULUS
    assert seed == (base + index) % 2**31
    assert c.inference_seed(c.base_seed_for(seed, index), index) == seed
    assert c.base_seed_for(seed, index) == base % c.SEED_MODULUS


def test_episode_seeds_keep_scenes_apart():
    assert c.episode_inference_seed(1_000_000, 3) == (1_000_000 * 1000 + 3) % 2**31
    seeds = {c.episode_inference_seed(scene, k) for scene in range(5) for k in range(c.EPISODE_SEED_STRIDE)}
    assert len(seeds) == 5 * c.EPISODE_SEED_STRIDE
