"""ControlPipeline without ROS: what gets commanded, what does not, and why."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from mgselect_node.config import Config, ConfigError
from mgselect_node.control import pipeline as pl
from mgselect_node.control.pipeline import ControlPipeline, finite_difference_velocities
from tests.ros.fakes import JOINTS, RAMP, FakePolicy, fake_spec

NOW = 100.0
IMG = np.zeros((8, 8, 3), np.uint8)
STATE = [0.1, -0.2, 0.3]


def make(config: Config | None = None, **spec_changes) -> tuple[ControlPipeline, FakePolicy]:
    policy = FakePolicy(spec=fake_spec(**spec_changes))
    return ControlPipeline(policy, config or Config()), policy


def feed(p: ControlPipeline, stamp: float = NOW, state=STATE, names=JOINTS) -> None:
    for i in range(len(p.config.node.image_topics)):
        p.on_image(i, IMG, stamp)
    p.on_joint_state(list(names), list(state), stamp)


def test_plan_has_joint_names_times_and_velocities():
    p, policy = make(Config().with_flat({"instruction": "stack", "execute_steps": 3}))
    feed(p)
    out = p.step(NOW + 0.05)
    assert out.status == pl.OK and out.reason == ""
    plan = out.plan
    assert plan.joint_names == JOINTS
    assert plan.positions.shape == (3, 3)
    np.testing.assert_allclose(plan.positions[0], np.array(STATE) + RAMP)
    assert plan.time_from_start == pytest.approx([0.1, 0.2, 0.3])         # policy control_rate 10 Hz
    np.testing.assert_allclose(plan.velocities, RAMP * 10.0, atol=1e-9)     # constant ramp -> constant v
    assert out.stamps == {"/camera/image_raw": NOW, "joint_states": NOW}
    assert out.observation_age_s == pytest.approx(0.05)
    assert policy.calls[-1].instruction == "stack"
    np.testing.assert_array_equal(policy.calls[-1].state, STATE)


def test_joint_state_is_reordered_by_name():
    p, policy = make()
    feed(p, state=[0.3, 0.1, 0.2], names=["j3", "j1", "j2"])
    assert p.step(NOW).status == pl.OK
    np.testing.assert_array_equal(policy.calls[-1].state, [0.1, 0.2, 0.3])


def test_renamed_controller_joints():
    p, policy = make(Config().with_flat({"joint_names": ["x", "y", "z"]}))
    feed(p, names=["z", "y", "x"], state=[0.3, 0.2, 0.1])
    out = p.step(NOW)
    assert out.plan.joint_names == ["x", "y", "z"]
    np.testing.assert_array_equal(policy.calls[-1].state, [0.1, 0.2, 0.3])


def test_control_rate_and_whole_chunk_defaults():
    p, _ = make(Config().with_flat({"control_rate": 20.0}))
    feed(p)
    plan = p.step(NOW).plan
    assert len(plan.time_from_start) == 5 and plan.time_from_start[-1] == pytest.approx(0.25)
    assert all(b > a for a, b in itertools.pairwise(plan.time_from_start))


def test_delta_actions_are_added_to_the_state():
    p, _ = make(action_mode="delta")
    feed(p)
    np.testing.assert_allclose(p.step(NOW).plan.positions[0], np.array(STATE) + RAMP)


def test_selection_config_and_seed_per_inference():
    p, policy = make(Config().with_flat({"num_candidates": 7, "temperature": 0.9, "seed": 5}))
    feed(p)
    first, second = p.step(NOW), p.step(NOW)
    assert [c.config.seed for c in policy.calls] == [5, 6]
    assert (first.inference_index, second.inference_index) == (0, 1)
    assert policy.calls[0].config.num_candidates == 7 and policy.calls[0].config.temperature == 0.9
    assert len(first.result.scores) == 7


def test_live_config_update_applies_to_next_step():
    p, policy = make()
    feed(p)
    p.step(NOW)
    p.update_config(p.config.with_flat({"num_candidates": 2, "mask_mode": "state", "strategy": "likelihood"}))
    p.step(NOW)
    cfg = policy.calls[-1].config
    assert (cfg.num_candidates, cfg.mask_mode, cfg.strategy) == (2, "state", "likelihood")


def test_instruction_topic_overrides_until_parameter_changes():
    p, policy = make(Config().with_flat({"instruction": "from param"}))
    feed(p)
    p.on_instruction("from topic")
    p.step(NOW)
    assert policy.calls[-1].instruction == "from topic"
    p.update_config(p.config.with_flat({"num_candidates": 3}))      # unrelated change keeps the override
    p.step(NOW)
    assert policy.calls[-1].instruction == "from topic"
    p.update_config(p.config.with_flat({"instruction": "new param"}))
    p.step(NOW)
    assert policy.calls[-1].instruction == "new param"


@pytest.mark.parametrize("instruction, status, words", [
    ("jump", pl.UNSAFE, "max_start_distance"),
    ("invalid", pl.INVALID_CHUNK, "no valid action chunk"),
])
def test_unusable_chunks_are_not_commanded(instruction, status, words):
    p, _ = make(Config().with_flat({"instruction": instruction}))
    feed(p)
    out = p.step(NOW)
    assert out.status == status and out.plan is None and words in out.reason


def test_limits_clamp_and_step_change():
    cfg = Config().with_flat({"position_lower": [-1.0] * 3, "position_upper": [0.105, 1.0, 1.0]})
    p, _ = make(cfg)
    feed(p)
    out = p.step(NOW)
    assert out.status == pl.OK and out.clamped_points > 0
    assert np.all(out.plan.positions[:, 0] <= 0.105)
    p.update_config(cfg.with_flat({"max_step_change": 0.001}))
    out = p.step(NOW)
    assert out.status == pl.UNSAFE and "max_step_change" in out.reason


def test_policy_limits_used_when_none_configured():
    p, _ = make(joint_lower=[-0.1] * 3, joint_upper=[0.1] * 3)
    feed(p, state=[0.1, 0.0, 0.0])
    assert np.all(p.step(NOW).plan.positions <= 0.1)


def test_disabled_stale_nan_missing_and_bad_frame():
    p, policy = make()
    feed(p)
    p.update_config(p.config.with_flat({"enabled": False}))
    assert p.step(NOW).status == pl.DISABLED
    p.update_config(p.config.with_flat({"enabled": True}))
    assert p.step(NOW + 1.0).status == pl.STALE
    feed(p, state=[math.nan, 0.0, 0.0])
    out = p.step(NOW)
    assert out.status == pl.JOINT_ERROR and "j1" in out.reason
    p.on_image_error(0, "unsupported image encoding '16UC1'", NOW)
    out = p.step(NOW)
    assert out.status == pl.INPUT_ERROR and "16UC1" in out.reason
    feed(p)
    assert p.step(NOW).status == pl.OK
    calls = len(policy.calls)
    p.reset()
    assert p.step(NOW).status == pl.WAITING and len(policy.calls) == calls


def test_engine_input_error_does_not_raise():
    p, _ = make()
    p.on_image(0, np.zeros((8, 8), np.uint8), NOW)   # 2-D frame: the policy refuses it
    p.on_joint_state(JOINTS, STATE, NOW)
    out = p.step(NOW)
    assert out.status == pl.INPUT_ERROR and "policy rejected" in out.reason


@pytest.mark.parametrize("changes, words", [
    ({"joint_names": ["a", "b"]}, "joint_names has 2 entries"),
    ({"joint_names": ["a", "a", "b"]}, "unique"),
    ({"image_topics": ["/a", "/b"]}, "needs 1 camera"),
    ({"position_lower": [0.0], "position_upper": [1.0]}, "expected 3"),
    ({"execute_steps": 6}, "exceeds the policy horizon 5"),
    ({"controller_name": "/"}, "controller_name"),
])
def test_config_that_does_not_fit_the_policy_is_refused(changes, words):
    p, _ = make()
    with pytest.raises(ConfigError, match=words):
        p.update_config(p.config.with_flat(changes))
    assert p.config == Config()


def test_unknown_joint_checked_against_joint_states_only_when_changed():
    p, _ = make()
    feed(p)
    with pytest.raises(ConfigError, match=r"unknown joint\(s\) \['nope'\]"):
        p.check_change(p.config.with_flat({"joint_names": ["j1", "j2", "nope"]}), ["joint_names"])
    p.check_change(p.config.with_flat({"num_candidates": 2}), ["num_candidates"])


def test_finite_difference_velocities():
    v = finite_difference_velocities(np.zeros(1), np.array([[1.0], [2.0], [4.0]]), 0.5)
    np.testing.assert_allclose(v[:, 0], [2.0, 3.0, 4.0])


# ------------------------------------------------------------------------------ hardening (issue 13)
def test_a_refused_instruction_stops_commanding_until_a_valid_one():
    from mgselect_node.config import MAX_INSTRUCTION_CHARS

    p, policy = make()
    feed(p)
    problem = p.on_instruction("x " * MAX_INSTRUCTION_CHARS)
    assert f"at most {MAX_INSTRUCTION_CHARS}" in problem
    out = p.step(NOW)
    assert out.status == pl.INPUT_ERROR and "instruction refused" in out.reason and out.plan is None
    assert "word" in p.on_instruction("a" * 101)                          # one huge word: refused too
    assert p.on_instruction("stack the cubes") == ""
    assert p.step(NOW).status == pl.OK and policy.calls[-1].instruction == "stack the cubes"


def test_a_failing_policy_call_is_an_outcome_not_an_exception():
    p, policy = make()
    feed(p)

    def boom(*_, **__):
        raise RuntimeError("can't allocate memory")
    policy.select = boom
    out = p.step(NOW)
    assert out.status == pl.POLICY_ERROR and "RuntimeError: can't allocate memory" in out.reason


def test_age_is_checked_again_at_publish_time():
    p, _ = make(Config().with_flat({"max_observation_age": 0.5, "max_command_age": 0.5}))
    for i in range(len(p.config.node.image_topics)):
        p.on_image(i, IMG, NOW, received_s=1000.0)
    p.on_joint_state(JOINTS, STATE, NOW, received_s=1000.0)
    out = p.step(NOW + 0.1, received_now_s=1000.1)
    assert out.status == pl.OK
    assert p.stale_at_publish(out, NOW + 0.2, 1000.2) == ""
    assert "stale at publish" in p.stale_at_publish(out, NOW + 0.7, 1000.2)      # inference took too long
    assert "wall clock" in p.stale_at_publish(out, NOW + 0.2, 1000.7)            # frozen /clock


def test_joint_names_longer_than_joint_states_accept_are_refused():
    p, _ = make()
    with pytest.raises(ConfigError, match="over 256 characters"):
        p.check_config(Config().with_flat({"joint_names": ["a" * 257, "b", "c"]}))
