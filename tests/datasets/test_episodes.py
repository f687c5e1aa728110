"""Dataset writer/reader: round trip, statistics, and clear errors on broken directories."""

import json

import numpy as np
import pytest

from mgselect_node.datasets.episodes import (
    ACTION_KEY,
    EPISODES_FILE,
    STATE_KEY,
    DatasetError,
    DatasetWriter,
    Episode,
    load_dataset,
)

SIZE, DIM = 8, 3
NAMES = ["a", "b", "c"]


def _episode(length: int, offset: float) -> Episode:
    rng = np.random.default_rng(length)
    return Episode(images={"front": rng.integers(0, 255, (length, SIZE, SIZE, 3), dtype=np.uint8)},
                   state=rng.normal(offset, 1.0, (length, DIM)), action=rng.normal(-offset, 1.0, (length, DIM)),
                   instruction=f"touch the {offset} pad", task=str(offset), seed=length)


def _writer(root) -> DatasetWriter:
    return DatasetWriter(root, fps=10.0, joint_names=NAMES, camera_names=["front"], image_size=SIZE,
                         extra_info={"note": "test"})


def test_round_trip_and_stats(tmp_path) -> None:
    episodes = [_episode(5, 0.0), _episode(7, 3.0)]
    writer = _writer(tmp_path)
    for e in episodes:
        writer.add(e)
    writer.finish()
    data = load_dataset(tmp_path)
    assert len(data) == 2 and data.info["total_frames"] == 12 and data.info["note"] == "test"
    for original, loaded in zip(episodes, data, strict=True):
        np.testing.assert_array_equal(loaded.images["front"], original.images["front"])
        np.testing.assert_allclose(loaded.state, original.state, rtol=1e-6)
        np.testing.assert_allclose(loaded.action, original.action, rtol=1e-6)
        assert loaded.instruction == original.instruction and loaded.seed == original.seed
        np.testing.assert_allclose(loaded.timestamp, np.arange(len(original)) / 10.0, rtol=1e-6)
    all_states = np.concatenate([e.state for e in episodes])
    np.testing.assert_allclose(data.stats[STATE_KEY]["q01"], np.quantile(all_states, 0.01, axis=0))
    np.testing.assert_allclose(data.stats[STATE_KEY]["q99"], np.quantile(all_states, 0.99, axis=0))
    np.testing.assert_allclose(data.stats[ACTION_KEY]["mean"],
                               np.concatenate([e.action for e in episodes]).mean(axis=0))


def test_writer_rejects_inconsistent_episodes_and_overwrites(tmp_path) -> None:
    writer = _writer(tmp_path)
    bad = _episode(4, 0.0)
    bad.action = bad.action[:3]
    with pytest.raises(DatasetError, match="expected"):
        writer.add(bad)
    small = _episode(4, 0.0)
    small.images["front"] = small.images["front"][:, :4]
    with pytest.raises(DatasetError, match="camera 'front'"):
        writer.add(small)
    with pytest.raises(DatasetError, match="no episodes"):
        writer.finish()
    writer.add(_episode(4, 0.0))
    writer.finish()
    with pytest.raises(DatasetError, match="already holds a dataset"):
        _writer(tmp_path)


def test_loader_reports_missing_and_inconsistent_parts(tmp_path) -> None:
    with pytest.raises(DatasetError, match="is not a dataset"):
        load_dataset(tmp_path)
    writer = _writer(tmp_path)
    writer.add(_episode(4, 0.0))
    writer.finish()
    path = tmp_path / EPISODES_FILE
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "length": 9}) + "\n")
    with pytest.raises(DatasetError, match="disagree"):
        load_dataset(tmp_path).load_episode(0)
    path.write_text("")
    with pytest.raises(DatasetError, match=r"episodes\.jsonl has 0"):
        load_dataset(tmp_path)
