"""`mgselect record OUT_BAG --topics T1 T2 ...`: record live topics into a rosbag2 bag (mgselect_node/bag/record.py).

What `ros2 bag record` does on a full ROS install, for environments that only have the pip wheels. Topics
are subscribed when their publishers appear; recording stops after --duration or on Ctrl-C, and the bag is
always closed properly (metadata written) so it can be read back.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from mgselect_node.bag.bag_io import DEFAULT_STORAGE, STORAGES
from mgselect_node.bag.record import check_topic_names, record
from mgselect_node.config import ConfigError
from mgselect_node.errors import MGSelectError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgselect record", description=__doc__.splitlines()[0])
    parser.add_argument("out_bag", help="output bag directory (must not exist)")
    parser.add_argument("--topics", nargs="+", required=True, metavar="TOPIC",
                        help="topics to record; the recording node is in the root namespace, so a relative name "
                             "is resolved against / (camera/image_raw records /camera/image_raw) and ~/x is "
                             "/NODE_NAME/x; the bag and the summary use the resolved names")
    parser.add_argument("--duration", type=float, default=None,
                        help="seconds to record (default: until Ctrl-C)")
    parser.add_argument("--storage", choices=sorted(STORAGES), default=DEFAULT_STORAGE,
                        help=f"bag storage format (default {DEFAULT_STORAGE})")
    parser.add_argument("--node-name", default="mgselect_record", help="name of the recording node")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.duration is not None and args.duration <= 0:
        print("mgselect record: --duration must be > 0 seconds", file=sys.stderr)
        return 2
    try:
        check_topic_names(args.topics, args.node_name)      # before the bag directory or DDS exists
    except ConfigError as exc:
        print(f"mgselect record: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        counts = record(args.out_bag, args.topics, args.duration, args.storage, args.node_name, stop)
    except MGSelectError as exc:
        print(f"mgselect record: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"recorded {sum(counts.values())} messages into {args.out_bag}:")
    for topic, count in counts.items():
        note = "" if count else "   (no messages: was anything publishing it?)"
        print(f"  {topic}  {count}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
