"""The node on an imported LeRobot pi0_fast checkpoint, in this process: a camera/joint mapping that does not fit
the checkpoint fails configure with the reason and leaves the node alive; the fitting one configures and warms up.
"""

from __future__ import annotations

import json

import pytest
import rclpy
from lifecycle_msgs.msg import State
from rclpy.lifecycle import TransitionCallbackReturn

from mgselect_node.ros.node import MGSelectNode

pytestmark = pytest.mark.slow  # loads and warms up a policy in an rclpy node


@pytest.fixture
def make_node(tmp_path, lerobot_tiny):
    path, options = lerobot_tiny
    contexts = []

    def factory(**params) -> MGSelectNode:
        values = {"policy": path, "text_tokenizer": options.text_tokenizer, "cpu_threads": 1, "autostart": False,
                  "action_tokenizer": options.action_tokenizer, "joint_names": [f"j{i}" for i in range(6)]} | params
        params_file = tmp_path / f"params{len(contexts)}.yaml"
        params_file.write_text(json.dumps({"mgselect": {"ros__parameters": values}}))
        ctx = rclpy.Context()
        rclpy.init(args=["test", "--ros-args", "--params-file", str(params_file)], context=ctx)
        contexts.append(ctx)
        return MGSelectNode(context=ctx)

    yield factory
    for ctx in contexts:
        rclpy.try_shutdown(context=ctx)


def test_fewer_topics_than_checkpoint_cameras_fails_configure_node_alive(make_node):
    node = make_node(image_topics=["/camera/image_raw"])
    errors = []
    node.get_logger().error = lambda msg, **_: errors.append(msg)  # capture what the node reports
    assert node.on_configure(State()) == TransitionCallbackReturn.FAILURE
    assert "image_topics has 1 entries" in errors[0] and "needs 2 camera(s)" in errors[0]
    assert node.get_parameter("policy").value.endswith("checkpoint")  # still answering
    node.destroy_node()


def test_fitting_mapping_configures_and_warms_up(make_node):
    node = make_node(image_topics=["/front/image_raw", "/wrist/image_raw"])
    assert node.on_configure(State()) == TransitionCallbackReturn.SUCCESS
    assert node.on_cleanup(State()) == TransitionCallbackReturn.SUCCESS
    node.destroy_node()
