"""Selection strategies: how many candidates a call decodes, whether it runs the masked reference rows, and
how it picks one candidate.

The registry below is the only place a strategy is defined: the config's choices (config.STRATEGIES), the
engine and the evaluation all read it. Adding a strategy means adding one `Strategy` entry to `_REGISTRY`
(give it a new `score` name only if the engine learns to compute that score). Imports only the standard
library and numpy, so that config.py can import it without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SCORE_KL = "token_kl"            # aggregated KL(Q_i || P_i) over action tokens (engine/scoring.py)
SCORE_LOGPROB = "token_logprob"  # aggregated log P of the sampled action tokens


@dataclass(frozen=True)
class Strategy:
    """One selection strategy. Scores of candidates that do not decode are -inf before `choose` sees them."""

    name: str
    description: str
    samples: bool           # N candidates at the config's temperature; False: one row at temperature 0
    needs_reference: bool   # decode N masked reference rows alongside (MG-Select's Q)
    score: str              # SCORE_KL or SCORE_LOGPROB: what `scores` holds (reported even when not chosen by)
    by_score: bool          # True: argmax of the score; False: the first candidate that decodes

    def num_candidates(self, requested: int) -> int:
        return requested if self.samples else 1

    def temperature(self, requested: float) -> float:
        return requested if self.samples else 0.0

    def mask_mode(self, requested: str) -> str | None:
        """The reference prompt's mask, or None when this strategy decodes no reference rows."""
        return requested if self.needs_reference else None

    def choose(self, scores: np.ndarray) -> int:
        """Index of the chosen candidate among finite scores; -1 when none decoded."""
        finite = np.isfinite(scores)
        if not finite.any():
            return -1
        return int(np.argmax(scores)) if self.by_score else int(np.flatnonzero(finite)[0])


_REGISTRY: dict[str, Strategy] = {s.name: s for s in (
    Strategy("greedy", "one greedy (temperature 0) row", samples=False, needs_reference=False,
             score=SCORE_LOGPROB, by_score=False),
    Strategy("sample", "N sampled rows, the first that decodes", samples=True, needs_reference=False,
             score=SCORE_LOGPROB, by_score=False),
    Strategy("likelihood", "best-of-N by log-prob of the sampled tokens", samples=True, needs_reference=False,
             score=SCORE_LOGPROB, by_score=True),
    Strategy("mg_select", "best-of-N by KL from the masked reference", samples=True, needs_reference=True,
             score=SCORE_KL, by_score=True),
)}

STRATEGY_NAMES: tuple[str, ...] = tuple(_REGISTRY)
GREEDY = "greedy"  # the fallback when no sampled candidate decodes
SAMPLE = "sample"  # one sampled candidate: what every by_score strategy reduces to at N = 1


def get_strategy(name: str) -> Strategy:
    """The registered strategy `name`; KeyError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown strategy {name!r}; known: {list(STRATEGY_NAMES)}") from None


def describe() -> str:
    """'greedy | sample | ...' with one-line meanings, for parameter descriptions and --help."""
    return "; ".join(f"{s.name}: {s.description}" for s in _REGISTRY.values())
