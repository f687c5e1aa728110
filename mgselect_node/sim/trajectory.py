"""Joint trajectory following the way ros2_control's joint_trajectory_controller does it, without ROS.

Why a separate module: the sim node's ROS callbacks only translate messages; what the arm is commanded at
any instant is decided here and is unit-testable with plain numbers.

Semantics (matching joint_trajectory_controller's defaults):
- A new trajectory replaces the current one at once. It starts from the state being commanded at that
  instant (position and velocity), so the setpoint never jumps.
- Points are at start_time + time_from_start. Segments interpolate linearly when the points carry positions
  only, and with cubic Hermite splines when every point carries velocities as well.
- Before start_time the setpoint holds; after the last point it holds the last point's position.
- header.stamp 0 (start_time = now) interpolates from the current setpoint to the first point. A stamp in
  the past places the current setpoint at the stamp time instead, so sampling "now" lands part-way along the
  trajectory and the reference jumps, as joint_trajectory_controller does (Humble..Kilted); points already
  in the past are passed over, and a trajectory whose every point is in the past is rejected.
- `allow_nonzero_velocity_at_trajectory_end=False` rejects a trajectory whose last point moves (Jazzy's and
  Kilted's default; Humble accepts it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory cannot be executed; the message says what was wrong."""


@dataclass(frozen=True)
class _Knot:
    time: float
    position: np.ndarray
    velocity: np.ndarray | None


class TrajectoryFollower:
    """The setpoint generator: `set_trajectory` on every message, `sample(t)` at every physics step."""

    def __init__(self, initial_position: np.ndarray, *,
                 allow_nonzero_velocity_at_trajectory_end: bool = True) -> None:
        self.dof = len(initial_position)
        self.allow_nonzero_end_velocity = allow_nonzero_velocity_at_trajectory_end
        self.hold(initial_position)

    def hold(self, position: np.ndarray) -> None:
        """Drop any trajectory and hold `position` (used at episode resets)."""
        position = np.asarray(position, dtype=np.float64).copy()
        self._knots = [_Knot(-np.inf, position, np.zeros(self.dof))]
        self._hermite = False

    @property
    def active(self) -> bool:
        return len(self._knots) > 1

    @property
    def end_time(self) -> float:
        return self._knots[-1].time

    def set_trajectory(
        self,
        times_from_start: np.ndarray,
        positions: np.ndarray,
        velocities: np.ndarray | None,
        *,
        start_time: float,
        now: float,
    ) -> int:
        """Replace the current trajectory; returns how many points will be executed (past ones are skipped).

        times_from_start: (P,) s, strictly increasing, >= 0; positions: (P, dof); velocities: (P, dof) or None.
        """
        times = np.asarray(times_from_start, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        if times.ndim != 1 or len(times) == 0:
            raise TrajectoryError("trajectory has no points")
        if positions.shape != (len(times), self.dof):
            raise TrajectoryError(f"positions have shape {positions.shape}, expected ({len(times)}, {self.dof})")
        if velocities is not None:
            velocities = np.asarray(velocities, dtype=np.float64)
            if velocities.shape != positions.shape:
                raise TrajectoryError(f"velocities have shape {velocities.shape}, expected {positions.shape}")
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(positions))
                and (velocities is None or np.all(np.isfinite(velocities)))):
            raise TrajectoryError("trajectory contains non-finite times, positions or velocities")
        if times[0] < 0 or np.any(np.diff(times) <= 0):
            raise TrajectoryError(f"time_from_start must be >= 0 and strictly increasing, got {times.tolist()}")
        if (velocities is not None and not self.allow_nonzero_end_velocity
                and np.any(velocities[-1] != 0.0)):
            raise TrajectoryError(f"last point has non-zero velocity {velocities[-1].tolist()} and "
                                  "allow_nonzero_velocity_at_trajectory_end is false")
        absolute = start_time + times
        if absolute[-1] <= now:
            raise TrajectoryError(
                f"trajectory ends {now - absolute[-1]:.3f} s in the past (start {start_time:.3f}, now {now:.3f})")

        position, velocity = self.sample(now)
        knots = [_Knot(start_time, position, velocity)]
        for k in np.flatnonzero(absolute > start_time):
            knots.append(_Knot(float(absolute[k]), positions[k],
                               None if velocities is None else velocities[k]))
        self._knots = knots
        self._hermite = velocities is not None
        return int(np.count_nonzero(absolute > now))

    def sample(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Setpoint (position, velocity) at time t."""
        knots = self._knots
        if t <= knots[0].time:
            return knots[0].position.copy(), np.zeros(self.dof)
        if t >= knots[-1].time:
            return knots[-1].position.copy(), np.zeros(self.dof)
        times = [k.time for k in knots]
        i = int(np.searchsorted(times, t, side="right")) - 1
        a, b = knots[i], knots[i + 1]
        duration = b.time - a.time
        s = (t - a.time) / duration
        if not self._hermite:
            return a.position + (b.position - a.position) * s, (b.position - a.position) / duration
        va = a.velocity if a.velocity is not None else np.zeros(self.dof)
        vb = b.velocity if b.velocity is not None else np.zeros(self.dof)
        # Cubic Hermite basis on s in [0, 1]; tangents scaled by the segment duration.
        h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
        position = h00 * a.position + h10 * duration * va + h01 * b.position + h11 * duration * vb
        d00, d10, d01, d11 = 6 * s**2 - 6 * s, 3 * s**2 - 4 * s + 1, -6 * s**2 + 6 * s, 3 * s**2 - 2 * s
        velocity = (d00 * a.position + d01 * b.position) / duration + d10 * va + d11 * vb
        return position, velocity
