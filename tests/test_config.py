"""Config ranges reflect what works: a value that passes validation must not break inference or commanding."""

from __future__ import annotations

import pytest

from mgselect_node.config import (
    MAX_INSTRUCTION_CHARS,
    MAX_INSTRUCTION_WORD_CHARS,
    MIN_CONTROL_RATE,
    MIN_TEMPERATURE,
    Config,
    ConfigError,
    instruction_problem,
)


@pytest.mark.parametrize("name, value, words", [
    ("control_rate", 1e-300, f"at least {MIN_CONTROL_RATE}"),      # used to overflow time_from_start
    ("temperature", 1e-300, f"at least {MIN_TEMPERATURE}"),        # logits / tau overflow
    ("max_observation_age", 1e300, "above the maximum"),
    ("sync_slop", 1e300, "above the maximum"),
    ("max_image_pixels", 0, "below the minimum"),
    ("instruction", "x" * (MAX_INSTRUCTION_CHARS + 1), f"at most {MAX_INSTRUCTION_CHARS}"),
    ("instruction", "a" * (MAX_INSTRUCTION_WORD_CHARS + 1), "word"),
])
def test_values_that_would_break_inference_are_refused(name, value, words):
    with pytest.raises(ConfigError, match=words):
        Config().with_flat({name: value})


def test_zero_keeps_its_meaning_and_the_limits_themselves_pass():
    config = Config().with_flat({"control_rate": 0.0, "temperature": 0.0})
    assert config.node.control_rate == 0.0 and config.selection.temperature == 0.0
    Config().with_flat({"control_rate": MIN_CONTROL_RATE, "temperature": MIN_TEMPERATURE,
                        "instruction": "a" * MAX_INSTRUCTION_WORD_CHARS})


def test_instruction_check_is_cheap_on_a_megabyte():
    assert "characters" in instruction_problem("a" * 1_000_000)
    assert instruction_problem("pick up the red cube, then place it on the plate") == ""


def test_command_age_below_observation_age_is_refused_with_the_reason():
    with pytest.raises(ConfigError, match=r"max_command_age=0\.2 is below max_observation_age=0\.5"):
        Config().with_flat({"max_command_age": 0.2})
    assert Config().with_flat({"max_observation_age": 2.0, "max_command_age": 3.0}).node.max_command_age == 3.0
