"""Offline replay: a bag's messages in recorded order through the node's own ControlPipeline, no DDS.

Why it is deterministic and what it reproduces: messages are converted by ros/conversions.py and fed to
ros/pipeline.py exactly as the live node's callbacks do, and the pipeline is stepped at `inference_rate`
in bag time (the live node's clock under use_sim_time), so compute time never changes which observation an
inference sees. In either execution mode each chunk is finalized (stale points dropped) at its own step.
Two runs with the same bag, policy, parameters and seed give identical reports.

A live node picks its observations by wall-clock timing, which offline replay cannot know. Given the
observation stamps and seed the live node reported for each chunk (in ~/selection, collected by live replay
into its report), `replay_observations` rebuilds exactly those observations and reproduces its chunks, as
sent: the publish time of each follows from its points (see `publish_time`), so stale-point dropping,
coherence and blending against the previous chunk come out the same.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mgselect_node.bag.bag_io import NS_PER_S, BagError, BagMessage, BagReader
from mgselect_node.bag.report import STAMP_ATOL_S, ChunkRecord, Report, json_scores
from mgselect_node.config import Config
from mgselect_node.contracts import INSTRUCTION, SEED_MODULUS, base_seed_for, inference_seed, private_topic
from mgselect_node.control import pipeline as pl
from mgselect_node.control.observation import JOINT_STATES_KEY
from mgselect_node.control.pipeline import ControlPipeline, StepOutcome
from mgselect_node.errors import InputError
from mgselect_node.ros.conversions import header_seconds, msg_to_rgb

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
COMPRESSED_SUFFIX = "/compressed"     # the node subscribes CompressedImage on topics ending in this
JOINT_STATE_TYPES = ("sensor_msgs/msg/JointState",)
INSTRUCTION_TYPES = ("std_msgs/msg/String",)
DEFAULT_INSTRUCTION_TOPIC = private_topic(INSTRUCTION)   # the node's ~/instruction
JOINT_STATES_LABEL = JOINT_STATES_KEY                 # ObservationBuffer's stamp key for the joint state
# A pause in the bag longer than this many inference periods is skipped over instead of stepped through
# (every step in it would only report a stale observation); the report counts the steps skipped.
MAX_IDLE_PERIODS = 100


@dataclass
class ReplayWindow:
    """Which part of the bag to replay, relative to its first message, and how topics are renamed."""

    start_s: float = 0.0
    duration_s: float | None = None
    remap: dict[str, str] = field(default_factory=dict)     # bag topic -> topic the node subscribes to

    def bounds_ns(self, bag: BagReader) -> tuple[int, int | None]:
        start = bag.start_ns + round(self.start_s * NS_PER_S)
        stop = None if self.duration_s is None else start + round(self.duration_s * NS_PER_S)
        return start, stop

    def inverse(self) -> dict[str, str]:
        """Node topic -> bag topic."""
        return {to: frm for frm, to in self.remap.items()}

    def bag_topic(self, node_topic: str) -> str:
        return self.inverse().get(node_topic, node_topic)

    def node_topic(self, bag_topic: str) -> str:
        return self.remap.get(bag_topic, bag_topic)


def parse_remaps(items: Iterable[str]) -> dict[str, str]:
    """['/a:=/b', ...] -> {'/a': '/b'}; ValueError naming the bad item."""
    out: dict[str, str] = {}
    for item in items:
        frm, sep, to = item.partition(":=")
        if not sep or not frm or not to:
            raise ValueError(f"--remap {item!r}: expected FROM:=TO, e.g. /cam0/image_raw:=/camera/image_raw")
        out[frm] = to
    return out


def camera_type(node_topic: str) -> str:
    """The type the node subscribes a camera topic with (image_transport's convention, as ros/node.py does)."""
    return COMPRESSED_TYPE if node_topic.rstrip("/").endswith(COMPRESSED_SUFFIX) else IMAGE_TYPE


def required_topics(config: Config, window: ReplayWindow) -> dict[str, tuple[str, ...]]:
    """Bag topic -> allowed types, for what the node's configuration subscribes to."""
    req = {window.bag_topic(t): (camera_type(t),) for t in config.node.image_topics}
    req[window.bag_topic(config.node.joint_states_topic)] = JOINT_STATE_TYPES
    return req


class PipelineFeeder:
    """Routes decoded bag messages to a ControlPipeline, converting them as the live node's callbacks do."""

    def __init__(self, pipeline: ControlPipeline, config: Config, window: ReplayWindow,
                 instruction_topic: str = DEFAULT_INSTRUCTION_TOPIC) -> None:
        self.pipeline = pipeline
        self.max_pixels = config.node.max_image_pixels
        self.cameras = {window.bag_topic(t): i for i, t in enumerate(config.node.image_topics)}
        self.joint_topic = window.bag_topic(config.node.joint_states_topic)
        self.instruction_topic = window.bag_topic(instruction_topic)

    @property
    def topics(self) -> list[str]:
        return [*self.cameras, self.joint_topic, self.instruction_topic]

    def feed(self, message: BagMessage, msg: Any) -> None:
        receipt_s = message.time_s          # the live node's clock (sim time) when the message arrived
        if message.topic in self.cameras:
            camera = self.cameras[message.topic]
            stamp = header_seconds(msg, receipt_s)
            try:
                rgb = msg_to_rgb(msg, self.max_pixels)
            except InputError as exc:
                self.pipeline.on_image_error(camera, str(exc), stamp)
                return
            self.pipeline.on_image(camera, rgb, stamp)
        elif message.topic == self.joint_topic:
            self.pipeline.on_joint_state(list(msg.name), list(msg.position), header_seconds(msg, receipt_s))
        elif message.topic == self.instruction_topic:
            self.pipeline.on_instruction(str(msg.data))


def chunk_record(outcome: StepOutcome, time_s: float, config: Config) -> ChunkRecord:
    plan, result = outcome.plan, outcome.result
    assert plan is not None
    return ChunkRecord(
        inference_index=outcome.inference_index, time_s=time_s, stamps=dict(outcome.stamps),
        joint_names=list(plan.joint_names), positions=plan.positions.tolist(),
        time_from_start=[float(t) for t in plan.time_from_start],
        seed=inference_seed(config.selection.seed, outcome.inference_index),
        selected=None if result is None else int(result.selected),
        scores=[] if result is None else json_scores(result.scores),
        margin=None if result is None else float(result.margin),
        frame_stamp=max((v for k, v in outcome.stamps.items() if k != JOINT_STATES_LABEL), default=None))


def check_bag(bag: BagReader, config: Config, window: ReplayWindow) -> None:
    """BagError listing the bag's contents unless it has every topic the node needs, with the right type."""
    try:
        bag.require(required_topics(config, window))
    except BagError as exc:
        hints = []
        for topic in config.node.image_topics:
            info = bag.topics.get(window.bag_topic(topic))
            if info is not None and info.msgtype in IMAGE_TYPES and info.msgtype != camera_type(topic):
                want = "ending in" if info.msgtype == COMPRESSED_TYPE else "not ending in"
                hints.append(f"hint: the node subscribes {topic} as {camera_type(topic)}: it reads "
                             f"CompressedImage only on topics ending in {COMPRESSED_SUFFIX}; put a topic "
                             f"{want} {COMPRESSED_SUFFIX} in image_topics and --remap {info.topic}:=<it>")
        remapped = [f"{frm} -> {to}" for frm, to in window.remap.items()]
        notes = [f"(bag topics remapped: {', '.join(remapped)})"] if remapped else []
        raise BagError("\n".join([str(exc), *notes, *hints])) from None


def replay_offline(bag: BagReader, pipeline: ControlPipeline, window: ReplayWindow | None = None,
                   instruction_topic: str = DEFAULT_INSTRUCTION_TOPIC,
                   progress: Callable[[int], None] | None = None) -> Report:
    """Feed the bag window through `pipeline`, stepping at the configured inference_rate in bag time."""
    window = window or ReplayWindow()
    config = pipeline.config
    check_bag(bag, config, window)
    feeder = PipelineFeeder(pipeline, config, window, instruction_topic)
    start_ns, stop_ns = window.bounds_ns(bag)
    period_ns = round(NS_PER_S / config.node.inference_rate)
    report = Report("offline", str(bag.path))
    # The instruction is latched (transient local): one recorded before the window still applies in it.
    for message in bag.messages([feeder.instruction_topic], stop_ns=start_ns):
        feeder.feed(message, bag.decode(message))

    next_tick = start_ns + period_ns
    steps = idle_skipped = 0

    def step_until(time_ns: int) -> None:
        nonlocal next_tick, steps, idle_skipped
        if time_ns - next_tick > MAX_IDLE_PERIODS * period_ns:   # a pause in the bag: jump over it
            jump = (time_ns - next_tick) // period_ns - 1
            idle_skipped += jump
            next_tick += jump * period_ns
        while next_tick <= time_ns:
            # no compute time in bag time: each chunk is published at its step (stale points still dropped)
            outcome = pipeline.finalize(pipeline.step(next_tick / NS_PER_S), next_tick / NS_PER_S)
            steps += 1
            if outcome.status == pl.OK and outcome.plan is not None:
                report.chunks.append(chunk_record(outcome, next_tick / NS_PER_S, config))
            else:
                report.skip(outcome.status, outcome.reason)
            next_tick += period_ns

    last_ns = start_ns
    for message in bag.messages(feeder.topics, start_ns=start_ns, stop_ns=stop_ns):
        step_until(message.time_ns - 1)          # steps due before this message arrived
        feeder.feed(message, bag.decode(message))
        last_ns = message.time_ns
        if progress is not None:
            progress(1)
    step_until(last_ns if stop_ns is None else max(last_ns, stop_ns - 1))
    report.info.update({"steps": steps, "idle_steps_skipped": int(idle_skipped),
                        "inference_rate": config.node.inference_rate,
                        "window_s": [window.start_s, window.duration_s]})
    return report


@dataclass
class _Indexed:
    position: int
    message: BagMessage
    msg: Any
    stamp_s: float


def _match(entries: Sequence[_Indexed], stamp: float, tolerance: float) -> _Indexed | None:
    best = min(entries, key=lambda e: abs(e.stamp_s - stamp), default=None)
    return best if best is not None and abs(best.stamp_s - stamp) <= tolerance else None


def replay_observations(bag: BagReader, pipeline: ControlPipeline, targets: Sequence[ChunkRecord],
                        window: ReplayWindow | None = None,
                        instruction_topic: str = DEFAULT_INSTRUCTION_TOPIC,
                        stamp_tolerance_s: float = STAMP_ATOL_S) -> Report:
    """Reproduce the chunks of a live run: for each target (stamps + seed the live node reported), rebuild
    that observation from the bag and run one inference with that seed. With coherence_weight or blend_decay
    on, a chunk depends on the one before: give every target, in the order they were published."""
    window = window or ReplayWindow()
    config = pipeline.config
    check_bag(bag, config, window)
    feeder = PipelineFeeder(pipeline, config, window, instruction_topic)
    labels = {window.bag_topic(t): t for t in config.node.image_topics}
    labels[feeder.joint_topic] = JOINT_STATES_LABEL
    messages: list[tuple[BagMessage, Any]] = list(bag.read(feeder.topics))
    by_label: dict[str, list[_Indexed]] = {label: [] for label in labels.values()}
    for position, (message, msg) in enumerate(messages):
        if message.topic in labels:
            by_label[labels[message.topic]].append(
                _Indexed(position, message, msg, header_seconds(msg, message.time_s)))
    report = Report("offline", str(bag.path))
    cursor = next_index = 0                   # a fresh pipeline's first inference has index 0
    for target in targets:
        parts: dict[str, _Indexed] = {}
        for label, stamp in target.stamps.items():
            found = _match(by_label.get(label, []), stamp, stamp_tolerance_s)
            if found is None:
                raise BagError(f"live chunk {target.inference_index}: no {label} message with stamp "
                               f"{stamp:.9f} in bag {bag.path} (was the live run fed from this bag?)")
            parts[label] = found
        last = max(p.position for p in parts.values())
        while cursor <= last:                  # everything up to the newest part, in recorded order
            feeder.feed(*messages[cursor])
            cursor += 1
        for part in parts.values():           # then make each part the latest of its kind again
            feeder.feed(part.message, part.msg)
        if target.seed is not None:           # inference k uses seed + k: the base that gives target.seed
            base_seed = base_seed_for(target.seed, next_index)
            pipeline.update_config(config_with_seed(pipeline.config, base_seed))
        now_s = max(target.stamps.values()) if target.stamps else target.time_s
        outcome = pipeline.step(now_s)
        if outcome.plan is not None:         # published when the live node published it (from its timing)
            outcome = pipeline.finalize(outcome, publish_time(target, outcome.plan, pipeline))
        if outcome.inference_index >= 0:
            next_index = outcome.inference_index + 1
        if outcome.status == pl.OK and outcome.plan is not None:
            record = chunk_record(outcome, target.time_s, pipeline.config)
            record.inference_index = target.inference_index
            report.chunks.append(record)
        else:
            report.skip(outcome.status, outcome.reason)
    report.info.update({"reproduced_from": len(targets)})
    return report


def publish_time(target: ChunkRecord, plan: pl.Plan, pipeline: ControlPipeline) -> float:
    """When the live node published `target`: its first point was chunk point `dropped` (the points missing
    from the full chunk), meant for t_obs + (dropped + 1) dt and sent with time_from_start tfs[0]."""
    if not pipeline.config.execution.drop_stale_points or not target.time_from_start:
        return target.time_s
    dropped = plan.positions.shape[0] - len(target.time_from_start)
    return plan.t_obs + (dropped + 1) * pipeline.dt_for(pipeline.config) - float(target.time_from_start[0])


def config_with_seed(config: Config, seed: int) -> Config:
    return config.with_flat({"seed": int(seed) % SEED_MODULUS})

