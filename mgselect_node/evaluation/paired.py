"""Paired comparisons of evaluation cells run on the same seeded scenes (`mgselect eval`'s results.json).

Why paired: every cell of one evaluation sees the same scenes, so two cells differ only on the scenes where one
succeeds and the other fails. The exact McNemar test uses only those discordant scenes (wins, losses); under
"no difference" each is a fair coin. The 95% interval of the difference in success rate is Newcombe's
square-and-add interval for paired proportions (method 10, 1998), built from the two Wilson intervals and the
correlation of the pairs, so it stays inside [-1, 1] and behaves at small counts.

Scene difficulty (for "where does a gain come from"): the named pad's row (near or far from the arm's base)
and how many other pads are its neighbours (a neighbour next to the target makes a wrong-pad touch a small miss).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mgselect_node.errors import InputError
from mgselect_node.evaluation.statistics import WILSON_Z, wilson_interval

FAR_ROW_RADIUS = 0.23         # m: PAD_SLOTS' rows lie at 0.18 (near) and 0.28 (far) from the base
NEIGHBOUR_DISTANCE = 0.14     # m: neighbouring slots are 0.106-0.12 apart (centre to centre), others >= 0.165


@dataclass(frozen=True)
class PairedComparison:
    """Treatment vs control on the scenes both ran."""

    treatment: str
    control: str
    pairs: int
    treatment_successes: int
    control_successes: int
    wins: int                  # scenes the treatment solved and the control did not
    losses: int                # the other way round
    p_value: float             # exact two-sided McNemar
    difference: float          # treatment rate - control rate
    difference_low: float      # 95% Newcombe interval
    difference_high: float

    @property
    def treatment_rate(self) -> float:
        return self.treatment_successes / self.pairs

    @property
    def control_rate(self) -> float:
        return self.control_successes / self.pairs

    @property
    def relative_gain(self) -> float:
        """treatment / control - 1 (inf when the control never succeeded)."""
        if self.control_successes == 0:
            return math.inf if self.treatment_successes else 0.0
        return self.treatment_successes / self.control_successes - 1.0


def exact_mcnemar(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value: P(a split at least this uneven | each discordant pair a fair coin)."""
    if wins < 0 or losses < 0:
        raise InputError(f"wins={wins}, losses={losses}: counts must be >= 0")
    n, k = wins + losses, min(wins, losses)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def paired_difference_interval(both: int, only_treatment: int, only_control: int, neither: int,
                               z: float = WILSON_Z) -> tuple[float, float]:
    """Newcombe's 95% interval for p_treatment - p_control from the 2x2 table of paired outcomes."""
    n = both + only_treatment + only_control + neither
    if n == 0:
        return -1.0, 1.0
    p1, p2 = (both + only_treatment) / n, (both + only_control) / n
    l1, u1 = wilson_interval(both + only_treatment, n, z)
    l2, u2 = wilson_interval(both + only_control, n, z)
    margins = (both + only_treatment) * (only_control + neither) * (both + only_control) * (only_treatment + neither)
    # Newcombe's phi*: the positive correlation is shrunk by n/2 (a continuity correction), never below 0.
    cross = both * neither - only_treatment * only_control
    cross = max(0.0, cross - n / 2) if cross > 0 else cross
    phi = cross / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    below = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    above = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, d - below), min(1.0, d + above)


def outcomes_by_cell(episodes: Sequence[Mapping]) -> dict[str, dict[int, bool]]:
    """results.json's episode rows -> {cell label: {scene seed: success}}."""
    out: dict[str, dict[int, bool]] = {}
    for row in episodes:
        out.setdefault(str(row["cell"]), {})[int(row["scene_seed"])] = bool(row["success"])
    return out


def compare(outcomes: Mapping[str, Mapping[int, bool]], treatment: str, control: str) -> PairedComparison:
    """Paired comparison of two cells on the scenes both ran (an InputError when a cell is missing)."""
    missing = [c for c in (treatment, control) if c not in outcomes]
    if missing:
        raise InputError(f"cells {missing} not in the results; they hold {sorted(outcomes)}")
    seeds = sorted(set(outcomes[treatment]) & set(outcomes[control]))
    if not seeds:
        raise InputError(f"{treatment!r} and {control!r} share no scene seed")
    t = [outcomes[treatment][s] for s in seeds]
    c = [outcomes[control][s] for s in seeds]
    both = sum(a and b for a, b in zip(t, c, strict=True))
    wins = sum(a and not b for a, b in zip(t, c, strict=True))
    losses = sum(b and not a for a, b in zip(t, c, strict=True))
    low, high = paired_difference_interval(both, wins, losses, len(seeds) - both - wins - losses)
    return PairedComparison(treatment=treatment, control=control, pairs=len(seeds),
                            treatment_successes=both + wins, control_successes=both + losses, wins=wins,
                            losses=losses, p_value=exact_mcnemar(wins, losses),
                            difference=(wins - losses) / len(seeds), difference_low=low, difference_high=high)


def comparison_table(comparisons: Sequence[PairedComparison]) -> str:
    lines = ["| treatment | control | scenes | treatment success (95% Wilson) | control success (95% Wilson) "
             "| wins / losses | exact McNemar p | difference (95% Newcombe) | relative gain |",
             "|---|---|---:|---|---|---:|---:|---|---:|"]
    for c in comparisons:
        t_low, t_high = wilson_interval(c.treatment_successes, c.pairs)
        c_low, c_high = wilson_interval(c.control_successes, c.pairs)
        lines.append(
            f"| {c.treatment} | {c.control} | {c.pairs} | {c.treatment_successes} = {c.treatment_rate:.1%} "
            f"[{t_low:.1%}, {t_high:.1%}] | {c.control_successes} = {c.control_rate:.1%} [{c_low:.1%}, "
            f"{c_high:.1%}] | {c.wins} / {c.losses} | {c.p_value:.2g} | {c.difference:+.1%} "
            f"[{c.difference_low:+.1%}, {c.difference_high:+.1%}] | {c.relative_gain:+.0%} |")
    return "\n".join(lines)


def scene_difficulty(pad_positions: Mapping[str, Sequence[float]], target: str) -> dict[str, str]:
    """Difficulty labels of one scene from its pad centres (m, base at the origin) and the named colour."""
    tx, ty = float(pad_positions[target][0]), float(pad_positions[target][1])
    neighbours = sum(math.hypot(float(p[0]) - tx, float(p[1]) - ty) < NEIGHBOUR_DISTANCE
                     for c, p in pad_positions.items() if c != target)
    return {"target row": "far" if math.hypot(tx, ty) > FAR_ROW_RADIUS else "near",
            "neighbouring pads": str(neighbours)}


def split_by_difficulty(outcomes: Mapping[str, Mapping[int, bool]], labels: Mapping[int, Mapping[str, str]],
                        cells: Sequence[str]) -> str:
    """Markdown: success of each cell per difficulty label (scenes without a label are left out)."""
    factors = list(dict.fromkeys(f for scene in labels.values() for f in scene))
    lines = ["| factor | value | scenes | " + " | ".join(cells) + " |", "|---|---|---:|" + "---:|" * len(cells)]
    for factor in factors:
        for value in sorted({scene[factor] for scene in labels.values()}):
            seeds = [s for s, scene in labels.items() if scene[factor] == value]
            rates = []
            for cell in cells:
                ran = [outcomes[cell][s] for s in seeds if s in outcomes[cell]]
                rates.append(f"{sum(ran)}/{len(ran)} = {sum(ran) / len(ran):.0%}" if ran else "-")
            lines.append(f"| {factor} | {value} | {len(seeds)} | " + " | ".join(rates) + " |")
    return "\n".join(lines)
