"""The closed-loop demo: simulated arm and MG-Select node as separate processes over real DDS (loopback).

Processes: `mgselect sim` (the arm, its camera and a joint_trajectory_controller stand-in), `mgselect node`
(the policy node with the default MG-Select* bundle), `mgselect record` (a rosbag of the run, replayable with
`mgselect replay`). This process watches the run: per-episode success, per-chunk latency and the live
candidate scores from the node's ~/selection, and keeps camera frames for a contact sheet. The arm starts once
the node reports the lifecycle state "active" (asked over its get_state service).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from mgselect_node import contracts as c
from mgselect_node.ros.dds_env import use_loopback
from mgselect_node.testing.lifecycle import LifecycleClient, NodeNotReady
from mgselect_node.testing.node_process import NodeProcess
from mgselect_node.testing.processes import ChildProcess

SIM_EPISODE_SECONDS = 12.0
DEMO_INSTRUCTIONS = "position"  # "touch the left pad": the wording the shipped bundles ground (README, round 2)
STARTUP_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0
CONTACT_SHEET_COLUMNS = 8
FRAME_EVERY_S = 1.0
EPISODE_RESULT_TOPIC = c.private_topic(c.EPISODE_RESULT, c.SIM_NODE_NAME)
SELECTION_TOPIC = c.private_topic(c.SELECTION)


def _node_params(policy: str, num_candidates: int, mask_mode: str, strategy: str) -> dict:
    return {"policy": policy, "strategy": strategy, "num_candidates": num_candidates, "mask_mode": mask_mode,
            "image_topics": [c.CAMERA_TOPIC], "controller_name": c.CONTROLLER_NAME,
            "cpu_threads": 1}  # sim, recorder and this watcher share the machine with the policy


def _spawn(args: list[str], log: Path) -> ChildProcess:
    return ChildProcess(args, log, new_session=True, stop_timeout_s=STOP_TIMEOUT_S)


def contact_sheet(frames: list[np.ndarray], path: Path) -> None:
    """Tile RGB frames, CONTACT_SHEET_COLUMNS per row, into one PNG."""
    if not frames:
        return
    cols = min(CONTACT_SHEET_COLUMNS, len(frames))
    rows = math.ceil(len(frames) / cols)
    h, w = frames[0].shape[:2]
    sheet = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, frame in enumerate(frames):
        r, c = divmod(i, cols)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = frame
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def run(episodes: int, out_dir: Path, policy: str, num_candidates: int, mask_mode: str, strategy: str,
        seed: int) -> int:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float64MultiArray, String

    from mgselect_node.ros.messages import decode_selection

    use_loopback()  # the children inherit the same private loopback domain
    out_dir.mkdir(parents=True, exist_ok=True)
    bag = out_dir / "demo_bag"
    if bag.exists():
        shutil.rmtree(bag)
    tmp = Path(tempfile.mkdtemp(prefix="mgselect_demo_"))
    print(f"DDS: loopback only, domain {os.environ['ROS_DOMAIN_ID']}; logs in {tmp}")

    rclpy.init()
    watcher = Node("mgselect_demo")
    results: list[dict] = []
    chunks: list[dict] = []
    frames: list[np.ndarray] = []
    last_frame_t = [0.0]

    def on_result(msg: String) -> None:
        data = json.loads(msg.data)
        results.append(data)
        mine = [c for c in chunks if c["episode"] == len(results) - 1]
        latency = np.median([c["latency_ms"] for c in mine]) if mine else float("nan")
        print(f"episode {len(results)}/{episodes}: {data.get('task', '?'):<7} "
              f"{'SUCCESS' if data.get('success') else 'fail   '} "
              f"chunks {len(mine):>3}, median chunk latency {latency:.0f} ms, "
              f"tip distance {data.get('tip_distance', float('nan')):.3f} m", flush=True)

    def on_selection(msg: Float64MultiArray) -> None:
        sel = decode_selection(msg)
        now = watcher.get_clock().now().nanoseconds * 1e-9
        latency_ms = (now - float(sel["frame_stamp"])) * 1e3 if sel.get("frame_stamp") else float("nan")
        chunks.append({"episode": len(results), "latency_ms": latency_ms, **sel})
        scores = " ".join("  -inf" if not np.isfinite(s) else f"{s:6.2f}" for s in sel["scores"])
        chosen, best = sel["selected"], int(np.argmax(sel["scores"])) if sel["scores"] else -1
        # The node re-picks by coherence with the trajectory already executing (execution.coherence_weight).
        why = (f" (by coherence; best score: {best})"
               if chosen >= 0 and sel["scores"][chosen] < sel["scores"][best] else "")
        print(f"  chunk {sel['inference_index']:>4}: scores [{scores}] -> candidate {chosen}{why}, "
              f"margin {sel['margin']:.2f}, {latency_ms:.0f} ms from frame to choice", flush=True)

    def on_image(msg: Image) -> None:
        now = time.monotonic()
        if now - last_frame_t[0] >= FRAME_EVERY_S and msg.encoding == "rgb8":
            last_frame_t[0] = now
            frames.append(np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3).copy())

    latched = QoSProfile(depth=100, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    watcher.create_subscription(String, EPISODE_RESULT_TOPIC, on_result, latched)
    watcher.create_subscription(Float64MultiArray, SELECTION_TOPIC, on_selection, 10)
    watcher.create_subscription(Image, c.CAMERA_TOPIC, on_image, qos_profile_sensor_data)

    procs: dict[str, ChildProcess] = {
        "node": NodeProcess(tmp, _node_params(policy, num_candidates, mask_mode, strategy), new_session=True,
                            stop_timeout_s=STOP_TIMEOUT_S),
        "record": _spawn(["record", str(bag), "--topics", *c.DEMO_RECORDED_TOPICS], tmp / "record.log"),
    }
    try:
        # Start the arm once the policy node is active, so episode 1 is not lost to model loading.
        lifecycle = LifecycleClient(watcher, c.NODE_NAME, spin=lambda t: rclpy.spin_once(watcher, timeout_sec=t))
        try:
            lifecycle.wait_for_state("active", STARTUP_TIMEOUT_S, alive=procs["node"].alive)
        except NodeNotReady as exc:
            print(procs["node"].log(), file=sys.stderr)
            print(f"mgselect demo: {exc} (node log above)", file=sys.stderr)
            return 1
        procs["sim"] = _spawn(["sim", "--loopback", "--episodes", str(episodes), "--episode-seconds",
                               str(SIM_EPISODE_SECONDS), "--seed", str(seed), "--instruction-topic",
                               "--instructions", DEMO_INSTRUCTIONS],
                              tmp / "sim.log")
        print(f"running {episodes} episode(s) of up to {SIM_EPISODE_SECONDS:.0f} s ...", flush=True)
        while procs["sim"].alive() or len(results) < episodes:
            rclpy.spin_once(watcher, timeout_sec=0.1)
            if not procs["sim"].alive() and len(results) < episodes:
                deadline = time.monotonic() + 2.0
                while time.monotonic() < deadline and len(results) < episodes:
                    rclpy.spin_once(watcher, timeout_sec=0.1)
                break
    finally:
        for name in ("sim", "node", "record"):
            if name in procs:
                procs[name].stop()
        watcher.destroy_node()
        rclpy.shutdown()

    successes = sum(bool(r.get("success")) for r in results)
    latencies = [c["latency_ms"] for c in chunks if np.isfinite(c["latency_ms"])]
    contact_sheet(frames, out_dir / "contact_sheet.png")
    summary = {"episodes": len(results), "successes": successes, "chunks": len(chunks),
               "chunk_latency_p50_ms": float(np.median(latencies)) if latencies else None,
               "chunk_latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else None,
               "results": results}
    (out_dir / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{successes}/{len(results)} episodes succeeded; {len(chunks)} chunks, frame->choice latency "
          f"p50 {summary['chunk_latency_p50_ms'] or float('nan'):.0f} ms")
    print(f"rosbag of the run: {bag}  (replay: mgselect replay {bag} --offline --policy {policy})")
    print(f"contact sheet: {out_dir / 'contact_sheet.png'}; summary: {out_dir / 'demo_summary.json'}")
    return 0 if len(results) == episodes and chunks else 1
