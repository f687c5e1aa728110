"""ROS name checks for the topic parameters, so a bad name is refused by validation instead of crashing the
node when it creates the subscription or publisher.

Each name is expanded the way rclpy will expand it (node name and namespace, `~`, substitutions) and then
checked as a full topic name: allowed characters, no trailing or double slash, length.
"""

from __future__ import annotations

from rclpy.expand_topic_name import expand_topic_name
from rclpy.validate_full_topic_name import validate_full_topic_name

from mgselect_node.config import Config, ConfigError
from mgselect_node.contracts import trajectory_topic
from mgselect_node.ros.conversions import clip


def check_topic(name: str, parameter: str, node_name: str, namespace: str) -> None:
    """ConfigError naming the parameter unless `name` is a valid topic name for this node."""
    try:
        validate_full_topic_name(expand_topic_name(name, node_name, namespace))
    except Exception as exc:  # rclpy raises ValueError or its own exception types
        reason = str(exc).split(", at ")[0]            # drop the C source location
        raise ConfigError(f"{parameter}: {clip(name)} is not a valid ROS topic name: {clip(reason, 200)}"
                          ) from None


def check_names(config: Config, node_name: str, namespace: str) -> None:
    """Every topic the node would create from `config` must be a valid ROS name."""
    node = config.node
    for topic in node.image_topics:
        check_topic(topic, "image_topics", node_name, namespace)
    check_topic(node.joint_states_topic, "joint_states_topic", node_name, namespace)
    if not node.controller_name.strip("/"):
        raise ConfigError("controller_name must not be empty")
    check_topic(trajectory_topic(node.controller_name), "controller_name", node_name, namespace)
