"""`mgselect <subcommand> ...`: one CLI; each subcommand lives in its own module and parses its own args."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module:function taking argv, one-line help). Imported lazily: `mgselect demo` must not pay
# for rclpy, and `mgselect node` must not pay for MuJoCo.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("mgselect_node.cli.demo:main", "run the main job on the bundled policy"),
    "inspect": ("mgselect_node.cli.inspect_checkpoint:main", "what a checkpoint directory is and needs"),
    "bench": ("mgselect_node.bench.engine_bench:main", "latency benchmarks (engine; --ros for the node)"),
    "node": ("mgselect_node.ros.node:main", "run the ROS 2 node (accepts --params-file and --ros-args)"),
    "replay": ("mgselect_node.cli.replay:main", "replay a rosbag live through DDS or offline"),
    "record": ("mgselect_node.cli.record:main", "record live topics into a rosbag"),
    "sim": ("mgselect_node.sim.sim_node:main", "simulated arm as a ROS 2 node"),
    "collect": ("mgselect_node.cli.collect:main", "collect expert demonstrations into a dataset"),
    "train": ("mgselect_node.cli.train:main", "train a policy bundle (optionally with condition dropout)"),
    "eval": ("mgselect_node.cli.eval:main", "evaluate strategies in the simulator"),
    "eval-realtime": ("mgselect_node.cli.eval_realtime:main",
                      "chunk execution modes x injected inference delays in the simulator"),
    "study": ("mgselect_node.cli.study:main", "dev-scene sweep (diversity) and paired analysis of an eval"),
}


def _usage() -> str:
    lines = ["usage: mgselect <subcommand> [args]", "", "subcommands:"]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"mgselect: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name, func_name = SUBCOMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
