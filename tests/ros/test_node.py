"""The node end to end: its own process (`mgselect node --params-file ...`), the real bundled policy, real DDS.

One node process serves the whole module (starting it loads and warms the model); every test starts from
healthy data (the `healthy` fixture waits for a fresh trajectory) and leaves the node healthy again. DDS stays
on loopback with the random domain chosen in tests/conftest.py, inherited by the node process. The harness
(process, client, readiness through the lifecycle state) is mgselect_node.testing.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from lifecycle_msgs.msg import Transition
from sensor_msgs.msg import CompressedImage, Image

from mgselect_node.config import Config
from mgselect_node.contracts import NODE_NAME
from mgselect_node.ros.messages import diagnostic_values
from mgselect_node.testing.lifecycle import NodeNotReady
from mgselect_node.testing.node_process import NodeProcess

from .rig import Rig

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NODE = NODE_NAME
CONTROLLER = "test_arm_controller"
CAMERA = "/test_cam/image_raw"
LIMIT = 1.4                  # position limits the test configures (inside the policy's own)
START_TIMEOUT_S = 120.0      # import torch + load + warm up on a busy 2-core CI machine
NODE_STOP_TIMEOUT_S = 20.0
QUIET_S = 1.5                # "no output" window: several inference periods
# The default (and CI) is the real bundled policy. For debugging only: MGSELECT_ROS_TEST_POLICY=fake runs the
# node logic against tests/ros/fakes.py, or =<bundle dir> against another bundle.
POLICY = os.environ.get("MGSELECT_ROS_TEST_POLICY", "default")
USE_FAKE = POLICY == "fake"


def policy_spec():
    if USE_FAKE:
        from .fakes import fake_spec

        return fake_spec()
    from mgselect_node.model.bundle import load_spec, resolve_policy_path

    return load_spec(resolve_policy_path(POLICY))


@pytest.fixture(scope="module")
def spec():
    return policy_spec()


@pytest.fixture(scope="module")
def renamed(spec) -> list[str]:
    """The controller's joint names differ from the policy's: the node maps them by position in joint_names."""
    return [f"test_{name}" for name in spec.joint_names]


def node_command() -> tuple[str, ...]:
    """`mgselect node`, or the same entry point with the fake policy (MGSELECT_ROS_TEST_POLICY=fake)."""
    from mgselect_node.testing.node_process import NODE_COMMAND

    return (sys.executable, str(REPO / "tests/ros/fake_node.py")) if USE_FAKE else NODE_COMMAND


@pytest.fixture(scope="module")
def node_process(tmp_path_factory, spec, renamed):
    n = len(spec.joint_names)
    params = {
        "policy": POLICY if not USE_FAKE else "default", "image_topics": [CAMERA], "controller_name": CONTROLLER,
        "joint_names": renamed, "instruction": "pick up the red cube", "num_candidates": 2,
        "inference_rate": 5.0, "max_observation_age": 1.0, "sync_slop": 0.5, "max_step_change": 100.0,
        "max_start_distance": 100.0, "position_lower": [-LIMIT] * n, "position_upper": [LIMIT] * n,
    }
    proc = NodeProcess(tmp_path_factory.mktemp("node"), params, command=node_command(), cwd=REPO,
                       stop_timeout_s=NODE_STOP_TIMEOUT_S)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def rig(node_process, spec, renamed):
    mid = ((np.asarray(spec.state_q01) + np.asarray(spec.state_q99)) / 2).tolist()
    rig = Rig(NODE, CONTROLLER, CAMERA, renamed, mid)
    try:
        rig.wait_ready(node_process, START_TIMEOUT_S)
        rig.wait_trajectories(rig.mark() - 1e9, timeout=START_TIMEOUT_S)
    except (AssertionError, NodeNotReady) as exc:
        rig.close()
        raise AssertionError(f"node never published: {exc}; {node_process.describe()}") from None
    yield rig
    rig.close()
    assert node_process.alive(), f"node died during the tests: {node_process.describe()}"


@pytest.fixture
def healthy(rig, node_process):
    """Good data flowing and a fresh trajectory seen; afterwards: still alive."""
    rig.make_camera, rig.make_joints = rig.good_image, rig.good_joints
    if rig.camera_pub is None or rig.camera_topic != CAMERA:
        rig.open_camera(CAMERA)
    rig.wait_trajectories(rig.mark(), timeout=60)
    yield rig
    assert node_process.alive(), f"node died: {node_process.describe()}"


def assert_quiet(rig: Rig, seconds: float = QUIET_S) -> None:
    t0 = rig.mark()
    time.sleep(seconds)
    got = rig.since(rig.trajectories, t0)
    assert not got, f"expected no trajectory for {seconds} s, got {len(got)}"


def wait_cause(rig: Rig, *words: str, timeout: float = 20.0) -> dict[str, str]:
    """A diagnostic whose current reason mentions all `words`, then no output while the cause persists."""
    values = rig.wait_diag(rig.mark(), lambda v: all(w in v.get("reason", "") for w in words), timeout,
                           f"reason containing {words}")
    assert_quiet(rig)
    return values


# ------------------------------------------------------------------------------------------------ arguments
def test_invalid_params_file_exits_with_the_reason(tmp_path):
    proc = NodeProcess(tmp_path, {"mask_mode": "foo"}, cwd=REPO)
    try:
        assert proc.wait(60) == 2, proc.describe()
    finally:
        proc.stop()
    assert "mask_mode='foo' is not one of" in proc.log()


def test_misspelt_parameter_is_warned_about_and_sigint_exits_cleanly(tmp_path):
    """Unconfigured (no autostart) is enough: the warning comes from the constructor, before any service
    answers. Its own node name, so it cannot be confused with the module's node."""
    name = "mgselect_typo"
    proc = NodeProcess(tmp_path, {"num_candidate": 3, "autostart": False}, node_name=name,
                       ros_args=["-r", f"__node:={name}"], cwd=REPO, stop_timeout_s=NODE_STOP_TIMEOUT_S)
    client = Rig(name, CONTROLLER, "/typo/image_raw", [], [], camera_hz=None, joints_hz=None)
    try:
        client.wait_ready(proc, START_TIMEOUT_S, state="unconfigured")
    finally:
        client.close()
        code = proc.stop(signal.SIGINT)
    assert code == 0, proc.describe()
    assert "ignoring unknown parameter(s) ['num_candidate']" in proc.log()


# ------------------------------------------------------------------------------------------------ output
def test_trajectories_have_configured_joints_increasing_times_and_safe_positions(healthy, spec, renamed):
    msgs = healthy.wait_trajectories(healthy.mark(), count=2)
    for msg in msgs:
        assert list(msg.joint_names) == renamed
        # execute_steps 0 = the whole chunk, less the points already due when it was published
        assert 1 <= len(msg.points) <= spec.horizon
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
        # the first point kept is due after now + stale_margin, at most one period after that
        assert Config().execution.stale_margin < times[0] <= 1.0 / spec.control_rate + Config().execution.stale_margin
        assert np.diff(times) == pytest.approx(np.full(len(times) - 1, 1.0 / spec.control_rate), abs=1e-6)
        assert not any(msg.points[-1].velocities)                              # Jazzy accepts only this
        assert msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0     # "start now"
        for p in msg.points:
            assert len(p.positions) == len(renamed) and len(p.velocities) == len(renamed)
            assert all(math.isfinite(x) and -LIMIT <= x <= LIMIT for x in p.positions)
            assert all(math.isfinite(v) for v in p.velocities)


def test_selection_reports_one_score_per_candidate(healthy):
    sel = healthy.wait_selections(healthy.mark(), count=2)
    for s in sel:
        assert len(s["scores"]) == 2 and s["strategy"] == "mg_select"
        assert -1 <= s["selected"] < 2
    assert sel[1]["inference_index"] > sel[0]["inference_index"]


def test_diagnostics_report_latency_rate_and_age(healthy):
    values = healthy.wait_diag(healthy.mark(), lambda v: v.get("status") == "ok", 20, "status ok")
    for key in ("node_overhead_ms_p50", "conversion_ms_p50", "preprocess_ms_p50", "decode_ms_p50",
                "build_ms_p50", "inference_rate_hz", "observation_age_s", "rss_mb", "device", "scores"):
        assert values.get(key), f"diagnostic {key!r} missing or empty in {values}"
    assert float(values["inference_rate_hz"]) > 0
    assert values["lifecycle_state"] == "active"


# ------------------------------------------------------------------------------------------------ parameters
def steps_after(rig: Rig, index: int) -> list[dict[str, str]]:
    """One diagnostic per inference with inference_index > index, in order (the worker publishes after every
    step; the 1 Hz timer repeats the last one)."""
    seen: dict[int, dict[str, str]] = {}
    for msg in rig.since(rig.diagnostics, 0.0):
        values = diagnostic_values(msg)
        if values.get("inference_index") and int(values["inference_index"]) > index:
            seen.setdefault(int(values["inference_index"]), values)
    return [seen[k] for k in sorted(seen)]


def last_index(rig: Rig) -> int:
    return max((int(v["inference_index"]) for v in map(diagnostic_values, rig.since(rig.diagnostics, 0.0))
                if v.get("inference_index")), default=-1)


def set_and_see(rig: Rig, predicate, what: str, settle: int = 3, **params) -> list[dict[str, str]]:
    """Set parameters remotely; the change must show from the next inference and stay.

    Counted from the last inference seen when the set returned: that one's successor may already have been
    running (in flight) and one diagnostic may still be on its way, so the change must show within two
    inferences, and in every one after it (`settle` of them are awaited)."""
    results = rig.set_params(**params)
    assert all(r.successful for r in results), [r.reason for r in results]
    index = last_index(rig)

    def ready():
        steps = steps_after(rig, index)
        hits = [i for i, v in enumerate(steps) if predicate(v)]
        return steps if hits and len(steps) >= hits[0] + settle else None
    steps = rig.wait_for(ready, 90, what)
    first = next(i for i, v in enumerate(steps) if predicate(v))
    assert first <= 1, f"{what}: only showed at the {first + 1}th inference after the set"
    assert all(predicate(v) for v in steps[first:]), f"{what}: did not stay: {[v['scores'] for v in steps]}"
    return steps[first:]


def scores(values: dict[str, str]) -> list[str]:
    return [x.strip() for x in values["scores"].strip("[]").split(",")]


def test_num_candidates_and_strategy_take_effect_on_the_next_chunk(healthy):
    try:
        set_and_see(healthy, lambda v: len(scores(v)) == 3, "3 candidate scores", num_candidates=3)
        sel = healthy.wait_selections(healthy.mark(), count=2)
        assert all(len(s["scores"]) == 3 for s in sel)
        set_and_see(healthy, lambda v: v["used_strategy"] == "likelihood", "strategy likelihood",
                    strategy="likelihood")
    finally:
        healthy.set_params(num_candidates=2, strategy="mg_select")


def test_temperature_and_mask_mode_take_effect(healthy):
    """tau=0 decodes every row greedily: all N candidates are the same sequence, so all N scores are equal
    (finite, or -inf when that sequence does not decode). At tau=1 with N=4 they differ."""
    if USE_FAKE:
        pytest.skip("the fake policy does not model temperature")
    try:
        hot = set_and_see(healthy, lambda v: len(scores(v)) == 4, "4 scores at tau=1", settle=4,
                          num_candidates=4, temperature=1.0)
        assert any(len(set(scores(v))) > 1 for v in hot), \
            f"scores never differed at tau=1, the test cannot tell tau apart: {[v['scores'] for v in hot]}"
        set_and_see(healthy, lambda v: len(scores(v)) == 4 and len(set(scores(v))) == 1, "equal scores at tau=0",
                    temperature=0.0)
        set_and_see(healthy, lambda v: v["used_mask_mode"] == "state", "mask_mode state", mask_mode="state")
    finally:
        healthy.set_params(num_candidates=2, temperature=0.5, mask_mode="text")


@pytest.mark.parametrize("name, value, words", [
    ("num_candidates", 0, "out of range"),
    ("temperature", -1.0, "out of range"),
    ("mask_mode", "foo", "not one of"),
    ("joint_names", ["nope"], "joint_names has 1 entries"),
    ("inference_rate", 0.0, "out of range"),
])
def test_invalid_values_are_rejected_with_a_reason_and_the_old_value_stays(healthy, name, value, words):
    before = healthy.get_params(name)
    result = healthy.set_params(**{name: value})[0]
    assert not result.successful and words in result.reason, result.reason
    assert healthy.get_params(name) == before


def test_unknown_joint_is_rejected(healthy, renamed):
    result = healthy.set_params(joint_names=[*renamed[:-1], "no_such_joint"])[0]
    assert not result.successful
    assert "unknown joint(s) ['no_such_joint']" in result.reason
    assert healthy.get_params("joint_names") == [renamed]


@pytest.mark.parametrize("name, value", [("policy", "other"), ("device", "cuda"), ("dtype", "float16")])
def test_read_only_parameters_refuse_changes(healthy, name, value):
    before = healthy.get_params(name)
    result = healthy.set_params(**{name: value})[0]
    assert not result.successful and "read-only" in result.reason
    assert healthy.get_params(name) == before


# ------------------------------------------------------------------------------------------------ commanding
def test_enabled_false_stops_output_and_true_resumes(healthy):
    try:
        assert healthy.set_params(enabled=False)[0].successful
        t0 = healthy.mark()
        time.sleep(0.05)
        # at most nothing: even an inference in flight must not publish after the set returned
        assert_quiet(healthy)
        assert not healthy.since(healthy.trajectories, t0)
        healthy.wait_diag(healthy.mark(), lambda v: v.get("status") == "disabled", 10, "status disabled")
    finally:
        assert healthy.set_params(enabled=True)[0].successful
    healthy.wait_trajectories(healthy.mark())


def test_lifecycle_deactivate_and_activate(healthy):
    assert healthy.lifecycle_state() == "active"
    assert healthy.transition(Transition.TRANSITION_DEACTIVATE)
    try:
        assert healthy.lifecycle_state() == "inactive"
        assert_quiet(healthy)
        healthy.wait_diag(healthy.mark(), lambda v: v.get("lifecycle_state") == "inactive", 10, "inactive")
    finally:
        assert healthy.transition(Transition.TRANSITION_ACTIVATE)
    assert healthy.lifecycle_state() == "active"
    healthy.wait_trajectories(healthy.mark())


# ------------------------------------------------------------------------------------------------ bad input
def test_stale_camera_stops_output_with_a_diagnostic(healthy):
    healthy.make_camera = None                      # the camera stops sending; joints keep coming
    values = wait_cause(healthy, "stale", CAMERA)
    assert values["status"] == "stale"
    healthy.make_camera = healthy.good_image
    healthy.wait_trajectories(healthy.mark())


def test_nan_joint_state(healthy, renamed):
    bad = list(healthy.positions)
    bad[1] = math.nan
    healthy.make_joints = lambda: healthy.good_joints(positions=bad)
    wait_cause(healthy, "NaN", renamed[1])


def test_missing_joint(healthy, renamed):
    healthy.make_joints = lambda: healthy.good_joints(names=renamed[:-1], positions=healthy.positions[:-1])
    wait_cause(healthy, "missing", renamed[-1])


def test_unsupported_encoding(healthy):
    def yuv() -> Image:
        msg = healthy.good_image()
        msg.encoding = "yuv422"
        return msg
    healthy.make_camera = yuv
    wait_cause(healthy, "unsupported image encoding 'yuv422'")


def test_wrong_sized_image(healthy):
    def short() -> Image:
        msg = healthy.good_image()
        msg.height = msg.height + 1                 # data is one row short of height*step
        return msg
    healthy.make_camera = short
    wait_cause(healthy, "expected height*step")


def test_compressed_camera_live_topic_switch_and_corrupt_data(healthy):
    compressed = f"{CAMERA}/compressed"
    try:
        assert healthy.set_params(image_topics=[compressed])[0].successful
        healthy.open_camera(compressed)
        healthy.make_camera = healthy.good_compressed
        healthy.wait_trajectories(healthy.mark())                 # jpeg frames drive the arm

        def corrupt() -> CompressedImage:
            msg = healthy.good_compressed()
            msg.data = bytes(range(256)) * 4
            return msg
        healthy.make_camera = corrupt
        wait_cause(healthy, "could not be decoded")
        healthy.make_camera = healthy.good_compressed
        healthy.wait_trajectories(healthy.mark())                 # recovers
    finally:
        assert healthy.set_params(image_topics=[CAMERA])[0].successful


def test_camera_publisher_dies_and_comes_back(healthy):
    healthy.kill_camera()
    wait_cause(healthy, "stale")
    healthy.open_camera(CAMERA)
    healthy.wait_trajectories(healthy.mark(), timeout=30)


# ------------------------------------------------------------------------------------------------ lifecycle
def test_cleanup_releases_and_configure_reloads(healthy):
    """Last on purpose: cleanup drops the model; configure loads and warms it again; activate resumes."""
    assert healthy.transition(Transition.TRANSITION_DEACTIVATE)
    assert healthy.transition(Transition.TRANSITION_CLEANUP)
    assert healthy.lifecycle_state() == "unconfigured"
    assert_quiet(healthy)
    assert healthy.transition(Transition.TRANSITION_CONFIGURE)
    assert healthy.lifecycle_state() == "inactive"
    assert healthy.transition(Transition.TRANSITION_ACTIVATE)
    healthy.wait_trajectories(healthy.mark(), timeout=60)
