"""Candidate token ids -> an action chunk in robot units: strict (default) or relaxed (LeRobot parity).

strict: every id must be an action token and the ids must make exactly horizon x dim values; anything else
is InvalidActionTokens, so a broken candidate is rejected, never executed.
relaxed: what LeRobot 0.6.1 does before its FAST decode: every forced "Action: " token run inside the ids
is removed, ids are mapped to FAST ids whatever they are, FAST ids beyond the vocabulary are dropped and
the coefficient count is zero-padded or truncated. Where LeRobot would return its zero chunk (a negative
FAST id) the candidate is still invalid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mgselect_node.errors import InvalidActionTokens
from mgselect_node.model.bundle import PolicyBundle


def _without_runs(ids: list[int], run: list[int]) -> list[int]:
    """ids with every occurrence of the token run `run` removed (LeRobot strips "Action: " this way)."""
    if not run:
        return ids
    out, i = [], 0
    while i < len(ids):
        if ids[i:i + len(run)] == run:
            i += len(run)
        else:
            out.append(ids[i])
            i += 1
    return out


def decode_candidate(bundle: PolicyBundle, model_ids: Sequence[int], mode: str = "strict") -> np.ndarray:
    """Model token ids (terminator excluded) -> (horizon, robot joints) chunk, or InvalidActionTokens."""
    layout, tokenizer = bundle.layout, bundle.action_tokenizer
    ids = [int(token) for token in model_ids]
    if mode == "relaxed" and hasattr(tokenizer, "decode_relaxed"):
        ids = _without_runs(ids, list(getattr(bundle.prompts, "suffix_prefix", [])))
        normalized = tokenizer.decode_relaxed([layout.to_action(token) for token in ids])
    else:
        for pos, token in enumerate(ids):
            if not layout.is_action(token):
                raise InvalidActionTokens(f"token {token} at position {pos} is not an action token")
        normalized = tokenizer.decode([layout.to_action(token) for token in ids])
    return bundle.action_normalizer.unnormalize(np.asarray(normalized)[:, :bundle.spec.action_dim])
