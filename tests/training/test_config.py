"""The training recipe: bad values are refused with the reason."""

from __future__ import annotations

import pytest

from mgselect_node.errors import InputError
from mgselect_node.training.config import TrainConfig, parse_dropout


@pytest.mark.parametrize("text", ["image=0.1", "text=2", "text=0.6,state=0.6", "text=abc", "text"])
def test_bad_dropout_is_rejected_clearly(text):
    with pytest.raises(InputError, match="dropout"):
        parse_dropout(text)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("steps", 0, "steps"), ("lr", 0.0, "lr"), ("dims", "huge", "dims"), ("schedule", "step", "schedule"),
    ("action_mode", "velocity", "action_mode"), ("weights_dtype", "int8", "weights_dtype"),
    ("max_episodes", -1, "max_episodes"),
])
def test_bad_recipe_values_are_refused(field, value, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(out="x", **{field: value})
