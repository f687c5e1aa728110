"""The one source of truth for configuration.

Every tunable is a field of a dataclass below. Field metadata carries what the ROS layer needs to declare a
parameter (description, range, read-only) so that ROS parameters, the YAML params file and the CLI all map
onto the same names and checks. Names are flat and unique across the dataclasses because ROS parameters are
flat (`ros2 param set /mgselect num_candidates 8`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from mgselect_node.contracts import NODE_NAME, SEED_MODULUS
from mgselect_node.engine import scoring, strategies

STRATEGIES = strategies.STRATEGY_NAMES      # registry: engine/strategies.py
MASK_MODES = ("text", "state", "both")
AGGREGATIONS = scoring.AGGREGATION_NAMES    # registry: engine/scoring.py
DECODING_MODES = ("strict", "relaxed")
DTYPES = ("float32", "bfloat16", "float16")
_HUB = " (pi0-FAST checkpoints); empty = the checkpoint's tokenizer name as a local path or in the HF cache"
EXECUTION_MODES = ("fixed_rate", "continuous")

# Hard limits of what works, not tunables (ranges below follow from them).
# An instruction longer than this, or with a letter/digit run longer than MAX_INSTRUCTION_WORD_CHARS, is refused
# before tokenization: the prompt tokenizer's longest-match search costs O(word length^3), and any policy's
# context holds only a few thousand tokens (the engine also checks the tokenized prompt against it).
MAX_INSTRUCTION_CHARS = 2000
MAX_INSTRUCTION_WORD_CHARS = 100
# The lowest non-zero control rate: trajectory point times (k + 1) / control_rate must stay well inside a ROS
# Duration (int32 seconds) and be meaningful for a controller.
MIN_CONTROL_RATE = 0.1
# The lowest non-zero sampling temperature: logits / tau must stay finite in float32 (and bfloat16).
MIN_TEMPERATURE = 0.01


class ConfigError(ValueError):
    """A configuration value is out of range or of the wrong kind; the message says which and what is allowed."""


def param(
    default: Any = dataclasses.MISSING,
    *,
    description: str,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    read_only: bool = False,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field that also describes itself as a ROS parameter."""
    meta = {"description": description, "low": low, "high": high, "choices": choices, "read_only": read_only}
    if default_factory is not dataclasses.MISSING:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


def _check_field(f: dataclasses.Field, value: Any) -> None:
    meta = f.metadata
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{f.name}={value!r} is not finite")
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{f.name}={value!r} is not one of {list(meta['choices'])}")
    values = value if isinstance(value, list | tuple) else [value]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ConfigError(f"{f.name} contains {v!r}, expected finite numbers")
        if meta.get("low") is not None and v < meta["low"]:
            raise ConfigError(f"{f.name}={v!r} is below the minimum {meta['low']}")
        if meta.get("high") is not None and v > meta["high"]:
            raise ConfigError(f"{f.name}={v!r} is above the maximum {meta['high']}")


class _Validated:
    """Mixin: range/choice checks from field metadata, run on construction and by `replace`."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.metadata:
                _check_field(f, getattr(self, f.name))
        self.check()

    def check(self) -> None:
        """Cross-field checks; subclasses extend."""

    def replace(self, **changes: Any):
        """A validated copy with `changes` applied (the object itself never changes)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class SelectionConfig(_Validated):
    """How one action chunk is chosen. Tunable live; read by the engine at every inference."""

    strategy: str = param("mg_select", choices=STRATEGIES,
                          description=strategies.describe())
    num_candidates: int = param(4, low=1, high=64, description="N sampled candidate chunks per inference")
    temperature: float = param(1.0, low=0.0, high=5.0,
                               description=f"sampling temperature tau: 0 (greedy decoding of every row) or "
                                           f"[{MIN_TEMPERATURE}, 5.0]")
    mask_mode: str = param("both", choices=MASK_MODES,
                           description="MG-Select reference: mask the instruction, the state, or both")
    aggregation: str = param("sum", choices=AGGREGATIONS,
                             description="how token scores (KL(Q||P), log P) are combined over action tokens: "
                                         + " or ".join(AGGREGATIONS))
    seed: int = param(0, low=0, high=SEED_MODULUS - 1, description="base RNG seed; inference k uses seed + k")
    restrict_to_action_tokens: bool = param(
        True, description="sample only action tokens and the terminator (invalid text tokens never drawn)")
    complete_chunks: bool = param(
        True, description="decode only token sequences that make exactly one chunk (no token past horizon x dim "
                          "values, terminator exactly there); implies restrict_to_action_tokens. Scores still "
                          "use the model's unconstrained distributions")
    decoding: str = param("strict", choices=DECODING_MODES,
                          description="strict: a candidate that does not make exactly one chunk is rejected; "
                                      "relaxed: LeRobot's pad/truncate of the DCT coefficients (never a zero "
                                      "chunk), for parity with LeRobot-served pi0-FAST")
    max_action_tokens: int = param(0, low=0, high=1024,
                                   description="decode budget in tokens; 0 = the policy bundle's default")

    def check(self) -> None:
        if 0.0 < self.temperature < MIN_TEMPERATURE:
            raise ConfigError(f"temperature={self.temperature!r}: expected 0 (greedy) or at least "
                              f"{MIN_TEMPERATURE} (smaller values overflow the logits)")


@dataclass(frozen=True)
class RuntimeConfig(_Validated):
    """Where the model runs. Needs a restart (the model is reloaded) to change."""

    policy: str = param("default", read_only=True,
                        description="policy: a checkpoint directory, or the name of a bundled policy "
                                    "(mgselect_node/policies/; 'default' is the demo's)")
    policy_format: str = param("auto", read_only=True,
                               description="checkpoint format of `policy` (a module of mgselect_node/model/formats/; "
                                           "`mgselect inspect PATH` lists them); auto = detect from its files")
    # pi0-FAST checkpoints name their tokenizers by hub id; "" = that name as a local path or in the HF cache.
    text_tokenizer: str = param("", read_only=True, description=f"local PaliGemma tokenizer.json directory{_HUB}")
    action_tokenizer: str = param("", read_only=True, description=f"local FAST tokenizer directory{_HUB}")
    device: str = param("cpu", read_only=True, description="torch device: cpu, cuda, cuda:1, ...")
    dtype: str = param("float32", choices=DTYPES, read_only=True, description="model weights dtype")
    static_cache: bool = param(False, read_only=True,
                               description="preallocated KV cache (needed for CUDA graphs); same results")
    cpu_threads: int = param(0, low=0, high=256, read_only=True,
                             description="torch threads for CPU inference; 0 = torch's default (all cores). Use 1 "
                                         "when other processes share a small machine: oversubscribed threads "
                                         "are many times slower")

    def check(self) -> None:
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device={self.device!r}: expected 'cpu' or 'cuda[:index]'")


@dataclass(frozen=True)
class SafetyConfig(_Validated):
    """Limits applied to every chunk before it may command the arm. Empty limit lists mean the policy's."""

    position_lower: list[float] = param(default_factory=list,
                                        description="per-joint lower position limits (rad or m), joint_names order")
    position_upper: list[float] = param(default_factory=list,
                                        description="per-joint upper position limits, joint_names order")
    max_step_change: float = param(0.25, low=0.0,
                                   description="largest allowed change of any joint between consecutive points")
    max_start_distance: float = param(0.5, low=0.0,
                                      description="largest allowed distance of the first point from the current "
                                                  "joint state; beyond it the chunk is rejected")

    def check(self) -> None:
        if len(self.position_lower) != len(self.position_upper):
            raise ConfigError(
                f"position_lower has {len(self.position_lower)} entries but position_upper has "
                f"{len(self.position_upper)}; give one of each per joint")
        for i, (lo, hi) in enumerate(zip(self.position_lower, self.position_upper, strict=True)):
            if lo > hi:
                raise ConfigError(f"joint {i}: position_lower {lo} > position_upper {hi}")


@dataclass(frozen=True)
class NodeConfig(_Validated):
    """The ROS node: topics, timing, commanding, input limits. Topic names are checked as ROS names by the node."""

    image_topics: list[str] = param(default_factory=lambda: ["/camera/image_raw"],
                                    description="camera topics, one per policy camera, in the policy's order; "
                                                "valid ROS topic names (a change re-subscribes)")
    joint_states_topic: str = param("/joint_states", read_only=True, description="sensor_msgs/JointState topic")
    joint_names: list[str] = param(default_factory=list,
                                   description="controller joints in policy order; empty = the policy's")
    controller_name: str = param("arm_controller",
                                 description="publishes <controller_name>/joint_trajectory (must form a valid ROS "
                                             "topic name; a change re-creates the publisher)")
    instruction: str = param("", description=f"task instruction; ~/instruction overrides it when published. At "
                                             f"most {MAX_INSTRUCTION_CHARS} characters, no letter/digit run over "
                                             f"{MAX_INSTRUCTION_WORD_CHARS}, and it must fit the policy's context; a "
                                             f"refused ~/instruction stops commanding until a valid one arrives")
    control_rate: float = param(0.0, low=0.0, high=1000.0,
                                description=f"Hz between trajectory points: 0 (the policy's) or "
                                            f"[{MIN_CONTROL_RATE}, 1000]")
    execute_steps: int = param(0, low=0, high=1000,
                               description="points of each chunk sent to the controller; 0 = the whole chunk")
    inference_rate: float = param(2.0, low=0.01, high=100.0, description="Hz at which new chunks are computed")
    max_observation_age: float = param(
        0.5, low=0.0, high=60.0,
        description="s; older camera or joint data is stale, judged on the header stamps (node clock) AND on "
                    "the wall-clock time since receipt (a stopped /clock or a dead sensor stops commanding); "
                    "checked before inference starts")
    max_command_age: float = param(
        1.0, low=0.0, high=60.0,
        description="s; a chunk is published only while its observation is at most this old, checked just before "
                    "publishing on the header stamps (node clock) and on the wall-clock time since receipt: the "
                    "budget for input age + inference latency (GPU pi0-FAST: 0.1-0.8 s). At least "
                    "max_observation_age. With drop_stale_points the points already due are not sent")
    sync_slop: float = param(0.1, low=0.0, high=60.0,
                             description="s; largest stamp spread between the observation's parts")
    max_image_pixels: int = param(
        8_294_400, low=1, high=2**28,
        description="largest camera frame (width x height) accepted, raw or compressed (read from the jpeg/png "
                    "header before decoding); bigger frames are refused with a diagnostic. Default 3840x2160")
    enabled: bool = param(True, description="false stops commanding the arm at once")
    autostart: bool = param(True, read_only=True, description="configure and activate on start")

    def check(self) -> None:
        if 0.0 < self.control_rate < MIN_CONTROL_RATE:
            raise ConfigError(f"control_rate={self.control_rate!r}: expected 0 (the policy's rate) or at least "
                              f"{MIN_CONTROL_RATE} Hz")
        problem = instruction_problem(self.instruction)
        if problem:
            raise ConfigError(f"instruction: {problem}")
        if self.max_command_age < self.max_observation_age:
            raise ConfigError(f"max_command_age={self.max_command_age!r} is below max_observation_age="
                              f"{self.max_observation_age!r}: a chunk could never be published from data that was "
                              f"fresh enough to start it; raise max_command_age first")


def instruction_problem(text: str) -> str:
    """Why `text` cannot be an instruction ('' when it can). Cheap: no tokenization, linear in its length."""
    if len(text) > MAX_INSTRUCTION_CHARS:
        return f"{len(text)} characters; at most {MAX_INSTRUCTION_CHARS} are accepted"
    run = longest_alnum_run(text)
    if run > MAX_INSTRUCTION_WORD_CHARS:
        return (f"has a word (letter/digit run) of {run} characters; at most {MAX_INSTRUCTION_WORD_CHARS} are "
                "accepted")
    return ""


def longest_alnum_run(text: str) -> int:
    """Length of the longest run of letters/digits (what the prompt tokenizer matches as one word)."""
    longest = current = 0
    for ch in text:
        current = current + 1 if ch.isalnum() else 0
        longest = max(longest, current)
    return longest


@dataclass(frozen=True)
class ExecutionConfig(_Validated):
    """How chunks are timed and stitched (control/execution.py). Defaults chosen from README's measurements."""

    execution_mode: str = param(
        "continuous", choices=EXECUTION_MODES,
        description="fixed_rate: a new inference every 1/inference_rate s; continuous: the next inference starts "
                    "when the committed trajectory has less time left than the measured latency + schedule_margin")
    drop_stale_points: bool = param(
        True, description="point k of a chunk is meant for t_obs + (k+1)/control_rate: drop the points whose time "
                          "has passed at publish time and shift time_from_start (false = start the whole chunk "
                          "at publish time, the pre-issue-11 behaviour)")
    stale_margin: float = param(0.02, low=0.0, high=1.0,
                                description="s; points due sooner than this after publishing are dropped too "
                                            "(transport and controller period)")
    schedule_margin: float = param(0.15, low=0.0, high=5.0,
                                   description="s; continuous mode starts the next inference this much earlier "
                                               "than the latency estimate alone would. More than one control "
                                               "period, so the new chunk overlaps the committed one (blending)")
    latency_window: int = param(20, low=1, high=1000, description="inferences in the latency estimate's window")
    latency_warmup: int = param(2, low=0, high=100,
                                description="first inferences after activation left out of the latency estimate")
    latency_quantile: float = param(0.95, low=0.0, high=1.0, description="quantile of the window used as estimate")
    coherence_weight: float = param(
        1.0, low=0.0, high=100.0,
        description="weight of BID-style backward coherence in the selection score (distance of a candidate's "
                    "overlapping points to the committed trajectory, both standardized over candidates); "
                    "0 = pure selection strategy")
    coherence_decay: float = param(0.99, low=0.0, high=1.0,
                                   description="beta: weight beta^i of the i-th overlapping point in the coherence")
    blend_decay: float = param(
        0.5, low=0.0, high=0.99,
        description="blend the overlap with the committed trajectory: the i-th kept point keeps weight "
                    "blend_decay^(i+1) of the old trajectory; 0 = no blending")
    injected_delay: float = param(0.0, low=0.0, high=10.0,
                                  description="s added to every inference (test/bench only: stands in for a "
                                              "slower model); never set on a real robot")


@dataclass(frozen=True)
class Config:
    """Everything, grouped. `flat()`/`from_flat()` are the ROS parameter / YAML / CLI view."""

    selection: SelectionConfig = field(default_factory=SelectionConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    node: NodeConfig = field(default_factory=NodeConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    GROUPS = ("selection", "runtime", "safety", "node", "execution")

    @classmethod
    def fields_by_name(cls) -> dict[str, tuple[str, dataclasses.Field]]:
        """Flat parameter name -> (group, field)."""
        out: dict[str, tuple[str, dataclasses.Field]] = {}
        for group in cls.GROUPS:
            group_type = {f.name: f for f in dataclasses.fields(cls)}[group].default_factory  # type: ignore
            for f in dataclasses.fields(group_type):
                out[f.name] = (group, f)
        return out

    def flat(self) -> dict[str, Any]:
        return {name: getattr(getattr(self, g), name) for name, (g, _) in self.fields_by_name().items()}

    def with_flat(self, values: dict[str, Any]) -> Config:
        """A validated copy with flat `values` applied; unknown names raise ConfigError."""
        by_name = self.fields_by_name()
        unknown = sorted(set(values) - set(by_name))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown}; known: {sorted(by_name)}")
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            grouped.setdefault(by_name[name][0], {})[name] = _coerce(by_name[name][1], value)
        return dataclasses.replace(
            self, **{g: getattr(self, g).replace(**chg) for g, chg in grouped.items()})

    @classmethod
    def from_flat(cls, values: dict[str, Any]) -> Config:
        return cls().with_flat(values)

    @classmethod
    def from_yaml(cls, path: str, node_name: str = NODE_NAME) -> Config:
        """Read a standard ROS params file (`<node>: ros__parameters: {...}`) or a plain mapping."""
        import yaml

        with open(path) as fh:
            doc = yaml.safe_load(fh) or {}
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        for key in (node_name, f"/{node_name}", "/**"):
            if isinstance(doc.get(key), dict) and "ros__parameters" in doc[key]:
                return cls.from_flat(doc[key]["ros__parameters"] or {})
        return cls.from_flat(doc)


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """YAML/ROS give ints for floats and tuples for lists; accept those, reject real type mismatches."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default  # type: ignore
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{f.name}={value!r}: expected true or false")
        return value
    if isinstance(default, float) and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(default, str) and isinstance(value, str):
        return value
    if isinstance(default, list) and isinstance(value, list | tuple):
        return [float(v) if isinstance(v, int) and not isinstance(v, bool) and f.name.startswith("position_")
                else v for v in value]
    raise ConfigError(f"{f.name}={value!r}: expected a value of type {type(default).__name__}")
