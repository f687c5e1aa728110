"""Make the sample robot bag shipped as mgselect_node/data/sample_robot.mcap (and regenerate it).

    python -m mgselect_node.bag.sample_bag [--policy default] [--out mgselect_node/data/sample_robot.mcap]
    mgselect replay mgselect_node/data/sample_robot.mcap --offline --policy default
    mgselect replay mgselect_node/data/sample_robot.mcap            # into a running node on sim time

What it holds (synthetic, generated for the policy's cameras and joints, with a real robot's quirks): the
policy's cameras at 10 Hz on /camera/image_raw (one camera) or /camera<i>/image_raw (several), rgb8;
/joint_states at 50 Hz with two extra gripper joints, in another order than the policy's, empty effort,
serialized by Fast CDR as `ros2 bag record` stores it; the instruction on /mgselect/instruction; 6 s of
recording with a 1.5 s pause in the middle. A single MCAP file (no metadata.yaml): rosbags and
`ros2 bag play` both read it, and package_data's "data/*" ships it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from mgselect_node.bag.synthetic import spec_for_policy, write_synthetic_bag
from mgselect_node.model.bundle import load_spec, resolve_policy_path

DEFAULT_OUT = Path(__file__).resolve().parent / "sample_robot.mcap"
DURATION_S = 6.0
PAUSE_AT_S = 3.0
PAUSE_S = 1.5
INSTRUCTION = "pick up the red cube"


def make_sample_bag(out: Path, policy: str = "default") -> Path:
    spec = load_spec(resolve_policy_path(policy))
    n_cams = len(spec.camera_names)
    topics = ["/camera/image_raw"] if n_cams == 1 else [f"/camera{i}/image_raw" for i in range(n_cams)]
    bag_spec = spec_for_policy(spec, topics=topics, extra_joints=["gripper_finger_left", "gripper_finger_right"],
                               shuffle_joints=True, empty_effort=True, fast_cdr=True, duration=DURATION_S,
                               time_jump_at=PAUSE_AT_S, time_jump=PAUSE_S, instruction=INSTRUCTION)
    with tempfile.TemporaryDirectory() as tmp:
        bag = write_synthetic_bag(Path(tmp) / "bag", bag_spec, storage="mcap")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(next(bag.glob("*.mcap")), out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="default", help="bundle whose cameras and joints the bag fits")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output .mcap (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    if args.out.suffix != ".mcap":
        print(f"--out {args.out}: expected a .mcap file name", file=sys.stderr)
        return 2
    if args.out.exists():
        args.out.unlink()
    path = make_sample_bag(args.out, args.policy)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
