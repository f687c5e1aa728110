"""Analytic kinematics of the sim arm (arm.xml): fingertip position from joints, and joints for a fingertip.

Why analytic: the arm is a yaw joint followed by three parallel pitch joints, so the fingertip lies in the
vertical plane at the yaw angle and a closed-form 2-link solution exists. The scripted expert plans with it;
the test suite checks it against MuJoCo so the constants here cannot drift from arm.xml unnoticed.
"""

from __future__ import annotations

import math

import numpy as np

# Geometry of arm.xml (metres). Shoulder = joint2 axis height above the table.
SHOULDER_HEIGHT = 0.15
UPPER_ARM = 0.18  # joint2 -> joint3
FOREARM = 0.16  # joint3 -> joint4
HAND = 0.05  # joint4 -> fingertip centre
TIP_RADIUS = 0.01  # fingertip sphere radius
PAD_TOP = 0.004  # height of a pad's top surface (pads are 2 mm half-height cylinders at z = 2 mm)

# Elbow-up solutions (positive joint3) keep the forearm above the pads; the sign picks that branch.
ELBOW_UP = 1.0


class UnreachableError(ValueError):
    """A fingertip position lies outside the arm's workspace; the message says how far and why."""


def forward_kinematics(q: np.ndarray) -> np.ndarray:
    """Joint positions (4,) -> fingertip centre (x, y, z) in the world frame."""
    q1, q2, q3, q4 = (float(v) for v in q)
    phi1, phi2, phi3 = q2, q2 + q3, q2 + q3 + q4  # link angles from vertical, positive leans forward
    radial = UPPER_ARM * math.sin(phi1) + FOREARM * math.sin(phi2) + HAND * math.sin(phi3)
    height = SHOULDER_HEIGHT + UPPER_ARM * math.cos(phi1) + FOREARM * math.cos(phi2) + HAND * math.cos(phi3)
    return np.array([radial * math.cos(q1), radial * math.sin(q1), height])


def inverse_kinematics(tip: np.ndarray) -> np.ndarray:
    """Fingertip centre (x, y, z) -> joint positions (4,) with the hand pointing straight down, elbow up.

    Raises UnreachableError when the wrist point is beyond the two links' reach (or inside their dead zone).
    """
    x, y, z = (float(v) for v in tip)
    q1 = math.atan2(y, x)
    radial = math.hypot(x, y)
    # The hand points down, so the wrist (joint4) sits HAND above the fingertip centre.
    dx, dz = radial, z + HAND - SHOULDER_HEIGHT
    dist_sq = dx * dx + dz * dz
    cos_q3 = (dist_sq - UPPER_ARM**2 - FOREARM**2) / (2.0 * UPPER_ARM * FOREARM)
    if not -1.0 <= cos_q3 <= 1.0:
        reach = (abs(UPPER_ARM - FOREARM), UPPER_ARM + FOREARM)
        raise UnreachableError(
            f"fingertip target {np.round(tip, 4).tolist()} puts the wrist {math.sqrt(dist_sq):.3f} m from the "
            f"shoulder; reachable is {reach[0]:.3f}..{reach[1]:.3f} m")
    q3 = ELBOW_UP * math.acos(cos_q3)
    toward_wrist = math.atan2(dx, dz)  # angle of the shoulder->wrist line from vertical
    q2 = toward_wrist - math.atan2(FOREARM * math.sin(q3), UPPER_ARM + FOREARM * math.cos(q3))
    q4 = math.pi - q2 - q3  # link angle of the hand = pi: pointing down
    return np.array([q1, q2, q3, q4])
