"""Running the node as a process: arguments, Fast DDS profile, the executor loop and an orderly shutdown.

SIGINT/SIGTERM only ask the main loop to stop (rclpy's own handlers would shut the ROS context down under a
running inference, whose error handler then published into a dead context). The loop then stops the worker
and waits for it, while the context is still valid, and tears ROS down in order: exit code 0.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from mgselect_node.config import ConfigError
from mgselect_node.ros.cli_args import USAGE, to_ros_args
from mgselect_node.ros.node import MGSelectNode, PolicyLoader
from mgselect_node.ros.resources import default_fastdds_profile

SPIN_PERIOD_S = 0.1          # the main loop checks for SIGINT/SIGTERM at least this often


def run_node(argv: Sequence[str] | None = None, policy_loader: PolicyLoader | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; the exit code (0 on a signal, 2 bad parameters, 1 failed autostart)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if "-h" in own or "--help" in own:
        print(USAGE)
        return 0
    ros_args = to_ros_args(argv)
    profile = default_fastdds_profile()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    rclpy.init(args=["mgselect_node", *ros_args], signal_handler_options=SignalHandlerOptions.NO)
    try:
        try:
            node = MGSelectNode(policy_loader=policy_loader)
        except ConfigError as exc:
            print(f"mgselect_node: invalid parameters: {exc}", file=sys.stderr)
            return 2
        if profile:
            node.get_logger().info(f"Fast DDS profile: {profile}")
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        if node.config.node.autostart:
            node.trigger_configure()
            if node.lifecycle_state != "inactive":
                node.get_logger().error("autostart: configure failed, exiting")
                node.destroy_node()
                return 1
            node.trigger_activate()
        try:
            while not stop.is_set() and rclpy.ok():
                executor.spin_once(timeout_sec=SPIN_PERIOD_S)
        except ExternalShutdownException:
            pass
        finally:
            if node.lifecycle_state in ("inactive", "active"):
                node.release()                 # worker stopped and joined while the context is still valid
            executor.shutdown()
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
