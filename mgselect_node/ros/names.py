"""ROS name checks for the topic parameters (and the topic and node-name arguments of the sim and record tools),
so a bad name is refused by validation instead of crashing the node when it creates the subscription or
publisher.

Each name is expanded the way rclpy will expand it (node name and namespace, `~`, substitutions) and then
checked as a full topic name: allowed characters, no trailing or double slash, length.
"""

from __future__ import annotations

from rclpy.expand_topic_name import expand_topic_name
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_node_name import validate_node_name

from mgselect_node.config import Config, ConfigError
from mgselect_node.contracts import trajectory_topic
from mgselect_node.ros.conversions import clip


def _reason(exc: Exception) -> str:
    """rclpy's message without the C source location, and without the name echoed under a caret on the lines
    after the first (for a length or node-name error)."""
    return clip(str(exc).split(", at ")[0].partition("\n")[0].rstrip(":"), 200)


def check_topic(name: str, parameter: str, node_name: str, namespace: str) -> None:
    """ConfigError naming the parameter unless `name` is a valid topic name for this node."""
    try:
        validate_full_topic_name(expand_topic_name(name, node_name, namespace))
    except Exception as exc:  # rclpy raises ValueError or its own exception types
        raise ConfigError(f"{parameter}: {clip(name)} is not a valid ROS topic name: {_reason(exc)}") from None


def check_node_name(name: str, parameter: str) -> None:
    """ConfigError naming the parameter unless `name` is a valid node name (check it before its topics: an
    invalid node name would otherwise be reported as an invalid topic)."""
    try:
        validate_node_name(name)
    except Exception as exc:
        raise ConfigError(f"{parameter}: {clip(name)} is not a valid ROS node name: {_reason(exc)}") from None


def check_names(config: Config, node_name: str, namespace: str) -> None:
    """Every topic the node would create from `config` must be a valid ROS name."""
    node = config.node
    for topic in node.image_topics:
        check_topic(topic, "image_topics", node_name, namespace)
    check_topic(node.joint_states_topic, "joint_states_topic", node_name, namespace)
    if not node.controller_name.strip("/"):
        raise ConfigError("controller_name must not be empty")
    check_topic(trajectory_topic(node.controller_name), "controller_name", node_name, namespace)
