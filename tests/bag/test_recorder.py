"""TopicRecorder without DDS: requested topic names are resolved to the full names the ROS graph reports before
they are matched, subscribed, counted and written (a relative `--topics camera/image_raw` used to record
nothing). A fake node stands in for rclpy's (tests/bag/test_record.py records over loopback DDS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mgselect_node.bag import session
from mgselect_node.bag.bag_io import open_bag
from mgselect_node.bag.record import record
from mgselect_node.bag.recorder import TopicRecorder, full_topic_names
from mgselect_node.cli import record as record_cli
from mgselect_node.config import ConfigError

GRAPH = {"/camera/image_raw": "std_msgs/msg/String", "/joint_states": "std_msgs/msg/String",
         "/mgselect_record/status": "std_msgs/msg/String"}


class _Timer:
    def cancel(self) -> None:
        pass


class _FakeNode:
    """What TopicRecorder uses of an rclpy node; the graph reports full names, as DDS does. Each subscription
    is handed one message at once (`payload`)."""

    def __init__(self, name: str = "mgselect_record", namespace: str = "/", payload: bytes | None = None):
        self.name, self.namespace, self.payload = name, namespace, payload
        self.subscribed: list[str] = []

    def get_name(self) -> str:
        return self.name

    def get_namespace(self) -> str:
        return self.namespace

    def create_timer(self, period: float, callback: Any) -> _Timer:
        return _Timer()

    def get_topic_names_and_types(self) -> list[tuple[str, list[str]]]:
        return [(topic, [msgtype]) for topic, msgtype in GRAPH.items()]

    def get_publishers_info_by_topic(self, topic: str) -> list[Any]:
        return []

    def create_subscription(self, cls: Any, topic: str, callback: Any, qos: Any, raw: bool = False) -> str:
        assert raw and topic.startswith("/"), topic
        self.subscribed.append(topic)
        if self.payload is not None:
            callback(self.payload)
        return topic

    def destroy_subscription(self, subscription: Any) -> None:
        pass


def _string_cdr(text: str) -> bytes:
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String

    return serialize_message(String(data=text))


def test_full_topic_names_resolve_relative_names_like_rclpy() -> None:
    names = ["camera/image_raw", "/joint_states", "~/status", "/camera/image_raw"]
    assert full_topic_names(names, "mgselect_record", "/") == [
        "/camera/image_raw", "/joint_states", "/mgselect_record/status"]
    assert full_topic_names(["camera/image_raw"], "rec", "/robot1") == ["/robot1/camera/image_raw"]
    with pytest.raises(ConfigError, match="--topics: 'bad topic' is not a valid ROS topic name"):
        full_topic_names(["/ok", "bad topic"], "rec", "/", "--topics")


def test_a_relative_name_is_matched_and_counted_by_its_full_name() -> None:
    node = _FakeNode(payload=_string_cdr("x"))
    recorder = TopicRecorder(node, None, ["camera/image_raw", "/joint_states", "/camera/image_raw", "/absent"])
    assert recorder.topics == ["/camera/image_raw", "/joint_states", "/absent"]
    assert node.subscribed == ["/camera/image_raw", "/joint_states"]
    assert recorder.subscribed == ["/camera/image_raw", "/joint_states"]
    assert recorder.stats.counts == {"/camera/image_raw": 1, "/joint_states": 1}
    assert recorder.wait_for(["camera/image_raw", "absent"], 0.0) == ["/absent"]
    recorder.close()


def test_record_writes_and_reports_full_names(tmp_path: Path, monkeypatch, capsys) -> None:
    class FakeSession:
        def __init__(self, node_name: str) -> None:
            self.node = _FakeNode(node_name, payload=_string_cdr("hello"))

        def __enter__(self) -> FakeSession:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    monkeypatch.setattr(session, "RosSession", FakeSession)
    counts = record(str(tmp_path / "api"), ["camera/image_raw", "~/status", "/absent"], duration=0.01)
    assert counts == {"/camera/image_raw": 1, "/mgselect_record/status": 1, "/absent": 0}
    with open_bag(tmp_path / "api") as bag:
        assert sorted(bag.topics) == ["/camera/image_raw", "/mgselect_record/status"]
        assert [msg.data for _, msg in bag.read()] == ["hello", "hello"]

    assert record_cli.main([str(tmp_path / "cli"), "--topics", "camera/image_raw", "--duration", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "recorded 1 messages" in out and "  /camera/image_raw  1\n" in out, out
    with open_bag(tmp_path / "cli") as bag:
        assert list(bag.topics) == ["/camera/image_raw"]
