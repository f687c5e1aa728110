"""The evaluation grid: which (strategy, mask, N) cells to run, deduplicated.

Cells (N = --num-candidates): greedy once (N is meaningless for it); sample at every N: with N > 1 it
takes the first VALID candidate, so `sample N` is the control that separates "N draws give a valid action
more often" from "the score picks a better one"; likelihood and mg_select:<mask> at every N > 1. Their
N=1 cells are the sample N=1 cell (same seed -> the same single candidate) and are not rerun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mgselect_node.config import MASK_MODES
from mgselect_node.engine.strategies import GREEDY, SAMPLE, STRATEGY_NAMES, get_strategy
from mgselect_node.errors import InputError

DEFAULT_STRATEGIES = "greedy,sample,likelihood,mg_select:text,mg_select:state,mg_select:both"
DEFAULT_NUM_CANDIDATES = "1,2,4,8"


@dataclass(frozen=True)
class Cell:
    """One (strategy, mask, N) combination; `label` is what the table shows."""

    strategy: str
    num_candidates: int
    mask_mode: str | None = None

    @property
    def label(self) -> str:
        return self.family if not get_strategy(self.strategy).samples else f"{self.family} N={self.num_candidates}"

    @property
    def family(self) -> str:
        return f"{self.strategy}:{self.mask_mode}" if get_strategy(self.strategy).needs_reference else self.strategy


def parse_strategies(text: str) -> list[tuple[str, str | None]]:
    """'greedy,mg_select:text' -> [('greedy', None), ('mg_select', 'text')]; a strategy with a masked
    reference takes a mask (bare = the first mask mode, text)."""
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, mask = item.partition(":")
        strategy = get_strategy(name) if name in STRATEGY_NAMES else None
        if strategy is not None and strategy.needs_reference:
            mask = mask or MASK_MODES[0]
            if mask not in MASK_MODES:
                raise InputError(f"--strategies: {item!r} has mask {mask!r}, expected one of {MASK_MODES}")
            out.append((name, mask))
        elif strategy is not None and not mask:
            out.append((name, None))
        else:
            expected = [f"{s}:<{'|'.join(MASK_MODES)}>" if get_strategy(s).needs_reference else s
                        for s in STRATEGY_NAMES]
            raise InputError(f"--strategies: unknown {item!r}; expected one of {', '.join(expected)}")
    if not out:
        raise InputError("--strategies: expected at least one strategy")
    return out


def parse_int_list(text: str, option: str, minimum: int, unit: str = "") -> list[int]:
    """'4,1,2' -> [1, 2, 4] (sorted, unique); InputError naming `option` unless all are integers >= minimum."""
    unit = f" ({unit})" if unit else ""
    try:
        values = sorted({int(p) for p in text.split(",") if p.strip()})
    except ValueError as exc:
        raise InputError(f"{option} {text!r}: expected comma-separated integers{unit}") from exc
    if not values or values[0] < minimum:
        raise InputError(f"{option} {text!r}: expected integers >= {minimum}{unit}")
    return values


def parse_counts(text: str) -> list[int]:
    return parse_int_list(text, "--num-candidates", 1)


def plan_cells(strategies: Sequence[tuple[str, str | None]], counts: Sequence[int]) -> list[Cell]:
    """The deduplicated grid (see the module docstring)."""
    cells: list[Cell] = []
    for name, mask in strategies:
        strategy = get_strategy(name)
        if not strategy.samples:
            cells.append(Cell(name, 1))
        elif not strategy.by_score:
            cells += [Cell(name, n) for n in counts]
        else:
            cells += [Cell(name, n, mask) for n in counts if n > 1]
    # N=1 of a by-score strategy is the sample cell: make sure it is there when N=1 was asked for.
    if 1 in counts and any(get_strategy(c.strategy).by_score for c in cells) and Cell(SAMPLE, 1) not in cells:
        cells.insert(1 if cells and cells[0].strategy == GREEDY else 0, Cell(SAMPLE, 1))
    return list(dict.fromkeys(cells))
