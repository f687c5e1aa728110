"""Limits every chunk must pass before it may command the arm. Pure numpy, no ROS.

Order matters and is fixed: non-finite -> reject; clamp to position limits; then the jump checks on the
clamped targets (first point vs the measured joint state, then point to point). A jump rejects the whole
chunk: executing part of a chunk the policy meant as a whole, or a slowed-down version of it, is not what
the policy chose, and a jump is a sign the chunk is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class SafetyLimits:
    """Resolved limits for J joints (empty lower/upper = no position clamp)."""

    lower: np.ndarray            # (J,) or empty
    upper: np.ndarray            # (J,) or empty
    max_step_change: float
    max_start_distance: float

    @classmethod
    def build(cls, lower: Sequence[float], upper: Sequence[float], max_step_change: float,
              max_start_distance: float) -> SafetyLimits:
        lo = np.asarray(lower, dtype=np.float64)
        hi = np.asarray(upper, dtype=np.float64)
        if lo.shape != hi.shape:
            raise ValueError(f"position limits differ in length: {lo.size} lower vs {hi.size} upper")
        if np.any(lo > hi):
            raise ValueError(f"lower limit above upper limit for joint(s) {np.flatnonzero(lo > hi).tolist()}")
        return cls(lo, hi, float(max_step_change), float(max_start_distance))


@dataclass
class SafetyResult:
    positions: np.ndarray | None   # (K, J) safe targets, None when rejected
    rejected: bool
    reason: str = ""
    clamped_points: int = 0        # how many (point, joint) values were clamped to a limit


def check_chunk(positions: np.ndarray, current: np.ndarray, limits: SafetyLimits,
                joint_names: Sequence[str] | None = None) -> SafetyResult:
    """Clamp `positions` (K, J) to the limits and reject it if it would jump; `current` is the joint state."""
    pos = np.asarray(positions, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    names = list(joint_names) if joint_names is not None else [f"joint {j}" for j in range(pos.shape[-1])]
    if pos.ndim != 2 or pos.shape[0] < 1 or pos.shape[1] != cur.shape[0]:
        return SafetyResult(None, True, f"chunk shape {pos.shape} does not match {cur.shape[0]} joints")
    if not np.all(np.isfinite(pos)):
        return SafetyResult(None, True, "chunk contains NaN/inf positions")
    clamped_points = 0
    if limits.lower.size:
        if limits.lower.size != pos.shape[1]:
            return SafetyResult(None, True, f"{limits.lower.size} position limits for {pos.shape[1]} joints")
        clipped = np.clip(pos, limits.lower, limits.upper)
        clamped_points = int(np.count_nonzero(clipped != pos))
        pos = clipped
    start = np.abs(pos[0] - cur)
    worst = int(np.argmax(start))
    if start[worst] > limits.max_start_distance:
        return SafetyResult(None, True,
                            f"first point is {start[worst]:.4f} from the current state on {names[worst]} "
                            f"> max_start_distance {limits.max_start_distance}", clamped_points)
    if pos.shape[0] > 1:
        steps = np.abs(np.diff(pos, axis=0))
        k, j = np.unravel_index(int(np.argmax(steps)), steps.shape)
        if steps[k, j] > limits.max_step_change:
            return SafetyResult(None, True,
                                f"step {k}->{k + 1} changes {names[j]} by {steps[k, j]:.4f} "
                                f"> max_step_change {limits.max_step_change}", clamped_points)
    return SafetyResult(pos, False, "", clamped_points)
