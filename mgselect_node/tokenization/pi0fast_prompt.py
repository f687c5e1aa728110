"""Prompts as pi0-FAST checkpoints were trained on them (LeRobot 0.6.1 and openpi layouts).

    [<image>] * image_tokens, <bos> "Task: {task}, State: {bins};\\n"  (bidirectional prefix)
LeRobot: the task is cleaned (strip, "_" and "\\n" -> space, case kept), the <bos> + text part is cut to
`tokenizer_max_length` (LeRobot pads it there; pads are masked and do not advance positions, so dropping
them changes nothing), and a second <bos> closes the prefix. openpi: the task is lowercased, no second
<bos>, the state is zero-padded to the model's state width first. Both bin the normalized state with
`digitize(x, linspace(-1, 1, 257)[:-1]) - 1` WITHOUT clipping (bins -1 and 255 at the extremes).
The decoded suffix starts with the forced tokens of "Action: " and ends at "|".

Masked references (MG-Select): the masked field's value becomes empty, its label stays, e.g.
"Task: , State: 12 200 3;\\n" (text), "Task: pick, State: ;\\n" (state), "Task: , State: ;\\n" (both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from mgselect_node.errors import InputError
from mgselect_node.tokenization.prompt import MASK_MODES

STATE_EDGES = np.linspace(-1.0, 1.0, 257)[:-1]
ACTION_PREFIX = "Action: "


@dataclass(frozen=True)
class Pi0FastPromptStyle:
    """lowercase: openpi; trailing_bos: LeRobot; max_length: cut of <bos> + text (0 = none);
    state_width: pad the normalized state with zeros to this many values (0 = no padding);
    position_gap: openpi decodes at positions prefill_len + step + 1, one position past training's."""

    name: str
    lowercase: bool
    trailing_bos: bool
    max_length: int = 0
    state_width: int = 0
    position_gap: int = 0


class Pi0FastPromptBuilder:
    """Same interface as PromptBuilder (text, token_ids, state_bins) for pi0-FAST checkpoints."""

    def __init__(self, tokenizer: Tokenizer, style: Pi0FastPromptStyle, *, image_tokens: int, bos_id: int,
                 image_id: int, state_dim: int) -> None:
        self.tokenizer = tokenizer
        self.style = style
        self.image_tokens = image_tokens
        self.bos_id, self.image_id = bos_id, image_id
        self.state_dim = state_dim
        self.suffix_prefix = list(tokenizer.encode(ACTION_PREFIX, add_special_tokens=False).ids)
        self.position_gap = style.position_gap

    def clean_task(self, instruction: str) -> str:
        if not isinstance(instruction, str):
            raise InputError(f"instruction is {type(instruction).__name__}; expected str")
        text = instruction.lower() if self.style.lowercase else instruction
        return text.strip().replace("_", " ").replace("\n", " ")

    def state_bins(self, normalized: Any) -> np.ndarray:
        """Normalized state -> bins (int64), zero-padded to the style's width first, not clipped."""
        values = np.asarray(normalized, dtype=np.float64).reshape(-1)
        if values.size != self.state_dim:
            raise InputError(f"state has {values.size} values; expected {self.state_dim}")
        if self.style.state_width > values.size:
            values = np.pad(values, (0, self.style.state_width - values.size))
        return np.digitize(values, STATE_EDGES).astype(np.int64) - 1

    def text(self, instruction: str, state_bins: Any, mask: str | None = None) -> str:
        if mask is not None and mask not in MASK_MODES:
            raise InputError(f"mask={mask!r}; expected None or one of {MASK_MODES}")
        task = "" if mask in ("text", "both") else self.clean_task(instruction)
        state = "" if mask in ("state", "both") else " ".join(str(int(b)) for b in np.asarray(state_bins))
        return f"Task: {task}, State: {state};\n"

    def text_ids(self, instruction: str, state_bins: Any, mask: str | None = None) -> list[int]:
        """<bos> + the encoded text, cut to max_length (what LeRobot's tokenizer step keeps unmasked)."""
        text = self.text(instruction, state_bins, mask)
        ids = [self.bos_id, *self.tokenizer.encode(text, add_special_tokens=False).ids]
        return ids[: self.style.max_length] if self.style.max_length else ids

    def token_ids(self, instruction: str, state_bins: Any, mask: str | None = None) -> list[int]:
        tail = [self.bos_id] if self.style.trailing_bos else []
        return [self.image_id] * self.image_tokens + self.text_ids(instruction, state_bins, mask) + tail
