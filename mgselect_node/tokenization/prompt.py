"""Prompt building for the conditioned pass and the masked (reference) passes of MG-Select.

Prompt layout (token ids): [<image>] * image_tokens, <bos>, then the text prompt, by default
    "Task: {instruction}, State: {state};\\nAction: "
with the instruction stripped of surrounding whitespace and the state written as decimal bin integers
(0..255) separated by single spaces, e.g. "Task: pick the red cube, State: 12 200 3;\\nAction: ".

Empty-condition format (ours to define; the MG-Select paper did not publish one): a masked condition keeps
its field label and all surrounding text byte for byte, and only the field's VALUE becomes empty:
    mask="text"  -> "Task: , State: 12 200 3;\\nAction: "
    mask="state" -> "Task: pick the red cube, State: ;\\nAction: "
    mask="both"  -> "Task: , State: ;\\nAction: "
Why: the masked prompt then differs from the conditioned one only in the removed span, so the reference
distribution Q isolates the effect of that condition (the image tokens are never masked). The text
tokenizer isolates every non-alphanumeric character, and the characters around each placeholder must be
non-alphanumeric (checked here), so the same holds at the token level: the token ids of a masked prompt
are the conditioned ids with the masked field's tokens removed.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from tokenizers import Tokenizer

from mgselect_node.config import instruction_problem
from mgselect_node.errors import InputError
from mgselect_node.tokenization.normalization import DEFAULT_STATE_BINS, discretize_state
from mgselect_node.tokenization.text_tokenizer import BOS_ID, IMAGE_ID

DEFAULT_PROMPT_FORMAT = "Task: {instruction}, State: {state};\nAction: "
PROMPT_FIELDS = ("instruction", "state")
MaskMode = Literal["text", "state", "both"]
MASK_MODES: tuple[str, ...] = ("text", "state", "both")
STATE_SEPARATOR = " "


def _check_format(prompt_format: str) -> None:
    """prompt_format must use {instruction} and {state} exactly once each, nothing else, with a
    non-alphanumeric character (or the string edge) on both sides of each placeholder."""
    if not isinstance(prompt_format, str):
        raise InputError(f"prompt_format is {type(prompt_format).__name__}; expected str")
    try:
        parsed = list(string.Formatter().parse(prompt_format))
    except ValueError as exc:
        raise InputError(f"prompt_format {prompt_format!r} is not a valid format string ({exc})") from exc
    fields = [name for _, name, spec, conv in parsed if name is not None]
    if sorted(fields) != sorted(PROMPT_FIELDS) or any(spec or conv for _, name, spec, conv in parsed if name):
        raise InputError(
            f"prompt_format {prompt_format!r} has fields {fields}; expected exactly one "
            "{instruction} and one {state} (no format specs)"
        )
    for field in PROMPT_FIELDS:
        start = prompt_format.index("{" + field + "}")
        end = start + len(field) + 2
        neighbours = prompt_format[max(start - 1, 0) : start] + prompt_format[end : end + 1]
        if any(ch.isalnum() for ch in neighbours):
            raise InputError(
                f"prompt_format {prompt_format!r}: {{{field}}} touches a letter/digit; expected a "
                "space or punctuation on both sides so masking changes only that field's tokens"
            )


class PromptBuilder:
    """Builds the text and token ids of the conditioned and masked prompts."""

    def __init__(
        self,
        text_tokenizer: Tokenizer,
        prompt_format: str = DEFAULT_PROMPT_FORMAT,
        *,
        image_tokens: int,
        state_dim: int | None = None,
        n_bins: int = DEFAULT_STATE_BINS,
    ) -> None:
        _check_format(prompt_format)
        if isinstance(image_tokens, bool) or not isinstance(image_tokens, int) or image_tokens < 0:
            raise InputError(f"image_tokens={image_tokens!r}; expected an integer >= 0")
        self.tokenizer = text_tokenizer
        self.prompt_format = prompt_format
        self.image_tokens = image_tokens
        self.state_dim = state_dim
        self.n_bins = n_bins
        self.suffix_prefix: list[int] = []  # tokens forced after the prompt (pi0-FAST: "Action: "); none here
        self.position_gap = 0  # positions skipped between prompt and first decoded token (openpi: 1)

    def state_bins(self, normalized: Any) -> np.ndarray:
        """Normalized state -> the integer bins written into the prompt."""
        return discretize_state(normalized, self.n_bins)

    def _state_text(self, state_bins: Any) -> str:
        expected = (
            f"a 1-D sequence of {self.state_dim if self.state_dim is not None else 'state_dim'} "
            f"integer bins in [0, {self.n_bins})"
        )
        array = np.asarray(state_bins)
        if array.ndim != 1 or array.size == 0 or not np.issubdtype(array.dtype, np.integer):
            raise InputError(
                f"state_bins has dtype {array.dtype} and shape {array.shape}; expected {expected}"
            )
        if self.state_dim is not None and array.size != self.state_dim:
            raise InputError(f"state_bins has {array.size} values; expected {expected}")
        if np.any((array < 0) | (array >= self.n_bins)):
            raise InputError(
                f"state_bins {array.tolist()} has values outside [0, {self.n_bins}); expected {expected}"
            )
        return STATE_SEPARATOR.join(str(int(v)) for v in array)

    def text(
        self, instruction: str, state_bins: Sequence[int] | np.ndarray, mask: MaskMode | None = None
    ) -> str:
        """The prompt text; mask empties the instruction ("text"), the state ("state") or both."""
        if not isinstance(instruction, str):
            raise InputError(f"instruction is {type(instruction).__name__}; expected str")
        problem = instruction_problem(instruction)   # before any tokenization: its cost grows with length
        if problem:
            raise InputError(f"instruction refused: {problem}")
        if mask is not None and mask not in MASK_MODES:
            raise InputError(f"mask={mask!r}; expected None or one of {MASK_MODES}")
        state = self._state_text(state_bins)  # validated even when masked, so bad input never slips through
        return self.prompt_format.format(
            instruction="" if mask in ("text", "both") else instruction.strip(),
            state="" if mask in ("state", "both") else state,
        )

    def token_ids(
        self, instruction: str, state_bins: Sequence[int] | np.ndarray, mask: MaskMode | None = None
    ) -> list[int]:
        """[IMAGE_ID] * image_tokens + [BOS_ID] + the encoded prompt text."""
        encoded = self.tokenizer.encode(self.text(instruction, state_bins, mask), add_special_tokens=False)
        return [IMAGE_ID] * self.image_tokens + [BOS_ID] + list(encoded.ids)
