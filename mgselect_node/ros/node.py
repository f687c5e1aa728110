"""The `mgselect` ROS 2 lifecycle node: cameras + /joint_states in, JointTrajectory chunks out.

configure loads and warms the policy and creates the ROS interfaces; activate starts commanding; deactivate
stops commanding at once (an inference in flight is discarded) and forgets old observations; cleanup and
shutdown release the model. With `autostart` (default) the node configures and activates itself.

Threads: a MultiThreadedExecutor runs the subscriptions (sensor callback group, reentrant: image conversion
for several cameras in parallel) and the parameter/lifecycle services and diagnostics timer (default group).
Inference runs on one worker thread that always takes the newest observation; nothing ever queues up.

Topics (relative names resolve in the node's namespace):
  in:  image_topics[i]  sensor_msgs/Image (rgb8, bgr8, mono8), or sensor_msgs/CompressedImage (jpeg, png) when
                        the topic name ends in "/compressed" (image_transport's convention)
       joint_states_topic  sensor_msgs/JointState, picked by name (joint_names), merged across messages
       ~/instruction    std_msgs/String, transient-local: overrides the `instruction` parameter
  out: <controller_name>/joint_trajectory  trajectory_msgs/JointTrajectory (stamp 0 = start now)
       ~/selection      std_msgs/Float64MultiArray: see mgselect_node.ros.messages for the encoding
       /diagnostics     diagnostic_msgs/DiagnosticArray: latency per stage, rates, ages, counts, reasons
"""

from __future__ import annotations

import argparse
import gc
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from mgselect_node.config import Config, ConfigError
from mgselect_node.contracts import (
    COMPRESSED_SUFFIX,
    DIAGNOSTICS_TOPIC,
    INSTRUCTION,
    NODE_NAME,
    SELECTION,
    diagnostic_prefix,
    trajectory_topic,
)
from mgselect_node.control import pipeline as pl
from mgselect_node.control.pipeline import ControlPipeline, StepOutcome
from mgselect_node.control.stats import NodeStats, StepRecord
from mgselect_node.errors import InputError
from mgselect_node.ros import messages
from mgselect_node.ros.conversions import header_seconds, msg_to_rgb
from mgselect_node.ros.params import LiveParameters, declare_config
from mgselect_node.ros.resources import default_fastdds_profile

EXECUTOR_THREADS = 4
DIAGNOSTICS_PERIOD_S = 1.0
WARN_THROTTLE_S = 5.0
WORKER_JOIN_TIMEOUT_S = 30.0
MS_PER_S = 1000.0
BYTES_PER_MB = 1024.0 * 1024.0

SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
REPORT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
INSTRUCTION_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)

# Outcome status -> diagnostic level. Anything not listed (stale, input errors, unsafe...) is an ERROR.
_LEVELS = {pl.OK: DiagnosticStatus.OK, pl.DISABLED: DiagnosticStatus.WARN, pl.WAITING: DiagnosticStatus.WARN}

PolicyLoader = Callable[..., Any]


def _load_policy(name: str, **options: Any) -> Any:
    from mgselect_node.engine.policy import load_policy  # torch is imported only when configuring

    return load_policy(name, **options)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / BYTES_PER_MB


class MGSelectNode(LifecycleNode):
    """Managed node `mgselect`. `policy_loader` is injectable for tools that bring their own policy."""

    def __init__(self, policy_loader: PolicyLoader | None = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._loader = policy_loader or _load_policy
        self._config: Config = declare_config(self)      # raises ConfigError on a bad params file
        self._pipeline: ControlPipeline | None = None
        self._policy: Any = None
        self._lifecycle = "unconfigured"
        self._active = False
        self._generation = 0
        self._stopping = False
        self._new_frame = False
        self._wake = threading.Condition()
        self._publish_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stats = NodeStats()
        self._conversion_ms: dict[int, float] = {}
        self._receipt: dict[int, float] = {}
        self._input_errors = 0
        self._last_input_error = ""
        self._sensor_group = ReentrantCallbackGroup()
        self._report_group = MutuallyExclusiveCallbackGroup()
        self._camera_subs: list[Any] = []
        self._joint_sub: Any = None
        self._instruction_sub: Any = None
        self._trajectory_pub: Any = None
        self._selection_pub: Any = None
        self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, REPORT_QOS)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                                             callback_group=self._report_group)
        self._live = LiveParameters(self, lambda: self._config, self._validate_change, self._apply_change)
        self._warn_unknown_overrides()

    def _warn_unknown_overrides(self) -> None:
        """A misspelt name in the params file would otherwise be ignored without a word."""
        overrides = getattr(self, "_parameter_overrides", {})   # rclpy keeps no public accessor for these
        unknown = sorted(name for name in overrides if not self.has_parameter(name))
        if unknown:
            self.get_logger().warning(f"ignoring unknown parameter(s) {unknown}; known: "
                                      f"{sorted(Config.fields_by_name())}")

    # ------------------------------------------------------------------ parameters
    @property
    def config(self) -> Config:
        return self._config

    @property
    def lifecycle_state(self) -> str:
        return self._lifecycle

    def _validate_change(self, config: Config, changed: list[str]) -> None:
        if self._pipeline is not None:
            self._pipeline.check_change(config, changed)

    def _apply_change(self, config: Config, changed: list[str]) -> None:
        topics_changed = list(config.node.image_topics) != list(self._config.node.image_topics)
        controller_changed = config.node.controller_name != self._config.node.controller_name
        with self._publish_lock:           # enabled=false must stop a publish that is about to happen
            if self._pipeline is not None and topics_changed:
                self._destroy_camera_subs()
                self._conversion_ms.clear()
                self._receipt.clear()
            self._config = config
            if self._pipeline is not None:
                self._pipeline.update_config(config)
        if self._pipeline is not None:
            if topics_changed:
                self._create_camera_subs()
            if controller_changed:
                self.destroy_publisher(self._trajectory_pub)
                self._trajectory_pub = self._make_trajectory_pub()
        self.get_logger().info(f"parameters changed: {', '.join(changed)} (effective from the next inference)")
        with self._wake:
            self._wake.notify_all()

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        rt = self._config.runtime
        self.get_logger().info(f"loading policy {rt.policy!r} on {rt.device} ({rt.dtype})")
        try:
            policy = self._loader(rt.policy, device=rt.device, dtype=rt.dtype, static_cache=rt.static_cache,
                                  cpu_threads=rt.cpu_threads, policy_format=rt.policy_format,
                                  text_tokenizer=rt.text_tokenizer, action_tokenizer=rt.action_tokenizer)
            pipeline = ControlPipeline(policy, self._config)
            warm = getattr(policy, "warmup", None)
            if warm is not None:
                t0 = time.perf_counter()
                warm(self._config.selection)
                self.get_logger().info(f"warm-up selection took {(time.perf_counter() - t0) * MS_PER_S:.0f} ms")
        except Exception as exc:   # a transition must answer FAILURE with the reason, whatever went wrong
            self.get_logger().error(f"configure failed: {type(exc).__name__}: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._policy, self._pipeline = policy, pipeline
        self._create_interfaces()
        self._stopping = False
        self._worker = threading.Thread(target=self._worker_loop, name="mgselect-inference", daemon=True)
        self._worker.start()
        self._lifecycle = "inactive"
        spec = policy.spec
        self.get_logger().info(f"configured: policy {spec.name!r}, cameras {spec.camera_names}, "
                               f"joints {pipeline.joint_names}, horizon {spec.horizon}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        with self._publish_lock:
            self._active = True
            self._generation += 1
        self._lifecycle = "active"
        with self._wake:
            self._wake.notify_all()
        self.get_logger().info("active: commanding the arm")
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._stop_commanding()
        self._lifecycle = "inactive"
        self.get_logger().info("inactive: not commanding the arm")
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self._lifecycle = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self._lifecycle = "finalized"
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.release()
        self._lifecycle = "unconfigured"
        return TransitionCallbackReturn.SUCCESS

    def _stop_commanding(self) -> None:
        with self._publish_lock:
            self._active = False
            self._generation += 1
        if self._pipeline is not None:
            self._pipeline.reset()

    def release(self) -> None:
        """Stop the worker, drop ROS interfaces and the model (frees GPU memory)."""
        self._stop_commanding()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(WORKER_JOIN_TIMEOUT_S)
        self._worker = None
        self._destroy_interfaces()
        device = str(getattr(self._policy, "device", self._config.runtime.device))
        self._pipeline, self._policy = None, None
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ ROS interfaces
    def _make_trajectory_pub(self) -> Any:
        return self.create_publisher(JointTrajectory, trajectory_topic(self._config.node.controller_name), COMMAND_QOS)

    def _create_interfaces(self) -> None:
        self._trajectory_pub = self._make_trajectory_pub()
        self._selection_pub = self.create_publisher(Float64MultiArray, SELECTION, REPORT_QOS)
        self._joint_sub = self.create_subscription(
            JointState, self._config.node.joint_states_topic, self._on_joint_state, SENSOR_QOS,
            callback_group=self._sensor_group)
        self._instruction_sub = self.create_subscription(
            String, INSTRUCTION, self._on_instruction, INSTRUCTION_QOS)
        self._create_camera_subs()

    def _create_camera_subs(self) -> None:
        self._camera_subs = []
        for index, topic in enumerate(self._config.node.image_topics):
            msg_type = CompressedImage if topic.rstrip("/").endswith(COMPRESSED_SUFFIX) else Image
            self._camera_subs.append(self.create_subscription(
                msg_type, topic, self._camera_callback(index), SENSOR_QOS, callback_group=self._sensor_group))

    def _destroy_camera_subs(self) -> None:
        for sub in self._camera_subs:
            self.destroy_subscription(sub)
        self._camera_subs = []

    def _destroy_interfaces(self) -> None:
        self._destroy_camera_subs()
        for sub in (self._joint_sub, self._instruction_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        for pub in (self._trajectory_pub, self._selection_pub):
            if pub is not None:
                self.destroy_publisher(pub)
        self._joint_sub = self._instruction_sub = self._trajectory_pub = self._selection_pub = None

    # ------------------------------------------------------------------ callbacks (executor threads)
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _camera_callback(self, index: int) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            self._on_camera(index, msg)
        return callback

    def _on_camera(self, index: int, msg: Any) -> None:
        pipeline = self._pipeline
        if pipeline is None:
            return
        received = time.perf_counter()
        stamp = header_seconds(msg, self._now_s())
        label = self._config.node.image_topics[index] if index < len(self._config.node.image_topics) else index
        try:
            rgb = msg_to_rgb(msg)
        except InputError as exc:
            self._input_errors += 1
            self._last_input_error = f"{label}: {exc}"
            pipeline.on_image_error(index, str(exc), stamp)
            self.get_logger().warning(self._last_input_error, throttle_duration_sec=WARN_THROTTLE_S)
            return
        except IndexError:
            return                                   # camera list changed under this message
        try:
            pipeline.on_image(index, rgb, stamp)
        except IndexError:
            return
        self._conversion_ms[index] = (time.perf_counter() - received) * MS_PER_S
        self._receipt[index] = received
        with self._wake:
            self._new_frame = True
            self._wake.notify_all()

    def _on_joint_state(self, msg: JointState) -> None:
        if self._pipeline is not None:
            self._pipeline.on_joint_state(list(msg.name), list(msg.position), header_seconds(msg, self._now_s()))

    def _on_instruction(self, msg: String) -> None:
        if self._pipeline is not None:
            self._pipeline.on_instruction(msg.data)
            self.get_logger().info(f"instruction from ~/instruction: {msg.data!r}")

    # ------------------------------------------------------------------ inference worker
    def _worker_loop(self) -> None:
        last_start = -math.inf
        while True:
            with self._wake:
                while not self._stopping and not self._active:
                    self._wake.wait()
                if self._stopping:
                    return
                period = 1.0 / self._config.node.inference_rate
                # 1) keep the rate; 2) then run as soon as a new frame arrives (lowest latency), but at most
                # one more period later in any case, so a dead camera is still reported as stale.
                self._wait_until(lambda: False, last_start + period)
                self._wait_until(lambda: self._new_frame, time.monotonic() + period)
                if self._stopping:
                    return
                if not self._active:
                    continue
                self._new_frame = False
                generation = self._generation
            started = time.monotonic()
            try:
                if self._run_step(generation):
                    last_start = started      # the rate limits inferences; cheap "no data" checks are free
            except Exception as exc:   # the worker must survive anything; report it and go on
                last_start = started          # and not retry a failing policy faster than the rate
                self.get_logger().error(f"inference step failed: {type(exc).__name__}: {exc}")
                self._stats.record(StepRecord(pl.POLICY_ERROR, f"{type(exc).__name__}: {exc}", False, {}, None),
                                   ran_inference=False)
                self._publish_diagnostics()

    def _wait_until(self, ready: Callable[[], bool], deadline: float) -> None:
        """Wait on the condition (held) until `ready()`, the deadline, a stop or a deactivation."""
        while not self._stopping and self._active and not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.wait(remaining)

    def _run_step(self, generation: int) -> bool:
        """One pipeline step, publishing its plan if still allowed; True when the policy ran."""
        pipeline = self._pipeline
        if pipeline is None:
            return False
        conversion_ms = sum(self._conversion_ms.values())
        receipts = dict(self._receipt)
        outcome = pipeline.step(self._now_s())
        t_build = time.perf_counter()
        published = False
        if outcome.plan is not None:
            traj = messages.trajectory_msg(outcome.plan)
            sel = (messages.selection_msg(outcome.result, outcome.inference_index, outcome.stamps)
                   if outcome.result else None)
            with self._publish_lock:
                if (self._active and generation == self._generation and self._config.node.enabled
                        and self._trajectory_pub is not None):
                    self._trajectory_pub.publish(traj)
                    if sel is not None and self._selection_pub is not None:
                        self._selection_pub.publish(sel)
                    published = True
            if not published:
                outcome = StepOutcome(pl.DISABLED, result=outcome.result, stamps=outcome.stamps,
                                      reason="not commanding: disabled or deactivated during inference",
                                      timings_ms=outcome.timings_ms, inference_index=outcome.inference_index)
        self._record(outcome, published, conversion_ms, (time.perf_counter() - t_build) * MS_PER_S, receipts)
        self._publish_diagnostics()
        return outcome.result is not None

    def _record(self, outcome: StepOutcome, published: bool, conversion_ms: float, build_ms: float,
                receipts: dict[int, float]) -> None:
        timings = dict(outcome.timings_ms)
        result = outcome.result
        if result is not None:
            t = result.timing
            timings.update(preprocess_ms=t.preprocess_ms, prefill_ms=t.prefill_ms, decode_ms=t.decode_ms,
                           engine_select_ms=t.select_ms, engine_total_ms=t.total_ms)
            timings.update(conversion_ms=conversion_ms, build_ms=build_ms)
            timings["node_overhead_ms"] = (conversion_ms + t.preprocess_ms + build_ms
                                           + timings.get("assemble_ms", 0.0) + timings.get("safety_ms", 0.0))
            if published and receipts:
                timings["receipt_to_publish_ms"] = (time.perf_counter() - max(receipts.values())) * MS_PER_S
        rec = StepRecord(
            status=outcome.status, reason=outcome.reason, published=published, timings_ms=timings,
            observation_age_s=outcome.observation_age_s,
            margin=result.margin if result is not None else None,
            selected=result.selected if result is not None else None,
            scores=[float(s) for s in result.scores] if result is not None else None,
            inference_index=outcome.inference_index if result is not None else None,
            strategy=result.strategy if result is not None else None,
            mask_mode=result.mask_mode if result is not None else None)
        self._stats.record(rec, ran_inference=result is not None)
        if outcome.status != pl.OK:
            self.get_logger().warning(f"no command: {outcome.reason}", throttle_duration_sec=WARN_THROTTLE_S)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        last, counts, published, last_problem = self._stats.snapshot()
        if not self._active:
            level, message = DiagnosticStatus.WARN, f"{self._lifecycle}: not commanding the arm"
        elif last is None:
            level, message = DiagnosticStatus.WARN, "active: waiting for the first observation"
        else:
            level = _LEVELS.get(last.status, DiagnosticStatus.ERROR)
            message = f"{last.status}: {last.reason}" if last.reason else "ok: commanding the arm"
        cfg = self._config
        device = str(getattr(self._policy, "device", cfg.runtime.device))
        pipeline = self._pipeline
        values: list[tuple[str, object]] = [
            ("lifecycle_state", self._lifecycle), ("enabled", cfg.node.enabled),
            ("status", last.status if last else ""), ("reason", last.reason if last else ""),
            ("last_problem", last_problem), ("last_input_error", self._last_input_error),
            ("policy", cfg.runtime.policy), ("device", device), ("strategy", cfg.selection.strategy),
            ("num_candidates", cfg.selection.num_candidates), ("mask_mode", cfg.selection.mask_mode),
            ("inference_rate_hz", self._stats.inference_rate_hz()), ("chunks_published", published),
            ("observation_age_s", last.observation_age_s if last else None),
            ("inference_index", last.inference_index if last else None),
            ("used_strategy", last.strategy if last else None), ("used_mask_mode", last.mask_mode if last else None),
            ("selection_margin", last.margin if last else None), ("selected", last.selected if last else None),
            ("scores", last.scores if last else None), ("input_errors", self._input_errors),
            ("rss_mb", _rss_mb()),
        ]
        values += [(f"count_{status}", n) for status, n in sorted(counts.items())]
        dropped = sum(n for status, n in counts.items() if status not in (pl.OK, pl.DISABLED))
        values.append(("dropped_chunks", dropped))
        if pipeline is not None:
            buf = pipeline.buffer.counters
            values += [("frames_received", list(buf.frames)), ("joint_states_received", buf.joint_states),
                       ("instruction", pipeline.instruction)]
        for key in ("conversion_ms", "preprocess_ms", "prefill_ms", "decode_ms", "engine_select_ms",
                    "engine_total_ms", "assemble_ms", "select_ms", "safety_ms", "build_ms", "node_overhead_ms",
                    "receipt_to_publish_ms"):
            values.append((f"{key}_p50", self._stats.percentile(key)))
            if last is not None and key in last.timings_ms:
                values.append((f"{key}_last", last.timings_ms[key]))
        if device.startswith("cuda"):
            import torch

            values.append(("gpu_memory_mb", torch.cuda.memory_allocated() / BYTES_PER_MB))
        msg = messages.diagnostic_array(self.get_clock().now().to_msg(), f"{diagnostic_prefix()} control",
                                        f"{NODE_NAME}/{device}", level, message, values)
        self._diag_pub.publish(msg)


# ---------------------------------------------------------------------- entry points
USAGE = """\
usage: mgselect_node [--params-file FILE] [--log-level LEVEL] [--ros-args ...]
       mgselect node [--params-file FILE] [--log-level LEVEL] [--ros-args ...]

Runs the `mgselect` lifecycle node. --params-file FILE is shorthand for `--ros-args --params-file FILE`
(a standard ros__parameters YAML, e.g. config/mgselect.yaml); everything after --ros-args goes to ROS.
Fast DDS uses the package's shared-memory profile (config/fastdds_shm.xml) unless FASTDDS_DEFAULT_PROFILES_FILE
or FASTRTPS_DEFAULT_PROFILES_FILE is set.
"""


def to_ros_args(argv: Sequence[str]) -> list[str]:
    """`--params-file F` / `--log-level L` before --ros-args -> the equivalent --ros-args section."""
    argv = list(argv)
    if "--ros-args" in argv:
        cut = argv.index("--ros-args")
        own, ros = argv[:cut], argv[cut:]
    else:
        own, ros = argv, []
    parser = argparse.ArgumentParser(prog="mgselect_node", add_help=False)
    parser.add_argument("--params-file", action="append", default=[])
    parser.add_argument("--log-level")
    opts, unknown = parser.parse_known_args(own)
    if unknown:
        raise SystemExit(f"mgselect_node: unrecognized arguments {unknown}\n\n{USAGE}")
    extra: list[str] = []
    for path in opts.params_file:
        extra += ["--params-file", path]
    if opts.log_level:
        extra += ["--log-level", opts.log_level]
    return (["--ros-args", *extra] if extra else []) + ros


def main(argv: Sequence[str] | None = None, policy_loader: PolicyLoader | None = None) -> int:
    """Run the node until SIGINT/SIGTERM. Used by `mgselect_node` and `mgselect node`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    own = argv[: argv.index("--ros-args")] if "--ros-args" in argv else argv
    if "-h" in own or "--help" in own:
        print(USAGE)
        return 0
    ros_args = to_ros_args(argv)
    profile = default_fastdds_profile()
    rclpy.init(args=["mgselect_node", *ros_args])
    try:
        try:
            node = MGSelectNode(policy_loader=policy_loader)
        except ConfigError as exc:
            print(f"mgselect_node: invalid parameters: {exc}", file=sys.stderr)
            return 2
        if profile:
            node.get_logger().info(f"Fast DDS profile: {profile}")
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        if node.config.node.autostart:
            node.trigger_configure()
            if node.lifecycle_state != "inactive":
                node.get_logger().error("autostart: configure failed, exiting")
                node.destroy_node()
                return 1
            node.trigger_activate()
        try:
            executor.spin()
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if node.lifecycle_state in ("inactive", "active"):
                node.release()
            executor.shutdown()
            node.destroy_node()
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
