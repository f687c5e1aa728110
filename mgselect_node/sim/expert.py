"""Scripted expert for SimEnv: a joint-space waypoint planner on top of the analytic IK.

Why this plan: it is what a careful teleoperator does and what a small policy can imitate from tens of demos:
(1) a smooth minimum-jerk move in joint space from the start pose to a hover pose above the named pad,
(2) a straight vertical descent onto the pad (IK at every control step, so the fingertip stays over the pad),
(3) hold. It reads the target pad from the simulator (privileged), never from the image.
Every action is an absolute joint position target for the next control step, as the policies emit them.
"""

from __future__ import annotations

import math

import numpy as np

from mgselect_node.sim.env import SimEnv
from mgselect_node.sim.kinematics import inverse_kinematics

HOVER_HEIGHT = 0.06  # m above the touch point where the descent starts
MAX_JOINT_SPEED = 0.8  # rad/s: peak joint speed of the transfer move
MIN_TRANSFER_SECONDS = 1.5
MAX_TRANSFER_SECONDS = 4.0
DESCENT_SECONDS = 1.5
# Peak speed of a minimum-jerk profile is 15/8 times its mean speed.
MIN_JERK_PEAK_FACTOR = 15.0 / 8.0


def min_jerk(fraction: np.ndarray | float) -> np.ndarray | float:
    """Minimum-jerk time scaling 0 -> 1 (zero velocity and acceleration at both ends)."""
    s = np.clip(fraction, 0.0, 1.0)
    return s**3 * (10.0 - 15.0 * s + 6.0 * s**2)


class ScriptedExpert:
    """Plans at `reset()` from the env's current state; `act()` returns the next joint target."""

    def __init__(
        self,
        env: SimEnv,
        *,
        hover_height: float = HOVER_HEIGHT,
        max_joint_speed: float = MAX_JOINT_SPEED,
        descent_seconds: float = DESCENT_SECONDS,
    ) -> None:
        self.env = env
        self.hover_height = hover_height
        self.max_joint_speed = max_joint_speed
        self.descent_seconds = descent_seconds
        self.plan = np.zeros((0, len(env.joint_names)))
        self._step = 0

    def reset(self) -> np.ndarray:
        """Plan for the episode the env is in now; returns the plan (T, 4) of per-step joint targets."""
        env = self.env
        rate = env.control_rate
        start = env.joint_positions
        touch = env.target_position
        hover = touch + np.array([0.0, 0.0, self.hover_height])
        q_hover = inverse_kinematics(hover)
        # Same yaw for the whole descent: no joint-angle wrap between hover and touch.
        travel = float(np.max(np.abs(q_hover - start)))
        transfer_s = np.clip(travel / self.max_joint_speed * MIN_JERK_PEAK_FACTOR,
                             MIN_TRANSFER_SECONDS, MAX_TRANSFER_SECONDS)
        n_transfer = math.ceil(transfer_s * rate)
        n_descent = math.ceil(self.descent_seconds * rate)
        transfer = [start + (q_hover - start) * min_jerk(k / n_transfer) for k in range(1, n_transfer + 1)]
        descent = [inverse_kinematics(hover + (touch - hover) * min_jerk(k / n_descent))
                   for k in range(1, n_descent + 1)]
        self.plan = np.clip(np.array(transfer + descent), env.joint_lower, env.joint_upper)
        self._step = 0
        return self.plan

    def act(self, observation: object | None = None) -> np.ndarray:
        """Next joint target (4,). After the plan ends the expert holds its last target."""
        del observation  # the expert is privileged: it planned from the simulator state
        target = self.plan[min(self._step, len(self.plan) - 1)]
        self._step += 1
        return target.copy()


def run_expert_episode(env: SimEnv, seed: int | None = None, task: str | None = None) -> bool:
    """One expert episode on a fresh scene; returns success. The env is left at the episode's end."""
    env.reset(seed=seed, task=task)
    expert = ScriptedExpert(env)
    expert.reset()
    while not env.done:
        env.step(expert.act())
    return env.success
