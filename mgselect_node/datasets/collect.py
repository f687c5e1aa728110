"""`mgselect collect`: scripted-expert demonstrations in the simulator -> a dataset directory.

    mgselect collect --episodes 50 --out data/touch50 [--seed 0] [--image-size 96]

Attempt k uses scene seed `seed + k` and task k mod 4 (red, green, blue, yellow), so the colours are balanced
even for 30 demos; an attempt the expert fails is skipped and the next seed is tried. With
--targets-per-layout P > 1, scene j (seed `seed + j`) is recorded once per pad, up to P of them (same pads,
same colours, same start pose, another pad named each time): the same first image goes with several
instructions and motions, so only the instruction tells them apart (contrastive demonstrations for grounding
the colour word). --num-objects 1,2,3 takes the pad counts in turn scene by scene. --instructions
colour:1,position:1 names the pad of each attempt in one of the styles of sim/instructions.py, drawn with those
weights from a generator of its own (a single style draws nothing: the old plan bit for bit).

Each episode is recorded up to the expert's touch and on for --hold-steps steps in all (the policy must learn to
stay). The layout is LeRobot's with .npz instead of parquet/mp4: see mgselect_node/datasets/episodes.py for why
and for the files.
Evaluation should use scene seeds outside [seed, seed + attempts), e.g. from 1_000_000 on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mgselect_node.datasets.episodes import DatasetWriter, Episode
from mgselect_node.sim.env import DEFAULT_IMAGE_SIZE, DEFAULT_NUM_OBJECTS, TASKS, SimEnv
from mgselect_node.sim.expert import ScriptedExpert
from mgselect_node.sim.instructions import DEFAULT_INSTRUCTION_STYLE, INSTRUCTION_TEMPLATE, POSITION_TEMPLATE

DEFAULT_EPISODES = 50
DEFAULT_HOLD_STEPS = 10  # steps recorded from the touch on: about one action chunk of staying on the pad
MAX_ATTEMPTS_FACTOR = 2  # give up after this many attempts per requested episode
STYLE_STREAM = 0x5717E  # spawn key of the instruction-style generator: independent of the scene seeds


def record_episode(env: SimEnv, seed: int, task: str | None, hold_steps: int, target: str | None = None) -> Episode:
    """One expert episode from reset(seed, task, target): frames up to the touch, `hold_steps` in all from it
    on."""
    obs = env.reset(seed=seed, task=task, target=target)
    expert = ScriptedExpert(env)
    expert.reset()
    images, states, actions = [], [], []
    remaining = hold_steps
    while env.steps < env.max_steps and remaining > 0:
        action = expert.act(obs)
        images.append(obs.image)
        states.append(obs.state)
        actions.append(action)
        obs = env.step(action)
        if env.success:
            remaining -= 1
    return Episode(images={env.camera_names[0]: np.stack(images)}, state=np.array(states),
                   action=np.array(actions), instruction=env.instruction, task=env.task, seed=seed,
                   success=env.success)


def collect(out: str | Path, episodes: int, *, seed: int = 0, image_size: int = DEFAULT_IMAGE_SIZE,
            num_objects: int | Sequence[int] = DEFAULT_NUM_OBJECTS, hold_steps: int = DEFAULT_HOLD_STEPS,
            targets_per_layout: int = 1, instructions: Mapping[str, float] | None = None,
            progress: bool = True) -> dict[str, object]:
    """Write `episodes` successful expert demonstrations to `out`; returns info.json plus attempt counts.

    num_objects: pads per scene, or several counts taken in turn scene by scene (e.g. (1, 2, 3): a scene with
    one pad teaches "go to the pad you see" on its own, which the colour word then only has to choose among).
    instructions: style -> probability (sim/instructions.parse_style_mix); None = colour only."""
    mix = dict(instructions or {DEFAULT_INSTRUCTION_STYLE: 1.0})
    counts = [num_objects] if isinstance(num_objects, int) else list(num_objects)
    if episodes < 1 or hold_steps < 1:
        raise ValueError(f"episodes={episodes}, hold_steps={hold_steps}: both must be >= 1")
    if not counts or not 1 <= targets_per_layout <= max(counts):
        raise ValueError(f"targets_per_layout={targets_per_layout}, num_objects={num_objects}: expected at least "
                         "one pad count and 1..max(num_objects) targets per scene")
    envs = {n: SimEnv(seed=seed, image_size=image_size, num_objects=n) for n in sorted(set(counts))}
    env = envs[counts[0]]
    expert_defaults = ScriptedExpert(env)
    writer = DatasetWriter(
        out, fps=env.control_rate, joint_names=list(env.joint_names), camera_names=list(env.camera_names),
        image_size=image_size,
        extra_info={
            "source": "mgselect collect (scripted expert)", "seed": seed,
            "joint_lower": env.joint_lower.tolist(), "joint_upper": env.joint_upper.tolist(),
            "tasks": list(TASKS), "instruction_template": INSTRUCTION_TEMPLATE,
            "position_template": POSITION_TEMPLATE, "instruction_styles": mix,
            "env": {"num_objects": num_objects if isinstance(num_objects, int) else counts,
                    "control_rate": env.control_rate,
                    "episode_seconds": env.episode_seconds, "success_tolerance": env.success_tolerance,
                    "image_size": image_size, "targets_per_layout": targets_per_layout},
            "expert": {"hover_height": expert_defaults.hover_height,
                       "max_joint_speed": expert_defaults.max_joint_speed,
                       "descent_seconds": expert_defaults.descent_seconds, "hold_steps": hold_steps},
        })
    attempts = written = frames = 0
    started = time.monotonic()
    plan = _attempt_plan(seed, counts, targets_per_layout)
    styles = _style_plan(seed, mix)
    with tqdm(total=episodes, desc="collect", unit="ep", disable=not progress) as bar:
        while written < episodes:
            if attempts >= episodes * MAX_ATTEMPTS_FACTOR:
                raise RuntimeError(f"the expert failed {attempts - written} of {attempts} attempts; "
                                   "the simulator or expert is broken")
            scene, count, task, target_index = next(plan)
            env = envs[count]
            env.instruction_style = next(styles)
            target = None
            if target_index is not None:
                env.reset(seed=scene)
                target = list(env.pad_positions)[target_index]
            episode = record_episode(env, scene, task, hold_steps, target=target)
            attempts += 1
            if not episode.success:
                continue
            writer.add(episode)
            written += 1
            frames += len(episode)
            bar.update(1)
            bar.set_postfix(frames=frames, expert_success=f"{written}/{attempts}")
    for each in envs.values():
        each.close()
    info = writer.finish()
    return {**info, "attempts": attempts, "seconds": time.monotonic() - started}


def _style_plan(seed: int, mix: Mapping[str, float]) -> Iterator[str]:
    """The instruction style of each attempt: drawn with the mix's weights, or the one style without a draw."""
    names, weights = list(mix), np.array(list(mix.values()), dtype=float)
    rng = np.random.default_rng([seed, STYLE_STREAM]) if len(names) > 1 else None
    while True:
        yield names[0] if rng is None else names[rng.choice(len(names), p=weights / weights.sum())]


def _attempt_plan(seed: int, counts: list[int], targets_per_layout: int
                  ) -> Iterator[tuple[int, int, str | None, int | None]]:
    """(scene seed, pads, task override, index of the named pad) per attempt. One target per scene: scene seed
    seed + k, task k mod 4 (balanced colours). Several: scene j (seed + j, counts[j mod len]) is repeated once
    per named pad, min(targets_per_layout, pads) times."""
    attempt = scene = 0
    while True:
        count = counts[scene % len(counts)]
        if targets_per_layout == 1:
            yield seed + attempt, count, TASKS[attempt % len(TASKS)], None
            attempt += 1
        else:
            for index in range(min(targets_per_layout, count)):
                yield seed + scene, count, None, index
        scene += 1
