"""Chunk seams: the committed trajectory, backward coherence, overlap blending and seam-consistent velocities.

Why: a new chunk replaces the running one mid-way. Where it disagrees with what the arm is doing, the arm
jumps or reverses at the seam. Three independent remedies, each off by default-able parameter:
- coherence (BID, Liu et al. 2024; the score itself is engine/scoring.py's backward_coherence): prefer
  candidates whose overlapping points are close to the committed trajectory, traded against the selection
  score;
- blending: pull the new chunk's first points towards the committed trajectory with decaying weights;
- velocities from finite differences that start at the committed position, last point at rest (Jazzy's
  joint_trajectory_controller rejects a non-zero final velocity by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mgselect_node.engine import scoring


@dataclass(frozen=True)
class Committed:
    """What the controller was last sent: a start knot (publish time, position there), then the points."""

    start_time: float
    start_position: np.ndarray       # (J,)
    times: np.ndarray                # (K,) absolute s, increasing, all > start_time
    positions: np.ndarray            # (K, J)

    @property
    def end_time(self) -> float:
        return float(self.times[-1]) if self.times.size else self.start_time

    def time_left(self, now: float) -> float:
        return max(0.0, self.end_time - now)

    def position_at(self, t: float | np.ndarray) -> np.ndarray:
        """Piecewise-linear reference at t (held before the start and after the end), per joint."""
        knots = np.concatenate([[self.start_time], self.times])
        values = np.vstack([self.start_position[None, :], self.positions])
        t = np.atleast_1d(np.asarray(t, dtype=np.float64))
        out = np.stack([np.interp(t, knots, values[:, j]) for j in range(values.shape[1])], axis=-1)
        return out


def overlap_count(times: np.ndarray, committed: Committed | None) -> int:
    """How many leading points of a chunk at `times` fall inside the committed trajectory's time span."""
    if committed is None or not committed.times.size:
        return 0
    return int(np.searchsorted(np.asarray(times), committed.end_time, side="right"))


def coherence_costs(candidates: Sequence[np.ndarray | None], times: np.ndarray, committed: Committed | None,
                    decay: float) -> np.ndarray:
    """engine.scoring.backward_coherence of each candidate (points at `times`) against the committed
    trajectory over their overlap."""
    n = overlap_count(times, committed)
    reference = committed.position_at(times[:n]) if n else np.zeros((0, 0))
    return scoring.backward_coherence(candidates, reference, decay)


coherent_choice = scoring.coherent_choice


def blend_overlap(positions: np.ndarray, times: np.ndarray, committed: Committed | None,
                  decay: float) -> np.ndarray:
    """Kept point i inside the committed span becomes w*old + (1-w)*new with w = decay^(i+1)."""
    positions = np.asarray(positions, dtype=np.float64)
    n = overlap_count(times, committed) if decay > 0 else 0
    if n == 0:
        return positions
    w = (decay ** np.arange(1, n + 1, dtype=np.float64))[:, None]
    out = positions.copy()
    out[:n] = w * committed.position_at(times[:n]) + (1.0 - w) * positions[:n]
    return out


def seam_velocities(start_time: float, start_position: np.ndarray, times: np.ndarray,
                    positions: np.ndarray) -> np.ndarray:
    """Central differences over the actual point times, starting from the position at publish time; the last
    point at rest, so every distribution's controller accepts the trajectory and the arm stops if none follows."""
    knots = np.concatenate([[start_time], np.asarray(times, dtype=np.float64)])
    path = np.vstack([np.asarray(start_position, dtype=np.float64)[None, :], positions])
    velocities = np.gradient(path, knots, axis=0)[1:]
    velocities[-1] = 0.0
    return velocities
