"""The strategy registry: the config's choices come from it and each entry decides rows and choice alone."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from mgselect_node.config import STRATEGIES, ConfigError, SelectionConfig
from mgselect_node.engine.strategies import GREEDY, SAMPLE, STRATEGY_NAMES, get_strategy

SCORES = np.array([-np.inf, 0.2, 0.9, -np.inf, 0.5])


def test_config_choices_are_the_registry():
    assert STRATEGIES == STRATEGY_NAMES
    assert {GREEDY, SAMPLE} <= set(STRATEGY_NAMES)
    for name in STRATEGY_NAMES:
        assert SelectionConfig(strategy=name).strategy == name
    with pytest.raises(ConfigError, match="strategy='best'"):
        SelectionConfig(strategy="best")


def test_config_imports_no_torch():
    """config.py reads the registries; they must stay importable without torch (ROS param tooling)."""
    code = "import sys, mgselect_node.config; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(("name", "rows", "temperature", "mask", "chosen"), [
    ("greedy", 1, 0.0, None, 1),
    ("sample", 8, 0.7, None, 1),
    ("likelihood", 8, 0.7, None, 2),
    ("mg_select", 8, 0.7, "state", 2),
])
def test_rows_temperature_reference_and_choice(name, rows, temperature, mask, chosen):
    strategy = get_strategy(name)
    assert strategy.num_candidates(8) == rows
    assert strategy.temperature(0.7) == temperature
    assert strategy.mask_mode("state") == mask
    assert strategy.choose(SCORES) == chosen


def test_no_valid_candidate_chooses_none():
    for name in STRATEGY_NAMES:
        assert get_strategy(name).choose(np.full(3, -np.inf)) == -1


def test_unknown_strategy_names_the_known_ones():
    with pytest.raises(KeyError, match="mg_select"):
        get_strategy("mgselect")
