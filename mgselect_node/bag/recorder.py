"""Record live topics into a bag: what `ros2 bag record` does on a full ROS install.

Why raw subscriptions: the bytes DDS delivers are written unchanged (no decode/re-encode, so a Fast CDR quirk
in a message is preserved exactly as `ros2 bag record` would store it; bag_io decodes it on reading). Topics
are picked up when they appear: the recorder polls the ROS graph, so it can start before the publishers.
The subscription QoS adapts to the publishers (best effort if any is, transient local only if all are), as
rosbag2 does, so a sensor-data publisher and a latched publisher are both recorded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mgselect_node.bag.bag_io import DEFAULT_STORAGE, BagWriter
from mgselect_node.bag.cdr import rclpy_class

DISCOVERY_PERIOD_S = 0.05
RECORD_DEPTH = 100

# (topic, msgtype, raw CDR bytes, timestamp ns) -> None; called from the executor thread for every message.
MessageHook = Callable[[str, str, bytes, int], None]


@dataclass
class RecordStats:
    counts: dict[str, int] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def adapted_qos(publisher_qos: list[Any]) -> Any:
    """A subscription QoS that matches every given publisher QoS (rclpy QoSProfile objects)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    best_effort = any(q.reliability == ReliabilityPolicy.BEST_EFFORT for q in publisher_qos)
    latched = bool(publisher_qos) and all(
        q.durability == DurabilityPolicy.TRANSIENT_LOCAL for q in publisher_qos)
    reliability = ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE
    durability = DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=RECORD_DEPTH, reliability=reliability,
                      durability=durability)


class BagSink:
    """A BagWriter owned by one thread, fed through a queue.

    Why: subscription callbacks run on executor threads, and rosbags' sqlite3 storage may only be used from
    the thread that opened it. Errors opening the bag raise here, in the caller's thread.
    """

    def __init__(self, path: str | Path, storage: str = DEFAULT_STORAGE) -> None:
        self.path = Path(path)
        self._queue: queue.Queue[tuple[str, str, int, bytes] | None] = queue.Queue()
        self._opened = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(storage,), name="bag-writer", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._error is not None:
            raise self._error

    def _run(self, storage: str) -> None:
        try:
            writer = BagWriter(self.path, storage=storage)
        except BaseException as exc:
            self._error = exc
            self._opened.set()
            return
        self._opened.set()
        with writer:
            while (item := self._queue.get()) is not None:
                topic, msgtype, stamp, raw = item
                try:
                    writer.write(topic, stamp, raw, msgtype)
                except Exception as exc:    # keep writing the other topics; report this at close
                    self._error = self._error or exc

    def write(self, topic: str, msgtype: str, stamp_ns: int, raw: bytes) -> None:
        self._queue.put((topic, msgtype, stamp_ns, raw))

    def close(self) -> None:
        """Write what is queued, close the bag (metadata), and raise a write error if there was one."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def full_topic_names(topics: Iterable[str], node_name: str, namespace: str, parameter: str = "topics",
                     ) -> list[str]:
    """`topics` fully qualified as rclpy resolves them for the node `node_name` in `namespace` (relative
    names against the namespace, `~` against the node), without duplicates; ConfigError naming `parameter`
    for an invalid one.

    Why: the ROS graph and DDS report topics by their full names, so a relative name compared as given
    would never match and its topic would silently record nothing."""
    from mgselect_node.ros.names import full_topic_name

    return list(dict.fromkeys(full_topic_name(t, parameter, node_name, namespace) for t in topics))


class TopicRecorder:
    """Subscribes (raw) to `topics` on `node` as they appear and writes each message into `sink`.

    The topics are resolved to their full names for `node` first (full_topic_names): `topics`, the
    subscriptions, the counts in `stats`, the hooks' and the bag's topic names all use the full names.
    `now_ns` gives the bag timestamp of a received message (default: system time, like `ros2 bag record`;
    replay passes its playback clock so the output bag lines up with the input bag).
    """

    def __init__(self, node: Any, sink: BagSink | None, topics: Iterable[str],
                 now_ns: Callable[[], int] | None = None, hooks: Iterable[MessageHook] = ()) -> None:
        self.node = node
        self.sink = sink
        self.topics = self._full_names(topics)
        self.now_ns = now_ns or time.time_ns
        self.hooks = list(hooks)
        self.stats = RecordStats()
        self._subscriptions: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._discover_lock = threading.Lock()
        self._closed = False
        self.problems: list[str] = []
        self._timer = node.create_timer(DISCOVERY_PERIOD_S, self.discover)
        self.discover()

    def _full_names(self, topics: Iterable[str]) -> list[str]:
        return full_topic_names(topics, self.node.get_name(), self.node.get_namespace())

    @property
    def subscribed(self) -> list[str]:
        return sorted(self._subscriptions)

    def discover(self) -> None:
        """Subscribe to every requested topic that now has a publisher."""
        with self._discover_lock:
            if not self._closed:
                self._discover()

    def _discover(self) -> None:
        pending = [t for t in self.topics if t not in self._subscriptions]
        if not pending:
            return
        types = dict(self.node.get_topic_names_and_types())
        for topic in pending:
            if topic not in types:
                continue
            msgtype = types[topic][0]
            try:
                cls = rclpy_class(msgtype)
            except Exception as exc:
                if str(exc) not in self.problems:
                    self.problems.append(str(exc))
                continue
            qos = adapted_qos([info.qos_profile for info in self.node.get_publishers_info_by_topic(topic)])
            with self._lock:
                self.stats.types[topic] = msgtype
                self.stats.counts.setdefault(topic, 0)
            self._subscriptions[topic] = self.node.create_subscription(
                cls, topic, lambda raw, t=topic, m=msgtype: self._on_message(t, m, raw), qos, raw=True)

    def _on_message(self, topic: str, msgtype: str, raw: bytes) -> None:
        stamp = self.now_ns()
        with self._lock:
            if self._closed:
                return
            if self.sink is not None:
                self.sink.write(topic, msgtype, stamp, raw)
            self.stats.counts[topic] += 1
        for hook in self.hooks:
            hook(topic, msgtype, raw, stamp)

    def wait_for(self, topics: Iterable[str], timeout_s: float) -> list[str]:
        """Wait until `topics` are subscribed; returns those still missing at the timeout (full names)."""
        deadline = time.monotonic() + timeout_s
        wanted = self._full_names(topics)
        while True:
            missing = [t for t in wanted if t not in self._subscriptions]
            if not missing or time.monotonic() >= deadline:
                return missing
            time.sleep(DISCOVERY_PERIOD_S)

    def close(self) -> None:
        """Stop recording (messages arriving afterwards are dropped); the caller closes the sink."""
        with self._lock:
            self._closed = True
        with self._discover_lock:
            self._timer.cancel()
            for sub in self._subscriptions.values():
                self.node.destroy_subscription(sub)
            self._subscriptions.clear()
