"""Run the real node entry point with the FakePolicy (for node-logic tests that need exact control).

Usage: python tests/ros/fake_node.py [node args...]  (same arguments as `mgselect_node`).
MGSELECT_FAKE_SPEC (JSON object) overrides fields of the fake policy's spec, e.g. to drive the simulated arm.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mgselect_node.ros.node import main
from tests.ros.fakes import FakePolicy, fake_spec


def load_fake(name: str, **_: object) -> FakePolicy:
    return FakePolicy(spec=fake_spec(name=name, **json.loads(os.environ.get("MGSELECT_FAKE_SPEC", "{}"))))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], policy_loader=load_fake))
