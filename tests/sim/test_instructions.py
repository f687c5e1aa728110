"""sim/instructions.py: each style names the target pad unambiguously, and bad styles are refused clearly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.sim.env import SimEnv
from mgselect_node.sim.instructions import (
    POSITION_WORDS,
    instruction_for,
    parse_style_mix,
    position_instruction,
)


def polar(radius: float, bearing: float) -> tuple[float, float, float]:
    return (radius * math.cos(bearing), radius * math.sin(bearing), 0.0)


def test_colour_style_is_the_original_wording() -> None:
    assert instruction_for("red") == "touch the red pad"
    assert instruction_for("red", {"red": polar(0.2, 0.5)}, "colour") == "touch the red pad"


def test_position_words_follow_the_bearing_from_the_arm_right_to_left() -> None:
    pads = {"red": polar(0.18, 0.6), "green": polar(0.18, 0.0), "blue": polar(0.28, -0.3)}
    words = {c: position_instruction(c, pads) for c in pads}
    assert words == {"red": "touch the left pad", "green": "touch the middle pad", "blue": "touch the right pad"}


def test_position_uses_bearing_where_the_y_order_would_swap() -> None:
    # Two slots on the arm's right: by y the far pad would be the "right" one, by bearing it is not.
    near, far = polar(0.18, -0.6), polar(0.28, -0.3)
    near = (near[0], near[1] + 0.01, 0.0)   # jittered: y -0.092 against the far pad's -0.083 - 0.01
    far = (far[0], far[1] - 0.01, 0.0)
    assert far[1] < near[1]
    pads = {"red": near, "green": far, "blue": polar(0.18, 0.6)}
    assert position_instruction("red", pads) == "touch the right pad"
    assert position_instruction("green", pads) == "touch the middle pad"


@pytest.mark.parametrize("count", sorted(POSITION_WORDS))
def test_every_pad_count_gets_distinct_words(count: int) -> None:
    bearings = zip(("red", "green", "blue", "yellow"), (-0.6, -0.2, 0.2, 0.6), strict=True)
    pads = {c: polar(0.2, b) for c, b in list(bearings)[:count]}
    names = [position_instruction(c, pads) for c in pads]
    assert len(set(names)) == count


def test_simulated_scenes_name_each_pad_once_in_position_style() -> None:
    with SimEnv(0, image_size=16, instruction_style="position") as env:
        for seed in range(40):
            env.reset(seed=seed)
            pads = list(env.pad_positions)
            said = {}
            for pad in pads:
                obs = env.reset(seed=seed, target=pad)
                said[pad] = obs.instruction
            assert sorted(said.values()) == sorted(f"touch the {w} pad" for w in POSITION_WORDS[len(pads)])
            left = max(pads, key=lambda c: np.arctan2(env.pad_positions[c][1], env.pad_positions[c][0]))
            assert said[left] == "touch the left pad"


def test_the_style_can_change_between_episodes_and_bad_styles_are_refused() -> None:
    with SimEnv(0, image_size=16) as env:
        env.reset(seed=3)
        assert env.instruction == f"touch the {env.task} pad"
        env.instruction_style = "position"
        assert env.instruction.split()[2] in ("left", "middle", "right")
        with pytest.raises(InputError, match="instruction style 'shape'"):
            env.instruction_style = "shape"
    with pytest.raises(InputError, match="expected one of"):
        SimEnv(0, image_size=16, instruction_style="Colour")


def test_position_refuses_a_task_that_is_not_on_the_table() -> None:
    with pytest.raises(InputError, match="not among the pads"):
        position_instruction("red", {"blue": polar(0.2, 0.0)})


def test_style_mixes_are_normalized_and_checked() -> None:
    assert parse_style_mix("colour") == {"colour": 1.0}
    assert parse_style_mix("colour:1,position:3") == {"colour": 0.25, "position": 0.75}
    assert parse_style_mix("colour:0,position:2") == {"position": 1.0}
    for bad, match in (("", "expected e.g."), ("colour:x", "not a number"), ("colour,colour", "each style once"),
                       ("colour:-1", "weight >= 0"), ("size", "expected one of"), ("colour:0", "expected e.g.")):
        with pytest.raises(InputError, match=match):
            parse_style_mix(bad)
