"""Outgoing messages: the trajectory for the controller, the `~/selection` report and /diagnostics.

`~/selection` encoding (std_msgs/Float64MultiArray, one message per published chunk):
    layout.data_offset = 4 header values, then one score per candidate:
    data[0]  selected candidate index (-1: no candidate decoded and the greedy fallback was used)
    data[1]  selection margin: best minus second-best valid score (0 with fewer than two valid)
    data[2]  inference index (the chunk's seed is the `seed` parameter + this index)
    data[3]  observation stamp: the newest camera frame's header stamp in seconds (which frame led here)
    data[4:] per-candidate scores, length layout.dim[0].size == number of candidates; -inf = did not decode.
             mg_select: summed (or mean) KL(Q||P); likelihood, greedy and sample: summed log-prob
             (greedy and sample still execute the first valid candidate).
    layout.dim[0].label = "candidates:<strategy>:<mask_mode>" as the engine used them
                          (e.g. "candidates:mg_select:text"; mask_mode "none" for the baselines).
"""

from __future__ import annotations

from collections.abc import Iterable

from builtin_interfaces.msg import Duration
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from std_msgs.msg import Float64MultiArray, MultiArrayDimension
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mgselect_node.control.observation import JOINT_STATES_KEY
from mgselect_node.control.pipeline import Plan
from mgselect_node.engine.result import SelectionResult
from mgselect_node.ros.conversions import NANOSECONDS_PER_SECOND

SELECTION_HEADER = 4
# A diagnostic message or value longer than this is cut: reasons can quote external input.
MAX_DIAGNOSTIC_CHARS = 1000
STAMPS_PREFIX = "stamps:"


def duration(seconds: float) -> Duration:
    sec, nanosec = divmod(round(seconds * NANOSECONDS_PER_SECOND), NANOSECONDS_PER_SECOND)
    return Duration(sec=int(sec), nanosec=int(nanosec))


def trajectory_msg(plan: Plan) -> JointTrajectory:
    """JointTrajectory for joint_trajectory_controller. header.stamp stays 0: "start now"."""
    msg = JointTrajectory()
    msg.joint_names = list(plan.joint_names)
    points = []
    for k, t in enumerate(plan.time_from_start):
        point = JointTrajectoryPoint()
        point.positions = plan.positions[k].tolist()
        point.velocities = plan.velocities[k].tolist()
        point.time_from_start = duration(t)
        points.append(point)
    msg.points = points
    return msg


def selection_msg(result: SelectionResult, inference_index: int,
                  stamps: dict[str, float] | None = None) -> Float64MultiArray:
    scores = [float(s) for s in result.scores]
    stamps = stamps or {}
    cameras = [t for k, t in stamps.items() if k != JOINT_STATES_KEY]
    frame_stamp = max(cameras) if cameras else 0.0
    msg = Float64MultiArray()
    msg.layout.data_offset = SELECTION_HEADER
    label = f"candidates:{result.strategy}:{result.mask_mode or 'none'}"
    msg.layout.dim = [MultiArrayDimension(label=label, size=len(scores), stride=len(scores))]
    if stamps:
        msg.layout.dim.append(MultiArrayDimension(label=STAMPS_PREFIX + ",".join(stamps), size=len(stamps),
                                                  stride=len(stamps)))
    msg.data = [float(result.selected), float(result.margin), float(inference_index), frame_stamp, *scores,
                *(float(v) for v in stamps.values())]
    return msg


def decode_selection(msg: Float64MultiArray) -> dict[str, object]:
    """Inverse of selection_msg (for tests, tools and users reading the topic)."""
    offset = msg.layout.data_offset
    data = [float(v) for v in msg.data]
    dims = list(msg.layout.dim)
    n = dims[0].size
    stamps: dict[str, float] = {}
    if len(dims) > 1 and dims[1].label.startswith(STAMPS_PREFIX):
        labels = dims[1].label[len(STAMPS_PREFIX):].split(",")
        stamps = dict(zip(labels, data[offset + n:offset + n + len(labels)], strict=True))
    _, strategy, mask_mode = [*dims[0].label.split(":"), "", ""][:3]
    return {"selected": int(data[0]), "margin": data[1], "inference_index": int(data[2]),
            "frame_stamp": data[3] if data[3] > 0 else None, "scores": data[offset:offset + n],
            "strategy": strategy, "mask_mode": mask_mode, "stamps": stamps}


def diagnostic_array(stamp, name: str, hardware_id: str, level: bytes, message: str,
                     values: Iterable[tuple[str, object]]) -> DiagnosticArray:
    status = DiagnosticStatus(level=level, name=name, message=_cut(message), hardware_id=hardware_id,
                              values=[KeyValue(key=k, value=_fmt(v)) for k, v in values])
    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = [status]
    return arr


def diagnostic_values(msg: DiagnosticArray) -> dict[str, str]:
    """All KeyValues of the first status as a dict (tests and the benchmark read diagnostics back)."""
    return {kv.key: kv.value for kv in msg.status[0].values} if msg.status else {}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_DIAGNOSTIC_CHARS else f"{text[:MAX_DIAGNOSTIC_CHARS]}... (cut)"


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return _cut("[" + ", ".join(_fmt(v) for v in value) + "]")
    return _cut(str(value))
