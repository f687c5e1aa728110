"""The replay report (live and offline share one format) and the golden comparison with its tolerances.

Why one format: an offline report can be compared against a golden offline report (regression test) and
against a live report (does offline replay reproduce what the live node did?) with the same code.

Tolerances of `compare` (what counts as "the same chunk"):
- chunk count, each chunk's inference index and selected candidate: exactly equal;
- observation stamps: within STAMP_ATOL_S (stamps are integer nanoseconds; float seconds lose < 1 us);
- joint positions: within POSITION_ATOL (rad or m). A different sampled token moves a point by ~1e-2 or more;
  float32 noise from another CPU thread count or BLAS build stays below 1e-6. Positions are what the arm
  would execute, so this is the check that matters;
- candidate scores: within SCORE_RTOL relative or SCORE_ATOL absolute (KL sums are float32 reductions);
- skipped-step counts per reason (offline only; live counts depend on timing): exactly equal.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPORT_FORMAT = "mgselect-replay-report"
REPORT_VERSION = 1
STAMP_ATOL_S = 1e-6
POSITION_ATOL = 1e-5
SCORE_RTOL = 1e-3
SCORE_ATOL = 1e-4
PERCENTILES = (50, 95, 99)
MAX_MISMATCHES_SHOWN = 20


class ReportError(ValueError):
    """A report file is missing, not JSON, or not a replay report."""


@dataclass
class ChunkRecord:
    """One published (or, offline, publishable) chunk and how it was chosen."""

    inference_index: int
    time_s: float                           # bag time of the step (offline) / of receipt (live)
    stamps: dict[str, float]                # observation part -> stamp used
    joint_names: list[str]
    positions: list[list[float]]            # (K, J)
    time_from_start: list[float]
    seed: int | None = None
    selected: int | None = None
    scores: list[float | None] = field(default_factory=list)   # None = invalid candidate (-inf)
    margin: float | None = None
    latency_ms: float | None = None          # live: newest camera frame published -> trajectory received
    frame_stamp: float | None = None         # newest camera frame's stamp (what the node's ~/selection says)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkRecord:
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})


def json_scores(scores: Sequence[float] | np.ndarray | None) -> list[float | None]:
    """Scores with -inf (invalid candidate) as None: JSON has no infinity."""
    if scores is None:
        return []
    return [float(s) if math.isfinite(float(s)) else None for s in np.asarray(scores, dtype=np.float64)]


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {"count": len(values)}
    for p in PERCENTILES:
        out[f"p{p}"] = float(np.percentile(values, p)) if len(values) else None
    out["max"] = float(max(values)) if len(values) else None
    return out


def score_stats(chunks: Sequence[ChunkRecord]) -> dict[str, Any]:
    """Selection-score statistics: the chosen score, the margin to the runner-up, invalid candidates."""
    chosen, margins, invalid, total = [], [], 0, 0
    for c in chunks:
        total += len(c.scores)
        invalid += sum(1 for s in c.scores if s is None)
        if c.selected is not None and 0 <= c.selected < len(c.scores) and c.scores[c.selected] is not None:
            chosen.append(float(c.scores[c.selected]))
        if c.margin is not None:
            margins.append(float(c.margin))

    def summary(values: list[float]) -> dict[str, float | None]:
        if not values:
            return {"mean": None, "std": None, "min": None, "max": None}
        arr = np.asarray(values)
        return {"mean": float(arr.mean()), "std": float(arr.std()), "min": float(arr.min()),
                "max": float(arr.max())}

    return {"selected_score": summary(chosen), "margin": summary(margins),
            "candidates": total, "invalid_candidates": invalid}


@dataclass
class Report:
    mode: str                                     # "offline" | "live"
    bag: str
    chunks: list[ChunkRecord] = field(default_factory=list)
    skipped: dict[str, dict[str, Any]] = field(default_factory=dict)   # reason kind -> {count, example}
    info: dict[str, Any] = field(default_factory=dict)                 # policy, seed, config, timing, ...

    def skip(self, kind: str, reason: str) -> None:
        entry = self.skipped.setdefault(kind, {"count": 0, "example": reason})
        entry["count"] += 1

    def to_json(self) -> dict[str, Any]:
        latencies = [c.latency_ms for c in self.chunks if c.latency_ms is not None]
        return {"format": REPORT_FORMAT, "version": REPORT_VERSION, "mode": self.mode, "bag": self.bag,
                "info": self.info, "num_chunks": len(self.chunks),
                "skipped": self.skipped, "scores": score_stats(self.chunks),
                "latency_ms": percentiles(latencies) if self.mode == "live" else None,
                "chunks": [c.to_json() for c in self.chunks]}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n")


def load_report(path: str | Path) -> dict[str, Any]:
    """A report JSON as a dict; ReportError with the reason if it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ReportError(f"report {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ReportError(f"report {path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise ReportError(f"{path} is not an mgselect replay report (no \"format\": \"{REPORT_FORMAT}\")")
    if data.get("version") != REPORT_VERSION:
        raise ReportError(f"{path} is report version {data.get('version')}; this tool reads {REPORT_VERSION}")
    return data


def _chunk_label(i: int, c: ChunkRecord) -> str:
    return f"chunk {i} (inference {c.inference_index}, t={c.time_s:.3f} s)"


def compare_chunks(golden: Sequence[ChunkRecord], actual: Sequence[ChunkRecord]) -> list[str]:
    """Differences beyond the module's tolerances, as human-readable lines (empty = equal)."""
    problems: list[str] = []
    if len(golden) != len(actual):
        problems.append(f"number of chunks differs: golden {len(golden)}, now {len(actual)}")
    for i, (g, a) in enumerate(zip(golden, actual, strict=False)):
        label = _chunk_label(i, g)
        if g.inference_index != a.inference_index:
            problems.append(f"{label}: inference index golden {g.inference_index}, now {a.inference_index}")
        if set(g.stamps) != set(a.stamps):
            problems.append(f"{label}: observation parts golden {sorted(g.stamps)}, now {sorted(a.stamps)}")
        else:
            for part, stamp in g.stamps.items():
                if abs(stamp - a.stamps[part]) > STAMP_ATOL_S:
                    problems.append(f"{label}: stamp of {part} golden {stamp:.9f}, now {a.stamps[part]:.9f}")
        if g.joint_names != a.joint_names:
            problems.append(f"{label}: joint names golden {g.joint_names}, now {a.joint_names}")
        gp, ap = np.asarray(g.positions, dtype=np.float64), np.asarray(a.positions, dtype=np.float64)
        if gp.shape != ap.shape:
            problems.append(f"{label}: positions shape golden {gp.shape}, now {ap.shape}")
        else:
            diff = np.abs(gp - ap)
            if diff.size and float(diff.max()) > POSITION_ATOL:
                k, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
                name = g.joint_names[j] if j < len(g.joint_names) else f"joint {j}"
                problems.append(
                    f"{label}: positions differ at point {k} {name}: golden {gp[k, j]:.6f}, "
                    f"now {ap[k, j]:.6f} "
                    f"(|diff| {diff[k, j]:.2e} > {POSITION_ATOL:.0e}; {int((diff > POSITION_ATOL).sum())} "
                    f"values differ)")
        if g.selected is not None and a.selected is not None and g.selected != a.selected:
            problems.append(f"{label}: selected candidate golden {g.selected}, now {a.selected}")
        problems += _compare_scores(label, g.scores, a.scores)
    return problems


def _compare_scores(label: str, golden: Sequence[float | None], actual: Sequence[float | None]) -> list[str]:
    if not golden or not actual:
        return []
    if len(golden) != len(actual):
        return [f"{label}: {len(golden)} candidate scores golden, {len(actual)} now"]
    out = []
    for n, (g, a) in enumerate(zip(golden, actual, strict=True)):
        if (g is None) != (a is None):
            out.append(f"{label}: candidate {n} golden {'invalid' if g is None else g}, "
                       f"now {'invalid' if a is None else a}")
        elif g is not None and a is not None and abs(g - a) > SCORE_ATOL + SCORE_RTOL * abs(g):
            out.append(f"{label}: candidate {n} score golden {g:.6g}, now {a:.6g}")
    return out


def compare_reports(golden: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Compare two report dicts (see the module docstring for what must match and how closely)."""
    problems = compare_chunks([ChunkRecord.from_json(c) for c in golden.get("chunks", [])],
                              [ChunkRecord.from_json(c) for c in actual.get("chunks", [])])
    if golden.get("mode") == "offline" and actual.get("mode") == "offline":
        g_skip = {k: v["count"] for k, v in (golden.get("skipped") or {}).items()}
        a_skip = {k: v["count"] for k, v in (actual.get("skipped") or {}).items()}
        if g_skip != a_skip:
            problems.append(f"skipped steps per reason differ: golden {g_skip}, now {a_skip}")
    return problems


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def print_report(data: dict[str, Any], out: Any = None) -> None:
    out = out or sys.stdout
    info = data["info"]
    print(f"{data['mode']} replay of {data['bag']}", file=out)
    if data["mode"] == "live":
        print(f"  published {info.get('published_messages', 0)} messages in {info.get('wall_s', 0):.1f} s "
              f"(rate {info.get('rate')}, {info.get('loops', 0)} loop(s))", file=out)
    else:
        print(f"  policy {info.get('policy')!r}, seed {info.get('seed')}, {info.get('steps', '?')} steps at "
              f"{info.get('inference_rate', '?')} Hz of bag time, {info.get('wall_s', 0):.1f} s", file=out)
    print(f"  chunks published: {data['num_chunks']}", file=out)
    lat = data.get("latency_ms")
    if lat is not None:
        if lat.get("count"):
            print(f"  latency observation -> trajectory: p50 {_fmt(lat['p50'], ' ms')}, p95 "
                  f"{_fmt(lat['p95'], ' ms')}, p99 {_fmt(lat['p99'], ' ms')} (n={lat['count']})", file=out)
        else:
            print("  latency observation -> trajectory: n/a (the node reports no observation stamps)", file=out)
        node = info.get("node_reported") or {}
        if node:
            print("  node-reported: " + ", ".join(f"{k} {v}" for k, v in node.items()), file=out)
    if data["skipped"]:
        print("  skipped (nothing published):", file=out)
        for kind, entry in sorted(data["skipped"].items()):
            example = f"  e.g. {entry['example']}" if entry.get("example") else ""
            print(f"    {kind}: {entry['count']}{example}", file=out)
    else:
        print("  skipped: none", file=out)
    sc = data["scores"]
    sel, margin = sc["selected_score"], sc["margin"]
    print(f"  selected score: mean {_fmt(sel['mean'], digits=4)} (std {_fmt(sel['std'], digits=4)}, "
          f"min {_fmt(sel['min'], digits=4)}, max {_fmt(sel['max'], digits=4)}); margin mean "
          f"{_fmt(margin['mean'], digits=4)}; invalid candidates {sc['invalid_candidates']}/{sc['candidates']}",
          file=out)
    for note in info.get("notes", []):
        print(f"  note: {note}", file=out)
