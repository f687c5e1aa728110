"""`mgselect record OUT_BAG --topics T1 T2 ...`: record live topics into a rosbag2 bag.

What `ros2 bag record` does on a full ROS install, for environments that only have the pip wheels. Topics
are subscribed when their publishers appear; recording stops after --duration or on Ctrl-C, and the bag is
always closed properly (metadata written) so it can be read back.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mgselect_node.bag.bag_io import DEFAULT_STORAGE

if TYPE_CHECKING:
    from mgselect_node.bag.recorder import MessageHook

STATUS_PERIOD_S = 0.2


def check_topic_names(topics: Iterable[str], node_name: str) -> list[str]:
    """The topics fully qualified, duplicates dropped; ConfigError naming the first bad --node-name or --topics
    entry. Checked before the bag or DDS is touched.

    The recording node lives in the root namespace (RosSession passes no ROS arguments), so relative and `~`
    names are expanded against `/` and `node_name` as rclpy expands them (`camera/image_raw` ->
    `/camera/image_raw`, `~/x` -> `/<node_name>/x`): the full names are what the ROS graph reports, and what
    is subscribed, counted and written into the bag."""
    from mgselect_node.bag.recorder import full_topic_names
    from mgselect_node.ros.names import check_node_name

    check_node_name(node_name, "--node-name")
    return full_topic_names(topics, node_name, "/", "--topics")


def record(out_bag: str, topics: list[str], duration: float | None = None, storage: str = DEFAULT_STORAGE,
           node_name: str = "mgselect_record", stop: threading.Event | None = None,
           hooks: Iterable[MessageHook] = ()) -> dict[str, int]:
    """Record until `duration` passes or `stop` is set; returns messages recorded per topic, by full name
    (a relative name is resolved against `/`: `camera/image_raw` is recorded and counted as `/camera/image_raw`).

    `hooks` see every recorded message (e.g. to stop after enough of them). A bad topic or node name raises
    ConfigError before anything is created (check_topic_names)."""
    topics = check_topic_names(topics, node_name)
    from mgselect_node.bag.recorder import BagSink, TopicRecorder
    from mgselect_node.bag.session import RosSession

    stop = stop or threading.Event()
    sink = BagSink(out_bag, storage=storage)
    try:
        with RosSession(node_name) as session:
            recorder = TopicRecorder(session.node, sink, topics, hooks=hooks)
            deadline = None if duration is None else time.monotonic() + duration   # DDS is up from here
            try:
                while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
                    left = STATUS_PERIOD_S if deadline is None else deadline - time.monotonic()
                    stop.wait(max(0.0, min(STATUS_PERIOD_S, left)))
            finally:
                recorder.close()
    finally:
        sink.close()
    for problem in recorder.problems:
        print(f"mgselect record: warning: {problem}", file=sys.stderr)
    return {t: recorder.stats.counts.get(t, 0) for t in topics}
