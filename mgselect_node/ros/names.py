"""ROS name checks for the topic parameters (and the topic and node-name arguments of the sim, record and
replay tools), so a bad name is refused by validation instead of crashing the node when it creates the
subscription or publisher.

Each name is expanded the way rclpy will expand it (node name and namespace, `~`, substitutions) and then
checked as a full topic name: allowed characters, no trailing or double slash, length. `full_topic_name`
returns that expansion, for code that compares names with what the ROS graph or a bag reports (full names).
"""

from __future__ import annotations

from rclpy.expand_topic_name import expand_topic_name
from rclpy.validate_full_topic_name import validate_full_topic_name
from rclpy.validate_namespace import validate_namespace
from rclpy.validate_node_name import validate_node_name

from mgselect_node.config import Config, ConfigError
from mgselect_node.contracts import trajectory_topic
from mgselect_node.ros.conversions import clip


def _reason(exc: Exception) -> str:
    """rclpy's message without the C source location, and without the name echoed under a caret on the lines
    after the first (for a length or node-name error)."""
    return clip(str(exc).split(", at ")[0].partition("\n")[0].rstrip(":"), 200)


def full_topic_name(name: str, parameter: str, node_name: str, namespace: str) -> str:
    """`name` fully qualified as rclpy resolves it for this node (`camera/image_raw` in namespace `/` ->
    `/camera/image_raw`, `~/x` -> `/<namespace>/<node>/x`): the name the ROS graph, DDS and a bag use.
    ConfigError naming the parameter unless it is a valid topic name."""
    try:
        full = expand_topic_name(name, node_name, namespace)
        validate_full_topic_name(full)
    except Exception as exc:  # rclpy raises ValueError or its own exception types
        raise ConfigError(f"{parameter}: {clip(name)} is not a valid ROS topic name: {_reason(exc)}") from None
    return full


def check_topic(name: str, parameter: str, node_name: str, namespace: str) -> None:
    """ConfigError naming the parameter unless `name` is a valid topic name for this node."""
    full_topic_name(name, parameter, node_name, namespace)


def check_node_name(name: str, parameter: str) -> None:
    """ConfigError naming the parameter unless `name` is a valid node name (check it before its topics: an
    invalid node name would otherwise be reported as an invalid topic)."""
    try:
        validate_node_name(name)
    except Exception as exc:
        raise ConfigError(f"{parameter}: {clip(name)} is not a valid ROS node name: {_reason(exc)}") from None


def check_full_node_name(name: str, parameter: str) -> None:
    """ConfigError naming the parameter unless `name` names a node: `/namespace/name`, `/name`, or relative to
    the root namespace (`name`, `ns/name`). Its namespace must be a valid full name (no `~`, substitution,
    double or trailing slash) and its last part a valid node name."""
    full = name if name.startswith("/") else f"/{name}"
    try:
        validate_node_name(full.rpartition("/")[2])
        validate_namespace(full)        # the whole name is checked: a namespace ending in the node's name
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
