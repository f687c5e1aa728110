"""DDS isolation for tests, demos and local tools: loopback only, a private random domain per run.

A real deployment talks to the robot over the network, so the node itself does not force this; every test,
`make demo` and the local tools call `use_loopback()` before rclpy starts.
"""

from __future__ import annotations

import os
import random

# Domain ids 1..101 stay clear of 0 (the default everyone uses) and within the range Fast DDS maps to
# non-colliding UDP ports with participant ids well below the 120 per-domain limit.
_DOMAIN_RANGE = (1, 101)


def use_loopback(domain_id: int | None = None, env: dict[str, str] | None = None) -> int:
    """Keep DDS discovery on this machine and pick a private domain; returns the domain id.

    Writes into `env` (default: os.environ) so that child processes inherit the same isolation.
    """
    target = os.environ if env is None else env
    if domain_id is None:
        domain_id = random.SystemRandom().randint(*_DOMAIN_RANGE)
    target["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    target["ROS_DOMAIN_ID"] = str(domain_id)
    return domain_id


def keep_or_use_loopback() -> int:
    """The private loopback domain this process already inherited (so a tool's children find each other and
    their parent), or a fresh one; returns the domain id."""
    inherited = os.environ.get("ROS_DOMAIN_ID", "")
    if os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST" and inherited.isdigit():
        return use_loopback(int(inherited))
    return use_loopback()
