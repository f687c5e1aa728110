"""`mgselect record`: live topics over DDS (loopback, random domain from tests/conftest.py) into a bag that
reads back, including Fast CDR messages with empty float64 arrays and a latched topic published earlier."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mgselect_node.bag.bag_io import open_bag
from mgselect_node.bag.record import record
from mgselect_node.bag.recorder import adapted_qos
from mgselect_node.bag.session import RosSession
from mgselect_node.cli import record as record_cli

PUBLISH_HZ = 50.0
WANTED = 20            # record until this many joint states and camera frames are in the bag ...
RECORD_TIMEOUT_S = 60.0  # ... or give up (discovery and a loaded 2-core CI machine can take seconds)


class _Publisher:
    """Publishes joint states (empty effort), camera frames and one latched instruction from a thread."""

    def __init__(self) -> None:
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import String

        self.session = RosSession("test_record_publisher")
        node = self.session.node
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_publisher(String, "/mgselect/instruction", latched).publish(String(data="stack the cups"))
        self.joints = node.create_publisher(JointState, "/joint_states", 10)
        self.camera = node.create_publisher(Image, "/camera/image_raw", 10)
        self.js_cls, self.image_cls = JointState, Image
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        k = 0
        while not self.stop.wait(1.0 / PUBLISH_HZ):
            js = self.js_cls(name=["j2", "j1"], position=[float(k), -float(k)], velocity=[], effort=[])
            js.header.stamp.sec = k
            self.joints.publish(js)
            img = self.image_cls(height=2, width=3, encoding="rgb8", step=9, data=bytes(range(18)))
            img.header.stamp.sec = k
            self.camera.publish(img)
            k += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.session.close()


def _record_while_publishing(out: Path, storage: str, topics: list[str]) -> dict[str, int]:
    """Record until WANTED joint states and frames are in (a data-driven end: Fast DDS discovery of a new
    participant can take seconds, so a fixed recording time makes the count depend on the machine)."""
    pub = _Publisher()
    stop = threading.Event()
    seen: dict[str, int] = {}

    def count(topic: str, msgtype: str, raw: bytes, stamp_ns: int) -> None:
        seen[topic] = seen.get(topic, 0) + 1
        if min(seen.get("/joint_states", 0), seen.get("/camera/image_raw", 0)) >= WANTED:
            stop.set()

    result: dict[str, dict[str, int]] = {}
    worker = threading.Thread(target=lambda: result.update(
        counts=record(str(out), topics, None, storage, stop=stop, hooks=[count])))
    try:
        time.sleep(0.3)                        # the latched instruction is out before recording starts
        worker.start()
        stop.wait(RECORD_TIMEOUT_S)
    finally:
        stop.set()
        worker.join()
        pub.close()
    return result["counts"]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_record_live_topics_reads_back(tmp_path: Path, storage: str) -> None:
    # camera/image_raw: a relative name is recorded (and counted, and named in the bag) as /camera/image_raw
    counts = _record_while_publishing(tmp_path / "out", storage, ["/joint_states", "camera/image_raw",
                                                                 "/mgselect/instruction", "/not_published"])
    assert list(counts) == ["/joint_states", "/camera/image_raw", "/mgselect/instruction", "/not_published"]
    assert counts["/joint_states"] >= WANTED and counts["/camera/image_raw"] >= WANTED, counts
    assert counts["/mgselect/instruction"] == 1
    assert counts["/not_published"] == 0
    with open_bag(tmp_path / "out") as bag:
        assert bag.storage == storage
        assert bag.topics["/joint_states"].msgtype == "sensor_msgs/msg/JointState"
        assert bag.topics["/joint_states"].count == counts["/joint_states"]
        assert "/not_published" not in bag.topics
        decoded = {}
        for message, msg in bag.read():
            decoded.setdefault(message.topic, []).append(msg)
    js = decoded["/joint_states"]
    assert all(m.effort.size == 0 and list(m.name) == ["j2", "j1"] for m in js)   # Fast CDR quirk handled
    k = js[-1].header.stamp.sec
    assert js[-1].position.tolist() == [float(k), -float(k)]
    assert [m.header.stamp.sec for m in js] == sorted(m.header.stamp.sec for m in js)
    img = decoded["/camera/image_raw"][0]
    assert np.array_equal(img.data, np.arange(18, dtype=np.uint8)) and img.encoding == "rgb8"
    assert decoded["/mgselect/instruction"][0].data == "stack the cups"


def test_record_cli_reports_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "quiet"
    assert record_cli.main([str(out), "--topics", "/nobody_publishes", "--duration", "0.3"]) == 0
    printed = capsys.readouterr().out
    assert "recorded 0 messages" in printed and "no messages" in printed
    with open_bag(out) as bag:
        assert bag.message_count == 0
    assert record_cli.main([str(out), "--topics", "/x", "--duration", "0.1"]) == 1
    err = capsys.readouterr().err
    assert "exists already" in err and "Traceback" not in err
    assert record_cli.main([str(tmp_path / "y"), "--topics", "/x", "--duration", "0"]) == 2
    assert "--duration must be > 0" in capsys.readouterr().err
    assert record_cli.main([str(tmp_path / "z"), "--topics", "/x", "--duration", "0.1",
                            "--storage", "sqlite3"]) == 0


def test_adapted_qos_matches_every_publisher() -> None:
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
    sensor = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    assert adapted_qos([reliable]).reliability == ReliabilityPolicy.RELIABLE
    assert adapted_qos([reliable, sensor]).reliability == ReliabilityPolicy.BEST_EFFORT
    assert adapted_qos([latched]).durability == DurabilityPolicy.TRANSIENT_LOCAL
    assert adapted_qos([latched, reliable]).durability == DurabilityPolicy.VOLATILE
