"""Demonstration datasets on disk: LeRobot's layout and names, numpy files instead of parquet and video.

Why not LeRobot's exact format: it stores frames in parquet (needs pyarrow) and camera streams as mp4 (needs
an AV1/H.264 encoder and decoder), two heavy dependencies for datasets of a few thousand 96x96 frames that
compress to a few MB anyway. We keep everything else of LeRobot v2.1 so a converter is a few lines:
the meta/ files and the feature names ("observation.state", "action", "observation.images.<camera>",
"timestamp", "frame_index"), with one compressed .npz per episode where LeRobot has one .parquet.

    DIR/meta/info.json        format, fps, features (dtype, shape, names), counts, joint and camera names,
                              joint limits, the simulator settings the data came from
    DIR/meta/stats.json       per feature: min, max, mean, std, q01, q99, count (q01/q99 normalize to [-1, 1])
    DIR/meta/episodes.jsonl   one line per episode: episode_index, tasks [instruction], length, seed, task,
                              success
    DIR/data/episode_000000.npz
        observation.images.front  (T, H, W, 3) uint8 RGB
        observation.state         (T, J) float32 joint positions (rad), info.json joint_names order
        action                    (T, J) float32 absolute joint position targets for the next step
        timestamp                 (T,) float32 s since the episode start
        frame_index               (T,) int32

Action t is the target commanded after observing frame t (so action t is reached around frame t+1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "mgselect-npz/1"
STATE_KEY = "observation.state"
ACTION_KEY = "action"
IMAGE_KEY = "observation.images.{camera}"
TIMESTAMP_KEY = "timestamp"
FRAME_INDEX_KEY = "frame_index"
EPISODE_FILE = "data/episode_{index:06d}.npz"
INFO_FILE = "meta/info.json"
STATS_FILE = "meta/stats.json"
EPISODES_FILE = "meta/episodes.jsonl"
QUANTILES = {"q01": 0.01, "q99": 0.99}


class DatasetError(ValueError):
    """A dataset directory is missing a part or has an inconsistent one; the message names it."""


@dataclass
class Episode:
    """One demonstration in memory."""

    images: dict[str, np.ndarray]  # camera -> (T, H, W, 3) uint8
    state: np.ndarray  # (T, J)
    action: np.ndarray  # (T, J)
    instruction: str
    task: str = ""
    seed: int | None = None
    success: bool = True
    timestamp: np.ndarray | None = None  # (T,) s; default frame_index / fps

    def __len__(self) -> int:
        return len(self.state)


def feature_stats(values: np.ndarray) -> dict[str, Any]:
    """Per-dimension statistics of (N, D) values, as JSON-ready lists."""
    values = np.asarray(values, dtype=np.float64)
    stats: dict[str, Any] = {
        "min": values.min(axis=0).tolist(), "max": values.max(axis=0).tolist(),
        "mean": values.mean(axis=0).tolist(), "std": values.std(axis=0).tolist(), "count": [len(values)]}
    for name, q in QUANTILES.items():
        stats[name] = np.quantile(values, q, axis=0).tolist()
    return stats


class DatasetWriter:
    """Writes episodes one at a time (memory stays one episode), then the meta files on `finish()`."""

    def __init__(self, root: str | Path, *, fps: float, joint_names: list[str], camera_names: list[str],
                 image_size: int, extra_info: dict[str, Any] | None = None) -> None:
        self.root = Path(root)
        if (self.root / INFO_FILE).exists():
            raise DatasetError(f"{self.root} already holds a dataset ({INFO_FILE}); choose an empty --out")
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        (self.root / "meta").mkdir(parents=True, exist_ok=True)
        self.fps = float(fps)
        self.joint_names = list(joint_names)
        self.camera_names = list(camera_names)
        self.image_size = int(image_size)
        self.extra_info = dict(extra_info or {})
        self._states: list[np.ndarray] = []
        self._actions: list[np.ndarray] = []
        self._episodes: list[dict[str, Any]] = []

    def add(self, episode: Episode) -> None:
        n, dim = len(episode), len(self.joint_names)
        if episode.state.shape != (n, dim) or episode.action.shape != (n, dim):
            raise DatasetError(f"episode state {episode.state.shape} / action {episode.action.shape}: "
                               f"expected ({n}, {dim}) each")
        shape = (n, self.image_size, self.image_size, 3)
        for camera in self.camera_names:
            image = episode.images.get(camera)
            if image is None or image.shape != shape or image.dtype != np.uint8:
                got = None if image is None else (image.shape, image.dtype)
                raise DatasetError(f"episode images for camera {camera!r}: got {got}, expected {shape} uint8")
        index = len(self._episodes)
        timestamp = (np.arange(n) / self.fps if episode.timestamp is None else episode.timestamp)
        arrays = {IMAGE_KEY.format(camera=c): episode.images[c] for c in self.camera_names}
        arrays |= {STATE_KEY: episode.state.astype(np.float32), ACTION_KEY: episode.action.astype(np.float32),
                   TIMESTAMP_KEY: np.asarray(timestamp, dtype=np.float32),
                   FRAME_INDEX_KEY: np.arange(n, dtype=np.int32)}
        np.savez_compressed(self.root / EPISODE_FILE.format(index=index), **arrays)
        self._states.append(episode.state)
        self._actions.append(episode.action)
        self._episodes.append({"episode_index": index, "tasks": [episode.instruction], "length": n,
                               "seed": episode.seed, "task": episode.task, "success": bool(episode.success)})

    def finish(self) -> dict[str, Any]:
        """Write meta/ (stats over every frame written); returns info.json's content."""
        if not self._episodes:
            raise DatasetError("no episodes were added; nothing to write")
        states, actions = np.concatenate(self._states), np.concatenate(self._actions)
        dim = len(self.joint_names)
        image_feature = {"dtype": "uint8", "shape": [self.image_size, self.image_size, 3],
                         "names": ["height", "width", "channel"]}
        info = {
            "format": FORMAT, "fps": self.fps, "total_episodes": len(self._episodes),
            "total_frames": len(states), "joint_names": self.joint_names, "camera_names": self.camera_names,
            "image_size": self.image_size, "instructions": sorted({e["tasks"][0] for e in self._episodes}),
            "features": {
                STATE_KEY: {"dtype": "float32", "shape": [dim], "names": self.joint_names},
                ACTION_KEY: {"dtype": "float32", "shape": [dim], "names": self.joint_names},
                **{IMAGE_KEY.format(camera=c): image_feature for c in self.camera_names},
                TIMESTAMP_KEY: {"dtype": "float32", "shape": [1], "names": None},
                FRAME_INDEX_KEY: {"dtype": "int32", "shape": [1], "names": None},
            },
            **self.extra_info,
        }
        stats = {STATE_KEY: feature_stats(states), ACTION_KEY: feature_stats(actions)}
        (self.root / INFO_FILE).write_text(json.dumps(info, indent=2))
        (self.root / STATS_FILE).write_text(json.dumps(stats, indent=2))
        with open(self.root / EPISODES_FILE, "w") as fh:
            for line in self._episodes:
                fh.write(json.dumps(line) + "\n")
        return info


@dataclass
class Dataset:
    """A dataset directory opened for reading; episodes load lazily."""

    root: Path
    info: dict[str, Any]
    stats: dict[str, Any]
    episodes: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.episodes)

    @property
    def joint_names(self) -> list[str]:
        return list(self.info["joint_names"])

    @property
    def camera_names(self) -> list[str]:
        return list(self.info["camera_names"])

    @property
    def fps(self) -> float:
        return float(self.info["fps"])

    @property
    def joint_limits(self) -> tuple[list[float], list[float]]:
        """(lower, upper) per joint as recorded by the collector; empty lists when the dataset has none."""
        return list(self.info.get("joint_lower") or []), list(self.info.get("joint_upper") or [])

    def load_episode(self, index: int) -> Episode:
        meta = self.episodes[index]
        path = self.root / EPISODE_FILE.format(index=meta["episode_index"])
        try:
            with np.load(path) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read episode {index}: {exc}") from exc
        keys = [STATE_KEY, ACTION_KEY, *[IMAGE_KEY.format(camera=c) for c in self.info["camera_names"]]]
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise DatasetError(f"{path}: missing arrays {missing}")
        lengths = {k: len(arrays[k]) for k in keys}
        if len(set(lengths.values())) != 1 or meta["length"] != lengths[STATE_KEY]:
            raise DatasetError(f"{path}: array lengths {lengths} disagree with each other or with "
                               f"episodes.jsonl length {meta['length']}")
        return Episode(images={c: arrays[IMAGE_KEY.format(camera=c)] for c in self.info["camera_names"]},
                       state=arrays[STATE_KEY], action=arrays[ACTION_KEY], instruction=meta["tasks"][0],
                       task=meta.get("task", ""), seed=meta.get("seed"), success=meta.get("success", True),
                       timestamp=arrays.get(TIMESTAMP_KEY))

    def __iter__(self) -> Iterator[Episode]:
        for index in range(len(self)):
            yield self.load_episode(index)


def load_dataset(root: str | Path) -> Dataset:
    """Open a dataset written by DatasetWriter; checks the meta files agree with each other."""
    root = Path(root)
    try:
        info = json.loads((root / INFO_FILE).read_text())
        stats = json.loads((root / STATS_FILE).read_text())
        episodes = [json.loads(line) for line in (root / EPISODES_FILE).read_text().splitlines() if line]
    except FileNotFoundError as exc:
        raise DatasetError(f"{root} is not a dataset: {exc.filename} is missing (write one with "
                           "`mgselect collect --out DIR`)") from exc
    if info.get("format") != FORMAT:
        raise DatasetError(f"{root / INFO_FILE}: format {info.get('format')!r}, expected {FORMAT!r}")
    if info["total_episodes"] != len(episodes):
        raise DatasetError(f"{root}: info.json says {info['total_episodes']} episodes, episodes.jsonl has "
                           f"{len(episodes)}")
    return Dataset(root=root, info=info, stats=stats, episodes=episodes)
