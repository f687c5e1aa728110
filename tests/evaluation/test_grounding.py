"""evaluation/grounding.py: the instruction probe tells a policy that reads the colour word from one that does
not."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mgselect_node.evaluation.grounding import grounding_of, grounding_table
from mgselect_node.sim.env import SimEnv
from mgselect_node.sim.expert import ScriptedExpert
from mgselect_node.sim.instructions import POSITION_WORDS

HORIZON = 10
SEEDS = range(2000000, 2000004)


class ScriptedPolicy:
    """Returns the expert's first chunk towards the pad it is told about (or always towards one fixed choice)."""

    spec = SimpleNamespace(horizon=HORIZON, to_joint_positions=lambda chunk, state: chunk)

    def __init__(self, env: SimEnv, reads_instruction: bool) -> None:
        self.env, self.reads_instruction = env, reads_instruction

    def select(self, images, state, instruction, **config):
        env = self.env
        if not self.reads_instruction:  # always the first pad of the scene, whatever was asked
            env = SimEnv(0, image_size=16)
            env.reset(seed=self.env.episode_seed, target=next(iter(self.env.pad_positions)))
        assert instruction.endswith(f"{self.env.task} pad")
        chunk = np.asarray(ScriptedExpert(env).reset())[:HORIZON]
        kl = 0.5 if self.reads_instruction else 0.0
        return SimpleNamespace(valid=True, chunk=chunk, token_kl=[np.full(3, kl)])


@pytest.fixture(scope="module")
def env():
    with SimEnv(0, image_size=16) as env:
        yield env


def test_a_policy_that_reads_the_instruction_follows_every_named_pad(env):
    probe = grounding_of(env, ScriptedPolicy(env, reads_instruction=True), SEEDS, temperature=1.0)
    assert probe["named"] == 3 * len(SEEDS) and probe["follows_instruction"] == probe["named"]
    assert probe["mean_distinct_headings"] == 3.0 and probe["mean_text_masked_token_kl"] == pytest.approx(0.5)


def test_a_policy_that_ignores_the_instruction_is_right_by_chance_only(env):
    probe = grounding_of(env, ScriptedPolicy(env, reads_instruction=False), SEEDS, temperature=1.0)
    assert probe["follows_instruction"] == len(SEEDS)  # once per scene: when the fixed pad is the named one
    assert probe["accuracy"] == pytest.approx(probe["chance"]) and probe["mean_distinct_headings"] == 1.0
    table = grounding_table({"policy": "p", "scenes": len(SEEDS), "seed": SEEDS[0], **probe})
    assert "4/12 = 33%" in table and "1.00 of 3" in table


class PositionReader:
    """Reads only the position word and the scene (as a policy reads its image): heads for the pad it names."""

    spec = SimpleNamespace(horizon=HORIZON, to_joint_positions=lambda chunk, state: chunk)

    def __init__(self, env: SimEnv) -> None:
        self.env = env

    def select(self, images, state, instruction, **config):
        pads = self.env.pad_positions
        by_bearing = sorted(pads, key=lambda c: np.arctan2(pads[c][1], pads[c][0]))
        word = instruction.removeprefix("touch the ").removesuffix(" pad")
        target = by_bearing[POSITION_WORDS[len(pads)].index(word)]
        scene = SimEnv(0, image_size=16)
        scene.reset(seed=self.env.episode_seed, target=target)
        chunk = np.asarray(ScriptedExpert(scene).reset())[:HORIZON]
        return SimpleNamespace(valid=True, chunk=chunk, token_kl=[np.full(3, 0.5)])


def test_position_instructions_tell_a_reader_of_the_word_every_pad():
    with SimEnv(0, image_size=16, instruction_style="position") as env:
        probe = grounding_of(env, PositionReader(env), SEEDS, temperature=1.0)
    assert probe["follows_instruction"] == probe["named"] == 3 * len(SEEDS)
