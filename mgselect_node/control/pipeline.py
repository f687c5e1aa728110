"""The node's control logic without rclpy: observation -> policy.select -> safety -> a plan to publish.

The live node (ros/node.py) and offline rosbag replay both drive a ControlPipeline, so the same frames give
the same decisions with or without DDS. Feed it with on_image / on_joint_state / on_instruction (any thread),
call step(now_s) from one worker; it never raises for bad data: the StepOutcome says what happened and why.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from mgselect_node.config import Config, ConfigError, instruction_problem
from mgselect_node.contracts import inference_seed
from mgselect_node.control import observation as obs_mod
from mgselect_node.control import timing
from mgselect_node.control.execution import ChunkExecutor
from mgselect_node.control.observation import Observation, ObservationBuffer, ObservationUnavailable
from mgselect_node.control.safety import SafetyLimits, check_chunk
from mgselect_node.control.seams import seam_velocities
from mgselect_node.engine.result import SelectionResult
from mgselect_node.errors import MGSelectError
from mgselect_node.model.spec import PolicySpec

# StepOutcome.status values (observation problems use the observation module's constants).
OK = "ok"
DISABLED = "disabled"
INVALID_CHUNK = "invalid_chunk"
UNSAFE = "unsafe"
POLICY_ERROR = "policy_error"
STALE_CHUNK = "stale_chunk"       # every point was already due when the chunk could be published
WAITING, STALE, UNSYNCED = obs_mod.WAITING, obs_mod.STALE, obs_mod.UNSYNCED
INPUT_ERROR, JOINT_ERROR = obs_mod.INPUT_ERROR, obs_mod.JOINT_ERROR

MS_PER_S = 1000.0


class PolicyLike(Protocol):
    """What the pipeline needs from mgselect_node.engine.policy.Policy."""

    spec: PolicySpec

    def select(self, images: list[np.ndarray], state: np.ndarray, instruction: str,
               config: Any = None, **kwargs: Any) -> SelectionResult: ...


@dataclass
class Plan:
    """A trajectory ready to publish: K points for J joints, in `joint_names` order."""

    joint_names: list[str]
    positions: np.ndarray            # (K, J) absolute joint targets
    velocities: np.ndarray           # (K, J) finite differences
    time_from_start: list[float]     # (K,) seconds after publishing; (k + 1) / control_rate before `finalize`
    t_obs: float = 0.0               # stamp of the joint state the chunk was computed from (node clock)
    dropped: int = 0                 # leading points dropped as stale by `finalize`
    start_state: np.ndarray | None = None   # (J,) the joint state the chunk was computed from


@dataclass
class StepOutcome:
    """What one step decided. `plan` is None whenever nothing may be commanded; `reason` then says why."""

    status: str
    plan: Plan | None = None
    result: SelectionResult | None = None
    reason: str = ""
    stamps: dict[str, float] = field(default_factory=dict)   # observation part -> stamp used
    observation_age_s: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    inference_index: int = -1         # which inference this was (seed = config seed + index); -1 = none ran
    clamped_points: int = 0
    received_s: float | None = None   # oldest monotonic receipt time of the observation (None: not tracked)


def finite_difference_velocities(current: np.ndarray, positions: np.ndarray, dt: float) -> np.ndarray:
    """Velocities at each point: central differences inside, one-sided at the end, the current state first."""
    path = np.vstack([np.asarray(current, dtype=np.float64)[None, :], positions])
    return np.gradient(path, dt, axis=0)[1:]


class ControlPipeline:
    """Observation assembly, selection, conversion to joint targets, safety and plan building."""

    def __init__(self, policy: PolicyLike, config: Config) -> None:
        self.policy = policy
        self.spec: PolicySpec = policy.spec
        self._lock = threading.Lock()
        self.check_config(config)
        self._config = config
        self.buffer = ObservationBuffer(len(config.node.image_topics))
        self._instruction_override: str | None = None
        self._instruction_error = ""
        self._inference_index = 0
        self.execution = ChunkExecutor(config.execution)

    # --- configuration -------------------------------------------------------------------------------
    @property
    def config(self) -> Config:
        return self._config

    def joint_names_for(self, config: Config) -> list[str]:
        return list(config.node.joint_names) or list(self.spec.joint_names)

    @property
    def joint_names(self) -> list[str]:
        return self.joint_names_for(self._config)

    @property
    def camera_labels(self) -> list[str]:
        return list(self._config.node.image_topics)

    def check_config(self, config: Config, known_joints: Sequence[str] | None = None) -> None:
        """ConfigError unless `config` fits this policy (and the joints seen on /joint_states, if any)."""
        spec = self.spec
        n_joints = spec.state_dim
        if spec.action_dim != n_joints:
            raise ConfigError(f"policy {spec.name!r} has action_dim {spec.action_dim} != state_dim {n_joints}: "
                              "cannot map its actions onto the joints it reads")
        names = self.joint_names_for(config)
        if len(names) != n_joints:
            raise ConfigError(f"joint_names has {len(names)} entries; policy {spec.name!r} drives {n_joints} "
                              f"joints ({spec.joint_names})")
        if len(set(names)) != len(names) or any(not n for n in names):
            raise ConfigError(f"joint_names {names} must be non-empty and unique")
        if any(len(n) > obs_mod.MAX_JOINT_NAME_CHARS for n in names):
            raise ConfigError(f"joint_names: a name over {obs_mod.MAX_JOINT_NAME_CHARS} characters can never match "
                              "a joint state (longer names are refused there)")
        if known_joints:
            unknown = [n for n in names if n not in set(known_joints)]
            if unknown:
                raise ConfigError(f"unknown joint(s) {unknown}: not on the joint states topic "
                                  f"(known: {sorted(known_joints)})")
        n_cams = len(spec.camera_names)
        if len(config.node.image_topics) != n_cams:
            raise ConfigError(f"image_topics has {len(config.node.image_topics)} entries; policy {spec.name!r} "
                              f"needs {n_cams} camera(s) {spec.camera_names}, in that order")
        if len(set(config.node.image_topics)) != n_cams or any(not t for t in config.node.image_topics):
            raise ConfigError(f"image_topics {config.node.image_topics} must be non-empty and distinct")
        safety = config.safety
        if safety.position_lower and len(safety.position_lower) != n_joints:
            raise ConfigError(f"position_lower/position_upper have {len(safety.position_lower)} entries; "
                              f"expected {n_joints} (one per joint) or none (use the policy's limits)")
        if config.node.execute_steps > spec.horizon:
            raise ConfigError(f"execute_steps={config.node.execute_steps} exceeds the policy horizon "
                              f"{spec.horizon}")
        if not config.node.controller_name.strip("/"):
            raise ConfigError("controller_name must not be empty")

    def check_change(self, config: Config, changed: Sequence[str]) -> None:
        """check_config for a live change; joint names are also checked against /joint_states when changed."""
        known = self.buffer.known_joints() if "joint_names" in changed else None
        self.check_config(config, known_joints=known)

    def update_config(self, config: Config) -> None:
        """Validate and swap in `config`; takes effect from the next step. Raises ConfigError."""
        self.check_config(config)
        with self._lock:
            previous = self._config
            self._config = config
            self.execution.update_config(config.execution)
            if config.node.instruction != previous.node.instruction:
                self._instruction_override = None    # the parameter was set after the topic: it wins now
                self._instruction_error = ""
            if list(config.node.image_topics) != list(previous.node.image_topics):
                self.buffer.resize(len(config.node.image_topics))

    # --- inputs (any thread) -------------------------------------------------------------------------
    # received_s: monotonic receipt time (the live node); None where wall-clock receipt means nothing (replay).
    def on_image(self, camera_index: int, rgb_frame: np.ndarray, stamp_s: float,
                 received_s: float | None = None) -> None:
        self.buffer.put_frame(camera_index, rgb_frame, stamp_s, received_s)

    def on_image_error(self, camera_index: int, message: str, stamp_s: float,
                       received_s: float | None = None) -> None:
        """The latest message from this camera could not be converted: no output until a good frame."""
        self.buffer.put_frame_error(camera_index, message, stamp_s, received_s)

    def on_joint_state(self, names: Sequence[str], positions: Sequence[float], stamp_s: float,
                       received_s: float | None = None) -> None:
        self.buffer.put_joint_state(list(names), list(positions), stamp_s, received_s)

    def on_instruction(self, text: str) -> str:
        """Take a new instruction; returns '' or why it was refused. A refused instruction stops commanding
        (the arm must not go on with the previous task as if the new one had been accepted) until a valid
        instruction arrives on the topic or through the parameter."""
        problem = instruction_problem(str(text))
        with self._lock:
            if problem:
                self._instruction_error = f"instruction refused: {problem}; not commanding until a valid one arrives"
            else:
                self._instruction_override, self._instruction_error = str(text), ""
        return problem

    @property
    def instruction(self) -> str:
        with self._lock:
            if self._instruction_override is not None:
                return self._instruction_override
            return self._config.node.instruction

    def reset(self) -> None:
        """Forget all observations and the committed trajectory (deactivate): data from before can never drive
        the arm afterwards."""
        self.buffer.clear()
        self.execution.reset()

    # --- one control step (one worker thread) --------------------------------------------------------
    def limits_for(self, config: Config) -> SafetyLimits:
        s = config.safety
        lower = s.position_lower or self.spec.joint_lower
        upper = s.position_upper or self.spec.joint_upper
        if bool(lower) != bool(upper):    # a policy with only one side of limits: clamp to none
            lower, upper = [], []
        return SafetyLimits.build(lower, upper, s.max_step_change, s.max_start_distance)

    def step(self, now_s: float, received_now_s: float | None = None) -> StepOutcome:
        """Assemble, select, check; never raises for bad data or a failing policy call.
        received_now_s: the monotonic clock now, to judge parts on their receipt time too (live node)."""
        config = self._config
        with self._lock:
            instruction_error = self._instruction_error
        instruction = self.instruction
        t0 = time.perf_counter()
        if not config.node.enabled:
            return StepOutcome(DISABLED, reason="enabled=false: not commanding the arm")
        if instruction_error:
            return StepOutcome(INPUT_ERROR, reason=instruction_error)
        joint_names = self.joint_names_for(config)
        try:
            obs = self.buffer.assemble(now_s, joint_names, config.node.max_observation_age,
                                       config.node.sync_slop, list(config.node.image_topics), received_now_s)
        except ObservationUnavailable as exc:
            return StepOutcome(exc.kind, reason=str(exc))
        t_assembled = time.perf_counter()
        index = self._inference_index
        self._inference_index += 1
        selection = config.selection.replace(seed=inference_seed(config.selection.seed, index))
        base = {"stamps": obs.stamps, "observation_age_s": obs.age_s, "inference_index": index,
                "received_s": obs.received_s}
        try:
            result = self.policy.select(obs.images, obs.state, instruction, config=selection)
        except MGSelectError as exc:
            return StepOutcome(INPUT_ERROR, reason=f"policy rejected the observation: {exc}", **base)
        except Exception as exc:  # a failing policy call is an outcome, never a crash
            return StepOutcome(POLICY_ERROR, reason=f"policy failed: {type(exc).__name__}: {exc}", **base)
        t_selected = time.perf_counter()
        timings = {"assemble_ms": (t_assembled - t0) * MS_PER_S, "select_ms": (t_selected - t_assembled) * MS_PER_S}
        if not result.valid or result.chunk is None:
            return StepOutcome(INVALID_CHUNK, result=result, timings_ms=timings,
                               reason=f"no valid action chunk: {result.reason or 'no candidate decoded'}", **base)
        self.execution.release_if_diverged(t_obs_of(obs), obs.state, config.safety.max_start_distance)
        result = self._cohere(config, obs, result)
        outcome = self._plan(config, obs, result, joint_names)
        outcome.timings_ms = {**timings, "safety_ms": (time.perf_counter() - t_selected) * MS_PER_S}
        outcome.stamps, outcome.observation_age_s, outcome.inference_index = (
            obs.stamps, obs.age_s, index)
        outcome.received_s = obs.received_s
        return outcome

    def stale_at_publish(self, outcome: StepOutcome, now_s: float, received_now_s: float | None = None) -> str:
        """Why the outcome's observation is too old to command the arm NOW ('' when it is fresh enough).
        Inference takes time: the age checked before it is not the age the arm acts on (max_command_age)."""
        max_age = self._config.node.max_command_age
        if outcome.stamps:
            label, oldest = min(outcome.stamps.items(), key=lambda item: item[1])
            if now_s - oldest > max_age:
                return (f"stale at publish: {label} was {now_s - oldest:.3f} s old when the chunk was ready > "
                        f"max_command_age {max_age:.3f} s (inference too slow for this age limit?)")
        if received_now_s is not None and outcome.received_s is not None:
            waited = received_now_s - outcome.received_s
            if waited > max_age:
                return (f"stale at publish: observation received {waited:.3f} s (wall clock) before the chunk "
                        f"was ready > max_command_age {max_age:.3f} s")
        return ""

    def _plan(self, config: Config, obs: Observation, result: SelectionResult,
              joint_names: list[str]) -> StepOutcome:
        chunk = np.asarray(result.chunk, dtype=np.float64)
        targets = self.spec.to_joint_positions(chunk, obs.state)
        steps = config.node.execute_steps or targets.shape[0]
        targets = targets[:steps]
        safe = check_chunk(targets, obs.state, self.limits_for(config), joint_names)
        if safe.rejected or safe.positions is None:
            return StepOutcome(UNSAFE, result=result, reason=f"chunk rejected by safety: {safe.reason}",
                               clamped_points=safe.clamped_points)
        rate = config.node.control_rate or self.spec.control_rate
        dt = 1.0 / rate
        plan = Plan(
            joint_names=list(joint_names),
            positions=safe.positions,
            velocities=finite_difference_velocities(obs.state, safe.positions, dt),
            time_from_start=[(k + 1) * dt for k in range(safe.positions.shape[0])],
            t_obs=t_obs_of(obs),
            start_state=np.asarray(obs.state, dtype=np.float64),
        )
        return StepOutcome(OK, plan=plan, result=result, clamped_points=safe.clamped_points)

    def next_start(self, now_s: float, last_start_s: float) -> float:
        """When the next inference should start (node clock), in the configured execution mode."""
        config = self._config
        dt = self.dt_for(config)
        horizon_s = (config.node.execute_steps or self.spec.horizon) * dt
        return self.execution.next_start(now_s, last_start_s, 1.0 / config.node.inference_rate, horizon_s)

    def dt_for(self, config: Config) -> float:
        return 1.0 / (config.node.control_rate or self.spec.control_rate)

    def _cohere(self, config: Config, obs: Observation, result: SelectionResult) -> SelectionResult:
        """Re-pick among the candidates by score and coherence with the committed trajectory (if enabled)."""
        if (result.fallback or result.selected < 0 or config.execution.coherence_weight <= 0
                or self.execution.committed is None):
            return result                          # nothing to be coherent with: no per-candidate work
        steps = config.node.execute_steps or self.spec.horizon
        targets = [None if c is None else self.spec.to_joint_positions(np.asarray(c, dtype=np.float64),
                                                                         obs.state)[:steps]
                   for c in result.candidates]
        times = timing.intended_times(t_obs_of(obs), steps, self.dt_for(config))
        choice = self.execution.choose(targets, np.asarray(result.scores, dtype=np.float64), times)
        if choice is None or choice == result.selected:
            return result
        return dataclasses.replace(result, chunk=result.candidates[choice], selected=choice)

    def finalize(self, outcome: StepOutcome, now_s: float) -> StepOutcome:
        """Retime an OK outcome's plan for publishing at `now_s` (stale points dropped, overlap blended,
        seam velocities), re-check safety on exactly what is sent, and commit it. Call right before publishing;
        a non-OK outcome comes back unchanged, and a plan with nothing left comes back as STALE_CHUNK."""
        plan = outcome.plan
        if outcome.status != OK or plan is None:
            return outcome
        config = self._config
        current = plan.start_state if plan.start_state is not None else plan.positions[0]
        execution = self.execution.finalize(plan.positions, plan.t_obs, self.dt_for(config), now_s, current)
        base = {"result": outcome.result, "stamps": outcome.stamps, "observation_age_s": outcome.observation_age_s,
                "timings_ms": outcome.timings_ms, "inference_index": outcome.inference_index}
        if execution is None:
            return StepOutcome(STALE_CHUNK, reason=f"every point of the chunk was due by publish time "
                                                   f"({now_s - plan.t_obs:.3f} s after its observation)", **base)
        safe = check_chunk(execution.positions, execution.start_position, self.limits_for(config), plan.joint_names)
        if safe.rejected or safe.positions is None:
            return StepOutcome(UNSAFE, reason=f"retimed chunk rejected by safety: {safe.reason}",
                               clamped_points=safe.clamped_points, **base)
        execution = dataclasses.replace(execution, positions=safe.positions, velocities=seam_velocities(
            now_s, execution.start_position, execution.absolute_times, safe.positions))
        self.execution.commit(execution, now_s)
        sent = Plan(joint_names=plan.joint_names, positions=safe.positions, velocities=execution.velocities,
                    time_from_start=[float(t) for t in execution.time_from_start], t_obs=plan.t_obs,
                    dropped=execution.dropped, start_state=plan.start_state)
        return dataclasses.replace(outcome, plan=sent, clamped_points=outcome.clamped_points + safe.clamped_points)


def t_obs_of(obs: Observation) -> float:
    """The chunk's time origin: the stamp of the joint state it starts from (the newest part otherwise)."""
    return float(obs.stamps.get(obs_mod.JOINT_STATES_KEY, max(obs.stamps.values(), default=0.0)))
