"""ROS parameters generated from Config: declarations, descriptors, params-file overrides, live validation.

Runs an rclpy node in this process (its own context); no other process is involved.
"""

from __future__ import annotations

import math

import pytest
import rclpy
from rcl_interfaces.msg import ParameterType
from rclpy.node import Node
from rclpy.parameter import Parameter

from mgselect_node.config import Config, ConfigError
from mgselect_node.ros.params import LiveParameters, declare_config, make_descriptor, parameter_type

FIELDS = Config.fields_by_name()


@pytest.fixture
def make_node(tmp_path):
    contexts = []

    def factory(yaml_text: str | None = None) -> Node:
        args = ["test"]
        if yaml_text is not None:
            path = tmp_path / "params.yaml"
            path.write_text(yaml_text)
            args += ["--ros-args", "--params-file", str(path)]
        ctx = rclpy.Context()
        rclpy.init(args=args, context=ctx)
        contexts.append(ctx)
        return Node("mgselect", context=ctx)

    yield factory
    for ctx in contexts:
        rclpy.try_shutdown(context=ctx)


def test_every_field_is_declared_with_its_metadata(make_node):
    node = make_node()
    config = declare_config(node)
    assert config == Config()
    for name, (_, f) in FIELDS.items():
        d = node.describe_parameter(name)
        assert d.description.startswith(f.metadata["description"]), name
        assert d.read_only == f.metadata["read_only"], name
        assert d.type == parameter_type(f).value, name
        if f.metadata.get("choices"):
            assert all(c in d.additional_constraints for c in f.metadata["choices"])
    assert node.describe_parameter("num_candidates").integer_range[0].to_value == 64
    rng = node.describe_parameter("temperature").floating_point_range[0]
    assert (rng.from_value, rng.to_value) == (0.0, 5.0)
    assert math.isinf(node.describe_parameter("max_step_change").floating_point_range[0].to_value)
    assert node.describe_parameter("position_lower").type == ParameterType.PARAMETER_DOUBLE_ARRAY
    assert node.describe_parameter("joint_names").type == ParameterType.PARAMETER_STRING_ARRAY
    assert {"policy", "device", "dtype"} <= {n for n, (_, f) in FIELDS.items() if f.metadata["read_only"]}


def test_params_file_overrides(make_node):
    node = make_node("""
mgselect:
  ros__parameters:
    num_candidates: 8
    strategy: likelihood
    position_lower: [-1.0, -2.0]
    position_upper: [1.0, 2.0]
    image_topics: ["/a", "/b"]
""")
    config = declare_config(node)
    assert config.selection.num_candidates == 8 and config.selection.strategy == "likelihood"
    assert config.safety.position_lower == [-1.0, -2.0]
    assert config.node.image_topics == ["/a", "/b"]


def test_invalid_params_file_value_is_reported(make_node):
    node = make_node("mgselect:\n  ros__parameters:\n    mask_mode: foo\n")
    with pytest.raises(ConfigError, match="mask_mode='foo' is not one of"):
        declare_config(node)


@pytest.fixture
def live(make_node):
    node = make_node()
    state = {"config": declare_config(node), "applied": []}

    def validate(config: Config, changed: list[str]) -> None:
        if config.node.controller_name == "forbidden":
            raise ConfigError("controller 'forbidden' is not allowed here")

    def apply(config: Config, changed: list[str]) -> None:
        state["config"] = config
        state["applied"].append(changed)

    LiveParameters(node, lambda: state["config"], validate, apply)
    return node, state


@pytest.mark.parametrize("param, words", [
    (Parameter("num_candidates", value=0), "out of range"),
    (Parameter("temperature", value=-1.0), "out of range"),
    (Parameter("mask_mode", value="foo"), "not one of"),
    (Parameter("strategy", value="best"), "not one of"),
    (Parameter("policy", value="other"), "read-only"),
    (Parameter("device", value="cuda"), "read-only"),
    (Parameter("position_lower", Parameter.Type.DOUBLE_ARRAY, [0.0]), "position_upper has 0"),
    (Parameter("controller_name", value="forbidden"), "not allowed here"),
    (Parameter("num_candidates", value="eight"), "Wrong parameter type"),
])
def test_bad_live_values_are_rejected_and_the_old_value_kept(live, param, words):
    node, state = live
    before = state["config"]
    old = node.get_parameter_or(param.name).value
    result = node.set_parameters([param])[0]
    assert not result.successful and words in result.reason
    assert state["config"] == before and state["applied"] == []
    assert node.get_parameter_or(param.name).value == old


def test_good_live_values_are_applied(live):
    node, state = live
    assert node.set_parameters([Parameter("num_candidates", value=16)])[0].successful
    assert state["config"].selection.num_candidates == 16
    result = node.set_parameters_atomically([
        Parameter("position_lower", Parameter.Type.DOUBLE_ARRAY, [-1.0, -1.0]),
        Parameter("position_upper", Parameter.Type.DOUBLE_ARRAY, [1.0, 1.0])])
    assert result.successful
    assert state["config"].safety.position_upper == [1.0, 1.0]
    assert state["applied"] == [["num_candidates"], ["position_lower", "position_upper"]]


def test_descriptor_for_unbounded_int():
    d = make_descriptor(FIELDS["max_action_tokens"][1])
    assert d.integer_range[0].from_value == 0 and d.integer_range[0].to_value == 1024
