"""`mgselect sim` in a subprocess over real DDS (loopback, the domain conftest picked): sensors, control, episodes."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Duration
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from mgselect_node import contracts as c
from mgselect_node.sim.env import JOINT_NAMES, SimEnv
from mgselect_node.sim.expert import ScriptedExpert
from mgselect_node.testing.processes import ChildProcess

IMAGE_SIZE = 40
STARTUP_TIMEOUT = 30.0  # s: python + mujoco + rclpy imports and DDS discovery on a loaded 2-core machine
MOVE_TIMEOUT = 15.0
SIM_STOP_TIMEOUT_S = 10.0
RESULTS_TIMEOUT = 45.0  # s: two 8 s episodes at real-time speed, with room for a loaded CI machine
DISCOVERY_SETTLE = 0.5  # s: after our writer matched the sim's reader, let the reader match us back too
EXIT_GRACE = 2.0  # s: after the sim exited, how long its last messages may still take to arrive
TOLERANCE = 0.02  # rad
NANO = 10**9
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
RESULTS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Probe:
    """The test's own rclpy node: records what the sim publishes, sends trajectories."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(args=[], context=self.context)
        self.node = rclpy.create_node("sim_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.joints: list[JointState] = []
        self.images: list[Image] = []
        self.clock: list[float] = []
        self.instructions: list[str] = []
        self.results: list[dict] = []
        n = self.node
        n.create_subscription(JointState, c.JOINT_STATES_TOPIC, self.joints.append, 10)
        n.create_subscription(Image, c.CAMERA_TOPIC, self.images.append, 10)
        n.create_subscription(Clock, c.CLOCK_TOPIC,
                              lambda m: self.clock.append(m.clock.sec + m.clock.nanosec / NANO), 10)
        n.create_subscription(String, c.private_topic(c.INSTRUCTION), lambda m: self.instructions.append(m.data),
                              LATCHED)
        n.create_subscription(String, c.private_topic(c.EPISODE_RESULT, c.SIM_NODE_NAME),
                              lambda m: self.results.append(json.loads(m.data)), RESULTS)
        self.trajectory_pub = n.create_publisher(JointTrajectory, "/" + c.trajectory_topic(c.CONTROLLER_NAME), 10)

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str, sim=None) -> None:
        deadline = time.monotonic() + timeout
        exited = ""
        while not condition():
            if sim is not None and not exited and not sim.alive():
                deadline = min(deadline, time.monotonic() + EXIT_GRACE)  # its last messages may be in flight
                exited = f" (the sim exited with {sim.returncode})"
            if time.monotonic() > deadline:
                pytest.fail(f"gave up waiting for {what}{exited}")
            self.executor.spin_once(timeout_sec=0.05)

    def wait_for_trajectory_subscriber(self, sim: ChildProcess) -> None:
        self.wait_for(lambda: self.trajectory_pub.get_subscription_count() > 0, STARTUP_TIMEOUT,
                      "the sim's trajectory subscription", sim)
        settle = time.monotonic() + DISCOVERY_SETTLE
        while time.monotonic() < settle:
            self.executor.spin_once(timeout_sec=0.05)

    def position(self) -> np.ndarray:
        msg = self.joints[-1]
        return np.array([msg.position[list(msg.name).index(n)] for n in JOINT_NAMES])

    def send(self, points: np.ndarray, step: float, names: list[str] | None = None) -> None:
        """Points (P, 4) in JOINT_NAMES order at time_from_start (k+1)*step, header stamp 0 = now."""
        msg = JointTrajectory()
        msg.joint_names = list(names or JOINT_NAMES)
        for k, q in enumerate(points):
            sec, nanosec = divmod(round((k + 1) * step * NANO), NANO)
            msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                                   time_from_start=Duration(sec=sec, nanosec=nanosec)))
        self.trajectory_pub.publish(msg)

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def probe() -> Iterator[Probe]:
    p = Probe()
    yield p
    p.close()


def start_sim(tmp_path: Path, *args: str) -> ChildProcess:
    """A fresh sim per test (each test drives its own episodes and seeds). --loopback with no domain keeps the
    one conftest chose (inherited through the environment)."""
    return ChildProcess(["sim", "--loopback", "--image-size", str(IMAGE_SIZE), *args], tmp_path / "sim.log",
                        stop_timeout_s=SIM_STOP_TIMEOUT_S)


def stop_sim(sim: ChildProcess) -> str:
    sim.stop(signal.SIGTERM)
    return sim.log()


@pytest.mark.slow
def test_publishes_sensors_and_follows_trajectories(tmp_path: Path, probe: Probe) -> None:
    seed = 3
    sim = start_sim(tmp_path, "--sim-time", "--seed", str(seed), "--episode-seconds", "60", "--episodes", "1",
                    "--instructions", "position")
    try:
        probe.wait_for(lambda: probe.joints and probe.images and probe.instructions and len(probe.clock) > 1,
                       STARTUP_TIMEOUT, "joint states, images, /clock and the instruction", sim)
        probe.wait_for_trajectory_subscriber(sim)
        # Same scene as an in-process env with the same seed: the instruction and the start pose agree.
        local = SimEnv(image_size=IMAGE_SIZE, instruction_style="position")
        local.reset(seed=seed)
        assert probe.instructions[-1] == local.instruction and probe.instructions[-1].split()[2] in (
            "left", "middle", "right")
        image = probe.images[-1]
        assert (image.height, image.width, image.encoding, len(image.data)) == (
            IMAGE_SIZE, IMAGE_SIZE, "rgb8", IMAGE_SIZE * IMAGE_SIZE * 3)
        assert np.frombuffer(bytes(image.data), np.uint8).std() > 0
        assert sorted(probe.joints[-1].name) == sorted(JOINT_NAMES)
        assert len(probe.joints[-1].effort) == len(JOINT_NAMES)
        assert probe.clock[-1] > probe.clock[0]  # simulation time runs
        stamp = probe.joints[-1].header.stamp
        assert abs(stamp.sec + stamp.nanosec / NANO - probe.clock[-1]) < 1.0  # stamped with sim time
        start = probe.position()
        np.testing.assert_allclose(start, local.joint_positions, atol=TOLERANCE)

        # A trajectory naming unknown joints is rejected and does not move the arm.
        probe.send(np.array([start + 0.3]), 0.5, names=["a", "b", "c", "d"])
        # A good one: two points; the arm passes the first and settles on the second.
        first = start + np.array([0.3, 0.2, -0.2, 0.1])
        goal = start + np.array([0.5, 0.3, -0.3, 0.2])
        probe.send(np.array([first, goal]), 1.0)
        probe.wait_for(lambda: np.abs(probe.position() - goal).max() < TOLERANCE, MOVE_TIMEOUT,
                       f"the arm to reach {goal.round(3).tolist()}", sim)
        # A new trajectory replaces the old one at once.
        probe.send(np.array([start]), 1.0)
        probe.send(np.array([start - 0.2, start + 0.1]), 1.0)
        probe.wait_for(lambda: np.abs(probe.position() - (start + 0.1)).max() < TOLERANCE, MOVE_TIMEOUT,
                       "the arm to follow the replacing trajectory", sim)
    finally:
        log = stop_sim(sim)
    assert "rejected trajectory" in log and "expected each of" in log, log


@pytest.mark.slow
def test_expert_plan_sent_as_one_trajectory_succeeds_and_episodes_reset(tmp_path: Path, probe: Probe) -> None:
    seed = 21
    sim = start_sim(tmp_path, "--sim-time", "--seed", str(seed), "--episodes", "2", "--episode-seconds", "8")
    try:
        probe.wait_for(lambda: bool(probe.joints), STARTUP_TIMEOUT, "the sim to come up", sim)
        probe.wait_for_trajectory_subscriber(sim)
        local = SimEnv(image_size=IMAGE_SIZE)
        local.reset(seed=seed)
        plan = ScriptedExpert(local).reset()
        probe.send(plan, 1.0 / local.control_rate)  # the expert's whole plan, as a policy node would send it
        probe.wait_for(lambda: len(probe.results) == 2, RESULTS_TIMEOUT, "two episode results", sim)
        sim.wait(STARTUP_TIMEOUT)
    finally:
        log = stop_sim(sim)
    first, second = probe.results
    assert first["success"] is True and first["seed"] == seed, (first, log)
    assert first["time_to_success"] < 8.0 and first["instruction"] == local.instruction
    assert second["seed"] == seed + 1 and second["success"] is False  # nobody drove episode 2
    assert second["duration"] == pytest.approx(8.0, abs=0.02)
    assert sim.returncode == 0, log
    assert "1/2 episodes succeeded" in log


def test_bad_arguments_are_refused_before_ros_starts(capsys) -> None:
    from mgselect_node.sim.sim_node import main

    assert main(["--episodes", "-1", "--real-time-factor", "2"]) == 2
    err = capsys.readouterr().err
    assert "--episodes -1" in err and "needs --sim-time" in err


def test_loopback_keeps_an_inherited_private_domain(monkeypatch) -> None:
    from mgselect_node.sim.sim_node import _apply_loopback

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert _apply_loopback(-1) == 42  # bare --loopback: the parent's domain, so demo children find each other
    assert _apply_loopback(7) == 7
    assert _apply_loopback(None) is None
    monkeypatch.delenv("ROS_AUTOMATIC_DISCOVERY_RANGE")
    assert 1 <= _apply_loopback(-1) <= 101  # no loopback inherited: a fresh random domain
    assert os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
