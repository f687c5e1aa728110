"""Live replay: publish a bag into DDS with its recorded timing (what `ros2 bag play` does), publish /clock,
record what the node publishes, and collect the numbers of the replay report.

Why the raw CDR bytes are published: they are exactly what was recorded (no decode/re-encode, no Fast CDR
quirk), and it is the cheapest path for camera frames. Timing: a message recorded at bag time t is published
at wall time (t - window start) / rate after playback began; /clock carries the playback bag time, so a node
with use_sim_time sees the recorded header stamps as fresh as they were on the robot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mgselect_node.bag.bag_io import NS_PER_S, BagMessage, BagReader
from mgselect_node.bag.cdr import header_stamp_ns, rclpy_class
from mgselect_node.bag.offline import IMAGE_TYPES, JOINT_STATE_TYPES, JOINT_STATES_LABEL, ReplayWindow
from mgselect_node.bag.report import ChunkRecord, Report, json_scores
from mgselect_node.contracts import CLOCK_TOPIC, inference_seed
from mgselect_node.ros.messages import decode_selection

CLOCK_HZ = 100.0                 # default /clock publications per wall second while playing
PUBLISH_DEPTH = 10
MS_PER_S = 1000.0
# Stamps come back from ~/selection as float64 seconds, which at epoch scale (1.7e9 s) only resolve ~0.24 us:
# published messages are keyed by microsecond and looked up with one key of slack either side.
STAMP_KEY_NS = 1000


def stamp_key(seconds: float) -> int:
    return round(seconds * NS_PER_S / STAMP_KEY_NS)


@dataclass
class PlayStats:
    published: int = 0
    loops: int = 0
    wall_s: float = 0.0
    bag_s: float = 0.0
    per_topic: dict[str, int] = field(default_factory=dict)


class LiveCollector:
    """Turns what the node publishes (trajectories, ~/selection, /diagnostics) into report entries."""

    def __init__(self, trajectory_topic: str, selection_topic: str, diagnostics_topic: str,
                 bag_time_s: Callable[[], float], published_at: Callable[[str, float], float | None],
                 seed: int | None, camera_topics: Sequence[str]) -> None:
        self.trajectory_topic = trajectory_topic
        self.selection_topic = selection_topic
        self.diagnostics_topic = diagnostics_topic
        self.bag_time_s = bag_time_s
        self.published_at = published_at
        self.seed = seed
        self.camera_topics = list(camera_topics)
        self.trajectories: list[tuple[float, float, Any]] = []   # (wall, bag time, msg)
        self.selections: list[tuple[float, dict[str, Any]]] = []
        self.diagnostics: list[dict[str, str]] = []
        self._baseline = 0
        self._lock = threading.Lock()

    def on_message(self, topic: str, msgtype: str, raw: bytes, stamp_ns: int) -> None:
        from rclpy.serialization import deserialize_message

        wall = time.monotonic()
        if topic not in (self.trajectory_topic, self.selection_topic, self.diagnostics_topic):
            return
        msg = deserialize_message(raw, rclpy_class(msgtype))
        with self._lock:
            if topic == self.trajectory_topic:
                self.trajectories.append((wall, self.bag_time_s(), msg))
            elif topic == self.selection_topic:
                self.selections.append((wall, decode_selection(msg)))
            else:
                for status in msg.status:
                    values = {kv.key: kv.value for kv in status.values}
                    self.diagnostics.append({"name": status.name, "message": status.message, **values})

    def chunks(self) -> list[ChunkRecord]:
        """Pair the k-th trajectory with the k-th selection (the node publishes them together)."""
        with self._lock:
            trajectories, selections = list(self.trajectories), list(self.selections)
        out = []
        for k, (wall, bag_t, traj) in enumerate(trajectories):
            sel = selections[k][1] if k < len(selections) else {}
            stamps = dict(sel.get("stamps", {}))
            frame = sel.get("frame_stamp")
            latency = self._latency_ms(wall, stamps, frame)
            index = int(sel.get("inference_index", -1))
            out.append(ChunkRecord(
                inference_index=index, time_s=bag_t, stamps=stamps, joint_names=list(traj.joint_names),
                positions=[list(p.positions) for p in traj.points],
                time_from_start=[p.time_from_start.sec + p.time_from_start.nanosec / NS_PER_S
                                 for p in traj.points],
                seed=None if self.seed is None or index < 0 else inference_seed(self.seed, index),
                selected=sel.get("selected"), scores=json_scores(sel.get("scores")), margin=sel.get("margin"),
                latency_ms=latency, frame_stamp=frame))
        return out

    def _latency_ms(self, received: float, stamps: dict[str, float], frame: float | None) -> float | None:
        """Wall ms from our publication of the newest camera frame the node used to the trajectory's receipt
        (the node infers when a new frame arrives, so this is the frame -> command latency)."""
        if stamps:
            published = [self.published_at(t, s) for t, s in stamps.items() if t in self.camera_topics]
        elif frame is not None:
            published = [self.published_at(t, frame) for t in self.camera_topics]
        else:
            return None
        known = [p for p in published if p is not None]
        return (received - max(known)) * MS_PER_S if known else None

    def mark_start(self) -> None:
        """Playback begins now: skip counts are reported relative to the node's counts at this point."""
        with self._lock:
            self._baseline = len(self.diagnostics)

    def skipped(self) -> dict[str, dict[str, Any]]:
        """Steps that published nothing, by reason, from the node's /diagnostics during playback."""
        with self._lock:
            diags, baseline = list(self.diagnostics), self._baseline
        before = diags[baseline - 1] if baseline > 0 else None
        return diagnostics_skips(diags[baseline:], before)


COUNT_PREFIX = "count_"              # /diagnostics: running count of steps per outcome status
NOT_SKIPS = ("ok", "disabled")       # outcomes that are not "an observation skipped"


def _counts(diag: dict[str, str]) -> dict[str, int]:
    out = {}
    for key, value in diag.items():
        if key.startswith(COUNT_PREFIX) and value.strip().lstrip("-").isdigit():
            out[key[len(COUNT_PREFIX):]] = int(value)
    return out


def diagnostics_skips(diags: Sequence[dict[str, str]], before: dict[str, str] | None = None,
                      ) -> dict[str, dict[str, Any]]:
    """Skipped steps per status in `diags` (the node's `count_<status>` values are running totals, so the
    counts in `before`, the last diagnostics before playback, are subtracted), each with the latest reason
    the node gave for that status."""
    if not diags:
        return {}
    first = _counts(before) if before else {}
    last = _counts(diags[-1])
    out: dict[str, dict[str, Any]] = {}
    for kind, total in sorted(last.items()):
        count = total - first.get(kind, 0)
        if kind in NOT_SKIPS or count <= 0:
            continue
        example = next((d.get("reason", "") for d in reversed(diags) if d.get("status") == kind), "")
        out[kind] = {"count": count, "example": example}
    return out


class LivePlayer:
    """Publishes a bag window in real time (scaled by `rate`) on `node`."""

    def __init__(self, bag: BagReader, node: Any, window: ReplayWindow, rate: float = 1.0,
                 publish_clock: bool = True, topics: Sequence[str] | None = None,
                 clock_hz: float = CLOCK_HZ) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        if rate <= 0 or clock_hz <= 0:
            raise ValueError(f"rate ({rate}) and clock rate ({clock_hz} Hz) must be > 0")
        self.clock_hz = clock_hz
        self.bag, self.node, self.window, self.rate = bag, node, window, rate
        self.topics = [t for t in bag.topics if topics is None or t in topics]
        latched = bag.latched_topics()
        self.latched = [t for t in self.topics if t in latched]
        self._publishers: dict[str, Any] = {}
        for topic in self.topics:
            durability = DurabilityPolicy.TRANSIENT_LOCAL if topic in latched else DurabilityPolicy.VOLATILE
            qos = QoSProfile(depth=PUBLISH_DEPTH, reliability=ReliabilityPolicy.RELIABLE,
                             durability=durability)
            self._publishers[topic] = node.create_publisher(
                rclpy_class(bag.topics[topic].msgtype), window.node_topic(topic), qos)
        self._clock_cls = Clock
        self._clock_pub = (node.create_publisher(Clock, CLOCK_TOPIC, QoSProfile(depth=1))
                           if publish_clock else None)
        self._observation_topics = {t for t in self.topics if bag.topics[t].msgtype in IMAGE_TYPES
                                    or bag.topics[t].msgtype in JOINT_STATE_TYPES}
        self._published_at: dict[tuple[str, int], float] = {}   # (node topic or part, stamp key) -> wall
        self._lock = threading.Lock()
        self._segment = (time.monotonic(), 0)                    # (wall at segment start, bag ns at start)
        self.stats = PlayStats(per_topic=dict.fromkeys(self.topics, 0))

    # ---- clock ---------------------------------------------------------------------------------------------
    def bag_time_ns(self) -> int:
        wall0, bag0 = self._segment
        return bag0 + round((time.monotonic() - wall0) * self.rate * NS_PER_S)

    def bag_time_s(self) -> float:
        return self.bag_time_ns() / NS_PER_S

    def _publish_clock(self, time_ns: int) -> None:
        if self._clock_pub is None:
            return
        msg = self._clock_cls()
        msg.clock.sec, msg.clock.nanosec = divmod(int(time_ns), NS_PER_S)
        self._clock_pub.publish(msg)

    def _clock_loop(self, stop: threading.Event) -> None:
        while not stop.wait(1.0 / self.clock_hz):
            self._publish_clock(self.bag_time_ns())

    # ---- latency bookkeeping -------------------------------------------------------------------------------
    def published_at(self, part: str, stamp_s: float) -> float | None:
        """Wall time (monotonic) at which the message of observation part `part` with that stamp went out."""
        key = stamp_key(stamp_s)
        with self._lock:
            for k in (key, key - 1, key + 1):
                if (part, k) in self._published_at:
                    return self._published_at[(part, k)]
        return None

    def _remember(self, message: BagMessage) -> None:
        if message.topic not in self._observation_topics:
            return
        stamp_ns = header_stamp_ns(message.raw)
        if stamp_ns is None:     # too short to hold a header: still published, just no latency entry
            return
        node_topic = self.window.node_topic(message.topic)
        part = JOINT_STATES_LABEL if self.bag.topics[message.topic].msgtype in JOINT_STATE_TYPES else node_topic
        with self._lock:
            self._published_at[(part, round(stamp_ns / STAMP_KEY_NS))] = time.monotonic()

    # ---- playback ------------------------------------------------------------------------------------------
    def play(self, stop: threading.Event, loop: bool = False, max_loops: int | None = None,
             progress: Callable[[float], None] | None = None) -> PlayStats:
        """Play until the window ends (or forever with `loop`, or `max_loops` times) or `stop` is set."""
        start_ns, stop_ns = self.window.bounds_ns(self.bag)
        end_ns = self.bag.end_ns if stop_ns is None else min(stop_ns, self.bag.end_ns)
        clock_stop = threading.Event()
        clock_thread = threading.Thread(target=self._clock_loop, args=(clock_stop,), daemon=True)
        wall_begin = time.monotonic()
        self._segment = (wall_begin, start_ns)
        self._publish_clock(start_ns)
        clock_thread.start()
        try:
            while not stop.is_set():
                self._play_once(start_ns, stop_ns, stop, progress)
                self.stats.loops += 1
                if stop.is_set() or not loop or (max_loops is not None and self.stats.loops >= max_loops):
                    break
                self._segment = (time.monotonic(), start_ns)     # /clock jumps back, as with ros2 bag play
        finally:
            clock_stop.set()
            clock_thread.join()
        self.stats.wall_s = time.monotonic() - wall_begin
        self.stats.bag_s = self.stats.loops * max(0, end_ns - start_ns) / NS_PER_S
        return self.stats

    def _play_once(self, start_ns: int, stop_ns: int | None, stop: threading.Event,
                   progress: Callable[[float], None] | None) -> None:
        # Latched topics (the instruction): the last message before the window still holds inside it.
        latest: dict[str, BagMessage] = {}
        for message in self.bag.messages(self.latched, stop_ns=start_ns):
            latest[message.topic] = message
        for message in latest.values():
            self._publish(message)
        last_progress = start_ns
        for message in self.bag.messages(self.topics, start_ns=start_ns, stop_ns=stop_ns):
            wall0, bag0 = self._segment
            due = wall0 + (message.time_ns - bag0) / NS_PER_S / self.rate
            while not stop.is_set():
                left = due - time.monotonic()
                if left <= 0:
                    break
                stop.wait(left)
            if stop.is_set():
                return
            self._publish_clock(message.time_ns)
            self._publish(message)
            if progress is not None:
                progress((message.time_ns - last_progress) / NS_PER_S)
                last_progress = message.time_ns

    def _publish(self, message: BagMessage) -> None:
        self._remember(message)
        self._publishers[message.topic].publish(message.raw)
        self.stats.published += 1
        self.stats.per_topic[message.topic] += 1


NODE_TIMINGS = ("receipt_to_publish_ms_p50", "engine_total_ms_p50", "node_overhead_ms_p50",
                "inference_rate_hz")    # what the node itself measured (its last /diagnostics)


def live_report(bag: BagReader, collector: LiveCollector, stats: PlayStats, info: dict[str, Any]) -> Report:
    report = Report("live", str(bag.path))
    report.chunks = collector.chunks()
    report.skipped = collector.skipped()
    report.info.update(info)
    report.info.update({"published_messages": stats.published, "loops": stats.loops,
                        "wall_s": round(stats.wall_s, 3), "bag_s": round(stats.bag_s, 3),
                        "selections": len(collector.selections),
                        "trajectories": len(collector.trajectories),
                        "observation_stamps": bool(report.chunks and report.chunks[0].stamps),
                        "frame_stamps": bool(report.chunks and report.chunks[0].frame_stamp)})
    last = collector.diagnostics[-1] if collector.diagnostics else {}
    report.info["node_reported"] = {k: last[k] for k in NODE_TIMINGS if last.get(k)}
    return report
