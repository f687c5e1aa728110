"""Rosbag replay behind `mgselect replay` (the user's view and flags: mgselect_node/cli/replay.py).

run_live publishes the bag into DDS for a running node and collects what it publishes (bag/live.py);
run_offline feeds the bag through the node's own ControlPipeline in-process (bag/offline.py). Both return a
bag/report.py Report.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from mgselect_node import contracts
from mgselect_node.bag.bag_io import BagReader
from mgselect_node.bag.offline import (
    ReplayWindow,
    check_bag,
    parse_remaps,
)
from mgselect_node.bag.report import (
    ChunkRecord,
    Report,
    load_report,
)
from mgselect_node.config import Config
from mgselect_node.errors import MGSelectError

DEFAULT_CLOCK_HZ = 100.0
DEFAULT_WAIT_S = 10.0      # live: how long to wait for the node (its subscriptions and parameters)
DEFAULT_LINGER_S = 2.0     # live: keep recording this long after the last message (last inference)
POLL_S = 0.05
NODE_NAME = f"/{contracts.NODE_NAME}"
REPLAY_NODE_NAME = "mgselect_replay"     # live: the node that publishes the bag, in the root namespace
NODE_PARAMETERS = ("image_topics", "joint_states_topic", "controller_name", "seed", "inference_rate",
                   "policy", "strategy", "num_candidates", "use_sim_time")


class ReplayError(MGSelectError):
    """Replay cannot run as asked; the message says why."""


# ---------------------------------------------------------------------------------------------------------
def load_config(args: argparse.Namespace) -> Config:
    config = Config.from_yaml(args.params) if args.params else Config()
    changes: dict[str, Any] = {}
    if getattr(args, "policy", None):
        changes["policy"] = args.policy
    if getattr(args, "seed", None) is not None:
        changes["seed"] = args.seed
    if getattr(args, "device", None):
        changes["device"] = args.device
    return config.with_flat(changes) if changes else config


def replay_window(args: argparse.Namespace) -> ReplayWindow:
    if args.start < 0:
        raise ReplayError(f"--start {args.start}: expected seconds >= 0 from the start of the bag")
    if args.duration is not None and args.duration <= 0:
        raise ReplayError(f"--duration {args.duration}: expected seconds > 0")
    try:
        remap = parse_remaps(args.remap)
    except ValueError as exc:
        raise ReplayError(str(exc)) from None
    return ReplayWindow(args.start, args.duration, check_remaps(remap))


def check_remaps(remap: dict[str, str]) -> dict[str, str]:
    """--remap FROM:=TO pairs with both names checked as ROS topic names (ConfigError naming the bad one).

    FROM is a bag topic, and a bag holds full names, so a relative FROM is resolved against `/` (it would
    match nothing otherwise). TO is kept as written: it is matched against the node's topic parameters as they
    are written, and the replay node, in the root namespace, publishes it as rclpy resolves it."""
    from mgselect_node.ros.names import check_topic, full_topic_name

    out = {}
    for frm, to in remap.items():
        out[full_topic_name(frm, "--remap FROM", REPLAY_NODE_NAME, "/")] = to
        check_topic(to, "--remap TO", REPLAY_NODE_NAME, "/")
    return out


def check_names(args: argparse.Namespace) -> str:
    """--instruction-topic fully qualified the way the --node node resolves it (`~/instruction` ->
    `/mgselect/instruction`, as in the bag); ConfigError unless --node names a node and the topic is valid.
    Checked before rclpy is initialized, so a bad name is one line instead of an rclpy traceback."""
    from mgselect_node.ros.names import check_full_node_name, full_topic_name

    check_full_node_name(args.node, "--node")
    namespace, _, name = (args.node if args.node.startswith("/") else f"/{args.node}").rpartition("/")
    return full_topic_name(args.instruction_topic, "--instruction-topic", name, namespace or "/")


def _progress_bar(total: float, unit: str, disable: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=round(total, 3), unit=unit, disable=True if disable else None, file=sys.stderr,
                dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} {unit} [{elapsed}<{remaining}]")


def _window_span_s(bag: BagReader, window: ReplayWindow) -> float:
    span = max(0.0, bag.duration_s - window.start_s)
    return span if window.duration_s is None else min(span, window.duration_s)


# ---------------------------------------------------------------------------------------------------------
def run_offline(args: argparse.Namespace, bag: BagReader, window: ReplayWindow) -> Report:
    from mgselect_node.bag.offline import replay_observations, replay_offline
    from mgselect_node.control.pipeline import ControlPipeline
    from mgselect_node.engine.policy import load_policy

    config = load_config(args)
    check_bag(bag, config, window)          # before the (slow) policy load
    rt = config.runtime
    policy = load_policy(rt.policy, device=rt.device, dtype=rt.dtype, static_cache=rt.static_cache,
                         policy_format=rt.policy_format, text_tokenizer=rt.text_tokenizer,
                         action_tokenizer=rt.action_tokenizer)
    pipeline = ControlPipeline(policy, config)
    t0 = time.perf_counter()
    if args.observations:
        live = load_report(args.observations)
        targets = [ChunkRecord.from_json(c) for c in live.get("chunks", [])]
        missing = [t.inference_index for t in targets if not t.stamps]
        if missing:
            raise ReplayError(f"{args.observations}: {len(missing)} of {len(targets)} chunks carry no observation "
                              "stamps (the node did not report them in ~/selection), so they cannot be rebuilt")
        report = replay_observations(bag, pipeline, targets, window, args.instruction_topic)
    else:
        inputs = {window.bag_topic(t) for t in [*config.node.image_topics, config.node.joint_states_topic]}
        messages = sum(t.count for t in bag.topics.values() if t.topic in inputs)
        with _progress_bar(messages, "msg", args.no_progress) as bar:
            report = replay_offline(bag, pipeline, window, args.instruction_topic, progress=bar.update)
    report.info.update({"policy": rt.policy, "seed": config.selection.seed, "wall_s":
                        round(time.perf_counter() - t0, 3), "config": config.flat()})
    return report


# ---------------------------------------------------------------------------------------------------------
def fetch_node_parameters(node: Any, remote: str, names: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    """The remote node's parameter values (empty dict if it does not answer within the timeout)."""
    from rclpy.parameter import parameter_value_to_python
    from rclpy.parameter_client import AsyncParameterClient

    client = AsyncParameterClient(node, remote)
    if not client.wait_for_services(timeout_sec=timeout_s):
        return {}
    future = client.get_parameters(list(names))
    deadline = time.monotonic() + timeout_s
    while not future.done() and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if not future.done() or future.result() is None:
        return {}
    values = future.result().values
    return {name: parameter_value_to_python(v) for name, v in zip(names, values, strict=False)
            if v.type != 0}     # 0 = PARAMETER_NOT_SET


def run_live(args: argparse.Namespace, bag: BagReader, window: ReplayWindow) -> Report:
    from mgselect_node.bag.live import LiveCollector, LivePlayer, live_report
    from mgselect_node.bag.recorder import BagSink, TopicRecorder
    from mgselect_node.bag.session import RosSession

    if args.rate <= 0:
        raise ReplayError(f"--rate {args.rate}: expected a speed factor > 0")
    if args.clock <= 0:
        raise ReplayError(f"--clock {args.clock}: expected a /clock rate in Hz > 0 (or --no-clock)")
    if args.record and Path(args.record).exists():
        raise ReplayError(f"--record {args.record} exists already; choose a new output bag path")
    notes: list[str] = []
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    sink = BagSink(args.record, storage=args.record_storage) if args.record else None
    try:
        with RosSession(REPLAY_NODE_NAME) as session:
            params = fetch_node_parameters(session.node, args.node, NODE_PARAMETERS, args.wait)
            config = load_config(args)
            if params:
                known = {k: v for k, v in params.items() if k in config.flat()}
                config = config.with_flat(known)
                if params.get("use_sim_time") is False and not args.no_clock:
                    notes.append(f"{args.node} runs with use_sim_time=false: it compares the recorded stamps "
                                 "with the wall clock and will find them stale; start it with "
                                 "--ros-args -p use_sim_time:=true")
                if params.get("use_sim_time") is True and args.no_clock:
                    notes.append(f"{args.node} runs on sim time but --no-clock publishes no /clock: its clock "
                                 "will not move (another /clock publisher must drive it)")
            else:
                notes.append(f"node {args.node} did not answer parameter requests within {args.wait:g} s; "
                             f"assuming {'--params' if args.params else 'default'} parameters")
            check_bag(bag, config, window)
            outputs = [contracts.trajectory_topic("/" + config.node.controller_name.lstrip("/")),
                       contracts.private_topic(contracts.SELECTION, args.node), contracts.DIAGNOSTICS_TOPIC]
            topics = _topics_to_play(bag, window, config, args, outputs)
            player = LivePlayer(bag, session.node, window, rate=args.rate, publish_clock=not args.no_clock,
                                topics=topics, clock_hz=args.clock)
            collector = LiveCollector(outputs[0], outputs[1], outputs[2], player.bag_time_s, player.published_at,
                                      seed=config.selection.seed, camera_topics=config.node.image_topics)
            recorder = TopicRecorder(session.node, sink, outputs, now_ns=player.bag_time_ns,
                                     hooks=[collector.on_message])
            _wait_for_node(session.node, recorder, collector, config, outputs, args.wait, notes)
            collector.mark_start()
            span = _window_span_s(bag, window)
            with _progress_bar(span * (args.max_loops or 1), "s", args.no_progress or args.loop) as bar:
                stats = player.play(stop, loop=args.loop, max_loops=args.max_loops, progress=bar.update)
            stop.wait(args.linger)
            recorder.close()
            report = live_report(bag, collector, stats, {"node": args.node, "rate": args.rate,
                                                         "node_parameters": params, "notes": notes,
                                                         "seed": config.selection.seed})
            if report.chunks and not report.info["observation_stamps"]:
                report.info["notes"].append(
                    "the node's ~/selection does not carry the stamp of every observation part (each camera "
                    "and the joint state), so offline replay cannot rebuild its observations "
                    "(--observations)" + ("" if report.info["frame_stamps"] else
                                          "; nor the newest frame's stamp: no latency figures"))
    finally:
        signal.signal(signal.SIGINT, previous)
        if sink is not None:
            sink.close()
    if args.record:
        report.info["recorded"] = {"bag": args.record, "messages": dict(recorder.stats.counts)}
    return report


def _topics_to_play(bag: BagReader, window: ReplayWindow, config: Config, args: argparse.Namespace,
                    outputs: list[str]) -> list[str]:
    """Bag topics to publish: what the node subscribes to, or (--all-topics) everything except /clock and
    what the node itself publishes (a bag recorded on a robot running the node holds its old outputs)."""
    if args.all_topics:
        skip = {contracts.CLOCK_TOPIC, *outputs}
        return [t for t in bag.topics if window.node_topic(t) not in skip]
    inputs = {*config.node.image_topics, config.node.joint_states_topic, args.instruction_topic}
    return [t for t in bag.topics if window.node_topic(t) in inputs]


def _wait_for_node(node: Any, recorder: Any, collector: Any, config: Config, outputs: list[str],
                   timeout_s: float, notes: list[str]) -> None:
    """Until the node subscribes to what we publish, we subscribe to what it publishes, and its first
    /diagnostics arrived (the baseline of its running counts), or the timeout."""
    wanted = [*config.node.image_topics, config.node.joint_states_topic]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        unsubscribed = [t for t in wanted if node.count_subscribers(t) == 0]
        if not unsubscribed and not recorder.wait_for(outputs, 0.0) and collector.diagnostics:
            return
        time.sleep(POLL_S)
    unsubscribed = [t for t in wanted if node.count_subscribers(t) == 0]
    if unsubscribed:
        notes.append(f"nothing subscribed to {unsubscribed} after {timeout_s:g} s: is the node running?")
    missing = recorder.wait_for(outputs, 0.0)
    if missing:
        notes.append(f"no publisher of {missing} after {timeout_s:g} s (recorded as soon as they appear)")
