"""Offline replay never dies of a bad bag or a failing policy: each failed step is a counted skip with a
reason, anything fatal is one line on stderr and exit code 2 (issue 13). Uses the FakePolicy: fast."""

from __future__ import annotations

from mgselect_node.bag.bag_io import open_bag
from mgselect_node.bag.offline import replay_offline
from mgselect_node.bag.synthetic import spec_for_policy, write_synthetic_bag
from mgselect_node.cli import replay
from mgselect_node.config import Config
from mgselect_node.control.pipeline import ControlPipeline
from tests.ros.fakes import FakePolicy, fake_spec

CAMERA = "/camera0/image_raw"
UNCHECKED = 100.0


def bag_with(tmp_path, instruction: str):
    spec = spec_for_policy(fake_spec(), topics=[CAMERA], instruction=instruction, duration=2.0)
    return write_synthetic_bag(tmp_path / "bag", spec)


def pipeline(policy: FakePolicy) -> ControlPipeline:
    config = Config().with_flat({"image_topics": [CAMERA], "max_step_change": UNCHECKED,
                                 "max_start_distance": UNCHECKED, "inference_rate": 2.0})
    return ControlPipeline(policy, config)


def test_a_policy_error_is_a_counted_skip(tmp_path):
    policy = FakePolicy(spec=fake_spec())

    def out_of_memory(*_, **__):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp] can't allocate memory: you tried to allocate 1.4 TB")
    policy.select = out_of_memory
    with open_bag(bag_with(tmp_path, "pick up the cube")) as bag:
        report = replay_offline(bag, pipeline(policy)).to_json()
    assert report["num_chunks"] == 0
    skipped = report["skipped"]["policy_error"]
    assert skipped["count"] >= 2 and "RuntimeError: [enforce fail" in skipped["example"]


def test_a_megabyte_instruction_in_the_bag_is_a_counted_skip(tmp_path):
    with open_bag(bag_with(tmp_path, "a" * 1_000_000)) as bag:
        report = replay_offline(bag, pipeline(FakePolicy(spec=fake_spec()))).to_json()
    skipped = report["skipped"]["input_error"]
    assert report["num_chunks"] == 0 and skipped["count"] >= 2
    assert "instruction refused" in skipped["example"] and len(skipped["example"]) < 300


def test_an_unexpected_failure_is_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys):
    import mgselect_node.engine.policy as policy_module

    def broken(*_, **__):
        raise RuntimeError("safetensors: header too large")
    monkeypatch.setattr(policy_module, "load_policy", broken)
    params = tmp_path / "params.yaml"
    params.write_text(f"mgselect:\n  ros__parameters:\n    image_topics: ['{CAMERA}']\n")
    code = replay.main([str(bag_with(tmp_path, "pick")), "--offline", "--params", str(params), "--no-progress"])
    err = capsys.readouterr().err
    assert code == replay.EXIT_ERROR
    assert err.strip() == "mgselect replay: unexpected RuntimeError: safetensors: header too large"


def test_the_same_bag_with_a_valid_instruction_commands(tmp_path):
    with open_bag(bag_with(tmp_path, "pick up the cube")) as bag:
        report = replay_offline(bag, pipeline(FakePolicy(spec=fake_spec()))).to_json()
    assert report["num_chunks"] >= 2
