"""How the simulator's instruction names the target pad: a registry of naming styles.

- colour: "touch the red pad". To act on it the policy must find the pad of that colour in the image.
- position: "touch the left pad". The pads are ranked by bearing from the arm's base, as the arm sees them
  (+y, counter-clockwise, is the arm's left). Bearing, not the y coordinate: over 3000 simulated scenes the
  closest two pads were 0.20 rad apart in bearing but only 0.13 mm apart in y.

Why two styles: the tiny from-scratch policies never learned to link a colour word to the pad of that colour
(the grounding probe stayed at chance through six recipes; README, "Grounding"). A position word grounds
within a few thousand steps. A new style is one function added to INSTRUCTION_STYLES.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping, Sequence

from mgselect_node.errors import InputError

INSTRUCTION_TEMPLATE = "touch the {color} pad"
POSITION_TEMPLATE = "touch the {position} pad"
# Position words by how many pads are on the table, from the arm's right to its left.
POSITION_WORDS: dict[int, tuple[str, ...]] = {
    1: ("only",),
    2: ("right", "left"),
    3: ("right", "middle", "left"),
    4: ("far right", "middle right", "middle left", "far left"),
}

Naming = Callable[[str, Mapping[str, Sequence[float]]], str]


def colour_instruction(task: str, pad_positions: Mapping[str, Sequence[float]]) -> str:
    return INSTRUCTION_TEMPLATE.format(color=task)


def position_instruction(task: str, pad_positions: Mapping[str, Sequence[float]]) -> str:
    """The named pad's rank by bearing among the pads on the table."""
    if task not in pad_positions:
        raise InputError(f"task {task!r} is not among the pads on the table {sorted(pad_positions)}")
    words = POSITION_WORDS.get(len(pad_positions))
    if words is None:
        raise InputError(f"{len(pad_positions)} pads: position words exist for {sorted(POSITION_WORDS)} pads")
    by_bearing = sorted(pad_positions, key=lambda c: math.atan2(pad_positions[c][1], pad_positions[c][0]))
    return POSITION_TEMPLATE.format(position=words[by_bearing.index(task)])


INSTRUCTION_STYLES: dict[str, Naming] = {"colour": colour_instruction, "position": position_instruction}
DEFAULT_INSTRUCTION_STYLE = "colour"


def check_style(name: str) -> str:
    if name not in INSTRUCTION_STYLES:
        raise InputError(f"instruction style {name!r}: expected one of {sorted(INSTRUCTION_STYLES)}")
    return name


def add_style_option(parser: argparse.ArgumentParser) -> None:
    """`--instructions STYLE`, the same on every tool that runs the simulator."""
    parser.add_argument("--instructions", choices=sorted(INSTRUCTION_STYLES), default=DEFAULT_INSTRUCTION_STYLE,
                        help="how the instruction names the pad: 'touch the red pad' (colour) or 'touch the left "
                             "pad' (position)")


def instruction_for(task: str, pad_positions: Mapping[str, Sequence[float]] | None = None,
                    style: str = DEFAULT_INSTRUCTION_STYLE) -> str:
    return INSTRUCTION_STYLES[check_style(style)](task, pad_positions or {})


def parse_style_mix(text: str) -> dict[str, float]:
    """'colour' -> {colour: 1.0}; 'colour:1,position:1' -> {colour: 0.5, position: 0.5} (weights normalized)."""
    weights: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = item.partition(":")
        name = check_style(name.strip())
        try:
            value = float(weight) if weight else 1.0
        except ValueError:
            raise InputError(f"instruction mix {text!r}: weight {weight!r} of {name!r} is not a number") from None
        if not math.isfinite(value) or value < 0 or name in weights:
            raise InputError(f"instruction mix {text!r}: expected each style once with a weight >= 0")
        weights[name] = value
    total = sum(weights.values())
    if not weights or total <= 0:
        raise InputError(f"instruction mix {text!r}: expected e.g. 'colour' or 'colour:1,position:1'")
    return {name: w / total for name, w in weights.items() if w > 0}
