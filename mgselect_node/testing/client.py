"""The other side of a node under test or benchmark: plays camera + arm, records what the node publishes.

Everything goes through real DDS (keep it on loopback: mgselect_node.ros.dds_env). The client spins its own
rclpy context on a background thread; the caller swaps what the fake camera / joint-state publishers send
(`make_camera`, `make_joints`) and waits on what the node publishes (trajectories, ~/selection, /diagnostics).
It also sets parameters and drives the lifecycle through the node's standard services.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from mgselect_node.contracts import (
    COMPRESSED_SUFFIX,
    DIAGNOSTICS_TOPIC,
    JOINT_STATES_TOPIC,
    SELECTION,
    diagnostic_prefix,
    private_topic,
    trajectory_topic,
)
from mgselect_node.ros.conversions import fill_compressed, fill_image, header_seconds, seconds_to_stamp
from mgselect_node.ros.messages import decode_selection, diagnostic_values
from mgselect_node.testing.lifecycle import ACTIVE, POLL_S, SERVICE_TIMEOUT_S, TRANSITION_TIMEOUT_S, LifecycleClient

CAMERA_HZ = 15.0
JOINTS_HZ = 50.0
DEFAULT_WAIT_S = 30.0
CLIENT_NODE = "mgselect_test_rig"
REPORT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
SENSOR_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT_SENSOR_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
__all__ = ["CAMERA_HZ", "JOINTS_HZ", "POLL_S", "SERVICE_TIMEOUT_S", "TRANSITION_TIMEOUT_S", "NodeClient",
           "Received", "WaitTimeout", "now_s"]


@dataclass
class Received:
    t: float            # time.monotonic() at receipt
    msg: Any


class WaitTimeout(AssertionError):
    """What was awaited did not happen in time (an AssertionError: in a test it is the failure)."""


def now_s() -> float:
    return time.time()


class NodeClient:
    """Fake camera + joint states in, trajectories / selection / diagnostics out, parameters and lifecycle.

    `camera_hz` / `joints_hz` publish on timers (None: only when the caller calls publish_frame /
    publish_joints, or after start_camera). `image` is the frame sent (default: random, `image_shape`)."""

    def __init__(self, node_name: str, controller: str, image_topic: str, joints: list[str],
                 positions: list[float], image_shape: tuple[int, int] = (96, 128), *,
                 image: np.ndarray | None = None, camera_hz: float | None = CAMERA_HZ,
                 joints_hz: float | None = JOINTS_HZ, sensor_qos: QoSProfile = SENSOR_QOS,
                 client_name: str = CLIENT_NODE) -> None:
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = Node(client_name, context=self.ctx)
        self.target = node_name
        self.joints, self.positions = list(joints), list(positions)
        self.rgb = image if image is not None else np.random.default_rng(0).integers(
            0, 256, (*image_shape, 3), dtype=np.uint8)
        self._sensor_qos = sensor_qos
        self._lock = threading.Condition()
        self.trajectories: list[Received] = []
        self.selections: list[Received] = []
        self.diagnostics: list[Received] = []
        self.frames_published = 0
        self.joint_states_published = 0
        self._cached_image: Any = None
        self.camera_topic = image_topic
        self.camera_pub: Any = None
        self.make_camera: Callable[[], Any] | None = self.good_image
        self.make_joints: Callable[[], Any] | None = self.good_joints
        self.open_camera(image_topic)
        self.joint_pub = self.node.create_publisher(JointState, JOINT_STATES_TOPIC, sensor_qos)
        self.node.create_subscription(JointTrajectory, trajectory_topic(controller),
                                      self._record(self.trajectories), REPORT_QOS)
        self.node.create_subscription(Float64MultiArray, private_topic(SELECTION, node_name),
                                      self._record(self.selections), REPORT_QOS)
        self.node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diag, REPORT_QOS)
        self._camera_timer = None
        if camera_hz:
            self.start_camera(camera_hz)
        if joints_hz:
            self.node.create_timer(1.0 / joints_hz, self.publish_joints)
        self.params = AsyncParameterClient(self.node, node_name)
        self.lifecycle = LifecycleClient(self.node, node_name)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)
        self._spinner.join(timeout=5)

    # ---------------------------------------------------------------- what the fake sensors send
    def good_image(self) -> Any:
        return fill_image(Image(), self.rgb, "rgb8", stamp_s=now_s())

    def restamped_image(self) -> Any:
        """The same frame object with a fresh stamp: no copy per frame (benchmarks; do not modify it)."""
        if self._cached_image is None:
            self._cached_image = fill_image(Image(), self.rgb, "rgb8")
        seconds_to_stamp(self._cached_image.header.stamp, now_s())
        return self._cached_image

    def good_compressed(self) -> Any:
        return fill_compressed(CompressedImage(), self.rgb, "jpeg", stamp_s=now_s())

    def good_joints(self, names: list[str] | None = None, positions: list[float] | None = None) -> JointState:
        msg = JointState()
        # shuffled, with an extra joint: the node must pick by name
        names = list(names if names is not None else self.joints)
        positions = list(positions if positions is not None else self.positions)
        msg.name = ["extra_joint", *reversed(names)]
        msg.position = [0.0, *reversed(positions)]
        seconds_to_stamp(msg.header.stamp, now_s())
        return msg

    def open_camera(self, topic: str) -> None:
        """(Re)create the camera publisher; the message type follows the topic name like the node does."""
        if self.camera_pub is not None:
            self.node.destroy_publisher(self.camera_pub)
        msg_type = CompressedImage if topic.rstrip("/").endswith(COMPRESSED_SUFFIX) else Image
        self.camera_topic = topic
        self.camera_pub = self.node.create_publisher(msg_type, topic, self._sensor_qos)

    def kill_camera(self) -> None:
        """The camera driver dies: its publisher disappears from the graph."""
        pub, self.camera_pub = self.camera_pub, None
        if pub is not None:
            self.node.destroy_publisher(pub)

    def start_camera(self, hz: float) -> None:
        self.stop_camera()
        self._camera_timer = self.node.create_timer(1.0 / hz, self.publish_frame)

    def stop_camera(self) -> None:
        if self._camera_timer is not None:
            self.node.destroy_timer(self._camera_timer)
            self._camera_timer = None

    def publish_frame(self) -> float | None:
        """One camera message from `make_camera`; returns its stamp (which identifies the resulting chunk)."""
        pub, make = self.camera_pub, self.make_camera
        if pub is None or make is None:
            return None
        msg = make()
        pub.publish(msg)
        self.frames_published += 1
        return header_seconds(msg, 0.0)

    def publish_joints(self) -> None:
        if self.make_joints is not None:
            self.joint_pub.publish(self.make_joints())
            self.joint_states_published += 1

    def camera_subscribers(self) -> int:
        return 0 if self.camera_pub is None else self.camera_pub.get_subscription_count()

    # ---------------------------------------------------------------- recording and waiting
    def _record(self, into: list[Received]) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._lock:
                into.append(Received(time.monotonic(), msg))
                self._lock.notify_all()
        return callback

    def _on_diag(self, msg: DiagnosticArray) -> None:
        if msg.status and msg.status[0].name.startswith(diagnostic_prefix(self.target)):
            self._record(self.diagnostics)(msg)

    def mark(self) -> float:
        return time.monotonic()

    def since(self, items: list[Received], t0: float) -> list[Any]:
        with self._lock:
            return [r.msg for r in items if r.t >= t0]

    def poll(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """The first truthy `predicate()` (re-checked whenever something arrives), or None after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._lock.wait(min(remaining, POLL_S * 10))

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        value = self.poll(predicate, timeout)
        if not value:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}; last diagnostic: "
                              f"{self.last_diag()}")
        return value

    def wait_trajectories(self, t0: float, count: int = 1, timeout: float = DEFAULT_WAIT_S) -> list[JointTrajectory]:
        return self.wait_for(lambda: (lambda m: m if len(m) >= count else None)(self.since(self.trajectories, t0)),
                             timeout, f"{count} trajectory message(s)")

    def wait_selections(self, t0: float, count: int = 1, timeout: float = DEFAULT_WAIT_S) -> list[dict]:
        msgs = self.wait_for(lambda: (lambda m: m if len(m) >= count else None)(self.since(self.selections, t0)),
                             timeout, f"{count} selection message(s)")
        return [decode_selection(m) for m in msgs]

    def last_diag(self) -> dict[str, str]:
        items = self.diagnostics
        return diagnostic_values(items[-1].msg) if items else {}

    def wait_diag(self, t0: float, predicate: Callable[[dict[str, str]], bool], timeout: float, what: str
                  ) -> dict[str, str]:
        def check() -> dict[str, str] | None:
            for msg in self.since(self.diagnostics, t0):
                values = diagnostic_values(msg)
                if predicate(values):
                    return values
            return None
        return self.wait_for(check, timeout, f"a diagnostic with {what}")

    # ---------------------------------------------------------------- services
    def _call(self, future: Any, what: str, timeout: float = SERVICE_TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise WaitTimeout(f"{what}: no response within {timeout} s")
            time.sleep(POLL_S)
        return future.result()

    def set_params(self, **values: Any) -> list[Any]:
        """Remote set through the standard parameter services; returns SetParametersResult per parameter."""
        assert self.params.wait_for_services(SERVICE_TIMEOUT_S), "parameter services not available"
        params = [Parameter(k, value=v) for k, v in values.items()]
        return list(self._call(self.params.set_parameters(params), "set_parameters").results)

    def get_params(self, *names: str) -> list[Any]:
        assert self.params.wait_for_services(SERVICE_TIMEOUT_S), "parameter services not available"
        response = self._call(self.params.get_parameters(list(names)), "get_parameters")
        return [parameter_value_to_python(v) for v in response.values]

    def transition(self, transition_id: int) -> bool:
        return self.lifecycle.transition(transition_id)

    def lifecycle_state(self) -> str:
        state = self.lifecycle.state()
        assert state is not None, f"{self.target}: lifecycle service not available or not answering"
        return state

    def wait_ready(self, process: Any = None, timeout: float = TRANSITION_TIMEOUT_S, state: str = ACTIVE) -> None:
        """Until the node reports `state` (default active) over its lifecycle service; with `process` (a
        testing.processes.ChildProcess), fail at once when it exits, with its log tail in the message."""
        self.lifecycle.wait_for_state(state, timeout, alive=getattr(process, "alive", None),
                                      describe=getattr(process, "describe", None))
