"""A tiny dataset on disk in `mgselect collect`'s format: smooth joint trajectories towards an
instruction-dependent goal, with a coloured square in the image (the one format training reads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mgselect_node.datasets.episodes import Dataset, DatasetWriter, Episode, load_dataset

JOINTS = ["j1", "j2", "j3"]
INSTRUCTIONS = ["touch the red pad", "touch the blue pad"]
FRAMES = 12
IMAGE = 32
CAMERA = "front"
FPS = 10.0
LIMIT = 2.0


def synthetic_episodes(episodes: int = 4, seed: int = 0) -> list[Episode]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(episodes):
        goal = np.array([0.8, -0.4, 0.3]) * (1 if k % 2 == 0 else -1)
        start = rng.uniform(-0.2, 0.2, len(JOINTS))
        states = start + (goal - start) * np.linspace(0.0, 1.0, FRAMES)[:, None]
        images = np.zeros((FRAMES, IMAGE, IMAGE, 3), dtype=np.uint8)
        images[:, 4:12, 4:12, k % 2 * 2] = 255
        out.append(Episode(images={CAMERA: images}, state=states, action=np.vstack([states[1:], states[-1:]]),
                           instruction=INSTRUCTIONS[k % 2], seed=k))
    return out


def synthetic_dataset(root: Path, episodes: list[Episode] | None = None) -> Dataset:
    """Write `episodes` (default: synthetic_episodes()) under root and open it like `mgselect train` does."""
    writer = DatasetWriter(root, fps=FPS, joint_names=JOINTS, camera_names=[CAMERA], image_size=IMAGE,
                           extra_info={"joint_lower": [-LIMIT] * len(JOINTS), "joint_upper": [LIMIT] * len(JOINTS)})
    for episode in synthetic_episodes() if episodes is None else episodes:
        writer.add(episode)
    writer.finish()
    return load_dataset(root)
