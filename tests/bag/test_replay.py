"""`mgselect replay`: offline determinism and golden comparison, real-robot bag quirks, clear errors for
unusable bags, and live replay over DDS into a node process (loopback, random domain from conftest.py).

End-to-end tests use the bundled policy (load_policy("default")); bags are generated per test session.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from mgselect_node import contracts as c
from mgselect_node.bag.bag_io import BagWriter, open_bag
from mgselect_node.bag.offline import ReplayWindow, publish_time, replay_observations, replay_offline
from mgselect_node.bag.report import POSITION_ATOL, ChunkRecord, compare_reports
from mgselect_node.bag.synthetic import spec_for_policy, write_synthetic_bag
from mgselect_node.cli import replay
from mgselect_node.config import Config
from mgselect_node.control.pipeline import ControlPipeline, Plan
from mgselect_node.engine.policy import load_policy
from mgselect_node.testing.node_process import NodeProcess

REPO = Path(__file__).resolve().parents[2]
POLICY = "default"
BAG_S = 4.0
INFERENCE_HZ = 2.0
NUM_CANDIDATES = 2
SEED = 7
UNCHECKED_LIMIT = 100.0
RECEIPT_DELAY_S = 0.05       # a live subscriber receives a chunk this long after it was published
NODE_START_TIMEOUT_S = 120.0
NODE_STOP_TIMEOUT_S = 20.0
TRAJECTORY_TOPIC = "/" + c.trajectory_topic()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """The node process and this one share 2 CPU cores: two torch thread pools fighting over them make a
    selection ~50x slower (spin-waiting OpenMP). One thread each; the node gets OMP_NUM_THREADS=1."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def policy(one_torch_thread):
    return load_policy(POLICY)


def _params(path: Path, image_topics: list[str], **extra: object) -> Path:
    # the synthetic bag's joint states are not the sim arm's: the safety checks, which these tests are not
    # about, would reject the chunks the replay mechanics are tested on
    values = {"policy": POLICY, "image_topics": image_topics, "inference_rate": INFERENCE_HZ,
              "num_candidates": NUM_CANDIDATES, "seed": SEED, "instruction": "pick up the red cube",
              "max_start_distance": UNCHECKED_LIMIT, "max_step_change": UNCHECKED_LIMIT,
              # without coherence and blending every chunk is independent of the one before: reproducible in
              # any order
              "coherence_weight": 0.0, "blend_decay": 0.0, **extra}
    path.write_text(yaml.safe_dump({c.NODE_NAME: {"ros__parameters": values}}))
    return path


@pytest.fixture(scope="module")
def robot(policy, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bag the way a real robot records it, plus the node parameters that fit it.

    Cameras: the first policy camera as CompressedImage (jpeg), the others raw bgr8; /joint_states with
    two extra gripper joints, shuffled order, empty effort serialized by Fast CDR; a 2 s pause (time jump).
    """
    root = tmp_path_factory.mktemp("robot")
    n_cams = len(policy.spec.camera_names)
    topics = ["/cam0/image/compressed"] + [f"/cam{i}/image_raw" for i in range(1, n_cams)]
    spec = spec_for_policy(policy.spec, topics=topics, extra_joints=["finger_a", "finger_b"],
                           shuffle_joints=True, empty_effort=True, fast_cdr=True, duration=BAG_S,
                           time_jump_at=BAG_S / 2, time_jump=2.0)
    for cam in spec.cameras[1:]:
        cam.encoding = "bgr8"
    bag = write_synthetic_bag(root / "bag", spec, storage="mcap")
    return {"bag": bag, "params": _params(root / "params.yaml", topics), "root": root}


def _offline(robot: dict[str, Path], out: Path, *extra: str) -> int:
    return replay.main([str(robot["bag"]), "--offline", "--params", str(robot["params"]), "--out", str(out),
                        "--no-progress", *extra])


@pytest.fixture(scope="module")
def golden(robot: dict[str, Path]) -> Path:
    out = robot["root"] / "golden.json"
    assert _offline(robot, out) == 0
    return out


# ---- report pieces (no policy, no DDS) ------------------------------------------------------------------------
def _chunk(**changes: object) -> ChunkRecord:
    base = {"inference_index": 3, "time_s": 10.0, "stamps": {"/cam": 9.9, "joint_states": 9.95},
            "joint_names": ["a", "b"], "positions": [[0.1, 0.2], [0.3, 0.4]], "time_from_start": [0.1, 0.2],
            "seed": 3, "selected": 1, "scores": [1.0, 2.0, None], "margin": 1.0}
    return ChunkRecord(**{**base, **changes})


def test_compare_tolerances() -> None:
    from mgselect_node.bag.report import SCORE_RTOL, STAMP_ATOL_S, compare_chunks

    ref = _chunk()
    assert compare_chunks([ref], [_chunk(positions=[[0.1 + POSITION_ATOL / 2, 0.2], [0.3, 0.4]])]) == []
    assert compare_chunks([ref], [_chunk(scores=[1.0, 2.0 * (1 + SCORE_RTOL / 4), None])]) == []
    assert compare_chunks([ref], [_chunk(stamps={"/cam": 9.9 + STAMP_ATOL_S / 2, "joint_states": 9.95})]) == []
    problems = compare_chunks([ref], [_chunk(positions=[[0.1, 0.2], [0.3, 0.41]], selected=0,
                                             scores=[1.0, 2.5, 0.0], inference_index=4,
                                             stamps={"/cam": 9.8, "joint_states": 9.95})])
    text = "\n".join(problems)
    for expected in ("positions differ at point 1 b", "selected candidate golden 1, now 0",
                     "candidate 1 score", "candidate 2 golden invalid", "inference index golden 3, now 4",
                     "stamp of /cam"):
        assert expected in text, text


def test_selection_decoding_with_and_without_stamps() -> None:
    from mgselect_node.engine.result import SelectionResult
    from mgselect_node.ros.messages import decode_selection, selection_msg

    result = SelectionResult(chunk=np.zeros((2, 2)), candidates=[], scores=np.array([0.5, -np.inf, 2.0]),
                             token_kl=[], token_logprob=[], tokens=[], selected=2, strategy="mg_select",
                             mask_mode="text", valid=True)
    stamps = {"/cam": 1700000000.25, "joint_states": 1700000000.5}
    decoded = decode_selection(selection_msg(result, 5, stamps))
    assert decoded["selected"] == 2 and decoded["inference_index"] == 5
    assert decoded["scores"] == [0.5, -np.inf, 2.0]
    assert decoded["frame_stamp"] == 1700000000.25          # the newest camera frame
    assert decoded["stamps"] == stamps                       # every part: what offline replay needs
    assert decode_selection(selection_msg(result, 5))["stamps"] == {}


def test_skips_are_counted_from_the_node_diagnostics_during_playback() -> None:
    from mgselect_node.bag.live import diagnostics_skips

    before = {"count_waiting": "7", "count_ok": "0"}
    during = [{"status": "stale", "reason": "camera is stale: 0.7 s old", "count_waiting": "8",
               "count_stale": "1", "count_ok": "2"},
              {"status": "ok", "reason": "", "count_waiting": "8", "count_stale": "2", "count_ok": "5"}]
    skips = diagnostics_skips(during, before)
    assert skips == {"waiting": {"count": 1, "example": ""},
                     "stale": {"count": 2, "example": "camera is stale: 0.7 s old"}}


# ---- offline ------------------------------------------------------------------------------------------------
def test_offline_report_has_chunks_with_observation_stamps(golden: Path, policy, robot) -> None:
    data = json.loads(golden.read_text())
    assert data["mode"] == "offline" and data["num_chunks"] >= 1
    spec = policy.spec
    for chunk in data["chunks"]:
        positions = np.asarray(chunk["positions"])
        assert positions.shape == (spec.horizon, len(spec.joint_names))
        assert np.all(np.isfinite(positions))
        assert chunk["joint_names"] == list(spec.joint_names)
        assert set(chunk["stamps"]) == {"/cam0/image/compressed", *[f"/cam{i}/image_raw" for i in
                                        range(1, len(spec.camera_names))], "joint_states"}
        assert len(chunk["scores"]) == NUM_CANDIDATES
        assert chunk["seed"] == SEED + chunk["inference_index"]
    # the pause in the recording: steps right after it find the last frames too old
    assert data["skipped"].get("stale", {}).get("count", 0) >= 1, data["skipped"]
    assert data["info"]["seed"] == SEED


def test_offline_is_deterministic_and_compare_passes(golden: Path, robot, capsys) -> None:
    again = robot["root"] / "again.json"
    assert _offline(robot, again, "--compare", str(golden)) == 0
    assert "matches" in capsys.readouterr().out
    first, second = json.loads(golden.read_text()), json.loads(again.read_text())
    assert first["chunks"] == second["chunks"]          # bit-identical, not just within tolerance
    assert first["skipped"] == second["skipped"]


def test_compare_catches_a_changed_chunk(golden: Path, robot, tmp_path: Path, capsys) -> None:
    data = json.loads(golden.read_text())
    chunk = len(data["chunks"]) - 1
    data["chunks"][chunk]["positions"][2][1] += 10 * POSITION_ATOL
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    assert _offline(robot, tmp_path / "now.json", "--compare", str(changed)) == 1
    err = capsys.readouterr().err
    joint = data["chunks"][chunk]["joint_names"][1]
    assert "MISMATCH" in err and f"chunk {chunk} " in err and f"point 2 {joint}" in err

    data = json.loads(golden.read_text())
    data["chunks"] = data["chunks"][:-1]
    changed.write_text(json.dumps(data))
    assert _offline(robot, tmp_path / "now2.json", "--compare", str(changed)) == 1
    assert "number of chunks differs" in capsys.readouterr().err


def test_observation_stamps_rebuild_the_same_chunks(golden: Path, policy, robot) -> None:
    """What reproducing a live run does, checked against the offline run whose stamps it is given."""
    data = json.loads(golden.read_text())
    targets = [ChunkRecord.from_json(c) for c in data["chunks"]][::-1]     # any order, any subset
    config = Config.from_yaml(str(robot["params"]))
    with open_bag(robot["bag"]) as bag:
        rebuilt = replay_observations(bag, ControlPipeline(policy, config), targets)
    assert compare_reports({"chunks": data["chunks"][::-1]}, rebuilt.to_json()) == []


def test_window_and_remap(policy, robot, tmp_path: Path) -> None:
    """--start/--duration select part of the bag; --remap renames bag topics to the node's topics."""
    n_cams = len(policy.spec.camera_names)
    node_topics = ["/robot/front/compressed"] + [f"/robot/cam{i}/image_raw" for i in range(1, n_cams)]
    remaps = [f"/cam0/image/compressed:={node_topics[0]}"]
    remaps += [f"/cam{i}/image_raw:={node_topics[i]}" for i in range(1, n_cams)]
    config = Config.from_yaml(str(robot["params"])).with_flat({"image_topics": node_topics})
    window = ReplayWindow(start_s=0.0, duration_s=BAG_S / 2, remap=dict(r.split(":=") for r in remaps))
    with open_bag(robot["bag"]) as bag:
        report = replay_offline(bag, ControlPipeline(policy, config), window)
    assert report.chunks, report.skipped
    assert all(set(c.stamps) == {*node_topics, "joint_states"} for c in report.chunks)
    assert max(c.time_s for c in report.chunks) <= report.chunks[0].time_s + BAG_S / 2


# ---- unusable bags: clear error, exit 2, what the bag holds, no traceback --------------------------------------
def _run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = replay.main(args)
    return code, capsys.readouterr().err


def test_missing_required_topic(robot, policy, tmp_path: Path, capsys) -> None:
    params = _params(tmp_path / "p.yaml", [f"/wrist{i}/image_raw" for i in range(len(policy.spec.camera_names))])
    code, err = _run_cli([str(robot["bag"]), "--offline", "--params", str(params)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "required topic /wrist0/image_raw" in err and "is missing" in err
    assert "/joint_states" in err and "sensor_msgs/msg/JointState" in err     # what the bag holds


def test_wrong_message_type(policy, tmp_path: Path, capsys) -> None:
    bag_path = tmp_path / "wrong"
    with BagWriter(bag_path) as writer:
        from std_msgs.msg import String

        writer.write("/joint_states", 1, String(data="not a joint state"), "std_msgs/msg/String")
        writer.write("/camera0/image_raw", 2, String(data="nor an image"), "std_msgs/msg/String")
    params = _params(tmp_path / "p.yaml", [f"/camera{i}/image_raw" for i in range(len(policy.spec.camera_names))])
    code, err = _run_cli([str(bag_path), "--offline", "--params", str(params)], capsys)
    assert code == 2 and "Traceback" not in err
    assert "topic /joint_states has type std_msgs/msg/String, expected sensor_msgs/msg/JointState" in err


def test_compressed_images_on_a_raw_topic_get_a_hint(robot, policy, tmp_path: Path, capsys) -> None:
    """The node reads CompressedImage only on topics ending in /compressed: say so, instead of a bare
    type mismatch."""
    topics = [f"/cam{i}/image_raw" for i in range(len(policy.spec.camera_names))]
    params = _params(tmp_path / "p.yaml", topics)
    code, err = _run_cli([str(robot["bag"]), "--offline", "--params", str(params),
                          "--remap", "/cam0/image/compressed:=/cam0/image_raw"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "has type sensor_msgs/msg/CompressedImage, expected sensor_msgs/msg/Image" in err
    assert "hint:" in err and "ending in /compressed" in err


def test_truncated_and_corrupt_bags(robot, tmp_path: Path, capsys) -> None:
    import shutil

    cut = tmp_path / "cut"
    shutil.copytree(robot["bag"], cut)
    data = next(cut.glob("*.mcap"))
    with open(data, "r+b") as fh:
        fh.truncate(data.stat().st_size * 2 // 3)
    code, err = _run_cli([str(cut), "--offline", "--params", str(robot["params"])], capsys)
    assert code == 2 and "Traceback" not in err
    assert "truncated" in err and "/joint_states" in err

    code, err = _run_cli([str(tmp_path / "nothing_here"), "--offline"], capsys)
    assert code == 2 and "does not exist" in err

    (tmp_path / "notabag").mkdir()
    (tmp_path / "notabag" / "readme.txt").write_text("x")
    code, err = _run_cli([str(tmp_path / "notabag")], capsys)
    assert code == 2 and "not a rosbag2 bag" in err and "readme.txt" in err


def test_bad_arguments(robot, capsys) -> None:
    code, err = _run_cli([str(robot["bag"]), "--offline", "--remap", "nocolon"], capsys)
    assert code == 2 and "FROM:=TO" in err
    code, err = _run_cli([str(robot["bag"]), "--offline", "--duration", "-1"], capsys)
    assert code == 2 and "--duration" in err
    code, err = _run_cli([str(robot["bag"]), "--offline", "--compare", "/nonexistent/golden.json"], capsys)
    assert code == 2 and "does not exist" in err


def test_info_lists_the_bag(robot, capsys) -> None:
    assert replay.main([str(robot["bag"]), "--info"]) == 0
    out = capsys.readouterr().out
    assert "/cam0/image/compressed  sensor_msgs/msg/CompressedImage" in out and c.private_topic(c.INSTRUCTION) in out


# ---- live replay into a node process ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node_process(robot):
    """`mgselect node` in its own process, on sim time, with the params that fit the robot bag."""
    proc = NodeProcess(robot["root"], params_file=robot["params"], ros_args=["-p", "use_sim_time:=true"],
                       cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
                       stop_timeout_s=NODE_STOP_TIMEOUT_S)
    yield proc
    proc.stop(signal.SIGINT)


@pytest.fixture(scope="module")
def live_run(robot, node_process) -> dict[str, Path]:
    """One live replay into the node, recording its output; the node gets time to load and warm up (the
    replay waits for its parameter services, which answer once the node is active)."""
    out_bag, report = robot["root"] / "node_output", robot["root"] / "live.json"
    code = replay.main([str(robot["bag"]), "--record", str(out_bag), "--out", str(report),
                        "--wait", str(NODE_START_TIMEOUT_S), "--no-progress"])
    assert code == 0, node_process.describe()
    return {"bag": out_bag, "report": report}


@pytest.mark.slow
def test_live_replay_publishes_chunks_and_records_them(live_run, policy, robot, node_process) -> None:
    data = json.loads(live_run["report"].read_text())
    assert data["mode"] == "live" and data["num_chunks"] >= 1, (data["info"], node_process.describe())
    assert data["info"]["node_parameters"]["use_sim_time"] is True
    with open_bag(live_run["bag"]) as bag:
        topics = bag.topics
        assert topics[TRAJECTORY_TOPIC].count == data["num_chunks"]
        trajectories = [msg for _, msg in bag.read([TRAJECTORY_TOPIC])]
        selections = [msg for _, msg in bag.read([c.private_topic(c.SELECTION)])]
        assert bag.start_ns >= 0
    assert len(selections) == len(trajectories)
    for traj in trajectories:
        assert traj.joint_names == list(policy.spec.joint_names)
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points]
        assert times == sorted(times) and times[0] > 0
        assert all(np.all(np.isfinite(p.positions)) for p in traj.points)
    for chunk, traj in zip(data["chunks"], trajectories, strict=True):
        assert np.allclose(chunk["positions"], [p.positions for p in traj.points])
        assert len(chunk["scores"]) == NUM_CANDIDATES
    latency = data["latency_ms"]              # from the newest frame's stamp the node reports
    assert latency["count"] == data["num_chunks"] and 0 < latency["p50"] <= latency["p99"]


@pytest.mark.slow
def test_offline_reproduces_the_live_chunks(live_run, robot, tmp_path: Path, capsys) -> None:
    data = json.loads(live_run["report"].read_text())
    assert data["info"]["observation_stamps"], "the node's ~/selection must carry every part's stamp"
    out = tmp_path / "reproduced.json"
    code = _offline(robot, out, "--observations", str(live_run["report"]), "--compare", str(live_run["report"]))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert json.loads(out.read_text())["num_chunks"] == data["num_chunks"]


def test_live_replay_without_a_node_reports_it(robot, policy, tmp_path: Path, capsys) -> None:
    """Nobody listens (topics remapped where no node subscribes, another controller): the replay plays,
    nothing comes back, and its report says the node was not found; exit 0 (the bag was fine)."""
    n_cams = len(policy.spec.camera_names)
    bag_topics = ["/cam0/image/compressed"] + [f"/cam{i}/image_raw" for i in range(1, n_cams)]
    lonely = [f"/lonely/cam{i}/image_raw" for i in range(n_cams)]
    lonely[0] = "/lonely/cam0/compressed"
    params = _params(tmp_path / "p.yaml", lonely, joint_states_topic="/lonely/joint_states",
                     controller_name="lonely_controller")
    remaps = [arg for frm, to in zip(bag_topics, lonely, strict=True) for arg in ("--remap", f"{frm}:={to}")]
    t0 = time.monotonic()
    code = replay.main([str(robot["bag"]), "--node", "/nobody", "--wait", "0.5", "--linger", "0", "--no-clock",
                        "--duration", "0.5", "--no-progress", "--params", str(params), "--out",
                        str(tmp_path / "r.json"), "--instruction-topic", "/lonely/instruction", *remaps,
                        "--remap", "/joint_states:=/lonely/joint_states",
                        "--remap", f"{c.private_topic(c.INSTRUCTION)}:=/lonely/instruction"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["num_chunks"] == 0 and data["info"]["published_messages"] > 0
    assert "did not answer parameter requests" in out and "is the node running?" in out
    assert time.monotonic() - t0 < NODE_STOP_TIMEOUT_S


def test_new_execution_mode_chunks_are_reproduced_in_order(policy, robot, tmp_path: Path) -> None:
    """Coherence and blending depend on the chunk before: rebuilt in order from the stamps and the points
    sent, every chunk comes out as sent (the publish time follows from the first point's time_from_start)."""
    params = _params(tmp_path / "params.yaml", yaml.safe_load(robot["params"].read_text())["mgselect"]
                     ["ros__parameters"]["image_topics"], coherence_weight=1.0, blend_decay=0.5)
    golden = tmp_path / "golden.json"
    assert replay.main([str(robot["bag"]), "--offline", "--params", str(params), "--out", str(golden),
                        "--no-progress"]) == 0
    data = json.loads(golden.read_text())
    assert len(data["chunks"]) >= 2
    targets = [ChunkRecord.from_json(c) for c in data["chunks"]]
    for target in targets:
        target.time_s += RECEIPT_DELAY_S          # a live report has receipt times, after publishing
    with open_bag(robot["bag"]) as bag:
        pipeline = ControlPipeline(policy, Config.from_yaml(str(params)))
        rebuilt = replay_observations(bag, pipeline, targets)
    assert compare_reports({"chunks": data["chunks"]}, rebuilt.to_json()) == []


def test_publish_time_follows_from_the_points_sent(policy) -> None:
    pipeline = ControlPipeline(policy, Config())
    dt = pipeline.dt_for(pipeline.config)
    horizon = policy.spec.horizon
    plan = Plan(joint_names=["a"], positions=np.zeros((horizon, 1)), velocities=np.zeros((horizon, 1)),
                time_from_start=[], t_obs=100.0)
    sent = _chunk(time_s=200.0, time_from_start=[0.05 + k * dt for k in range(horizon - 3)])
    assert publish_time(sent, plan, pipeline) == pytest.approx(100.0 + 4 * dt - 0.05)   # 3 dropped
    old_mode = ControlPipeline(policy, Config().with_flat({"drop_stale_points": False}))
    assert publish_time(sent, plan, old_mode) == 200.0          # nothing to infer it from: the receipt time
