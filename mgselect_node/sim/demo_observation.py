"""Regenerate the bundled observations in mgselect_node/data from the simulator: `python -m
mgselect_node.sim.demo_observation`. Seeded scenes, so the files are reproducible.
- demo_observation.npz: the one-shot demo's input;
- bench_observation.npz: `mgselect bench`'s input, a scene on which the default bundle's greedy chunk decodes
  (and is about as long as MG-Select's candidates), so the variable-length comparison is not one of a failed
  greedy chunk against complete ones."""

from pathlib import Path

import numpy as np

from mgselect_node.sim.env import SimEnv

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SCENE_SEEDS = {"demo_observation.npz": 1_000_123,  # evaluation-range seeds: not training scenes
               "bench_observation.npz": 1_000_100}


def main() -> None:
    for name, seed in SCENE_SEEDS.items():
        env = SimEnv(seed=seed)
        obs = env.reset(seed=seed)
        out = DATA_DIR / name
        np.savez_compressed(out, image_0=obs.image, state=obs.state, instruction=np.array(obs.instruction))
        print(f"wrote {out}: {obs.instruction!r}, state {np.round(obs.state, 3).tolist()}")


if __name__ == "__main__":
    main()
