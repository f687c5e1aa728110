"""The node's topics: QoS profiles, and creating / re-creating / destroying its publishers and subscriptions.

A mixin of MGSelectNode, kept apart so the node module holds the control flow. Re-wiring happens on the
executor thread (parameter service callbacks), never concurrently with the executor's own use of the handles.
"""

from __future__ import annotations

from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from mgselect_node.config import Config
from mgselect_node.contracts import COMPRESSED_SUFFIX, INSTRUCTION, SELECTION, trajectory_topic

SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
REPORT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
INSTRUCTION_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)


class NodeInterfaces:
    """Expects the node's `_config`, `_frames` and the `_on_*` callbacks (see MGSelectNode)."""

    _config: Config
    _frames: Any
    _camera_subs: list[Any]
    _joint_sub: Any
    _instruction_sub: Any
    _trajectory_pub: Any
    _selection_pub: Any

    def _make_trajectory_pub(self, config: Config) -> Any:
        return self.create_publisher(JointTrajectory, trajectory_topic(config.node.controller_name), COMMAND_QOS)

    def _create_interfaces(self) -> None:
        self._trajectory_pub = self._make_trajectory_pub(self._config)
        self._selection_pub = self.create_publisher(Float64MultiArray, SELECTION, REPORT_QOS)
        self._joint_sub = self.create_subscription(
            JointState, self._config.node.joint_states_topic, self._on_joint_state, SENSOR_QOS)
        self._instruction_sub = self.create_subscription(
            String, INSTRUCTION, self._on_instruction, INSTRUCTION_QOS)
        self._create_camera_subs()

    def _create_camera_subs(self) -> None:
        self._camera_subs = []
        topics = list(self._config.node.image_topics)
        self._frames.reset(len(topics))
        for index, topic in enumerate(topics):
            msg_type = CompressedImage if topic.rstrip("/").endswith(COMPRESSED_SUFFIX) else Image
            self._camera_subs.append(self.create_subscription(
                msg_type, topic, self._camera_callback(index), SENSOR_QOS))

    def _destroy_camera_subs(self) -> None:
        for sub in self._camera_subs:
            self.destroy_subscription(sub)
        self._camera_subs = []
        self._frames.reset(0)

    def _destroy_interfaces(self) -> None:
        self._destroy_camera_subs()
        for sub in (self._joint_sub, self._instruction_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        for pub in (self._trajectory_pub, self._selection_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self._joint_sub = self._instruction_sub = self._trajectory_pub = self._selection_pub = None
