"""The `mgselect` ROS 2 lifecycle node: cameras + /joint_states in, JointTrajectory chunks out.

configure loads and warms the policy and creates the ROS interfaces; activate starts commanding; deactivate
stops commanding at once (an inference in flight is discarded) and forgets old observations; cleanup and
shutdown release the model. With `autostart` (default) the node configures and activates itself.

Threads: one SingleThreadedExecutor (the main thread) runs the subscriptions, the parameter/lifecycle services
and the diagnostics timer; callbacks only store the newest message (camera frames are converted by the worker,
once per inference, not at the camera's rate), so the executor costs little CPU and never competes with
inference for the interpreter, and re-wiring topics on a parameter change cannot race the executor. Inference
runs on one worker thread that always takes the newest observation; nothing ever queues up. SIGINT/SIGTERM stop
the worker before the ROS context goes away, and the process exits 0.

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

import gc
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import JointState
from std_msgs.msg import String

from mgselect_node.config import Config
from mgselect_node.contracts import DIAGNOSTICS_TOPIC, NODE_NAME, diagnostic_prefix
from mgselect_node.control import pipeline as pl
from mgselect_node.control.pipeline import ControlPipeline, StepOutcome
from mgselect_node.control.stats import NodeStats, StepRecord, step_record
from mgselect_node.ros import diagnostics, messages
from mgselect_node.ros.cli_args import to_ros_args  # noqa: F401  (re-exported: the node's command line)
from mgselect_node.ros.conversions import clip, header_seconds, msg_to_rgb
from mgselect_node.ros.frames import FrameInbox, Pending, labels_for
from mgselect_node.ros.interfaces import REPORT_QOS, NodeInterfaces
from mgselect_node.ros.names import check_names
from mgselect_node.ros.params import LiveParameters, declare_config
from mgselect_node.ros.waiting import WorkerWaits, restart_after_clock_jump

DIAGNOSTICS_PERIOD_S = 1.0
WARN_THROTTLE_S = 5.0
WORKER_JOIN_TIMEOUT_S = 30.0
MS_PER_S = 1000.0

PolicyLoader = Callable[..., Any]


def _load_policy(name: str, **options: Any) -> Any:
    from mgselect_node.engine.policy import load_policy  # torch is imported only when configuring

    return load_policy(name, **options)


class MGSelectNode(NodeInterfaces, WorkerWaits, LifecycleNode):
    """Managed node `mgselect`. `policy_loader` is injectable for tools that bring their own policy."""

    def __init__(self, policy_loader: PolicyLoader | None = None, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._loader = policy_loader or _load_policy
        self._config: Config = declare_config(self)      # raises ConfigError on a bad params file
        check_names(self._config, self.get_name(), self.get_namespace())
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
        self._frames = FrameInbox()
        self._step_started: float | None = None
        self._input_errors = 0
        self._last_input_error = ""
        self._camera_subs: list[Any] = []
        self._joint_sub: Any = None
        self._instruction_sub: Any = None
        self._trajectory_pub: Any = None
        self._selection_pub: Any = None
        self._diag_pub = self.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, REPORT_QOS)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics)
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
        check_names(config, self.get_name(), self.get_namespace())
        if self._pipeline is not None:
            self._pipeline.check_change(config, changed)

    def _apply_change(self, config: Config, changed: list[str]) -> None:
        """Runs on the executor thread (parameter service), so destroying and creating subscriptions cannot race
        the executor; the publisher is swapped under the publish lock so the worker never uses a destroyed one."""
        topics_changed = list(config.node.image_topics) != list(self._config.node.image_topics)
        controller_changed = config.node.controller_name != self._config.node.controller_name
        if self._pipeline is not None and topics_changed:
            self._destroy_camera_subs()
        new_pub = self._make_trajectory_pub(config) if self._pipeline is not None and controller_changed else None
        with self._publish_lock:           # enabled=false must stop a publish that is about to happen
            self._config = config
            if self._pipeline is not None:
                self._pipeline.update_config(config)
            old_pub = None
            if new_pub is not None:
                old_pub, self._trajectory_pub = self._trajectory_pub, new_pub
            if old_pub is not None:
                self.destroy_publisher(old_pub)
        if self._pipeline is not None and topics_changed:
            self._create_camera_subs()
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

    # ------------------------------------------------------------------ callbacks (executor threads)
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _camera_callback(self, index: int) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            self._on_camera(index, msg)
        return callback

    def _on_camera(self, index: int, msg: Any) -> None:
        """Only keep the newest message: the worker converts it when an inference needs it."""
        if self._pipeline is None or not self._frames.put(index, msg, header_seconds(msg, self._now_s())):
            return
        with self._wake:
            self._new_frame = True
            self._wake.notify_all()

    def _convert_frames(self, pipeline: ControlPipeline) -> None:
        """Worker: the newest message of each camera -> the pipeline, or the reason it is unusable."""
        topics = self._config.node.image_topics

        def on_error(index: int, reason: str, item: Pending) -> None:
            self._input_errors += 1
            self._last_input_error = f"{labels_for(topics, index)}: {reason}"
            pipeline.on_image_error(index, reason, item.stamp_s, item.received_s)
            self.get_logger().warning(self._last_input_error, throttle_duration_sec=WARN_THROTTLE_S)

        self._frames.convert(msg_to_rgb, self._config.node.max_image_pixels,
                             lambda i, rgb, item: pipeline.on_image(i, rgb, item.stamp_s, item.received_s), on_error)

    def _on_joint_state(self, msg: JointState) -> None:
        if self._pipeline is not None:
            self._pipeline.on_joint_state(msg.name, msg.position, header_seconds(msg, self._now_s()),
                                          time.monotonic())

    def _on_instruction(self, msg: String) -> None:
        if self._pipeline is None:
            return
        problem = self._pipeline.on_instruction(msg.data)
        if problem:
            self._input_errors += 1
            self._last_input_error = f"~/instruction refused: {problem}"
            self.get_logger().warning(f"{self._last_input_error}; not commanding until a valid instruction "
                                      "arrives", throttle_duration_sec=WARN_THROTTLE_S)
        else:
            self.get_logger().info(f"instruction from ~/instruction: {clip(msg.data, 200)}")
        with self._wake:
            self._wake.notify_all()

    # ------------------------------------------------------------------ inference worker
    def _worker_loop(self) -> None:
        last_start = -math.inf        # node clock (ROS time; /clock under use_sim_time)
        last_ran = False
        while True:
            with self._wake:
                while not self._stopping and not self._active:
                    self._wake.wait()
                if self._stopping:
                    return
                last_start = restart_after_clock_jump(self._now_s(), last_start)
                if not self._wait_for_start(last_start, last_ran):
                    continue
                if self._stopping:
                    return
                if not self._active:
                    continue
                self._new_frame = False
                generation = self._generation
            started, self._last_step_wall = self._now_s(), time.monotonic()
            try:
                last_ran = self._run_step(generation)
                if last_ran:
                    last_start = started      # the rate limits inferences; cheap "no data" checks are free
            except Exception as exc:   # the worker must survive anything; report it and go on
                last_start, last_ran = started, False   # and not retry a failing policy faster than the rate
                if self._stopping or not self.context.ok():
                    return                    # shutting down: the ROS context may be gone, nothing to report
                self.get_logger().error(f"inference step failed: {type(exc).__name__}: {clip(exc, 500)}")
                self._stats.record(StepRecord(pl.POLICY_ERROR, f"{type(exc).__name__}: {exc}", False, {}, None),
                                   ran_inference=False)
                self._publish_diagnostics()
            finally:
                self._step_started = None

    def _run_step(self, generation: int) -> bool:
        """One pipeline step, publishing its plan if still allowed; True when the policy ran."""
        pipeline = self._pipeline
        if pipeline is None:
            return False
        self._step_started = time.monotonic()
        self._convert_frames(pipeline)
        _, conversion_ms, receipts = self._frames.snapshot()
        started = self._now_s()
        outcome = pipeline.step(started, time.monotonic())
        if outcome.result is not None and self._config.execution.injected_delay > 0:
            self._inject_delay(started + self._config.execution.injected_delay)
        t_build = time.perf_counter()
        published = False
        if outcome.plan is not None:
            stale = ""
            with self._publish_lock:
                if (self._active and generation == self._generation and self._config.node.enabled
                        and self._trajectory_pub is not None and not self._stopping):
                    now = self._now_s()
                    pipeline.execution.record_latency(now - started)
                    # the age checked before inference is not the age the arm acts on: check again now
                    stale = pipeline.stale_at_publish(outcome, now, time.monotonic())
                    if not stale:
                        outcome = pipeline.finalize(outcome, now)     # drop what is already due, then commit
                    if not stale and outcome.plan is not None:
                        self._trajectory_pub.publish(messages.trajectory_msg(outcome.plan))
                        if outcome.result is not None and self._selection_pub is not None:
                            self._selection_pub.publish(messages.selection_msg(
                                outcome.result, outcome.inference_index, outcome.stamps))
                        published = True
            if (not published and outcome.status == pl.OK) or stale:
                status, reason = ((pl.STALE, stale) if stale else
                                  (pl.DISABLED, "not commanding: disabled or deactivated during inference"))
                outcome = StepOutcome(status, result=outcome.result, stamps=outcome.stamps, reason=reason,
                                      observation_age_s=outcome.observation_age_s,
                                      timings_ms=outcome.timings_ms, inference_index=outcome.inference_index)
        self._record(outcome, published, conversion_ms, (time.perf_counter() - t_build) * MS_PER_S, receipts)
        self._publish_diagnostics()
        return outcome.result is not None

    def _record(self, outcome: StepOutcome, published: bool, conversion_ms: float, build_ms: float,
                receipts: dict[int, float]) -> None:
        receipt_ms = (time.monotonic() - max(receipts.values())) * MS_PER_S if published and receipts else None
        rec = step_record(outcome, published, conversion_ms, build_ms, receipt_ms)
        self._stats.record(rec, ran_inference=outcome.result is not None)
        if outcome.status != pl.OK:
            self.get_logger().warning(f"no command: {clip(outcome.reason, 500)}",
                                      throttle_duration_sec=WARN_THROTTLE_S)

    # ------------------------------------------------------------------ diagnostics
    def _publish_diagnostics(self) -> None:
        if not self.context.ok():
            return                             # shutting down: nothing can be published any more
        started = self._step_started
        frames, _, _ = self._frames.snapshot()
        view = diagnostics.NodeView(
            lifecycle=self._lifecycle, active=self._active, config=self._config,
            device=str(getattr(self._policy, "device", self._config.runtime.device)), pipeline=self._pipeline,
            input_errors=self._input_errors, last_input_error=self._last_input_error, frames_received=frames,
            step_running_s=None if started is None else time.monotonic() - started, now_s=self._now_s())
        level, message, values = diagnostics.status_parts(view, self._stats)
        name = self.get_name()
        msg = messages.diagnostic_array(self.get_clock().now().to_msg(), f"{diagnostic_prefix(name)} control",
                                        f"{name}/{view.device}", level, message, values)
        self._diag_pub.publish(msg)


# ---------------------------------------------------------------------- entry point
def main(argv: Sequence[str] | None = None, policy_loader: PolicyLoader | None = None) -> int:
    """Run the node until SIGINT/SIGTERM (mgselect_node.ros.run). Used by `mgselect_node` and `mgselect node`."""
    from mgselect_node.ros.run import run_node

    return run_node(argv, policy_loader)


if __name__ == "__main__":
    sys.exit(main())
