"""What one selection returns: the chunk to execute plus everything needed to explain the choice."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Timing:
    """Wall-clock milliseconds per phase of one selection."""

    preprocess_ms: float = 0.0
    prefill_ms: float = 0.0
    decode_ms: float = 0.0
    select_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.prefill_ms + self.decode_ms + self.select_ms


@dataclass
class SelectionResult:
    """One control step's decision.

    `chunk` is None only when no candidate (and not the greedy fallback either) decoded to a valid action:
    then `valid` is False and `reason` says why. Callers must never command the arm from an invalid result.
    """

    chunk: np.ndarray | None                 # (horizon, action_dim) in robot units, or None
    candidates: list[np.ndarray | None]       # every candidate's decoded chunk (None = did not decode)
    scores: np.ndarray                        # (N,) per-candidate score; -inf for invalid candidates
    token_kl: list[np.ndarray]                # per candidate, KL(Q_i||P_i) per action-token position
    token_logprob: list[np.ndarray]           # per candidate, log P of each sampled action token (tau=1)
    tokens: list[list[int]]                   # per candidate, the sampled action-token ids (FAST ids)
    selected: int                             # index into candidates; -1 when the greedy fallback was used
    strategy: str
    mask_mode: str | None
    valid: bool
    reason: str = ""
    fallback: bool = False                    # True when no candidate was valid and greedy was used
    timing: Timing = field(default_factory=Timing)

    @property
    def margin(self) -> float:
        """Best minus second-best valid score (0 when fewer than two are valid): how clear the choice was."""
        finite = np.sort(self.scores[np.isfinite(self.scores)])
        return float(finite[-1] - finite[-2]) if finite.size >= 2 else 0.0
