"""`mgselect sim`: the simulated arm as a ROS 2 node, standing in for a robot driver plus ros2_control.

Publishes what a real arm's stack publishes and executes what a policy node sends:
- camera: sensor_msgs/Image rgb8 on --camera-topic (default /camera/image_raw) at --camera-rate;
- /joint_states: sensor_msgs/JointState (position, velocity, effort) at --joint-state-rate;
- subscribes trajectory_msgs/JointTrajectory on <controller>/joint_trajectory and executes it the way
  joint_trajectory_controller does (see trajectory.py: interpolation over time_from_start, a new trajectory
  replaces the current one, header.stamp 0 = start now);
- --sim-time: publishes /clock with the simulation time and stamps everything with it; the physics runs at
  --real-time-factor times wall speed (0 = as fast as the CPU allows), so a slow policy can be given more time;
- episodes: reset every --episode-seconds (or on success), --episodes of them (0 = until stopped); each
  episode's instruction goes to --instruction-topic (std_msgs/String, transient local, so a policy node
  started later still gets it), its start and result go to ~/episode and ~/episode_result as JSON strings.

Why one loop instead of rclpy timers: the physics, the clock and the sensor stamps must advance together in
fixed ticks; the loop waits for the next tick inside executor.spin_once so messages are still handled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from mgselect_node import contracts
from mgselect_node.sim.env import (
    CAMERA_NAMES,
    DEFAULT_EPISODE_SECONDS,
    DEFAULT_IMAGE_SIZE,
    DEFAULT_NUM_OBJECTS,
    JOINT_NAMES,
    TASKS,
    SimEnv,
)
from mgselect_node.sim.instructions import add_style_option
from mgselect_node.sim.trajectory import TrajectoryError, TrajectoryFollower

NODE_NAME = contracts.SIM_NODE_NAME
DEFAULT_CAMERA_TOPIC = contracts.CAMERA_TOPIC
DEFAULT_JOINT_STATES_TOPIC = contracts.JOINT_STATES_TOPIC
DEFAULT_CONTROLLER = contracts.CONTROLLER_NAME
DEFAULT_INSTRUCTION_TOPIC = contracts.private_topic(contracts.INSTRUCTION)   # the policy node's ~/instruction
DEFAULT_CAMERA_RATE = 10.0  # Hz
DEFAULT_JOINT_STATE_RATE = 50.0  # Hz
TICK_SECONDS = 0.01  # physics/clock tick: 5 MuJoCo steps of 2 ms
MAX_LAG_SECONDS = 1.0  # behind wall time by more than this: stop trying to catch up
FLUSH_SECONDS = 0.5  # keep spinning this long after the last episode so late results get delivered
RESULT_HISTORY = 100  # transient-local depth of ~/episode_result
CAMERA_FRAME = "front_camera"
NANO = 1e-9


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgselect sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=0, help="episodes to run, then exit (0 = until stopped)")
    p.add_argument("--episode-seconds", type=float, default=DEFAULT_EPISODE_SECONDS,
                   help="simulated seconds before an episode times out")
    p.add_argument("--seed", type=int, default=0, help="episode k uses scene seed seed+k")
    p.add_argument("--task", choices=TASKS, default=None, help="always this colour (default: from the seed)")
    p.add_argument("--num-objects", type=int, default=DEFAULT_NUM_OBJECTS, help="pads on the table")
    add_style_option(p)
    p.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="camera image side in pixels")
    p.add_argument("--camera-rate", type=float, default=DEFAULT_CAMERA_RATE, help="Hz")
    p.add_argument("--joint-state-rate", type=float, default=DEFAULT_JOINT_STATE_RATE, help="Hz")
    p.add_argument("--camera-topic", default=DEFAULT_CAMERA_TOPIC)
    p.add_argument("--joint-states-topic", default=DEFAULT_JOINT_STATES_TOPIC)
    p.add_argument("--controller", default=DEFAULT_CONTROLLER,
                   help="trajectories are read from <controller>/joint_trajectory")
    p.add_argument("--instruction-topic", nargs="?", const=DEFAULT_INSTRUCTION_TOPIC,
                   default=DEFAULT_INSTRUCTION_TOPIC, help="where each episode's instruction goes ('' = nowhere)")
    p.add_argument("--sim-time", action="store_true", help="publish /clock and stamp with simulation time")
    p.add_argument("--real-time-factor", type=float, default=1.0,
                   help="simulated seconds per wall second (0 = unpaced; only sensible with --sim-time)")
    p.add_argument("--stop-on-success", action=argparse.BooleanOptionalAction, default=True,
                   help="end an episode as soon as it succeeds")
    p.add_argument("--allow-nonzero-end-velocity", action=argparse.BooleanOptionalAction, default=True,
                   help="accept trajectories whose last point moves (Humble; --no-... behaves like Jazzy)")
    p.add_argument("--loopback", nargs="?", type=int, const=-1, default=None, metavar="DOMAIN",
                   help="keep DDS on this machine (domain: DOMAIN, else the inherited loopback domain, "
                        "else a random one)")
    return p


def _apply_loopback(domain: int | None) -> int | None:
    """--loopback: reuse the parent's private domain when it set one, so demo children find each other."""
    if domain is None:
        return None
    from mgselect_node.ros.dds_env import keep_or_use_loopback, use_loopback

    return keep_or_use_loopback() if domain < 0 else use_loopback(domain)


def _problems(args: argparse.Namespace) -> list[str]:
    problems = []
    if args.episodes < 0:
        problems.append(f"--episodes {args.episodes}: expected >= 0")
    for name in ("episode_seconds", "camera_rate", "joint_state_rate"):
        if not getattr(args, name) > 0:
            problems.append(f"--{name.replace('_', '-')} {getattr(args, name)}: expected > 0")
    if args.real_time_factor < 0:
        problems.append(f"--real-time-factor {args.real_time_factor}: expected >= 0")
    elif args.real_time_factor != 1.0 and not args.sim_time:
        problems.append(f"--real-time-factor {args.real_time_factor} needs --sim-time (with wall-clock stamps "
                        "the policy's timing would not match the simulation's)")
    return problems + _topic_problems(args)


def _topic_problems(args: argparse.Namespace) -> list[str]:
    """Each topic argument that is not a valid ROS name (expanded for this node in the root namespace), so it is
    refused here instead of by an rclpy traceback when the publisher or subscription is created."""
    from mgselect_node.config import ConfigError
    from mgselect_node.ros.names import check_topic

    topics = [(args.camera_topic, "--camera-topic"), (args.joint_states_topic, "--joint-states-topic"),
              (contracts.trajectory_topic(args.controller), "--controller")]
    if args.instruction_topic:                                  # '' = no instruction publisher
        topics.append((args.instruction_topic, "--instruction-topic"))
    problems = []
    for topic, option in topics:
        try:
            check_topic(topic, option, NODE_NAME, "/")
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


class SimNode:
    """The rclpy node around SimEnv + TrajectoryFollower. `tick()` advances everything by TICK_SECONDS."""

    def __init__(self, args: argparse.Namespace, context: object) -> None:
        from rclpy.node import Node
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image, JointState
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        self.args = args
        self.node = Node(NODE_NAME, context=context)
        self.log = self.node.get_logger()
        self.env = SimEnv(seed=args.seed, image_size=args.image_size, num_objects=args.num_objects,
                          episode_seconds=args.episode_seconds, instruction_style=args.instructions)
        self.substeps = max(1, round(TICK_SECONDS / self.env.physics_dt))
        self.follower = TrajectoryFollower(
            self.env.joint_positions, allow_nonzero_velocity_at_trajectory_end=args.allow_nonzero_end_velocity)

        reliable_latest = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        history = QoSProfile(depth=RESULT_HISTORY, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        # Reliable publishers serve both reliable and best-effort (sensor-data QoS) subscribers.
        self.image_pub = self.node.create_publisher(Image, args.camera_topic, reliable_latest)
        self.joint_pub = self.node.create_publisher(JointState, args.joint_states_topic, 10)
        self.clock_pub = (self.node.create_publisher(Clock, contracts.CLOCK_TOPIC, reliable_latest)
                          if args.sim_time else None)
        self.instruction_pub = (self.node.create_publisher(String, args.instruction_topic, latched)
                                if args.instruction_topic else None)
        self.episode_pub = self.node.create_publisher(String, contracts.EPISODE, latched)
        self.result_pub = self.node.create_publisher(String, contracts.EPISODE_RESULT, history)
        trajectory_topic = contracts.trajectory_topic(args.controller)
        self.node.create_subscription(JointTrajectory, trajectory_topic, self._on_trajectory, 10)
        self._msg = {"image": Image, "joints": JointState, "clock": Clock, "string": String}

        self.ticks = 0
        self.episode = 0
        self.results: list[dict[str, object]] = []
        self.finished = False
        self.trajectories_received = 0
        self.trajectories_rejected = 0
        self._next_camera = 0.0
        self._next_joints = 0.0
        self.log.info(f"trajectories on {self.node.resolve_topic_name(trajectory_topic)}, camera on "
                      f"{args.camera_topic} ({args.image_size}px @ {args.camera_rate} Hz), joint states on "
                      f"{args.joint_states_topic}, {'sim' if args.sim_time else 'wall'} time")
        self._start_episode()

    # ---- time ----------------------------------------------------------------------------------------------

    @property
    def sim_time(self) -> float:
        return self.ticks * TICK_SECONDS

    def ros_now_ns(self) -> int:
        """What this node stamps with: simulation time in --sim-time mode, else the wall clock."""
        if self.args.sim_time:
            return round(self.sim_time / NANO)
        return self.node.get_clock().now().nanoseconds

    def _stamp(self, msg_header: object) -> None:
        ns = self.ros_now_ns()
        msg_header.stamp.sec, msg_header.stamp.nanosec = divmod(ns, 10**9)

    # ---- episodes ------------------------------------------------------------------------------------------

    def _start_episode(self) -> None:
        seed = self.args.seed + self.episode
        self.env.reset(seed=seed, task=self.args.task)
        self.follower.hold(self.env.joint_positions)
        self._episode_start = self.sim_time
        self._success_time: float | None = None
        self._underrun_s = 0.0          # time with no future trajectory point after the first trajectory
        self._commanded = False
        self._episode_trajectories = 0
        info = {"episode": self.episode, "seed": seed, "task": self.env.task,
                "instruction": self.env.instruction, "start_time": self._episode_start,
                "target": [round(float(v), 4) for v in self.env.target_position]}
        if self.instruction_pub is not None:
            self.instruction_pub.publish(self._msg["string"](data=self.env.instruction))
        self.episode_pub.publish(self._msg["string"](data=json.dumps(info)))
        self.log.info(f"episode {self.episode} (seed {seed}): {self.env.instruction!r}")

    def _end_episode(self) -> None:
        info = self.env.info()
        result = {"episode": self.episode, "seed": info["seed"], "task": info["task"],
                  "instruction": self.env.instruction, "success": bool(info["success"]),
                  "time_to_success": self._success_time, "duration": self.sim_time - self._episode_start,
                  "tip_distance": info["tip_distance"], "nearest_pad": info["nearest_pad"],
                  "underrun_s": self._underrun_s, "trajectories": self._episode_trajectories}
        self.results.append(result)
        self.result_pub.publish(self._msg["string"](data=json.dumps(result)))
        done = sum(bool(r["success"]) for r in self.results)
        self.log.info(f"episode {self.episode}: {'SUCCESS' if result['success'] else 'failure'} "
                      f"after {result['duration']:.2f} s, tip {result['tip_distance'] * 100:.1f} cm from target "
                      f"({done}/{len(self.results)} so far)")
        self.episode += 1
        if self.args.episodes and self.episode >= self.args.episodes:
            self.finished = True
        else:
            self._start_episode()

    # ---- the tick ------------------------------------------------------------------------------------------

    def tick(self) -> None:
        """Physics for TICK_SECONDS under the trajectory setpoint, then clock, sensors and episode bookkeeping."""
        dt = self.env.physics_dt
        for k in range(self.substeps):
            position, _ = self.follower.sample(self.sim_time + k * dt)
            self.env.set_command(position)
            self.env.advance()
        self.ticks += 1
        now = self.sim_time
        if self._commanded and now > self.follower.end_time:
            self._underrun_s += TICK_SECONDS
        if self.clock_pub is not None:
            clock = self._msg["clock"]()
            clock.clock.sec, clock.clock.nanosec = divmod(self.ros_now_ns(), 10**9)
            self.clock_pub.publish(clock)
        if now + TICK_SECONDS / 2 >= self._next_joints:
            self._next_joints += 1.0 / self.args.joint_state_rate
            self.publish_joint_states()
        if now + TICK_SECONDS / 2 >= self._next_camera:
            self._next_camera += 1.0 / self.args.camera_rate
            self.publish_image()
        if self._success_time is None and self.env.update_success():
            self._success_time = now - self._episode_start
        timed_out = now - self._episode_start >= self.args.episode_seconds - TICK_SECONDS / 2
        if timed_out or (self._success_time is not None and self.args.stop_on_success):
            self._end_episode()

    def publish_joint_states(self) -> None:
        msg = self._msg["joints"]()
        self._stamp(msg.header)
        msg.name = list(JOINT_NAMES)
        msg.position = self.env.joint_positions.tolist()
        msg.velocity = self.env.joint_velocities.tolist()
        msg.effort = self.env.joint_efforts.tolist()
        self.joint_pub.publish(msg)

    def publish_image(self) -> None:
        image = self.env.render(CAMERA_NAMES[0])
        msg = self._msg["image"]()
        self._stamp(msg.header)
        msg.header.frame_id = CAMERA_FRAME
        msg.height, msg.width = image.shape[:2]
        msg.encoding = "rgb8"
        msg.is_bigendian = 0
        msg.step = image.shape[1] * 3
        msg.data = image.tobytes()
        self.image_pub.publish(msg)

    # ---- trajectories --------------------------------------------------------------------------------------

    def _on_trajectory(self, msg: object) -> None:
        self.trajectories_received += 1
        try:
            count = self._execute(msg)
        except TrajectoryError as exc:
            self.trajectories_rejected += 1
            self.log.warning(f"rejected trajectory: {exc}")
            return
        self._commanded = True
        self._episode_trajectories += 1
        self.log.debug(f"executing {count} trajectory points")

    def _execute(self, msg: object) -> int:
        names = list(msg.joint_names)
        unknown = sorted(set(names) - set(JOINT_NAMES))
        missing = [n for n in JOINT_NAMES if n not in names]
        if unknown or missing or len(set(names)) != len(names):
            raise TrajectoryError(f"joint_names {names}: expected each of {list(JOINT_NAMES)} exactly once "
                                  f"(unknown {unknown}, missing {missing})")
        order = [names.index(n) for n in JOINT_NAMES]
        points = list(msg.points)
        if not points:
            raise TrajectoryError("trajectory has no points")
        for k, point in enumerate(points):
            if len(point.positions) != len(names):
                raise TrajectoryError(f"point {k} has {len(point.positions)} positions, expected {len(names)}")
            if len(point.velocities) not in (0, len(names)):
                raise TrajectoryError(f"point {k} has {len(point.velocities)} velocities, expected 0 or "
                                      f"{len(names)}")
        times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * NANO for p in points])
        positions = np.array([[p.positions[i] for i in order] for p in points])
        with_velocities = all(len(p.velocities) == len(names) for p in points)
        velocities = np.array([[p.velocities[i] for i in order] for p in points]) if with_velocities else None
        stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        now = self.sim_time
        start = now if stamp_ns == 0 else now + (stamp_ns - self.ros_now_ns()) * NANO
        return self.follower.set_trajectory(times, positions, velocities, start_time=start, now=now)


def run(args: argparse.Namespace, ros_argv: list[str]) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(args=ros_argv, context=context)
    sim = None
    try:
        sim = SimNode(args, context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(sim.node)
        rtf = args.real_time_factor
        deadline = time.monotonic()
        while context.ok() and not sim.finished:
            wait = deadline - time.monotonic()
            if rtf > 0 and wait > 0:
                executor.spin_once(timeout_sec=wait)
                continue
            executor.spin_once(timeout_sec=0)
            sim.tick()
            if rtf > 0:
                deadline += TICK_SECONDS / rtf
                if time.monotonic() - deadline > MAX_LAG_SECONDS:
                    sim.log.warning(f"simulation runs behind real time x{rtf}; lower --real-time-factor",
                                    throttle_duration_sec=10.0)
                    deadline = time.monotonic()
        if sim.finished:
            flush_until = time.monotonic() + FLUSH_SECONDS
            while context.ok() and time.monotonic() < flush_until:
                executor.spin_once(timeout_sec=FLUSH_SECONDS / 10)
            wins = sum(bool(r["success"]) for r in sim.results)
            sim.log.info(f"{wins}/{len(sim.results)} episodes succeeded")
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if sim is not None:
            sim.env.close()
            sim.node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)
    return 0


def main(argv: list[str] | None = None) -> int:
    from rclpy.utilities import remove_ros_args

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(remove_ros_args(argv))
    problems = _problems(args)
    if problems:
        print("mgselect sim: " + "; ".join(problems), file=sys.stderr)
        return 2
    _apply_loopback(args.loopback)
    return run(args, [NODE_NAME, *argv])


if __name__ == "__main__":
    sys.exit(main())
