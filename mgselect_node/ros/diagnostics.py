"""The node's /diagnostics status: one level + message saying why the arm is or is not commanded, and the
values behind it (latencies, rates, ages, counts, reasons).

Kept apart from the node so the node module holds the ROS wiring and this one what is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus

from mgselect_node.config import Config
from mgselect_node.control import pipeline as pl
from mgselect_node.control.stats import NodeStats

BYTES_PER_MB = 1024.0 * 1024.0
TIMING_KEYS = ("conversion_ms", "preprocess_ms", "prefill_ms", "decode_ms", "engine_select_ms", "engine_total_ms",
               "assemble_ms", "select_ms", "safety_ms", "build_ms", "node_overhead_ms", "receipt_to_publish_ms")
# Outcome status -> diagnostic level. Anything not listed (stale, input errors, unsafe...) is an ERROR.
LEVELS = {pl.OK: DiagnosticStatus.OK, pl.DISABLED: DiagnosticStatus.WARN, pl.WAITING: DiagnosticStatus.WARN}


@dataclass
class NodeView:
    """What the node knows right now, beyond the step statistics."""

    lifecycle: str
    active: bool
    config: Config
    device: str
    pipeline: pl.ControlPipeline | None
    input_errors: int = 0
    last_input_error: str = ""
    frames_received: list[int] = field(default_factory=list)
    step_running_s: float | None = None       # how long the inference in flight has been running
    now_s: float = 0.0                        # the node clock (ROS time)


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / BYTES_PER_MB


def level_and_message(view: NodeView, stats: NodeStats) -> tuple[bytes, str]:
    """The status line: not active, waiting, an inference running too long to be usable, or the last step."""
    last, _, _, _ = stats.snapshot()
    max_age = view.config.node.max_command_age
    if not view.active:
        return DiagnosticStatus.WARN, f"{view.lifecycle}: not commanding the arm"
    if view.step_running_s is not None and view.step_running_s > max_age:
        return DiagnosticStatus.ERROR, (f"stalled: inference running for {view.step_running_s:.1f} s > "
                                        f"max_command_age {max_age:.3f} s; its chunk will not be commanded")
    if last is None:
        return DiagnosticStatus.WARN, "active: waiting for the first observation"
    level = LEVELS.get(last.status, DiagnosticStatus.ERROR)
    underrun = view.pipeline.execution.counters.last_underrun_s if view.pipeline is not None else 0.0
    if level == DiagnosticStatus.OK and underrun > 0:      # the policy did not keep up: say so
        return DiagnosticStatus.WARN, (f"underrun: the controller had no points for {underrun:.3f} s before the "
                                       "last chunk (inference slower than the chunk lasts)")
    return level, (f"{last.status}: {last.reason}" if last.reason else "ok: commanding the arm")


def execution_values(pipeline: pl.ControlPipeline, now_s: float) -> list[tuple[str, object]]:
    """Chunk execution (control/execution.py): mode, latency estimate, time left, underruns, stale points."""
    ex = pipeline.execution
    c = ex.counters
    horizon_s = pipeline.spec.horizon * pipeline.dt_for(pipeline.config)
    return [("execution_mode", ex.config.execution_mode), ("latency_estimate_s", ex.latency_estimate(horizon_s)),
            ("committed_time_left_s", ex.time_left(now_s)), ("time_left_at_last_publish_s", c.last_time_left_s),
            ("underruns", c.underruns), ("underrun_s", c.underrun_s), ("points_dropped_stale", c.points_dropped),
            ("chunks_all_stale", c.all_stale), ("committed_released", c.released)]


def values(view: NodeView, stats: NodeStats) -> list[tuple[str, object]]:
    """Key/values of the status (tests and the benchmark read them back by name)."""
    last, counts, published, last_problem = stats.snapshot()
    cfg = view.config
    out: list[tuple[str, object]] = [
        ("lifecycle_state", view.lifecycle), ("enabled", cfg.node.enabled),
        ("status", last.status if last else ""), ("reason", last.reason if last else ""),
        ("last_problem", last_problem), ("last_input_error", view.last_input_error),
        ("policy", cfg.runtime.policy), ("device", view.device), ("strategy", cfg.selection.strategy),
        ("num_candidates", cfg.selection.num_candidates), ("mask_mode", cfg.selection.mask_mode),
        ("inference_rate_hz", stats.inference_rate_hz()), ("chunks_published", published),
        ("observation_age_s", last.observation_age_s if last else None),
        ("inference_index", last.inference_index if last else None),
        ("used_strategy", last.strategy if last else None), ("used_mask_mode", last.mask_mode if last else None),
        ("selection_margin", last.margin if last else None), ("selected", last.selected if last else None),
        ("scores", last.scores if last else None), ("input_errors", view.input_errors),
        ("inference_running_s", view.step_running_s), ("rss_mb", _rss_mb()),
    ]
    out += [(f"count_{status}", n) for status, n in sorted(counts.items())]
    dropped = sum(n for status, n in counts.items() if status not in (pl.OK, pl.DISABLED))
    out.append(("dropped_chunks", dropped))
    if view.pipeline is not None:
        buf = view.pipeline.buffer.counters
        out += [("frames_received", list(view.frames_received)), ("joint_states_received", buf.joint_states),
                ("joint_states_ignored", buf.joint_states_ignored), ("instruction", view.pipeline.instruction)]
        out += execution_values(view.pipeline, view.now_s)
    for key in TIMING_KEYS:
        out.append((f"{key}_p50", stats.percentile(key)))
        if last is not None and key in last.timings_ms:
            out.append((f"{key}_last", last.timings_ms[key]))
    if view.device.startswith("cuda"):
        import torch

        out.append(("gpu_memory_mb", torch.cuda.memory_allocated() / BYTES_PER_MB))
    return out


def status_parts(view: NodeView, stats: NodeStats) -> tuple[bytes, str, list[tuple[str, Any]]]:
    level, message = level_and_message(view, stats)
    return level, message, values(view, stats)
