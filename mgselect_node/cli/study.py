"""`mgselect study`: the development sweep and the paired analysis of an evaluation (mgselect_node/evaluation/
study.py says what each does and why)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mgselect_node.errors import InputError
from mgselect_node.evaluation.cells import parse_counts
from mgselect_node.evaluation.runner import EvalSettings
from mgselect_node.evaluation.study import DEFAULT_DEV_SEED, analyze, choose_setting, dev_sweep, dev_table
from mgselect_node.sim.instructions import add_style_option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect study", description=__doc__.split("(")[0].strip())
    sub = parser.add_subparsers(dest="command", required=True)
    dev = sub.add_parser("dev", help="temperature / mask sweep with diversity on development scenes")
    dev.add_argument("--policy", default="default")
    dev.add_argument("--episodes", type=int, default=100)
    dev.add_argument("--seed", type=int, default=DEFAULT_DEV_SEED, help="scene seed of episode 0")
    dev.add_argument("--temperatures", default="0.5,1.0")
    dev.add_argument("--masks", default="text,state,both")
    dev.add_argument("--num-candidates", type=int, default=4)
    dev.add_argument("--episode-seconds", type=float, default=0.0, help="time limit (0 = simulator default)")
    add_style_option(dev)
    dev.add_argument("--threads", type=int, default=1)
    dev.add_argument("--out", required=True)
    dev.add_argument("--no-progress", action="store_true")
    cmp_ = sub.add_parser("compare", help="paired tests, difficulty split and contact sheets for results.json")
    cmp_.add_argument("--results", required=True, help="results.json written by `mgselect eval`")
    cmp_.add_argument("--treatment", required=True, help="cell label, e.g. 'mg_select:text N=4'")
    cmp_.add_argument("--controls", default="greedy", help="comma-separated cell labels")
    cmp_.add_argument("--sheets", type=int, default=3, help="contact sheets to draw (0 = none)")
    cmp_.add_argument("--out", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "dev":
            temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
            masks = [m.strip() for m in args.masks.split(",") if m.strip()]
            settings = EvalSettings(policy=args.policy, episodes=args.episodes, seed=args.seed,
                                    episode_seconds=args.episode_seconds, threads=args.threads,
                                    instructions=args.instructions)
            rows = dev_sweep(settings, temperatures, masks, parse_counts(str(args.num_candidates))[-1],
                             progress=not args.no_progress)
            best = choose_setting(rows)
            text = (f"Development scenes {args.seed}..{args.seed + args.episodes - 1}, policy `{args.policy}`\n\n"
                    f"{dev_table(rows)}\n\nchosen: {best['cell']} at temperature {best['temperature']:g}\n")
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / "dev.md").write_text(text)
            (out / "dev.json").write_text(json.dumps({"rows": rows, "chosen": best}, indent=1))
        else:
            controls = [c.strip() for c in args.controls.split(",") if c.strip()]
            text = analyze(Path(args.results), args.treatment, controls, args.sheets, Path(args.out))
    except (InputError, OSError, KeyError, ValueError) as exc:
        print(f"mgselect study: {exc}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
