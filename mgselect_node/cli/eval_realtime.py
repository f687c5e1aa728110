"""`mgselect eval-realtime`: chunk execution modes x injected inference delays on seeded simulator scenes.

    mgselect eval-realtime --episodes 100 --delays 0,100,300,600 --compute-ms 40 --workers 2 --threads 1 \\
        --out eval/realtime

See mgselect_node/evaluation/realtime.py (the simulated-time runner) and realtime_metrics.py (definitions).
Writes to --out: realtime.md (the table), realtime.json (every episode), realtime.jsonl (episodes as they
finish; `--from-log` reports from a partial one), seams.png (one scene's joint trajectory across several
seams, fixed-rate vs the default mode, at --plot-delay).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from mgselect_node.errors import InputError
from mgselect_node.evaluation import realtime_metrics as rm
from mgselect_node.evaluation.realtime import (
    DEFAULT_BLEND_DECAY,
    DEFAULT_COHERENCE_WEIGHT,
    DEFAULT_DELAYS,
    DEFAULT_EPISODES,
    DEFAULT_MODE,
    DEFAULT_SCHEDULE_MARGIN,
    MEASURED,
    MODES,
    REALTIME_JSON,
    REALTIME_LOG,
    REALTIME_MD,
    SEAMS_PNG,
    RealtimeSettings,
    complete_scenes,
    mode_overrides,
    parse_delays,
    plot_modes,
    run_jobs,
)
from mgselect_node.evaluation.runner import DEFAULT_SEED
from mgselect_node.sim.instructions import add_style_option


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgselect eval-realtime", description=__doc__.split("\n\n")[0])
    p.add_argument("--policy", default="default")
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="seeded scenes per cell")
    p.add_argument("--modes", default=",".join(MODES), help=f"comma-separated subset of {','.join(MODES)}")
    p.add_argument("--delays", default=DEFAULT_DELAYS, help="injected ms per inference, comma-separated")
    p.add_argument("--strategy", default="mg_select")
    p.add_argument("--num-candidates", type=int, default=4)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--coherence-weight", type=float, default=DEFAULT_COHERENCE_WEIGHT)
    p.add_argument("--blend-decay", type=float, default=DEFAULT_BLEND_DECAY)
    p.add_argument("--compute-ms", type=float, default=MEASURED,
                   help="policy compute time per inference in simulated ms (-1 = measured each time)")
    p.add_argument("--schedule-margin", type=float, default=DEFAULT_SCHEDULE_MARGIN,
                   help="s; continuous mode starts this much earlier than the latency estimate says")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="scene seed of episode 0")
    add_style_option(p)
    p.add_argument("--plot-delay", type=int, default=300, help="ms; the delay of seams.png's scene")
    p.add_argument("--plot-modes", default=f"{MODES[0]},{DEFAULT_MODE}", help="the modes seams.png compares")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--out", default="eval_realtime")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-plot", action="store_true", help="skip seams.png (it re-runs two traced episodes)")
    p.add_argument("--from-log", metavar="JSONL",
                   help="no simulation: write the report from a (partial) realtime.jsonl of an earlier run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        for mode in modes:
            mode_overrides(mode, 0.0, 0.0)
        delays = parse_delays(args.delays)
        if args.episodes < 1 or args.workers < 1 or not modes:
            raise InputError("--episodes and --workers must be >= 1, --modes non-empty")
    except (InputError, ValueError) as exc:
        print(f"mgselect eval-realtime: {exc}", file=sys.stderr)
        return 2
    settings = RealtimeSettings(
        policy=args.policy, episodes=args.episodes, seed=args.seed, strategy=args.strategy,
        num_candidates=args.num_candidates, temperature=args.temperature, coherence_weight=args.coherence_weight,
        blend_decay=args.blend_decay, compute_ms=args.compute_ms, schedule_margin=args.schedule_margin,
        threads=args.threads, instructions=args.instructions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if args.from_log:
        lines = Path(args.from_log).read_text().splitlines()
        rows = complete_scenes([rm.EpisodeMetrics(**json.loads(line)) for line in lines if line])
        args.episodes = len({r.episode for r in rows})
    else:
        jobs = [(m, d, k) for k in range(args.episodes) for d in delays for m in modes]
        (out / REALTIME_LOG).write_text("")
        rows = run_jobs(settings, jobs, args.workers, not args.no_progress, out / REALTIME_LOG)
    elapsed = time.perf_counter() - started
    rows.sort(key=lambda r: (r.delay_ms, MODES.index(r.mode), r.episode))
    summaries = rm.summarize(rows)
    header = (f"Policy `{args.policy}`, {args.strategy} N={args.num_candidates}, {args.episodes} scenes per cell "
              f"(seeds {args.seed}..{args.seed + args.episodes - 1}), compute "
              f"{'measured' if args.compute_ms < 0 else f'{args.compute_ms:.0f} ms'} + injected delay, coherence "
              f"weight {args.coherence_weight}, blend decay {args.blend_decay}, schedule margin "
              f"{args.schedule_margin} s. "
              + (f"Reported from {args.from_log} (the scenes every cell completed)." if args.from_log else
                 f"{elapsed / 60:.1f} min on {os.cpu_count()} CPU(s), {args.workers} worker(s)."))
    table = rm.markdown_table(summaries)
    (out / REALTIME_MD).write_text(header + "\n\n" + table + "\n")
    (out / REALTIME_JSON).write_text(json.dumps({"settings": asdict(settings), "elapsed_s": elapsed,
                                                 "summary": [asdict(s) for s in summaries],
                                                 "episodes": [asdict(r) for r in rows]}))
    if not args.no_plot:
        plot_modes(settings, [m.strip() for m in args.plot_modes.split(",") if m.strip()], args.plot_delay,
                   out / SEAMS_PNG)
    print(table)
    print(f"wrote {out / REALTIME_MD}, {REALTIME_JSON}" + ("" if args.no_plot else f", {SEAMS_PNG}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
