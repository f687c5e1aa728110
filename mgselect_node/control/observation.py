"""Latest camera frames + joint positions -> one synchronized observation, or a reason why there is none.

Kept free of rclpy so the live node and offline rosbag replay assemble observations identically. Callbacks
write into an ObservationBuffer from executor threads; the inference worker calls `assemble` with the node
clock's "now". Joint states are merged per joint name (robots may publish arm and gripper separately), each
joint keeping its own stamp, and are always picked by name, never by index. A message with names but no
positions (velocity- or effort-only) carries nothing to merge and is ignored; a message that is inconsistent
(positions not matching names, a name given twice) marks the joints it names as unusable until they are
named again consistently.

Every part also records when it was received on a monotonic wall clock (`received_s`): staleness is judged on
the header stamps against the node's clock AND on the time since receipt, so a frozen /clock (use_sim_time after
a replay ends) or a dead sensor cannot keep an old observation fresh.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# Why an observation is not usable; also the StepOutcome.status values for these cases.
WAITING = "waiting"          # a part has never arrived
STALE = "stale"              # a part is older than max_observation_age
UNSYNCED = "unsynced"        # parts are further apart than sync_slop
INPUT_ERROR = "input_error"  # the latest message of a part was malformed (bad encoding, size, corrupt data)
JOINT_ERROR = "joint_error"  # missing joint or NaN / inf position
JOINT_STATES_KEY = "joint_states"   # Observation.stamps key of the joint state part
# Bounds on what a joint state publisher can make the buffer hold (names are external strings).
MAX_JOINT_NAME_CHARS = 256
MAX_JOINTS_PER_MESSAGE = 1024
MAX_KNOWN_JOINTS = 1024              # least recently updated names beyond this are forgotten
MAX_NAMES_SHOWN = 20                 # joint names listed in a reason


class ObservationUnavailable(Exception):
    """No usable observation right now; `kind` is one of the constants above, the message says why."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Frame:
    rgb: np.ndarray | None     # None when the latest message from this camera was malformed
    stamp_s: float
    error: str = ""
    received_s: float | None = None   # monotonic wall-clock receipt time (None: not tracked, e.g. offline)


@dataclass
class Observation:
    """What one inference sees. `stamps` maps part label -> stamp used (camera labels, 'joint_states')."""

    images: list[np.ndarray]
    state: np.ndarray                      # (J,) float64, in the configured joint order
    stamps: dict[str, float]
    age_s: float                           # now - oldest stamp
    spread_s: float                        # newest - oldest stamp
    received_s: float | None = None        # oldest monotonic receipt time of its parts (None: not tracked)


@dataclass
class _JointEntry:
    position: float
    stamp_s: float
    received_s: float | None = None
    error: str = ""            # the latest message naming this joint was inconsistent: why


def _names(names: Sequence[str]) -> str:
    shown = [str(n)[:MAX_JOINT_NAME_CHARS] for n in list(names)[:MAX_NAMES_SHOWN]]
    more = len(names) - len(shown)
    return f"{shown}" + (f" and {more} more" if more > 0 else "")


@dataclass
class BufferCounters:
    """Monotonic counters for diagnostics and soak tests."""

    frames: list[int] = field(default_factory=list)
    joint_states: int = 0
    input_errors: int = 0
    joint_states_ignored: int = 0          # messages with names but no positions (nothing to merge)


class ObservationBuffer:
    """Thread-safe latest-value store. Nothing queues: a new frame replaces the previous one."""

    def __init__(self, num_cameras: int) -> None:
        self._lock = threading.Lock()
        self._frames: list[Frame | None] = [None] * num_cameras
        self._joints: dict[str, _JointEntry] = {}
        self._joint_error = ""
        self.counters = BufferCounters(frames=[0] * num_cameras)

    @property
    def num_cameras(self) -> int:
        return len(self._frames)

    def resize(self, num_cameras: int) -> None:
        """Camera list changed: forget all frames (they may belong to other topics now)."""
        with self._lock:
            self._frames = [None] * num_cameras
            self.counters.frames = [0] * num_cameras

    def put_frame(self, camera: int, rgb: np.ndarray, stamp_s: float, received_s: float | None = None) -> None:
        with self._lock:
            self._check_camera(camera)
            self._frames[camera] = Frame(rgb, stamp_s, received_s=received_s)
            self.counters.frames[camera] += 1

    def put_frame_error(self, camera: int, message: str, stamp_s: float, received_s: float | None = None) -> None:
        """The latest message from `camera` was malformed: the camera has no usable frame until a good one."""
        with self._lock:
            self._check_camera(camera)
            self._frames[camera] = Frame(None, stamp_s, message, received_s)
            self.counters.frames[camera] += 1
            self.counters.input_errors += 1

    def put_joint_state(self, names: Sequence[str], positions: Sequence[float], stamp_s: float,
                        received_s: float | None = None) -> None:
        """Merge one JointState by name (see the module docstring for what is ignored and what is refused)."""
        problem = self._joint_message_problem(names, positions)
        with self._lock:
            self.counters.joint_states += 1
            if problem is None:                   # names only (velocities/efforts): nothing to merge
                self.counters.joint_states_ignored += 1
                return
            if problem:
                self.counters.input_errors += 1
                if len(names) > MAX_JOINTS_PER_MESSAGE or self._too_long(names):
                    self._joint_error = problem   # cannot be attributed to joints safely: remembered as such
                    return
                for name in names:
                    self._joints.pop(name, None)
                    self._joints[name] = _JointEntry(math.nan, stamp_s, received_s, problem)
            else:
                self._joint_error = ""
                for name, pos in zip(names, positions, strict=True):
                    self._joints.pop(name, None)  # re-insert: dict order is least recently updated first
                    self._joints[name] = _JointEntry(float(pos), stamp_s, received_s)
            while len(self._joints) > MAX_KNOWN_JOINTS:
                del self._joints[next(iter(self._joints))]

    @staticmethod
    def _too_long(names: Sequence[str]) -> bool:
        return any(len(n) > MAX_JOINT_NAME_CHARS for n in names)

    def _joint_message_problem(self, names: Sequence[str], positions: Sequence[float]) -> str | None:
        """'' for a usable message, None for one with nothing to merge, else why it is inconsistent."""
        if len(names) > MAX_JOINTS_PER_MESSAGE:
            return f"joint state names {len(names)} joints; at most {MAX_JOINTS_PER_MESSAGE} are accepted"
        if self._too_long(names):
            return f"joint state has a joint name over {MAX_JOINT_NAME_CHARS} characters"
        if not positions:
            return None
        if len(names) != len(positions):
            return (f"joint state has {len(names)} names but {len(positions)} positions; expected one position "
                    "per name (or none)")
        if len(set(names)) != len(names):
            twice = sorted(n for n, count in Counter(names).items() if count > 1)
            return f"joint state names joint(s) {_names(twice)} more than once"
        return ""

    def known_joints(self) -> list[str]:
        with self._lock:
            return sorted(self._joints)

    def clear(self) -> None:
        """Forget everything (e.g. on deactivate) so old data can never be used after re-activation."""
        with self._lock:
            self._frames = [None] * len(self._frames)
            self._joints.clear()
            self._joint_error = ""

    def assemble(self, now_s: float, joint_names: Sequence[str], max_age_s: float, sync_slop_s: float,
                 camera_labels: Sequence[str] | None = None, received_now_s: float | None = None) -> Observation:
        """The usable observation at `now_s`, or ObservationUnavailable naming the first problem found.

        received_now_s: the monotonic clock now; when given, a part received longer than max_age_s ago is stale
        whatever its stamp says."""
        labels = list(camera_labels) if camera_labels else [f"camera {i}" for i in range(self.num_cameras)]
        with self._lock:
            frames = list(self._frames)
            joints = {n: self._joints.get(n) for n in joint_names}
            joint_error = self._joint_error
            known = sorted(self._joints)
        stamps: dict[str, float] = {}
        received: dict[str, float | None] = {}
        images: list[np.ndarray] = []
        for label, frame in zip(labels, frames, strict=True):
            if frame is None:
                raise ObservationUnavailable(WAITING, f"no frame received yet from {label}")
            if frame.rgb is None:
                raise ObservationUnavailable(INPUT_ERROR, f"{label}: {frame.error}")
            stamps[label] = frame.stamp_s
            received[label] = frame.received_s
            images.append(frame.rgb)
        if joint_error:
            raise ObservationUnavailable(INPUT_ERROR, joint_error)
        missing = [n for n, e in joints.items() if e is None]
        if missing:
            if not known:
                raise ObservationUnavailable(WAITING, "no joint state received yet")
            raise ObservationUnavailable(
                JOINT_ERROR, f"joint state is missing joint(s) {missing} (received: {_names(known)})")
        refused = {n: e.error for n, e in joints.items() if e is not None and e.error}
        if refused:
            why = next(iter(refused.values()))
            raise ObservationUnavailable(INPUT_ERROR, f"joint(s) {_names(list(refused))} unusable: {why}")
        bad = [n for n, e in joints.items() if e is not None and not math.isfinite(e.position)]
        if bad:
            raise ObservationUnavailable(JOINT_ERROR, f"joint state has NaN/inf position for {bad}")
        entries = [e for e in joints.values() if e is not None]
        lagging = [n for n, e in joints.items() if e is not None and now_s - e.stamp_s > max_age_s]
        if lagging and len(lagging) < len(entries):
            oldest_age = max(now_s - e.stamp_s for e in entries)
            raise ObservationUnavailable(
                JOINT_ERROR, f"joint(s) {lagging} missing from recent joint states: last received "
                             f"{oldest_age:.3f} s ago > max_observation_age {max_age_s:.3f} s")
        state = np.array([e.position for e in entries], dtype=np.float64)
        stamps[JOINT_STATES_KEY] = min(e.stamp_s for e in entries)
        joint_receipts = [e.received_s for e in entries if e.received_s is not None]
        received[JOINT_STATES_KEY] = min(joint_receipts) if joint_receipts else None
        oldest_receipt = check_receipts(received, received_now_s, max_age_s)
        for label, stamp in stamps.items():
            age = now_s - stamp
            if age > max_age_s:
                raise ObservationUnavailable(
                    STALE, f"{label} is stale: {age:.3f} s old > max_observation_age {max_age_s:.3f} s")
            if -age > max_age_s:  # e.g. /clock jumped back (bag loop): the data belongs to another time
                raise ObservationUnavailable(
                    STALE, f"{label} is stamped {-age:.3f} s in the future (> max_observation_age "
                           f"{max_age_s:.3f} s): did the clock jump back?")
        oldest, newest = min(stamps.values()), max(stamps.values())
        if newest - oldest > sync_slop_s:
            raise ObservationUnavailable(
                UNSYNCED, f"observation parts are {newest - oldest:.3f} s apart > sync_slop {sync_slop_s:.3f} s "
                          f"(stamps: { {k: round(v, 3) for k, v in stamps.items()} })")
        return Observation(images, state, stamps, age_s=max(0.0, now_s - oldest), spread_s=newest - oldest,
                           received_s=oldest_receipt)

    def _check_camera(self, camera: int) -> None:
        if not 0 <= camera < len(self._frames):
            raise IndexError(f"camera index {camera} out of range: {len(self._frames)} camera(s) configured")


def check_receipts(received: dict[str, float | None], now_s: float | None, max_age_s: float) -> float | None:
    """The oldest receipt time; ObservationUnavailable(STALE) when a part arrived longer than max_age_s ago on
    the wall clock. Nothing is checked when receipts are not tracked (now_s None)."""
    known = {label: t for label, t in received.items() if t is not None}
    if now_s is None or not known:
        return min(known.values()) if known else None
    label, oldest = min(known.items(), key=lambda item: item[1])
    if now_s - oldest > max_age_s:
        raise ObservationUnavailable(
            STALE, f"{label} is stale: nothing received for {now_s - oldest:.3f} s (wall clock) > "
                   f"max_observation_age {max_age_s:.3f} s: sensor or /clock stopped?")
    return oldest
