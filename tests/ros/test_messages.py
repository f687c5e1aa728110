"""Outgoing message builders: trajectory layout, the documented ~/selection encoding, diagnostics."""

from __future__ import annotations

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus

from mgselect_node.control.pipeline import Plan
from mgselect_node.engine.result import SelectionResult
from mgselect_node.ros.messages import (
    SELECTION_HEADER,
    decode_selection,
    diagnostic_array,
    diagnostic_values,
    duration,
    selection_msg,
    trajectory_msg,
)


def test_trajectory_msg():
    plan = Plan(["a", "b"], np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.1, 0.2], [0.3, 0.4]]), [0.1, 1.25])
    msg = trajectory_msg(plan)
    assert list(msg.joint_names) == ["a", "b"]
    assert msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0
    assert [list(p.positions) for p in msg.points] == [[1.0, 2.0], [3.0, 4.0]]
    assert list(msg.points[1].velocities) == [0.3, 0.4]
    assert (msg.points[1].time_from_start.sec, msg.points[1].time_from_start.nanosec) == (1, 250_000_000)


def test_duration_rounding():
    d = duration(0.3)
    assert (d.sec, d.nanosec) == (0, 300_000_000)


def test_selection_encoding_round_trip():
    result = SelectionResult(
        chunk=np.zeros((2, 2)), candidates=[None] * 3, scores=np.array([1.5, -np.inf, 0.5]), token_kl=[],
        token_logprob=[], tokens=[], selected=0, strategy="mg_select", mask_mode="text", valid=True)
    msg = selection_msg(result, 7, {"/cam": 12.5, "/cam2": 12.75, "joint_states": 99.0})
    assert msg.layout.data_offset == SELECTION_HEADER
    assert msg.layout.dim[0].size == 3 and msg.layout.dim[0].label == "candidates:mg_select:text"
    decoded = decode_selection(msg)
    assert decoded["selected"] == 0 and decoded["inference_index"] == 7
    assert decoded["margin"] == pytest.approx(1.0)
    assert decoded["frame_stamp"] == 12.75                      # newest camera, joint stamp ignored
    assert decoded["scores"][0] == 1.5 and np.isneginf(decoded["scores"][1])
    assert decoded["strategy"] == "mg_select" and decoded["mask_mode"] == "text"


def test_diagnostics_values_are_strings():
    arr = diagnostic_array(Time(sec=3), "mgselect: control", "mgselect/cpu", DiagnosticStatus.ERROR, "stale",
                           [("a", 1.23456), ("b", None), ("c", [1.0, 2.0]), ("d", True)])
    assert arr.status[0].level == DiagnosticStatus.ERROR and arr.header.stamp.sec == 3
    assert diagnostic_values(arr) == {"a": "1.235", "b": "", "c": "[1, 2]", "d": "True"}
