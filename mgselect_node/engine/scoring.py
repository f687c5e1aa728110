"""Where MG-Select's score is computed: the token confidence KL(Q_i || P_i) and its aggregation over a
candidate's action tokens. The engine's decode loop and the benchmarks' reference implementations call these
same functions, so a benchmark can never time a different score than the one the node uses.

Imports no torch at module level (config.py reads AGGREGATION_NAMES): the functions work on torch tensors
and numpy arrays alike through their methods. Adding an aggregation means adding one entry to _AGGREGATIONS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
