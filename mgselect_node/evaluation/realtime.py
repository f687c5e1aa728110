"""In-simulated-time evaluation of chunk execution: modes x injected inference delays (`mgselect eval-realtime`).

In-process, no DDS, in simulated time: the node's own ControlPipeline (selection, safety, stale-point
dropping, scheduling, coherence, blending) drives sim/env.SimEnv through sim/trajectory.TrajectoryFollower,
the joint_trajectory_controller stand-in of `mgselect sim`. An inference started at simulated time t sees
the scene at t; its chunk is published at t + latency, and the arm keeps following the committed trajectory
meanwhile (the delay is simulated, never slept). latency = the policy's compute time (measured per
inference, or a fixed compute_ms for reproducible tables) + the injected delay, rounded up to a tick.

Modes (cumulative): fixed-rate (the node before issue 11: a chunk every 1/inference_rate s, started whole at
publish time), drop-stale (+ stale points dropped and time_from_start corrected), continuous (+ the next
inference starts when the committed trajectory runs short), coherence (+ the coherence term), blend
(+ overlap blending). Episode k of every cell uses scene seed seed + k and the same sampling seeds.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mgselect_node.config import ExecutionConfig
from mgselect_node.contracts import episode_inference_seed
from mgselect_node.errors import InputError
from mgselect_node.evaluation import realtime_metrics as rm
from mgselect_node.evaluation.cells import parse_int_list
from mgselect_node.evaluation.runner import DEFAULT_SEED
from mgselect_node.evaluation.workers import map_jobs
from mgselect_node.sim.instructions import DEFAULT_INSTRUCTION_STYLE

MODES = ("fixed-rate", "drop-stale", "continuous", "coherence", "blend")
DEFAULT_MODE = "blend"        # what config.py's defaults amount to (with schedule_margin 0.15 s)
DEFAULT_DELAYS = "0,100,300,600"
DEFAULT_EPISODES = 20
DEFAULT_COHERENCE_WEIGHT = ExecutionConfig().coherence_weight
DEFAULT_BLEND_DECAY = ExecutionConfig().blend_decay
TICK_S = 0.01                 # simulated control tick, as `mgselect sim`
DEFAULT_SCHEDULE_MARGIN = ExecutionConfig().schedule_margin
MEASURED = -1.0               # --compute-ms default: measure each inference
REALTIME_MD, REALTIME_JSON, SEAMS_PNG = "realtime.md", "realtime.json", "seams.png"
REALTIME_LOG = "realtime.jsonl"


def mode_overrides(mode: str, coherence_weight: float, blend_decay: float) -> dict[str, Any]:
    """Flat Config values of one cumulative mode."""
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: expected one of {list(MODES)}")
    rank = MODES.index(mode)
    return {"execution_mode": "continuous" if rank >= 2 else "fixed_rate", "drop_stale_points": rank >= 1,
            "coherence_weight": coherence_weight if rank >= 3 else 0.0,
            "blend_decay": blend_decay if rank >= 4 else 0.0}


def parse_delays(text: str) -> list[int]:
    return parse_int_list(text, "--delays", 0, "ms")


@dataclass
class RealtimeSettings:
    policy: str = "default"
    episodes: int = DEFAULT_EPISODES
    seed: int = DEFAULT_SEED
    strategy: str = "mg_select"
    num_candidates: int = 4
    temperature: float = 0.5
    coherence_weight: float = DEFAULT_COHERENCE_WEIGHT
    blend_decay: float = DEFAULT_BLEND_DECAY
    compute_ms: float = MEASURED
    schedule_margin: float = DEFAULT_SCHEDULE_MARGIN
    episode_seconds: float = 0.0
    threads: int = 1
    instructions: str = DEFAULT_INSTRUCTION_STYLE  # how the instruction names the pad (sim/instructions.py)


class RealtimeEvaluator:
    """One policy + one simulator; runs (mode, delay, episode) jobs. One per worker process."""

    def __init__(self, settings: RealtimeSettings, policy: Any = None) -> None:
        from mgselect_node.sim.env import DEFAULT_EPISODE_SECONDS, SimEnv

        if policy is None:
            import torch

            from mgselect_node.engine.policy import load_policy

            if settings.threads > 0:
                torch.set_num_threads(settings.threads)
            policy = load_policy(settings.policy)
            policy.warmup()
        self.settings, self.policy = settings, policy
        self.env = SimEnv(seed=settings.seed, control_rate=policy.spec.control_rate,
                          episode_seconds=settings.episode_seconds or DEFAULT_EPISODE_SECONDS,
                          instruction_style=settings.instructions)
        self.substeps = max(1, round(TICK_S / self.env.physics_dt))

    def config(self, mode: str, scene: int) -> Any:
        from mgselect_node.config import Config

        s = self.settings
        return Config().with_flat({
            "strategy": s.strategy, "num_candidates": s.num_candidates, "temperature": s.temperature,
            "seed": episode_inference_seed(scene, 0), "latency_warmup": 0,   # inference k: (scene, k)
            "schedule_margin": s.schedule_margin,
            **mode_overrides(mode, s.coherence_weight, s.blend_decay)})

    def _latency(self, compute_s: float, delay_ms: int) -> float:
        compute = compute_s if self.settings.compute_ms < 0 else self.settings.compute_ms / 1000.0
        return math.ceil((compute + delay_ms / 1000.0) / TICK_S - 1e-9) * TICK_S

    def run_episode(self, mode: str, delay_ms: int, episode: int, trace: bool = False
                    ) -> tuple[rm.EpisodeMetrics, rm.Trace | None]:
        from mgselect_node.control.pipeline import ControlPipeline
        from mgselect_node.sim.trajectory import TrajectoryFollower

        env, scene = self.env, self.settings.seed + episode
        env.reset(seed=scene)
        pipeline = ControlPipeline(self.policy, self.config(mode, scene))
        follower = TrajectoryFollower(env.joint_positions, allow_nonzero_velocity_at_trajectory_end=False)
        out = rm.EpisodeMetrics(mode=mode, delay_ms=delay_ms, episode=episode, success=False, duration_s=0.0)
        series = rm.Trace(TICK_S)
        inflight: tuple[Any, float, float] | None = None     # (outcome, start, publish time)
        last_start, t, commanded_once = -math.inf, 0.0, False
        steps = round(env.episode_seconds / TICK_S)
        for step in range(steps):
            t = step * TICK_S
            if inflight is not None and t >= inflight[2] - 1e-9:
                outcome, started, _ = inflight
                inflight = None
                commanded_once |= self._publish(pipeline, follower, outcome, started, t, out, series)
            if inflight is None and pipeline.next_start(t, last_start) <= t + 1e-9:
                obs = env.observe()
                pipeline.on_image(0, obs.image, t)
                pipeline.on_joint_state(list(pipeline.joint_names), obs.state.tolist(), t)
                wall = time.perf_counter()
                outcome = pipeline.step(t)
                out.inferences += int(outcome.result is not None)
                last_start = t
                inflight = (outcome, t, t + self._latency(time.perf_counter() - wall, delay_ms))
            for k in range(self.substeps):
                env.set_command(follower.sample(t + k * env.physics_dt)[0])
                env.advance()
            series.add(t, follower.sample(t)[0], env.joint_positions)
            if commanded_once and t > follower.end_time:
                out.underrun_s += TICK_S
            if env.update_success():
                break
        out.success, out.duration_s = bool(env.success), t + TICK_S
        out.seam_peak_acc, out.reversals = rm.seam_shape(series)
        out.jerk_rms, out.jerk_p99 = rm.jerk_stats(series)
        return out, (series if trace else None)

    @staticmethod
    def _publish(pipeline: Any, follower: Any, outcome: Any, started: float, now: float,
                 out: rm.EpisodeMetrics, series: rm.Trace) -> bool:
        """Finalize at `now` and hand the plan to the controller; records seam metrics. True if sent."""
        from mgselect_node.control import pipeline as pl

        had = pipeline.execution.committed is not None
        ended = had and pipeline.execution.time_left(now) <= 0
        sent = pipeline.finalize(outcome, now)
        if outcome.result is not None:
            pipeline.execution.record_latency(now - started)
            out.latencies_s.append(now - started)
        if sent.status == pl.STALE_CHUNK or (sent.plan is not None and ended):
            out.deadline_misses += 1
        if sent.plan is None:
            return False
        plan = sent.plan
        tfs = np.asarray(plan.time_from_start)
        if had:
            old = follower.sample(now + tfs[0])[0]
            out.seam_jumps.append(float(np.max(np.abs(plan.positions[0] - old))))
            series.switches.append(now)
        out.dropped_points += plan.dropped
        follower.set_trajectory(tfs, plan.positions, plan.velocities, start_time=now, now=now)
        return True

    def close(self) -> None:
        self.env.close()


def _run_job(evaluator: RealtimeEvaluator, job: tuple[str, int, int]) -> rm.EpisodeMetrics:
    return evaluator.run_episode(*job)[0]


def run_jobs(settings: RealtimeSettings, jobs: Sequence[tuple[str, int, int]], workers: int,
             progress: bool, log: Path | None = None) -> list[rm.EpisodeMetrics]:
    """Every job; each finished episode is also appended to `log` (JSON lines), so a long run that has to be
    stopped still leaves every cell with the same completed scenes (jobs are ordered scene-major)."""
    from tqdm import tqdm

    bar = tqdm(total=len(jobs), desc="eval-realtime", unit="ep", disable=not progress, dynamic_ncols=True)
    results: list[rm.EpisodeMetrics] = []
    for result in map_jobs(RealtimeEvaluator, settings, jobs, _run_job, workers):
        results.append(result)
        if log is not None:
            with open(log, "a") as fh:
                fh.write(json.dumps(asdict(result)) + "\n")
        bar.update(1)
    bar.close()
    return results


def complete_scenes(rows: list[rm.EpisodeMetrics]) -> list[rm.EpisodeMetrics]:
    """Only the scenes every (mode, delay) cell finished: cells stay paired on the same scenes."""
    cells = {(r.mode, r.delay_ms) for r in rows}
    done = [k for k in sorted({r.episode for r in rows})
            if len({(r.mode, r.delay_ms) for r in rows if r.episode == k}) == len(cells)]
    return [r for r in rows if r.episode in set(done)]


def plot_modes(settings: RealtimeSettings, modes: Sequence[str], delay_ms: int, path: Path) -> None:
    """Episode 0 of each of `modes` at `delay_ms`, traced (re-run in this process)."""
    evaluator = RealtimeEvaluator(settings)
    try:
        traces = {f"{m} @ {delay_ms} ms": evaluator.run_episode(m, delay_ms, 0, trace=True)[1]
                  for m in dict.fromkeys(modes)}
    finally:
        evaluator.close()
    rm.plot_traces(traces, path, joint=0, title=f"scene {settings.seed}: commanded vs measured joint 1")
