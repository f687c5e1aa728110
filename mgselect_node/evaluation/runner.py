"""Closed-loop episodes: the policy (mgselect_node.engine) drives sim/env.SimEnv in-process, no DDS.

Episode k of every cell uses scene seed `seed + k` (default 1_000_000: `mgselect collect` trains on seeds from
0, so these are unseen scenes), and the sampling seed of inference j in episode k is the same for every cell
(common random numbers: the strategies differ only in how they choose, not in luck).

At every inference the selected chunk is turned into joint targets (delta policies add the current state) and
its first `execute_steps` points are executed at the control rate, then the policy replans, until success or
the episode's time limit. An inference with no valid action at all (no candidate and not the engine's greedy
fallback decoded) holds the arm for `execute_steps` steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from mgselect_node.config import SelectionConfig
from mgselect_node.contracts import episode_inference_seed as inference_seed
from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import Cell
from mgselect_node.evaluation.workers import map_jobs
from mgselect_node.sim.instructions import DEFAULT_INSTRUCTION_STYLE

DEFAULT_EPISODES = 20
DEFAULT_SEED = 1_000_000      # scene seeds disjoint from `mgselect collect`'s (0, 1, 2, ...)
DEFAULT_EXECUTE_STEPS = 5     # half of a 10-step chunk, then replan
DEFAULT_TEMPERATURE = 1.0    # chosen on development scenes: at 0.5 most N=4 draws were identical
# inference_seed(scene_seed, index): the sampling seed of inference (or probed step) `index` in a scene, equal
# across cells; defined with the other seed formulas in mgselect_node.contracts


@dataclass
class EpisodeResult:
    cell: str
    episode: int
    scene_seed: int
    task: str
    success: bool
    steps: int
    inferences: int
    latency_ms: list[float] = field(default_factory=list)
    candidates: int = 0
    valid_candidates: int = 0
    no_action: int = 0          # inferences where nothing valid came out (arm held)
    fallbacks: int = 0          # inferences rescued by the engine's greedy fallback
    final_distance: float = float("nan")
    nearest_pad: str = ""


@dataclass
class EvalSettings:
    policy: str
    episodes: int = DEFAULT_EPISODES
    seed: int = DEFAULT_SEED
    temperature: float = DEFAULT_TEMPERATURE
    aggregation: str = "sum"
    execute_steps: int = DEFAULT_EXECUTE_STEPS
    episode_seconds: float = 0.0   # 0 = the simulator's default
    image_size: int = 0            # 0 = the simulator's default (what `mgselect collect` records)
    threads: int = 1
    instructions: str = DEFAULT_INSTRUCTION_STYLE  # how the instruction names the pad (sim/instructions.py)


class Evaluator:
    """One policy + one simulator; runs episodes of any cell. One per worker process."""

    def __init__(self, settings: EvalSettings) -> None:
        import torch

        from mgselect_node.engine.policy import load_policy
        from mgselect_node.sim.env import DEFAULT_EPISODE_SECONDS, DEFAULT_IMAGE_SIZE, SimEnv

        if settings.threads > 0:
            torch.set_num_threads(settings.threads)
        self.settings = settings
        self.policy = load_policy(settings.policy)
        spec = self.policy.spec
        self.env = SimEnv(seed=settings.seed, image_size=settings.image_size or DEFAULT_IMAGE_SIZE,
                          control_rate=spec.control_rate,
                          episode_seconds=settings.episode_seconds or DEFAULT_EPISODE_SECONDS,
                          instruction_style=settings.instructions)
        if list(spec.joint_names) != list(self.env.joint_names) or \
                list(spec.camera_names) != list(self.env.camera_names):
            raise InputError(f"policy {settings.policy!r} drives joints {spec.joint_names} / cameras "
                             f"{spec.camera_names}; the simulator has {list(self.env.joint_names)} / "
                             f"{list(self.env.camera_names)}")
        self.policy.warmup()

    def config(self, cell: Cell) -> SelectionConfig:
        return SelectionConfig(strategy=cell.strategy, num_candidates=cell.num_candidates,
                               temperature=self.settings.temperature, mask_mode=cell.mask_mode or "text",
                               aggregation=self.settings.aggregation)

    def run_episode(self, cell: Cell, episode: int) -> EpisodeResult:
        env, policy, spec = self.env, self.policy, self.policy.spec
        scene = self.settings.seed + episode
        obs = env.reset(seed=scene)
        base = self.config(cell)
        out = EpisodeResult(cell=cell.label, episode=episode, scene_seed=scene, task=env.task, success=False,
                            steps=0, inferences=0)
        while not env.done:
            seed = inference_seed(scene, out.inferences)
            result = policy.select(obs.images, obs.state, obs.instruction, base.replace(seed=seed))
            out.inferences += 1
            out.latency_ms.append(result.timing.total_ms)
            out.candidates += len(result.candidates)
            out.valid_candidates += sum(c is not None for c in result.candidates)
            out.fallbacks += int(result.fallback)
            if result.valid:
                targets = spec.to_joint_positions(result.chunk, obs.state)
            else:
                out.no_action += 1
                targets = np.repeat(obs.state[None], self.settings.execute_steps, axis=0)
            for target in targets[:self.settings.execute_steps]:
                obs = env.step(target)
                if env.done:
                    break
        info = env.info()
        out.success, out.steps = bool(env.success), env.steps
        out.final_distance = float(info["tip_distance"])
        out.nearest_pad = str(info["nearest_pad"])
        return out

    def close(self) -> None:
        self.env.close()


def _run_job(evaluator: Evaluator, job: tuple[Cell, int]) -> EpisodeResult:
    return evaluator.run_episode(*job)


def run_cells(settings: EvalSettings, cells: Sequence[Cell], workers: int = 1,
              progress: bool = True) -> list[EpisodeResult]:
    """Every (cell, episode) job, in-process (workers=1) or over `workers` spawned processes."""
    from tqdm import tqdm

    jobs = [(cell, k) for cell in cells for k in range(settings.episodes)]
    results: list[EpisodeResult] = []
    bar = tqdm(total=len(jobs), desc="eval", unit="ep", disable=not progress, dynamic_ncols=True)
    for result in map_jobs(Evaluator, settings, jobs, _run_job, workers):
        results.append(result)
        _progress(bar, results)
    bar.close()
    return results


def _progress(bar: object, results: list[EpisodeResult]) -> None:
    last = results[-1]
    same = [r for r in results if r.cell == last.cell]
    bar.set_postfix_str(f"{last.cell}: {sum(r.success for r in same)}/{len(same)}", refresh=False)
    bar.update(1)
