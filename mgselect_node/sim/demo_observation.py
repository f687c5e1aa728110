"""Regenerate demo_observation.npz (the one-shot demo's input) from the simulator: `python -m
mgselect_node.sim.demo_observation`. A seeded scene, so the file is reproducible."""

from pathlib import Path

import numpy as np

from mgselect_node.sim.env import SimEnv

SCENE_SEED = 1_000_123  # evaluation-range seed: not a training scene


def main() -> None:
    env = SimEnv(seed=SCENE_SEED)
    obs = env.reset(seed=SCENE_SEED)
    out = Path(__file__).with_name("demo_observation.npz")
    np.savez_compressed(out, image_0=obs.image, state=obs.state, instruction=np.array(obs.instruction))
    print(f"wrote {out}: {obs.instruction!r}, state {np.round(obs.state, 3).tolist()}")


if __name__ == "__main__":
    main()
