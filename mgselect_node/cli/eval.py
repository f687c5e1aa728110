"""`mgselect eval`: closed-loop success of every selection strategy on the same seeded simulator scenes.

    mgselect eval --policy default --episodes 20 \\
        --strategies greedy,sample,likelihood,mg_select:text,mg_select:state,mg_select:both \\
        --num-candidates 1,2,4,8 --temperature 1.0 --out eval/sim-mgselect-star

In-process, no DDS (mgselect_node/evaluation/: cells.py the grid, runner.py the episodes and seeds,
statistics.py, report.py, probe.py the offline selection probe, grounding.py the instruction probe). Writes to
--out: results.md (success with a 95% Wilson interval, mean latency per inference, candidate validity,
inferences without any valid action), results.json (every episode), success.png.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from mgselect_node.config import AGGREGATIONS, SelectionConfig
from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import (
    DEFAULT_NUM_CANDIDATES,
    DEFAULT_STRATEGIES,
    parse_counts,
    parse_strategies,
    plan_cells,
)
from mgselect_node.evaluation.report import PLOT_PNG, RESULTS_JSON, RESULTS_MD, markdown_table, write_report
from mgselect_node.evaluation.runner import (
    DEFAULT_EPISODES,
    DEFAULT_EXECUTE_STEPS,
    DEFAULT_SEED,
    DEFAULT_TEMPERATURE,
    EvalSettings,
    run_cells,
)
from mgselect_node.sim.instructions import add_style_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect eval", description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", default="default", help="bundle directory or built-in name")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="episodes per cell")
    parser.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    parser.add_argument("--num-candidates", default=DEFAULT_NUM_CANDIDATES)
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--aggregation", choices=AGGREGATIONS, default=SelectionConfig().aggregation)
    parser.add_argument("--execute-steps", type=int, default=DEFAULT_EXECUTE_STEPS,
                        help="chunk points executed before replanning")
    parser.add_argument("--episode-seconds", type=float, default=0.0, help="time limit (0 = simulator default)")
    parser.add_argument("--image-size", type=int, default=0, help="camera size (0 = simulator default)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="scene seed of episode 0")
    add_style_option(parser)
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (each loads the policy)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--out", default="eval_out", help="directory for results.md, results.json, success.png")
    parser.add_argument("--probe", type=int, default=0, metavar="SCENES",
                        help="instead of closed loop: offline selection probe on SCENES expert-driven scenes "
                             "(N = the largest --num-candidates), writes probe.md / probe.json")
    parser.add_argument("--grounding", type=int, default=0, metavar="SCENES",
                        help="instead of closed loop: does the first chunk follow the instruction? Each pad of "
                             "SCENES scenes named in turn with the same image; writes grounding.md / .json")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cells = plan_cells(parse_strategies(args.strategies), parse_counts(args.num_candidates))
        if args.episodes < 1 or args.execute_steps < 1 or args.workers < 1:
            raise InputError("--episodes, --execute-steps and --workers must be >= 1")
        settings = EvalSettings(policy=args.policy, episodes=args.episodes, seed=args.seed,
                                temperature=args.temperature, aggregation=args.aggregation,
                                execute_steps=args.execute_steps, episode_seconds=args.episode_seconds,
                                image_size=args.image_size, threads=args.threads, instructions=args.instructions)
        if args.probe:
            from mgselect_node.evaluation.probe import probe_selection, probe_table, write_probe

            probe = probe_selection(settings, args.probe, parse_counts(args.num_candidates)[-1],
                                    progress=not args.no_progress)
            write_probe(Path(args.out), probe)
            print(probe_table(probe))
            return 0
        if args.grounding:
            from mgselect_node.evaluation.grounding import grounding_table, probe_grounding, write_grounding

            grounding = probe_grounding(settings, args.grounding, progress=not args.no_progress)
            write_grounding(Path(args.out), grounding)
            print(grounding_table(grounding))
            return 0
        started = time.perf_counter()
        results = run_cells(settings, cells, workers=args.workers, progress=not args.no_progress)
        summaries = write_report(Path(args.out), settings, cells, results, time.perf_counter() - started)
    except InputError as exc:
        print(f"mgselect eval: {exc}", file=sys.stderr)
        return 2
    print(markdown_table(summaries))
    print(f"wrote {Path(args.out) / RESULTS_MD}, {RESULTS_JSON}, {PLOT_PNG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
