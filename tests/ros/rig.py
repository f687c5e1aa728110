"""Test-side ROS 2 rig: plays camera + arm for a node running in another process, and records its output.

Everything goes through real DDS (loopback, the random domain tests/conftest.py chose). The rig spins its own
rclpy context on a background thread; the test thread swaps what the fake camera / joint state publishers
send and waits on what the node publishes.
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
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from mgselect_node.ros.conversions import fill_compressed, fill_image, seconds_to_stamp
from mgselect_node.ros.messages import decode_selection, diagnostic_values

CAMERA_HZ = 15.0
JOINTS_HZ = 50.0
SERVICE_TIMEOUT_S = 10.0
TRANSITION_TIMEOUT_S = 90.0    # configure loads and warms the model
POLL_S = 0.02
REPORT_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
SENSOR_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class Received:
    t: float            # time.monotonic() at receipt
    msg: Any


def now_s() -> float:
    return time.time()


class Rig:
    """Fake camera + joint states in, trajectories / selection / diagnostics out."""

    def __init__(self, node_name: str, controller: str, image_topic: str, joints: list[str],
                 positions: list[float], image_shape: tuple[int, int] = (96, 128)) -> None:
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        self.node = Node("mgselect_test_rig", context=self.ctx)
        self.target = node_name
        self.joints, self.positions = list(joints), list(positions)
        rng = np.random.default_rng(0)
        self.rgb = rng.integers(0, 256, (*image_shape, 3), dtype=np.uint8)
        self._lock = threading.Condition()
        self.trajectories: list[Received] = []
        self.selections: list[Received] = []
        self.diagnostics: list[Received] = []
        self.camera_topic = image_topic
        self.camera_pub: Any = None
        self.make_camera: Callable[[], Any] | None = self.good_image
        self.make_joints: Callable[[], Any] | None = self.good_joints
        self.open_camera(image_topic)
        self.joint_pub = self.node.create_publisher(JointState, "/joint_states", SENSOR_QOS)
        self.node.create_subscription(JointTrajectory, f"{controller}/joint_trajectory",
                                      self._record(self.trajectories), REPORT_QOS)
        self.node.create_subscription(Float64MultiArray, f"/{node_name}/selection",
                                      self._record(self.selections), REPORT_QOS)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, REPORT_QOS)
        self.node.create_timer(1.0 / CAMERA_HZ, self._tick_camera)
        self.node.create_timer(1.0 / JOINTS_HZ, self._tick_joints)
        self.params = AsyncParameterClient(self.node, node_name)
        self.change_state = self.node.create_client(ChangeState, f"/{node_name}/change_state")
        self.get_state = self.node.create_client(GetState, f"/{node_name}/get_state")
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
        msg_type = CompressedImage if topic.endswith("/compressed") else Image
        self.camera_topic = topic
        self.camera_pub = self.node.create_publisher(msg_type, topic, SENSOR_QOS)

    def kill_camera(self) -> None:
        """The camera driver dies: its publisher disappears from the graph."""
        pub, self.camera_pub = self.camera_pub, None
        if pub is not None:
            self.node.destroy_publisher(pub)

    def _tick_camera(self) -> None:
        if self.camera_pub is not None and self.make_camera is not None:
            self.camera_pub.publish(self.make_camera())

    def _tick_joints(self) -> None:
        if self.make_joints is not None:
            self.joint_pub.publish(self.make_joints())

    # ---------------------------------------------------------------- recording and waiting
    def _record(self, into: list[Received]) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            with self._lock:
                into.append(Received(time.monotonic(), msg))
                self._lock.notify_all()
        return callback

    def _on_diag(self, msg: DiagnosticArray) -> None:
        if msg.status and msg.status[0].name.startswith(f"{self.target}:"):
            self._record(self.diagnostics)(msg)

    def mark(self) -> float:
        return time.monotonic()

    def since(self, items: list[Received], t0: float) -> list[Any]:
        with self._lock:
            return [r.msg for r in items if r.t >= t0]

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last diagnostic: "
                                         f"{self.last_diag()}")
                self._lock.wait(min(remaining, POLL_S * 10))

    def wait_trajectories(self, t0: float, count: int = 1, timeout: float = 30.0) -> list[JointTrajectory]:
        return self.wait_for(lambda: (lambda m: m if len(m) >= count else None)(self.since(self.trajectories, t0)),
                             timeout, f"{count} trajectory message(s)")

    def wait_selections(self, t0: float, count: int = 1, timeout: float = 30.0) -> list[dict]:
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
                raise AssertionError(f"{what}: no response within {timeout} s")
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
        assert self.change_state.wait_for_service(SERVICE_TIMEOUT_S), "lifecycle service not available"
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return bool(self._call(self.change_state.call_async(request), "change_state", TRANSITION_TIMEOUT_S).success)

    def lifecycle_state(self) -> str:
        assert self.get_state.wait_for_service(SERVICE_TIMEOUT_S), "lifecycle service not available"
        return str(self._call(self.get_state.call_async(GetState.Request()), "get_state").current_state.label)
