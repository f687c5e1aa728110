"""Synthetic robot bags: what tests and the sample bag replay, with the quirks real robot bags have.

Why generated: the repository ships no recorded data, and tests must build their inputs. The generator covers
what real bags bring: several cameras, raw (rgb8/bgr8/mono8) and compressed (jpeg/png) images, /joint_states
with extra joints in another order, empty effort arrays written by Fast CDR (rclpy) exactly as `ros2 bag
record` stores them, header stamps behind the receive time, and a time jump (a pause in the recording).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys.store import Typestore

from mgselect_node.bag.bag_io import DEFAULT_STORAGE, NS_PER_S, BagWriter
from mgselect_node.bag.cdr import default_typestore
from mgselect_node.contracts import CAMERA_TOPIC, INSTRUCTION, JOINT_STATES_TOPIC, private_topic
from mgselect_node.model.spec import PolicySpec

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
STRING_TYPE = "std_msgs/msg/String"
DEFAULT_START_S = 1_700_000_000.0  # a wall-clock-like start, as in real recordings
MOTION_PERIOD_S = 4.0              # joints move on slow sinusoids of this period
MOTION_FRACTION = 0.25             # amplitude as a fraction of each joint's half range
SQUARE_FRACTION = 4                # the moving square in the images is 1/4 of the image width
CHANNELS = {"rgb8": 3, "bgr8": 3, "mono8": 1}


@dataclass
class CameraSpec:
    """One camera of a synthetic bag."""

    topic: str
    width: int = 64
    height: int = 48
    rate: float = 10.0
    encoding: str = "rgb8"        # rgb8 | bgr8 | mono8 for raw; jpeg | png for compressed
    compressed: bool = False

    @property
    def msgtype(self) -> str:
        return COMPRESSED_TYPE if self.compressed else IMAGE_TYPE


@dataclass
class SyntheticBagSpec:
    """Everything a synthetic bag contains. Defaults: one raw camera, 7 joints, 3 s."""

    joint_names: list[str] = field(default_factory=lambda: [f"joint{i}" for i in range(1, 8)])
    joint_lower: list[float] = field(default_factory=list)   # default -1 per joint
    joint_upper: list[float] = field(default_factory=list)   # default +1 per joint
    cameras: list[CameraSpec] = field(default_factory=lambda: [CameraSpec(CAMERA_TOPIC)])
    joint_states_topic: str = JOINT_STATES_TOPIC
    joint_rate: float = 50.0
    extra_joints: list[str] = field(default_factory=list)    # recorded but not used by the policy
    shuffle_joints: bool = False                             # joint order differs from the policy's
    empty_effort: bool = True                                # as most arms publish
    fast_cdr: bool = True        # /joint_states as rclpy (Fast CDR) bytes, as `ros2 bag record` stores them
    duration: float = 3.0
    start_s: float = DEFAULT_START_S
    stamp_lag: float = 0.005     # header stamps are this much older than the bag receive time
    time_jump_at: float | None = None   # seconds into the recording where a pause begins
    time_jump: float = 0.0              # length of the pause (nothing recorded), seconds
    instruction: str | None = "pick up the red block"
    instruction_topic: str = private_topic(INSTRUCTION)
    seed: int = 0

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.joint_names)
        lower = np.asarray(self.joint_lower or [-1.0] * n, dtype=np.float64)
        upper = np.asarray(self.joint_upper or [1.0] * n, dtype=np.float64)
        return lower, upper


def joint_positions(spec: SyntheticBagSpec, t: float) -> np.ndarray:
    """Policy-order joint positions at `t` seconds into the recording (smooth, inside the limits)."""
    lower, upper = spec.limits()
    mid, half = (lower + upper) / 2, (upper - lower) / 2
    phase = np.arange(len(spec.joint_names)) * (math.pi / len(spec.joint_names))
    return mid + MOTION_FRACTION * half * np.sin(2 * math.pi * t / MOTION_PERIOD_S + phase)


def render_frame(camera: CameraSpec, index: int, t: float, seed: int = 0, camera_index: int = 0) -> np.ndarray:
    """Frame `index` (at `t` s) of a camera: RGB (H, W, 3) uint8, a gradient, a square moving with time and
    a little noise; a pure function of its arguments, so tests can recompute what a bag holds."""
    rng = np.random.default_rng([seed, camera_index, index])
    h, w = camera.height, camera.width
    ys, xs = np.mgrid[0:h, 0:w]
    frame = np.stack([xs * 255 // max(w - 1, 1), ys * 255 // max(h - 1, 1),
                      np.full_like(xs, (index * 37) % 256)], axis=-1).astype(np.uint8)
    side = max(w // SQUARE_FRACTION, 1)
    x0 = int((w - side) * (0.5 + 0.5 * math.sin(2 * math.pi * t / MOTION_PERIOD_S)))
    frame[h // 3: h // 3 + side, x0: x0 + side] = (255, 0, 0)
    noise = rng.integers(0, 8, size=frame.shape, dtype=np.uint8)
    return frame + noise


def _stamp(ts: Typestore, seconds: float) -> Any:
    sec = math.floor(seconds)
    nanosec = round((seconds - sec) * NS_PER_S) % NS_PER_S
    return ts.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)


def _header(ts: Typestore, seconds: float, frame_id: str) -> Any:
    return ts.types["std_msgs/msg/Header"](stamp=_stamp(ts, seconds), frame_id=frame_id)


def image_message(ts: Typestore, camera: CameraSpec, rgb: np.ndarray, stamp_s: float) -> Any:
    """A rosbags Image / CompressedImage holding `rgb` in the camera's encoding."""
    import cv2

    header = _header(ts, stamp_s, camera.topic.strip("/").split("/")[0])
    if camera.compressed:
        ok, buf = cv2.imencode(f".{'jpg' if camera.encoding == 'jpeg' else camera.encoding}",
                               cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        if not ok:
            raise ValueError(f"cv2 could not encode a {camera.encoding} frame")
        return ts.types[COMPRESSED_TYPE](header=header, format=camera.encoding,
                                         data=np.frombuffer(buf.tobytes(), dtype=np.uint8))
    if camera.encoding == "bgr8":
        pixels = rgb[..., ::-1]
    elif camera.encoding == "mono8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    else:
        pixels = rgb
    pixels = np.ascontiguousarray(pixels)
    channels = CHANNELS[camera.encoding]
    return ts.types[IMAGE_TYPE](header=header, height=camera.height, width=camera.width,
                                encoding=camera.encoding, is_bigendian=0, step=camera.width * channels,
                                data=pixels.reshape(-1).view(np.uint8).copy())


def joint_state_bytes(spec: SyntheticBagSpec, names: list[str], positions: np.ndarray, stamp_s: float,
                      ts: Typestore) -> Any:
    """A JointState as rclpy (Fast CDR) bytes or as a rosbags object."""
    velocity = np.zeros(len(names))
    effort = np.zeros(0) if spec.empty_effort else np.zeros(len(names))
    if spec.fast_cdr:
        from builtin_interfaces.msg import Time
        from rclpy.serialization import serialize_message
        from sensor_msgs.msg import JointState

        msg = JointState(name=list(names), position=positions.tolist(), velocity=velocity.tolist(),
                         effort=effort.tolist())
        sec = math.floor(stamp_s)
        msg.header.stamp = Time(sec=sec, nanosec=round((stamp_s - sec) * NS_PER_S) % NS_PER_S)
        msg.header.frame_id = "base_link"
        return bytes(serialize_message(msg))
    return ts.types[JOINT_STATE_TYPE](header=_header(ts, stamp_s, "base_link"), name=list(names),
                                      position=positions.astype(np.float64), velocity=velocity,
                                      effort=effort)


def write_synthetic_bag(path: str | Path, spec: SyntheticBagSpec | None = None,
                        storage: str = DEFAULT_STORAGE) -> Path:
    """Write the bag described by `spec` (recorded-time order) and return its path."""
    spec = spec or SyntheticBagSpec()
    ts = default_typestore()
    rng = np.random.default_rng(spec.seed)
    names = list(spec.joint_names) + list(spec.extra_joints)
    order = rng.permutation(len(names)) if spec.shuffle_joints else np.arange(len(names))
    events: list[tuple[float, int, str, object]] = []   # (recorded offset s, tiebreak, topic, message)

    def recorded(t: float) -> float | None:
        """Offset into the bag of an event at `t` of robot time; None while the recording is paused."""
        if spec.time_jump_at is None or t < spec.time_jump_at:
            return t
        return t if t >= spec.time_jump_at + spec.time_jump else None

    total = spec.duration + (spec.time_jump if spec.time_jump_at is not None else 0.0)
    for ci, camera in enumerate(spec.cameras):
        for k in range(int(total * camera.rate) + 1):
            t = k / camera.rate
            if recorded(t) is None or t > total:
                continue
            rgb = render_frame(camera, k, t, spec.seed, ci)
            msg = image_message(ts, camera, rgb, spec.start_s + t - spec.stamp_lag)
            events.append((t, ci + 1, camera.topic, msg))
    for k in range(int(total * spec.joint_rate) + 1):
        t = k / spec.joint_rate
        if recorded(t) is None or t > total:
            continue
        extra = np.zeros(len(spec.extra_joints))
        positions = np.concatenate([joint_positions(spec, t), extra])[order]
        stamp = spec.start_s + t - spec.stamp_lag
        msg = joint_state_bytes(spec, [names[i] for i in order], positions, stamp, ts)
        events.append((t, 0, spec.joint_states_topic, msg))
    if spec.instruction is not None:
        events.append((0.0, -1, spec.instruction_topic, ts.types[STRING_TYPE](data=spec.instruction)))

    events.sort(key=lambda e: (e[0], e[1]))
    types = {c.topic: c.msgtype for c in spec.cameras}
    types[spec.joint_states_topic] = JOINT_STATE_TYPE
    types[spec.instruction_topic] = STRING_TYPE
    with BagWriter(path, storage=storage, typestore=ts) as writer:
        for topic, msgtype in types.items():
            if topic != spec.instruction_topic or spec.instruction is not None:
                writer.add_topic(topic, msgtype)
        for t, _, topic, msg in events:
            writer.write(topic, round((spec.start_s + t) * NS_PER_S), msg)
    return Path(path)


def spec_for_policy(policy_spec: PolicySpec, topics: list[str] | None = None, **overrides: Any,
                    ) -> SyntheticBagSpec:
    """A bag a node running this policy can use: its joints moving inside its state statistics, one camera
    per policy camera on
    `topics` (default /camera<i>/image_raw; a topic ending in /compressed gets jpeg CompressedImage)."""
    lower, upper = list(policy_spec.state_q01), list(policy_spec.state_q99)   # where the policy was trained
    topics = topics or [f"/camera{i}/image_raw" for i in range(len(policy_spec.camera_names))]
    cameras = []
    for topic in topics:
        compressed = topic.rstrip("/").endswith("/compressed")
        cameras.append(CameraSpec(topic, compressed=compressed, encoding="jpeg" if compressed else "rgb8"))
    spec = SyntheticBagSpec(joint_names=list(policy_spec.joint_names), joint_lower=lower, joint_upper=upper,
                            cameras=cameras)
    for key, value in overrides.items():
        if not hasattr(spec, key):
            raise TypeError(f"SyntheticBagSpec has no field {key!r}")
        setattr(spec, key, value)
    return spec
