"""`mgselect collect`: scripted-expert demonstrations in the simulator -> a dataset directory.

    mgselect collect --episodes 50 --out data/touch50 [--seed 0] [--image-size 96]

The collection itself and what it records: mgselect_node/datasets/collect.py; the format:
mgselect_node/datasets/episodes.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mgselect_node.datasets.collect import DEFAULT_EPISODES, DEFAULT_HOLD_STEPS, collect
from mgselect_node.errors import InputError
from mgselect_node.sim.env import DEFAULT_IMAGE_SIZE, DEFAULT_NUM_OBJECTS, TASKS
from mgselect_node.sim.instructions import DEFAULT_INSTRUCTION_STYLE, parse_style_mix


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mgselect collect", description=__doc__.split("\n\n")[0])
    p.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="successful demonstrations to write")
    p.add_argument("--out", required=True, help="dataset directory (created; must not hold a dataset)")
    p.add_argument("--seed", type=int, default=0, help="attempt k uses scene seed seed+k")
    p.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE, help="camera image side in pixels")
    p.add_argument("--num-objects", default=str(DEFAULT_NUM_OBJECTS),
                   help="pads on the table, or counts taken in turn scene by scene (e.g. 1,2,3)")
    p.add_argument("--hold-steps", type=int, default=DEFAULT_HOLD_STEPS,
                   help="steps recorded from the touch on (the touching step included)")
    p.add_argument("--targets-per-layout", type=int, default=1,
                   help="attempts sharing one scene, each naming a different pad (1..num-objects)")
    p.add_argument("--instructions", default=DEFAULT_INSTRUCTION_STYLE,
                   help="how instructions name the pad: a style, or styles with weights drawn per attempt "
                        "(e.g. colour:1,position:1; styles in sim/instructions.py)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.episodes < 1 or args.hold_steps < 1 or args.image_size < 8:
        print(f"mgselect collect: --episodes {args.episodes}, --hold-steps {args.hold_steps} must be >= 1 and "
              f"--image-size {args.image_size} >= 8", file=sys.stderr)
        return 2
    try:
        counts = [int(n) for n in args.num_objects.split(",")]
    except ValueError:
        counts = []
    if not counts or not all(1 <= n <= len(TASKS) for n in counts):
        print(f"mgselect collect: --num-objects {args.num_objects!r}: expected pad counts in 1..{len(TASKS)}, "
              "comma-separated", file=sys.stderr)
        return 2
    if not 1 <= args.targets_per_layout <= max(counts):
        print(f"mgselect collect: --targets-per-layout {args.targets_per_layout}: expected 1..{max(counts)} "
              "(the pads on the table)", file=sys.stderr)
        return 2
    try:
        mix = parse_style_mix(args.instructions)
    except InputError as exc:
        print(f"mgselect collect: --instructions: {exc}", file=sys.stderr)
        return 2
    info = collect(args.out, args.episodes, seed=args.seed, image_size=args.image_size,
                   num_objects=counts[0] if len(counts) == 1 else counts, hold_steps=args.hold_steps,
                   targets_per_layout=args.targets_per_layout, instructions=mix, progress=not args.quiet)
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    print(f"wrote {info['total_episodes']} episodes, {info['total_frames']} frames, {size / 2**20:.1f} MiB to "
          f"{args.out} in {info['seconds']:.1f} s (expert succeeded {info['total_episodes']}/{info['attempts']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
