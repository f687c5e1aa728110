"""Where MG-Select's score is computed: the token confidence KL(Q_i || P_i) and its aggregation over a
candidate's action tokens. The engine's decode loop and the benchmarks' reference implementations call these
same functions, so a benchmark can never time a different score than the one the node uses.

Imports no torch at module level (config.py reads AGGREGATION_NAMES): the functions work on torch tensors
and numpy arrays alike through their methods. Adding an aggregation means adding one entry to _AGGREGATIONS.

Also here: BID's backward coherence (Liu et al. 2024), the optional second term of the selection score that
control/seams.py applies against the trajectory the arm is executing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def token_kl(log_q: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """KL(Q || P) over the last (vocabulary) axis from log-probabilities: sum_v Q(v) (log Q(v) - log P(v)).
    Reference first, as in the paper: large where the conditions moved the model away from the reference."""
    return (log_q.exp() * (log_q - log_p)).sum(dim=-1)


_AGGREGATIONS: dict[str, Callable[[Any], Any]] = {
    "sum": lambda values: values.sum(),
    "mean": lambda values: values.mean(),
}
AGGREGATION_NAMES: tuple[str, ...] = tuple(_AGGREGATIONS)


def aggregate(name: str, values: Any) -> float:
    """Per-token values (numpy array or 1-D tensor) -> one candidate score; 0.0 for a candidate with no
    action tokens (it never decodes, so its score is replaced by -inf anyway)."""
    if name not in _AGGREGATIONS:
        raise KeyError(f"unknown aggregation {name!r}; known: {list(AGGREGATION_NAMES)}")
    if len(values) == 0:
        return 0.0
    return float(_AGGREGATIONS[name](values))


STD_FLOOR = 1e-12   # below this spread every candidate counts as equal on that score


def backward_coherence(candidates: Sequence[np.ndarray | None], reference: np.ndarray, decay: float) -> np.ndarray:
    """Per candidate: beta^i-weighted mean joint-space distance of its first len(reference) points to
    `reference` (what the arm is committed to at the same times); inf for a candidate that did not decode,
    0 for every candidate when there is no overlap."""
    reference = np.asarray(reference, dtype=np.float64)
    n = reference.shape[0]
    costs = np.array([np.inf if c is None else 0.0 for c in candidates])
    if n == 0:
        return costs
    weights = decay ** np.arange(n, dtype=np.float64)
    total = max(float(weights.sum()), STD_FLOOR)
    for i, cand in enumerate(candidates):
        if cand is not None:
            distance = np.linalg.norm(np.asarray(cand, dtype=np.float64)[:n] - reference, axis=1)
            costs[i] = float(np.dot(weights, distance) / total)
    return costs


def _standardized(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > STD_FLOOR else np.zeros_like(values)


def coherent_choice(scores: np.ndarray, costs: np.ndarray, weight: float) -> int | None:
    """argmax of z(score) - weight * z(cost) over candidates valid on both; None when none is.

    Both terms are standardized over the valid candidates so `weight` is unit-free: 1 = equal say.
    """
    scores, costs = np.asarray(scores, dtype=np.float64), np.asarray(costs, dtype=np.float64)
    valid = np.flatnonzero(np.isfinite(scores) & np.isfinite(costs))
    if valid.size == 0:
        return None
    combined = _standardized(scores[valid]) - weight * _standardized(costs[valid])
    return int(valid[int(np.argmax(combined))])
