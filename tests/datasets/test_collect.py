"""`mgselect collect`: expert demonstrations on disk that load back consistently."""

import numpy as np
import pytest

from mgselect_node.cli.collect import main
from mgselect_node.datasets.episodes import ACTION_KEY, STATE_KEY, DatasetError, load_dataset
from mgselect_node.sim.env import JOINT_NAMES, TASKS, SimEnv
from mgselect_node.sim.instructions import instruction_for

EPISODES = 4
IMAGE_SIZE = 32
HOLD = 3


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demos") / "ds"
    args = ["--episodes", str(EPISODES), "--out", str(out), "--seed", "7", "--image-size", str(IMAGE_SIZE),
            "--hold-steps", str(HOLD), "--quiet"]
    assert main(args) == 0
    return out


def test_dataset_loads_back_with_consistent_shapes(dataset_dir) -> None:
    data = load_dataset(dataset_dir)
    assert len(data) == EPISODES
    assert data.info["joint_names"] == list(JOINT_NAMES) and data.info["fps"] == 10.0
    assert data.info["camera_names"] == ["front"] and data.info["image_size"] == IMAGE_SIZE
    frames = 0
    for k, episode in enumerate(data):
        n = len(episode)
        frames += n
        assert episode.images["front"].shape == (n, IMAGE_SIZE, IMAGE_SIZE, 3)
        assert episode.images["front"].dtype == np.uint8
        assert episode.state.shape == episode.action.shape == (n, len(JOINT_NAMES))
        assert episode.task == TASKS[k % len(TASKS)]  # balanced colours
        assert episode.instruction == instruction_for(episode.task) and episode.success
        assert episode.seed == 7 + k
        lower, upper = np.array(data.info["joint_lower"]), np.array(data.info["joint_upper"])
        assert np.all(episode.action >= lower - 1e-6) and np.all(episode.action <= upper + 1e-6)
        # Actions lead states: the state a step later is close to the previous command.
        assert np.abs(episode.state[1:] - episode.action[:-1]).max() < 0.1
        assert n < SimEnv(image_size=16).max_steps
    assert data.info["total_frames"] == frames


def test_stats_cover_the_data(dataset_dir) -> None:
    data = load_dataset(dataset_dir)
    states = np.concatenate([e.state for e in data])
    actions = np.concatenate([e.action for e in data])
    for key, values in ((STATE_KEY, states), (ACTION_KEY, actions)):
        stats = data.stats[key]
        np.testing.assert_allclose(stats["q01"], np.quantile(values.astype(np.float64), 0.01, axis=0), atol=1e-5)
        np.testing.assert_allclose(stats["q99"], np.quantile(values.astype(np.float64), 0.99, axis=0), atol=1e-5)
        assert np.all(np.array(stats["q01"]) < np.array(stats["q99"]))
        assert stats["count"] == [len(values)]


def test_episodes_end_with_the_hold_on_the_pad(dataset_dir) -> None:
    data = load_dataset(dataset_dir)
    env = SimEnv(image_size=16)
    for episode in data:
        env.reset(seed=episode.seed, task=episode.task)
        first_success = None
        for k, action in enumerate(episode.action):  # replaying the actions reproduces the demonstration
            env.step(action)
            if env.success and first_success is None:
                first_success = k + 1
        assert env.success and env.info()["nearest_pad"] == episode.task
        assert len(episode) == first_success + HOLD - 1  # recorded through the touch, then HOLD more steps


def test_collect_refuses_to_overwrite_and_bad_arguments(dataset_dir, capsys) -> None:
    with pytest.raises(DatasetError, match="already holds"):
        main(["--episodes", "1", "--out", str(dataset_dir), "--quiet"])
    assert main(["--episodes", "0", "--out", str(dataset_dir / "x"), "--quiet"]) == 2
    assert "--episodes 0" in capsys.readouterr().err


def test_targets_per_layout_records_every_pad_of_one_scene(tmp_path) -> None:
    out = tmp_path / "paired"
    args = ["--episodes", "3", "--out", str(out), "--seed", "11", "--image-size", str(IMAGE_SIZE),
            "--hold-steps", "1", "--targets-per-layout", "3", "--quiet"]
    assert main(args) == 0
    episodes = list(load_dataset(out))
    assert {e.seed for e in episodes} == {11}
    scene = SimEnv(0, image_size=IMAGE_SIZE)
    scene.reset(seed=11)
    assert sorted(e.task for e in episodes) == sorted(scene.pad_positions)
    first_images = [e.images["front"][0] for e in episodes]
    for image in first_images[1:]:
        np.testing.assert_array_equal(image, first_images[0])
    assert len({tuple(np.round(e.action[-1], 3)) for e in episodes}) == 3  # three different motions
    assert main(["--episodes", "1", "--out", str(tmp_path / "bad"), "--targets-per-layout", "5",
                 "--quiet"]) == 2


def test_mixed_pad_counts_are_taken_in_turn_scene_by_scene(tmp_path) -> None:
    out = tmp_path / "mixed"
    args = ["--episodes", "6", "--out", str(out), "--seed", "20", "--image-size", str(IMAGE_SIZE),
            "--hold-steps", "1", "--num-objects", "1,2", "--targets-per-layout", "2", "--quiet"]
    assert main(args) == 0
    episodes = list(load_dataset(out))
    # scene 20: one pad (one episode), scene 21: two pads (two), scene 22: one, scene 23: two
    assert [e.seed for e in episodes] == [20, 21, 21, 22, 23, 23]
    assert episodes[1].task != episodes[2].task
    assert load_dataset(out).info["env"]["num_objects"] == [1, 2]
    assert main(["--episodes", "1", "--out", str(tmp_path / "bad"), "--num-objects", "1,9", "--quiet"]) == 2


def test_instruction_mix_names_pads_in_both_styles_consistently(tmp_path, capsys) -> None:
    out = tmp_path / "styles"
    args = ["--episodes", "9", "--out", str(out), "--seed", "30", "--image-size", str(IMAGE_SIZE),
            "--hold-steps", "1", "--targets-per-layout", "3", "--instructions", "colour:1,position:1", "--quiet"]
    assert main(args) == 0
    data = load_dataset(out)
    assert data.info["instruction_styles"] == {"colour": 0.5, "position": 0.5}
    scene = SimEnv(0, image_size=IMAGE_SIZE, instruction_style="position")
    styles = []
    for episode in data:
        scene.reset(seed=episode.seed, target=episode.task)
        position = scene.instruction
        assert episode.instruction in (instruction_for(episode.task), position)
        styles.append(episode.instruction == position)
    assert 0 < sum(styles) < len(styles)  # both styles drawn
    again = tmp_path / "again"
    assert main([*args[:3], str(again), *args[4:]]) == 0  # same seed, same styles
    assert [e.instruction for e in load_dataset(again)] == [e.instruction for e in data]
    assert main(["--episodes", "1", "--out", str(tmp_path / "bad"), "--instructions", "colour:1,size:1",
                 "--quiet"]) == 2
    assert "instruction style 'size'" in capsys.readouterr().err
