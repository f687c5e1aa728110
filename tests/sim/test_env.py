"""SimEnv: seeded scenes, rendering, position control and the success rule."""

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.sim.env import (
    DEFAULT_SUCCESS_TOLERANCE,
    JOINT_NAMES,
    PAD_JITTER,
    PAD_SLOTS,
    TASKS,
    SimEnv,
)
from mgselect_node.sim.instructions import instruction_for
from mgselect_node.sim.kinematics import inverse_kinematics

IMAGE_SIZE = 48
PAD_RADIUS = 0.035  # m, arm.xml's pad cylinder
SETTLE_STEPS = 15  # 1.5 s at 10 Hz: far longer than the servo's time constant


@pytest.fixture
def env() -> SimEnv:
    sim = SimEnv(seed=0, image_size=IMAGE_SIZE)
    yield sim
    sim.close()


def _drive_to(env: SimEnv, tip: np.ndarray) -> None:
    q = inverse_kinematics(tip)
    for _ in range(SETTLE_STEPS):
        env.step(q)


def test_observation_shapes_and_types(env: SimEnv) -> None:
    obs = env.reset(seed=3)
    assert obs.image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and obs.image.dtype == np.uint8
    assert obs.state.shape == (len(JOINT_NAMES),) and obs.state.dtype == np.float64
    assert obs.instruction == instruction_for(env.task) and env.task in TASKS
    assert obs.images[0] is obs.image
    assert obs.image.std() > 0  # not a blank frame


def test_reset_with_the_same_seed_is_identical_and_history_independent() -> None:
    a, b = SimEnv(seed=0, image_size=IMAGE_SIZE), SimEnv(seed=99, image_size=IMAGE_SIZE)
    b.reset(seed=5)
    b.step(b.joint_positions + 0.2)  # some history that must not leak into the next scene
    oa, ob = a.reset(seed=7), b.reset(seed=7)
    np.testing.assert_array_equal(oa.image, ob.image)
    np.testing.assert_array_equal(oa.state, ob.state)
    assert oa.instruction == ob.instruction
    for color in a.pad_positions:
        np.testing.assert_array_equal(a.pad_positions[color], b.pad_positions[color])
    target = a.joint_positions + 0.1
    np.testing.assert_array_equal(a.step(target).image, b.step(target).image)
    np.testing.assert_array_equal(a.joint_positions, b.joint_positions)


def test_env_seed_fixes_the_sequence_of_unseeded_resets() -> None:
    def scenes(seed: int) -> list[tuple]:
        env = SimEnv(seed=seed, image_size=IMAGE_SIZE)
        return [(env.reset().instruction, env.episode_seed, env.target_position.tobytes()) for _ in range(4)]

    assert scenes(11) == scenes(11)
    assert scenes(11) != scenes(12)


def test_scenes_vary_with_the_seed_and_the_image_shows_it(env: SimEnv) -> None:
    images, targets = [], []
    for seed in range(6):
        images.append(env.reset(seed=seed).image.astype(int))
        targets.append(env.target_position)
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            assert np.abs(images[i] - images[j]).sum() > 0, f"seeds {i} and {j} render the same image"
    assert len({t.tobytes() for t in targets}) == len(targets)
    assert len({env.reset(seed=s).instruction for s in range(20)}) >= 3  # at least three distinct tasks


def test_pads_sit_on_distinct_jittered_slots_apart_from_each_other() -> None:
    slots = np.array([[r * np.cos(a), r * np.sin(a)] for r, a in PAD_SLOTS])
    used = set()
    with SimEnv(seed=0, image_size=IMAGE_SIZE, num_objects=len(TASKS)) as sim:
        for seed in range(50):
            sim.reset(seed=seed)
            places = np.array([p[:2] for p in sim.pad_positions.values()])
            offsets = np.abs(places[:, None, :] - slots[None, :, :]).max(axis=-1)   # (pads, slots)
            nearest = offsets.argmin(axis=1)
            assert len(set(nearest)) == len(places) and np.all(offsets.min(axis=1) <= PAD_JITTER + 1e-12)
            used.update(nearest.tolist())
            gaps = np.linalg.norm(places[:, None] - places[None], axis=-1)[np.triu_indices(len(places), 1)]
            assert gaps.min() > 2 * PAD_RADIUS    # pads never overlap in the image
    assert used == set(range(len(PAD_SLOTS)))


def test_task_override_keeps_the_layout_and_recolours_the_target(env: SimEnv) -> None:
    env.reset(seed=4)
    places = sorted(p.tobytes() for p in env.pad_positions.values())
    target_place = env.target_position.copy()
    rendered = {}
    for task in TASKS:
        rendered[task] = env.reset(seed=4, task=task).image.astype(int)
        assert env.task == task and env.instruction == instruction_for(task)
        assert sorted(p.tobytes() for p in env.pad_positions.values()) == places
        np.testing.assert_array_equal(env.target_position, target_place)
    assert np.abs(rendered["red"] - rendered["blue"]).sum() > 0
    with pytest.raises(InputError, match="expected one of"):
        env.reset(task="purple")


def test_target_names_another_pad_of_the_same_scene(env: SimEnv) -> None:
    first = env.reset(seed=4)
    pads = {c: p.copy() for c, p in env.pad_positions.items()}
    for color in pads:
        obs = env.reset(seed=4, target=color)
        assert env.task == color and env.instruction == instruction_for(color)
        assert env.pad_positions.keys() == pads.keys()
        for c, p in pads.items():
            np.testing.assert_array_equal(env.pad_positions[c], p)
        np.testing.assert_array_equal(obs.image, first.image)  # the same picture, another instruction
        np.testing.assert_array_equal(obs.state, first.state)
    missing = next(c for c in TASKS if c not in pads)
    with pytest.raises(InputError, match="has only the pads"):
        env.reset(seed=4, target=missing)
    with pytest.raises(InputError, match="not both"):
        env.reset(seed=4, task="red", target="red")


def test_position_control_reaches_targets_and_clips_to_limits(env: SimEnv) -> None:
    env.reset(seed=0)
    goal = np.array([0.4, 0.9, 1.1, 0.6])
    for _ in range(SETTLE_STEPS):
        env.step(goal)
    np.testing.assert_allclose(env.joint_positions, goal, atol=1e-3)
    for _ in range(SETTLE_STEPS):
        env.step(env.joint_upper + 1.0)
    assert np.all(env.joint_positions <= env.joint_upper + 1e-3)


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 4)), np.array([0, np.nan, 0, 0]), "four"])
def test_step_rejects_malformed_targets(env: SimEnv, bad: object) -> None:
    with pytest.raises(InputError, match="joint_targets"):
        env.step(bad)


def test_success_needs_the_named_pad_within_tolerance(env: SimEnv) -> None:
    env.reset(seed=2)
    assert not env.success and not env.done
    wrong = next(c for c in env.pad_positions if c != env.task)
    _drive_to(env, env.touch_point(wrong))
    assert not env.success and env.info()["nearest_pad"] == wrong

    env.reset(seed=2)
    offset = np.array([1.5 * DEFAULT_SUCCESS_TOLERANCE, 0.0, 0.0])
    _drive_to(env, env.target_position + offset)
    assert not env.success  # beside the pad by 1.5x the tolerance: not a touch

    env.reset(seed=2)
    _drive_to(env, env.target_position + np.array([0.0, 0.0, 0.03]))
    assert not env.success  # hovering 3 cm above the pad: not a touch

    env.reset(seed=2)
    _drive_to(env, env.target_position + offset / 3)
    assert env.success and env.done


def test_episode_times_out(env: SimEnv) -> None:
    env.reset(seed=0)
    for _ in range(env.max_steps):
        assert not env.done
        env.step(env.joint_positions)
    assert env.done and not env.success


def test_constructor_rejects_bad_settings() -> None:
    with pytest.raises(InputError, match="num_objects"):
        SimEnv(num_objects=len(TASKS) + 1)
    with pytest.raises(InputError, match="control_rate"):
        SimEnv(control_rate=0)
