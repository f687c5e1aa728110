"""`mgselect bench --ros`: the node's own cost on top of the engine, and a soak test.

Latency mode (default): a node runs in its own process; the bench publishes one 640x480 rgb8 frame at a time
(each with a unique stamp) and awaits the matching trajectory, alternating with a policy.select on the same
frame and joint state in this process (so both see the same machine load). Reported:
  - node_overhead_p50_ms: measured inside the node per published chunk: image conversion + the engine's
    preprocessing + observation assembly + safety + message building (the /diagnostics `*_last` values);
  - e2e_p50_ms: frame publish -> trajectory receipt here, through DDS and the node;
  - engine_p50_ms: policy.select alone on the same inputs (calls that gave a valid chunk, as only those are
    published); e2e minus engine is everything the ROS path adds.
Soak mode (--soak [SECONDS], default 300): camera at 30 Hz + joint states at 100 Hz into a node at its
default inference rate; reports node RSS growth, frames dropped between publisher and node, and the engine's
time inside the node (/diagnostics engine_total_ms) next to the same engine alone in this process afterwards,
so executor load that starves inference shows as the difference (--cpu-threads sets torch threads in both).

DDS stays on this machine (loopback, a private domain). Both processes use the package's Fast DDS profile.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mgselect_node.config import NodeConfig
from mgselect_node.contracts import NODE_NAME
from mgselect_node.ros.dds_env import keep_or_use_loopback
from mgselect_node.ros.resources import default_fastdds_profile
from mgselect_node.testing.lifecycle import NodeNotReady
from mgselect_node.testing.node_process import NODE_COMMAND, NodeProcess

if TYPE_CHECKING:
    from mgselect_node.testing.client import NodeClient

    Session = tuple[NodeProcess, NodeClient]

CLIENT_NAME = "mgselect_bench"
CAMERA_TOPIC = "/bench/camera/image_raw"
CONTROLLER = "bench_controller"
INSTRUCTION = "pick up the red cube"
DEFAULT_SAMPLES = 20
QUICK_SAMPLES = 5
DEFAULT_SOAK_S = 300.0
SOAK_CAMERA_HZ = 30.0
SOAK_JOINTS_HZ = 100.0
JOINTS_HZ = 100.0
WIDTH, HEIGHT = 640, 480
START_TIMEOUT_S = 180.0
NODE_STOP_TIMEOUT_S = 30.0
MIN_SAMPLE_TIMEOUT_S = 5.0     # a frame whose chunk was not valid publishes nothing: give up on it after
SAMPLE_TIMEOUT_ENGINE_FACTOR = 10.0   # max(5 s, 10 x the engine's p50)
SOAK_WARMUP_FRACTION = 0.1      # RSS baseline is taken after this share of the soak (allocators settle)
SOAK_RSS_PERIOD_S = 1.0
DIAGNOSTICS_WAIT_S = 5.0
MS_PER_S = 1000.0
# Latency mode runs inferences back to back: inference_rate high, and a frame older than the node's
# max_observation_age is stale, so the node never re-runs on an old frame while the next one is on its way
# (that would delay it). The node checks the age again at publish time against max_command_age, which must
# exceed one inference: it is set to AGE_PER_ENGINE_S x the engine's first (warm-up) time, at least the default.
LATENCY_MODE_MAX_AGE_S = 0.1
AGE_PER_ENGINE_S = 3.0
SOAK_ENGINE_SAMPLES = 10        # engine-alone calls after the soak, compared with the node's engine_total_ms


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mgselect bench --ros", description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="default", help="bundle name or directory (default: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--cpu-threads", type=int, default=0,
                        help="torch threads in the node and the engine-alone calls (0 = torch's default)")
    parser.add_argument("--num-candidates", type=int, default=4)
    parser.add_argument("--mask-mode", default="text", choices=("text", "state", "both"))
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="frames timed in latency mode")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples (a smoke run)")
    parser.add_argument("--json", dest="json_path", help="also write the results as JSON here")
    parser.add_argument("--soak", type=float, nargs="?", const=DEFAULT_SOAK_S, default=None, metavar="SECONDS",
                        help=f"soak mode instead of latency mode (default {DEFAULT_SOAK_S:.0f} s)")
    args = parser.parse_args([a for a in argv if a != "--ros"])
    if args.quick:
        args.samples = QUICK_SAMPLES
    return args


def _p(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values), q))


# ---------------------------------------------------------------------------------------------- the node
def _node_params(args: argparse.Namespace, latency_mode: bool) -> dict[str, Any]:
    params: dict[str, Any] = {
        "policy": args.policy, "device": args.device, "dtype": args.dtype, "image_topics": [CAMERA_TOPIC],
        "controller_name": CONTROLLER, "instruction": INSTRUCTION, "num_candidates": args.num_candidates,
        "mask_mode": args.mask_mode, "temperature": args.temperature, "cpu_threads": args.cpu_threads,
        # benchmarks measure the data path, not the safety limits: a rejected chunk would publish nothing
        "max_step_change": 1e6, "max_start_distance": 1e6,
    }
    if latency_mode:
        params.update(inference_rate=100.0, max_observation_age=LATENCY_MODE_MAX_AGE_S, sync_slop=1.0)
    return params


# ---------------------------------------------------------------------------------------------- modes
def _inputs(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    rgb = np.random.default_rng(0).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    state = (np.asarray(spec.state_q01, dtype=np.float64) + np.asarray(spec.state_q99, dtype=np.float64)) / 2
    return rgb, state


class EngineAlone:
    """The same policy in this process, timed on the bench inputs with the node's selection settings."""

    def __init__(self, args: argparse.Namespace) -> None:
        from mgselect_node.config import SelectionConfig
        from mgselect_node.engine.policy import load_policy

        self.policy = load_policy(args.policy, device=args.device, dtype=args.dtype, cpu_threads=args.cpu_threads)
        self.policy.warmup()
        self.spec = self.policy.spec
        self.rgb, self.state = _inputs(self.spec)
        self.config = SelectionConfig(num_candidates=args.num_candidates, mask_mode=args.mask_mode,
                                      temperature=args.temperature)

    def time_ms(self, seed: int) -> tuple[float, bool]:
        """One policy.select: (milliseconds, whether it gave a valid chunk).

        Called on a worker thread like the node's inference: torch's CPU thread pool behaves differently on
        the main thread (with other processes busy, two OpenMP threads on the main thread were measured
        10-40x slower here), so the main thread would not be the same engine the node runs."""
        images = [self.rgb] * len(self.spec.camera_names)
        out: list[tuple[float, bool]] = []

        def call() -> None:
            t0 = time.perf_counter()
            result = self.policy.select(images, self.state, INSTRUCTION, config=self.config.replace(seed=seed))
            out.append(((time.perf_counter() - t0) * MS_PER_S, bool(result.valid)))
        worker = threading.Thread(target=call, name="engine-alone")
        worker.start()
        worker.join()
        return out[0]

    def close(self) -> None:
        del self.policy
        gc.collect()


def _start(args: argparse.Namespace, spec: Any, latency_mode: bool, workdir: Path) -> tuple[NodeProcess, NodeClient]:
    """The node in its own process and the bench's client; returns once the node is active and subscribed."""
    from mgselect_node.testing.client import BEST_EFFORT_SENSOR_QOS, NodeClient

    rgb, state = _inputs(spec)
    node = NodeProcess(workdir, _node_params(args, latency_mode), command=NODE_COMMAND,
                       stop_timeout_s=NODE_STOP_TIMEOUT_S)
    rig = NodeClient(NODE_NAME, CONTROLLER, CAMERA_TOPIC, list(spec.joint_names), [float(x) for x in state],
                     image=rgb, camera_hz=None, joints_hz=JOINTS_HZ, sensor_qos=BEST_EFFORT_SENSOR_QOS,
                     client_name=CLIENT_NAME)
    rig.make_camera = rig.restamped_image
    try:
        rig.wait_ready(node, START_TIMEOUT_S)
        # discovery: the node's camera subscription must see us before the first timed frame
        if not rig.poll(lambda: rig.camera_subscribers() > 0, START_TIMEOUT_S):
            raise NodeNotReady(f"the node never subscribed to {CAMERA_TOPIC}: {node.describe()}")
    except NodeNotReady as exc:
        rig.close()
        node.stop()
        raise RuntimeError(f"the node did not start: {exc}") from None
    return node, rig


@contextmanager
def node_session(args: argparse.Namespace, spec: Any, latency_mode: bool) -> Iterator[Session]:
    """A node process (with the bench's parameters for the mode) and the bench's client, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="mgselect-bench-") as tmp:
        node, rig = _start(args, spec, latency_mode, Path(tmp))
        try:
            yield node, rig
        finally:
            rig.close()
            node.stop()


def _session(args: argparse.Namespace, spec: Any, latency_mode: bool,
             session: Session | None) -> AbstractContextManager[Session]:
    return nullcontext(session) if session is not None else node_session(args, spec, latency_mode)


def run_latency(args: argparse.Namespace, session: Session | None = None) -> dict[str, Any]:
    """Engine-alone calls and node round trips alternate, so both see the same machine load. `session`: a
    running node + client (node_session) to reuse; default: one of its own for this run."""
    from mgselect_node.ros.messages import decode_selection, diagnostic_values

    engine = EngineAlone(args)
    engine_all, engine_valid = [], []
    e2e, overhead = [], []
    stages: dict[str, list[float]] = {k: [] for k in ("conversion_ms", "preprocess_ms", "assemble_ms",
                                                      "safety_ms", "build_ms", "receipt_to_publish_ms")}
    failures = 0
    idle_s = LATENCY_MODE_MAX_AGE_S
    try:
        with _session(args, engine.spec, True, session) as (_node, rig):
            for index in range(args.samples + 1):             # sample 0 warms both paths up, not counted
                ms, valid = engine.time_ms(seed=index)
                if index > 0:
                    engine_all.append(ms)
                    if valid:
                        engine_valid.append(ms)
                else:
                    command_age = max(NodeConfig().max_command_age, AGE_PER_ENGINE_S * ms / MS_PER_S)
                    results = rig.set_params(max_command_age=command_age)
                    if not all(r.successful for r in results):
                        raise RuntimeError(f"max_command_age={command_age:.3f} refused: {results[0].reason}")
                    idle_s = LATENCY_MODE_MAX_AGE_S + 2 * ms / MS_PER_S   # stale, and a re-run on it has finished
                sample_timeout = max(MIN_SAMPLE_TIMEOUT_S, SAMPLE_TIMEOUT_ENGINE_FACTOR * ms / MS_PER_S)
                time.sleep(idle_s)                            # the previous frame is stale: the node is idle
                t_pub = rig.mark()
                stamp = rig.publish_frame()

                def matched(t_pub: float = t_pub, stamp: float | None = stamp) -> Any:
                    for r in rig.selections:
                        if r.t >= t_pub and abs(decode_selection(r.msg)["frame_stamp"] - stamp) < 1e-6:
                            return r.t
                    return None
                t_sel = rig.poll(matched, sample_timeout)
                # the trajectory is published just before its selection: the last one received before it
                t_traj = None if t_sel is None else rig.poll(
                    lambda t_sel=t_sel: max((r.t for r in rig.trajectories if r.t <= t_sel), default=None), 1.0)
                diag = None if t_sel is None else rig.poll(
                    lambda t_pub=t_pub: next((d for d in map(diagnostic_values, rig.since(rig.diagnostics, t_pub))
                                              if d.get("node_overhead_ms_last")), None), 5.0)
                if t_traj is None or diag is None:
                    failures += int(index > 0)                # e.g. the chunk was not valid: nothing published
                    continue
                if index == 0:
                    continue
                e2e.append((t_traj - t_pub) * MS_PER_S)
                overhead.append(float(diag["node_overhead_ms_last"]))
                for key, values in stages.items():
                    if diag.get(f"{key}_last"):
                        values.append(float(diag[f"{key}_last"]))
    finally:
        engine.close()
    # only valid chunks reach the controller, and an invalid selection costs more (decode budget, greedy
    # fallback): the node's round trips are compared with the engine's valid calls
    engine_ms = engine_valid or engine_all
    result: dict[str, Any] = {
        "mode": "latency", "policy": args.policy, "device": args.device, "dtype": args.dtype,
        "num_candidates": args.num_candidates, "mask_mode": args.mask_mode, "temperature": args.temperature,
        "image": f"{WIDTH}x{HEIGHT} rgb8", "samples": len(e2e), "failed_samples": failures,
        "node_overhead_p50_ms": _p(overhead, 50), "node_overhead_p95_ms": _p(overhead, 95),
        "e2e_p50_ms": _p(e2e, 50), "e2e_p95_ms": _p(e2e, 95),
        "engine_p50_ms": _p(engine_ms, 50), "engine_p95_ms": _p(engine_ms, 95),
        "engine_valid_calls": len(engine_valid), "engine_all_p50_ms": _p(engine_all, 50),
    }
    if result["e2e_p50_ms"] is not None and result["engine_p50_ms"] is not None:
        result["e2e_minus_engine_p50_ms"] = result["e2e_p50_ms"] - result["engine_p50_ms"]
    result.update({f"{key[:-3]}_p50_ms": _p(values, 50) for key, values in stages.items()})
    return result


def _count(diag: dict[str, str], key: str) -> int:
    """An integer counter from diagnostics ('frames_received' is a per-camera list: its first camera)."""
    raw = diag.get(key, "").strip("[]").split(",")[0].strip()
    return int(float(raw)) if raw else 0


def _growth(series: list[tuple[float, dict[str, float]]], key: str, after_s: float) -> dict[str, float]:
    values = [(t, m[key]) for t, m in series if key in m]
    settled = [v for t, v in values if t >= after_s] or [v for _, v in values]
    if not settled:
        return {}
    start, end = settled[0], values[-1][1]
    return {f"{key}_baseline_mb": start, f"{key}_end_mb": end, f"{key}_peak_mb": max(v for _, v in values),
            f"{key}_growth_pct": 100.0 * (end - start) / start if start else 0.0}


def run_soak(args: argparse.Namespace, session: Session | None = None) -> dict[str, Any]:
    """Camera at 30 Hz + joint states into the node for args.soak seconds; `session` as in run_latency."""
    from mgselect_node.model.bundle import load_spec, resolve_policy_path

    spec = load_spec(resolve_policy_path(args.policy))
    series: list[tuple[float, dict[str, float]]] = []
    with _session(args, spec, False, session) as (node, rig):
        before = rig.poll(rig.last_diag, DIAGNOSTICS_WAIT_S) or {}
        joints_before = rig.joint_states_published
        rig.start_camera(SOAK_CAMERA_HZ)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < args.soak:
                if not node.alive():
                    raise RuntimeError(f"the node died during the soak: {node.describe()}")
                series.append((time.monotonic() - t0, node.memory_mb()))
                time.sleep(SOAK_RSS_PERIOD_S)
        finally:
            rig.stop_camera()
        joints_published = rig.joint_states_published - joints_before
        time.sleep(1.0)                                    # in-flight frames land, diagnostics update
        frames_published = rig.frames_published
        after = rig.poll(rig.last_diag, DIAGNOSTICS_WAIT_S) or {}
    frames_received = _count(after, "frames_received") - _count(before, "frames_received")
    joints_received = _count(after, "joint_states_received") - _count(before, "joint_states_received")
    dropped = frames_published - frames_received
    result: dict[str, Any] = {
        "mode": "soak", "policy": args.policy, "device": args.device, "soak_seconds": args.soak,
        "camera_hz": SOAK_CAMERA_HZ, "joint_states_hz": SOAK_JOINTS_HZ, "image": f"{WIDTH}x{HEIGHT} rgb8",
        "frames_published": frames_published, "frames_received": frames_received, "dropped_frames": dropped,
        "dropped_frames_pct": 100.0 * dropped / max(frames_published, 1),
        # joint states: the count stops when the camera stops; a few more arrive in the second after it
        "joint_states_published": joints_published, "joint_states_received": joints_received,
        "chunks_published": _count(after, "chunks_published") - _count(before, "chunks_published"),
        "inference_rate_hz": float(after.get("inference_rate_hz") or 0.0),
        "memory_baseline_after_s": args.soak * SOAK_WARMUP_FRACTION,
        "outcome_counts": {k[len("count_"):]: int(v) for k, v in after.items() if k.startswith("count_")},
    }
    for key in ("rss", "anon", "shmem"):
        result.update(_growth(series, key, args.soak * SOAK_WARMUP_FRACTION))
    result.update(_engine_comparison(args, after))
    return result


def _engine_comparison(args: argparse.Namespace, diag: dict[str, str]) -> dict[str, Any]:
    """In-node engine time during the soak (p50 of its last inferences, /diagnostics) vs the same engine alone
    in this process afterwards, with the camera stopped: executor load that starves inference shows here."""
    engine = EngineAlone(args)
    try:
        alone = [engine.time_ms(seed=index)[0] for index in range(SOAK_ENGINE_SAMPLES)]
    finally:
        engine.close()
    in_node = float(diag["engine_total_ms_p50"]) if diag.get("engine_total_ms_p50") else None
    return {"in_node_engine_p50_ms": in_node, "engine_alone_p50_ms": _p(alone, 50),
            "engine_alone_p95_ms": _p(alone, 95)}


def main(argv: list[str] | None = None, session: Session | None = None) -> int:
    """`mgselect bench --ros ...`. `session` (node_session) reuses a running node: tests run both modes on one."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    domain = keep_or_use_loopback()
    profile = default_fastdds_profile()
    profile = profile or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")
    print(f"ROS domain {domain} on loopback; Fast DDS profile: {profile}", file=sys.stderr)
    result = run_soak(args, session) if args.soak is not None else run_latency(args, session)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(text + "\n")
    return 0 if (result.get("samples", 1) > 0) else 1

if __name__ == "__main__":
    sys.exit(main())
