"""ROS parameters generated from mgselect_node.config: one declaration per flat Config field.

Names, defaults, descriptions, ranges, choices and read-only flags all come from the dataclass field metadata,
so the params file, `ros2 param set` and the CLI can never disagree about what exists or what is allowed.
Validation of a remote change goes through Config.with_flat (range/choice/cross-field checks) plus a
caller-supplied check (e.g. "fits the loaded policy"); a rejected change leaves the old value in place and
returns the reason to the caller of set_parameters.
"""

from __future__ import annotations

import array
import dataclasses
import math
from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter

from mgselect_node.config import Config, ConfigError
from mgselect_node.errors import MGSelectError

# A ROS FloatingPointRange needs both ends; an open end is written as infinity.
OPEN_HIGH = math.inf
OPEN_LOW = -math.inf

Validator = Callable[[Config, list[str]], None]   # raises ConfigError/MGSelectError to reject
Applier = Callable[[Config, list[str]], None]     # called after a change was accepted and stored


def _default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return f.default


def _field_type(f: dataclasses.Field) -> str:
    """The annotation as a string ('int', 'list[float]', ...), with `from __future__ import annotations`."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def parameter_type(f: dataclasses.Field) -> Parameter.Type:
    """ROS parameter type of a Config field, from its annotation (so empty-list defaults are typed too)."""
    kind = _field_type(f).replace(" ", "")
    table = {
        "bool": Parameter.Type.BOOL,
        "int": Parameter.Type.INTEGER,
        "float": Parameter.Type.DOUBLE,
        "str": Parameter.Type.STRING,
        "list[float]": Parameter.Type.DOUBLE_ARRAY,
        "list[int]": Parameter.Type.INTEGER_ARRAY,
        "list[str]": Parameter.Type.STRING_ARRAY,
        "list[bool]": Parameter.Type.BOOL_ARRAY,
    }
    if kind not in table:
        raise TypeError(f"config field {f.name}: type {kind!r} has no ROS parameter type")
    return table[kind]


def make_descriptor(f: dataclasses.Field) -> ParameterDescriptor:
    """ParameterDescriptor from field metadata: description, range, choices, read-only."""
    meta = f.metadata
    ptype = parameter_type(f)
    description = meta["description"]
    constraints = []
    if meta.get("choices"):
        constraints.append(f"one of: {', '.join(meta['choices'])}")
    if meta.get("read_only"):
        description += " (read-only: restart the node to change it)"
    descriptor = ParameterDescriptor(
        name=f.name, type=ptype.value, description=description, read_only=bool(meta.get("read_only")),
        dynamic_typing=False)
    low, high = meta.get("low"), meta.get("high")
    if ptype == Parameter.Type.INTEGER and (low is not None or high is not None):
        lo = int(low) if low is not None else -(2**63)
        hi = int(high) if high is not None else 2**63 - 1
        descriptor.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=1)]
        constraints.append(f"range [{lo}, {hi}]")
    elif ptype == Parameter.Type.DOUBLE and (low is not None or high is not None):
        lo = float(low) if low is not None else OPEN_LOW
        hi = float(high) if high is not None else OPEN_HIGH
        descriptor.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        constraints.append(f"range [{lo}, {hi}]")
    descriptor.additional_constraints = "; ".join(constraints)
    return descriptor


def to_python(value: Any, ptype: Parameter.Type) -> Any:
    """A parameter value as Config expects it: arrays as lists, an unset (empty) array as []."""
    if value is None and ptype.name.endswith("_ARRAY"):
        return []
    if isinstance(value, array.array | tuple):
        return list(value)
    if hasattr(value, "tolist"):   # numpy arrays from some rclpy paths
        return value.tolist()
    return value


def declare_config(node: Node, defaults: Config | None = None) -> Config:
    """Declare every Config field on `node` (params-file overrides apply) and return the validated Config.

    Raises ConfigError naming the bad value when the params file / command line gives an invalid one.
    """
    defaults = defaults or Config()
    flat = defaults.flat()
    for name, (_, f) in Config.fields_by_name().items():
        ptype = parameter_type(f)
        value = flat[name]
        if isinstance(value, list) and not value:
            node.declare_parameter(name, ptype, make_descriptor(f))   # empty list: type must be explicit
        else:
            node.declare_parameter(name, value, make_descriptor(f))
    return defaults.with_flat(read_values(node))


def read_values(node: Node) -> dict[str, Any]:
    """Current values of all Config parameters on `node`, as Python values."""
    out = {}
    for name, (_, f) in Config.fields_by_name().items():
        # get_parameter_or: an empty-array parameter declared by type only is "not set" (value None).
        out[name] = to_python(node.get_parameter_or(name).value, parameter_type(f))
    return out


class LiveParameters:
    """Validates remote parameter changes against Config (+ `validate`) and applies accepted ones."""

    def __init__(self, node: Node, get_config: Callable[[], Config], validate: Validator,
                 apply: Applier) -> None:
        self._get_config = get_config
        self._validate = validate
        self._apply = apply
        self._types = {name: parameter_type(f) for name, (_, f) in Config.fields_by_name().items()}
        node.add_on_set_parameters_callback(self._on_set)
        node.add_post_set_parameters_callback(self._post_set)

    def _changes(self, params: list[Parameter]) -> dict[str, Any]:
        return {p.name: to_python(p.value, self._types[p.name]) for p in params if p.name in self._types}

    def proposed(self, params: list[Parameter]) -> Config:
        """The Config these parameters would produce; raises ConfigError/MGSelectError with the reason."""
        changes = self._changes(params)
        config = self._get_config().with_flat(changes)
        self._validate(config, sorted(changes))
        return config

    def _on_set(self, params: list[Parameter]) -> SetParametersResult:
        try:
            self.proposed(params)
        except (ConfigError, MGSelectError, ValueError) as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _post_set(self, params: list[Parameter]) -> None:
        changes = self._changes(params)
        if changes:
            self._apply(self._get_config().with_flat(changes), sorted(changes))
