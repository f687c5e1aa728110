"""The analytic kinematics the expert plans with must agree with the MJCF MuJoCo simulates."""

import mujoco
import numpy as np
import pytest

from mgselect_node.sim.env import SimEnv
from mgselect_node.sim.kinematics import UnreachableError, forward_kinematics, inverse_kinematics

SAMPLES = 25


@pytest.fixture(scope="module")
def env() -> SimEnv:
    return SimEnv(seed=0, image_size=16)


def test_forward_kinematics_matches_mujoco_tip_site(env: SimEnv) -> None:
    rng = np.random.default_rng(1)
    for _ in range(SAMPLES):
        q = rng.uniform(env.joint_lower, env.joint_upper)
        env.data.qpos[:4] = q
        mujoco.mj_forward(env.model, env.data)
        np.testing.assert_allclose(forward_kinematics(q), env.tip_position, atol=1e-9)


def test_inverse_kinematics_round_trips_and_points_the_hand_down() -> None:
    rng = np.random.default_rng(2)
    for _ in range(SAMPLES):
        radial, angle, height = rng.uniform(0.15, 0.32), rng.uniform(-1.0, 1.0), rng.uniform(0.01, 0.15)
        tip = np.array([radial * np.cos(angle), radial * np.sin(angle), height])
        q = inverse_kinematics(tip)
        np.testing.assert_allclose(forward_kinematics(q), tip, atol=1e-9)
        assert q[2] > 0  # elbow up
        assert q[1] + q[2] + q[3] == pytest.approx(np.pi)  # hand link vertical, pointing down


def test_unreachable_target_is_reported_with_the_distance() -> None:
    with pytest.raises(UnreachableError, match="reachable is"):
        inverse_kinematics(np.array([0.6, 0.0, 0.0]))
