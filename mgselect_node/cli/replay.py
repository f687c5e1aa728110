"""`mgselect replay BAG ...`: test a policy on recorded robot data before it moves a real arm.

Live (default): publishes the bag into DDS with its recorded timing (scaled by --rate) and /clock, for a
running `mgselect` node with use_sim_time:=true; records what the node publishes (--record OUT_BAG) and
prints a report: chunks published, observation -> trajectory latency, skipped steps and why, score stats.

Offline (--offline): no DDS. The bag's messages go in recorded order through the node's own conversions
and ControlPipeline (observation assembly, engine, safety) with a fixed seed, stepped at inference_rate in
bag time. Deterministic: use --out to write a golden report and --compare to check against one (tolerances
in mgselect_node/bag/report.py). --observations LIVE_REPORT reproduces a live run's chunks from the
observation stamps the live node reported.

The replay itself: mgselect_node/bag/ (replay.py, live.py, offline.py, report.py).

Exit codes: 0 ok; 1 --compare found differences (printed); 2 bad arguments, unreadable or unsuitable bag,
bad parameters or policy, or any other failure (one line saying what; the error lists what the bag holds
where that helps). A failure of one inference (bad input, a policy error) is not fatal: it is a counted skip
in the report, with an example reason.
"""

from __future__ import annotations

import argparse
import sys

from mgselect_node.bag.bag_io import DEFAULT_STORAGE, STORAGES, open_bag
from mgselect_node.bag.offline import DEFAULT_INSTRUCTION_TOPIC
from mgselect_node.bag.replay import (
    DEFAULT_CLOCK_HZ,
    DEFAULT_LINGER_S,
    DEFAULT_WAIT_S,
    NODE_NAME,
    check_names,
    replay_window,
    run_live,
    run_offline,
)
from mgselect_node.bag.report import MAX_MISMATCHES_SHOWN, ReportError, compare_reports, load_report, print_report
from mgselect_node.config import ConfigError
from mgselect_node.errors import MGSelectError

EXIT_OK, EXIT_MISMATCH, EXIT_ERROR = 0, 1, 2
MAX_ERROR_CHARS = 2000     # an error can quote a huge external value


def _cut(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= MAX_ERROR_CHARS else f"{text[:MAX_ERROR_CHARS]}... (cut)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgselect replay", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("bag", help="rosbag2 directory (sqlite3 or MCAP), or a bare .db3/.mcap file")
    p.add_argument("--info", action="store_true", help="print what the bag holds and exit")
    p.add_argument("--start", type=float, default=0.0, metavar="S", help="skip the first S seconds of the bag")
    p.add_argument("--duration", type=float, default=None, metavar="D", help="replay only D seconds")
    p.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                   help="rename a bag topic (repeatable), e.g. /cam0/image_raw:=/camera/image_raw; FROM is "
                        "a bag topic (a relative FROM is resolved against /, as recorded names are full names), "
                        "TO the node's topic as written in its parameters")
    p.add_argument("--params", metavar="FILE", help="node parameters (ros__parameters YAML); offline: the "
                   "configuration to replay with; live: fallback when the node's parameters cannot be read")
    p.add_argument("--instruction-topic", default=DEFAULT_INSTRUCTION_TOPIC,
                   help=f"the node's ~/instruction topic (default {DEFAULT_INSTRUCTION_TOPIC}); relative and ~ "
                        "names are resolved as the --node node resolves them (~/instruction -> "
                        f"{DEFAULT_INSTRUCTION_TOPIC})")
    p.add_argument("--out", metavar="REPORT_JSON", help="write the report as JSON")
    p.add_argument("--compare", metavar="GOLDEN_JSON", help="compare with a report; exit 1 on a difference")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    live = p.add_argument_group("live replay (default)")
    live.add_argument("--rate", type=float, default=1.0, metavar="R", help="playback speed factor")
    live.add_argument("--loop", action="store_true", help="play the window again and again (Ctrl-C stops)")
    live.add_argument("--clock", type=float, nargs="?", const=DEFAULT_CLOCK_HZ, default=DEFAULT_CLOCK_HZ,
                      metavar="HZ", help=f"publish /clock at HZ (default on, {DEFAULT_CLOCK_HZ:g} Hz)")
    live.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    live.add_argument("--record", metavar="OUT_BAG", help="record the node's trajectories, ~/selection and "
                      "/diagnostics into this new bag")
    live.add_argument("--record-storage", choices=sorted(STORAGES), default=DEFAULT_STORAGE)
    live.add_argument("--all-topics", action="store_true", help="publish every topic of the bag (default: "
                      "only the node's inputs: cameras, joint states, instruction)")
    live.add_argument("--node", default=NODE_NAME, help=f"the node to replay into, /NAMESPACE/NAME (default "
                      f"{NODE_NAME}; a relative name is taken from /)")
    live.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="S",
                      help=f"wait up to S s for the node before playing (default {DEFAULT_WAIT_S:g})")
    live.add_argument("--linger", type=float, default=DEFAULT_LINGER_S, metavar="S",
                      help=f"keep collecting S s after the last message (default {DEFAULT_LINGER_S:g})")
    live.add_argument("--max-loops", type=int, default=None, help=argparse.SUPPRESS)
    off = p.add_argument_group("offline replay")
    off.add_argument("--offline", action="store_true", help="no DDS: run the node's pipeline in-process")
    off.add_argument("--policy", help="policy bundle directory or built-in name (default: from --params)")
    off.add_argument("--seed", type=int, default=None, help="selection seed (default: from --params, else 0)")
    off.add_argument("--device", default=None, help="torch device (default: from --params)")
    off.add_argument("--observations", metavar="LIVE_REPORT",
                     help="reproduce the chunks of a live report from the observation stamps it holds")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        window = replay_window(args)    # first: bad arguments and names are refused before the bag, rclpy
        args.instruction_topic = check_names(args)      # or the policy is touched
        golden = load_report(args.compare) if args.compare else None
        with open_bag(args.bag) as bag:
            if args.info:
                print(bag.describe())
                return EXIT_OK
            report = run_offline(args, bag, window) if args.offline else run_live(args, bag, window)
    except (MGSelectError, ConfigError, ReportError, OSError) as exc:
        print(f"mgselect replay: {_cut(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # anything else (e.g. a corrupt bundle): one line and exit 2, never a traceback
        print(f"mgselect replay: unexpected {type(exc).__name__}: {_cut(exc)}", file=sys.stderr)
        return EXIT_ERROR
    data = report.to_json()
    if args.out:
        report.save(args.out)
    print_report(data)
    if golden is not None:
        problems = compare_reports(golden, data)
        if problems:
            print(f"MISMATCH against {args.compare}: {len(problems)} difference(s)", file=sys.stderr)
            for line in problems[:MAX_MISMATCHES_SHOWN]:
                print(f"  {line}", file=sys.stderr)
            if len(problems) > MAX_MISMATCHES_SHOWN:
                print(f"  ... and {len(problems) - MAX_MISMATCHES_SHOWN} more", file=sys.stderr)
            return EXIT_MISMATCH
        print(f"matches {args.compare} (tolerances: mgselect_node/bag/report.py)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
