"""Readiness through ROS: a managed node's lifecycle state, asked over its standard services.

A node is ready when `/<node>/get_state` answers "active"; its log text is for people, not a protocol.
Works from any rclpy node: one spun on a background thread (futures complete by themselves) or one the
caller spins (pass `spin`, e.g. `lambda t: rclpy.spin_once(node, timeout_sec=t)`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mgselect_node.contracts import NODE_NAME, lifecycle_service

POLL_S = 0.02
SERVICE_TIMEOUT_S = 10.0
TRANSITION_TIMEOUT_S = 90.0    # configure loads and warms the model
STATE_QUERY_S = 2.0            # one get_state call; a node busy in an autostart configure answers later
ACTIVE = "active"


class NodeNotReady(RuntimeError):
    """The node exited, or did not reach the expected lifecycle state in time; the message says which."""


class LifecycleClient:
    """get_state / change_state of the managed node `target`."""

    def __init__(self, node: Any, target: str = NODE_NAME, spin: Callable[[float], None] | None = None) -> None:
        from lifecycle_msgs.srv import ChangeState, GetState

        self.node, self.target, self._spin = node, target, spin
        self._get = node.create_client(GetState, lifecycle_service(target, "get_state"))
        self._change = node.create_client(ChangeState, lifecycle_service(target, "change_state"))

    def _await(self, client: Any, future: Any, timeout: float) -> Any | None:
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                client.remove_pending_request(future)
                return None
            if self._spin is not None:
                self._spin(POLL_S)
            else:
                time.sleep(POLL_S)
        return future.result()

    def state(self, timeout: float = SERVICE_TIMEOUT_S) -> str | None:
        """The current state's label ("unconfigured", "inactive", "active", ...), or None without an answer."""
        from lifecycle_msgs.srv import GetState

        if not self._get.wait_for_service(timeout_sec=min(timeout, STATE_QUERY_S)):
            return None
        response = self._await(self._get, self._get.call_async(GetState.Request()), timeout)
        return None if response is None else str(response.current_state.label)

    def transition(self, transition_id: int, timeout: float = TRANSITION_TIMEOUT_S) -> bool:
        """Request a transition (lifecycle_msgs/Transition ids); True when the node reports success."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        if not self._change.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S):
            raise NodeNotReady(f"{lifecycle_service(self.target, 'change_state')} is not available")
        request = ChangeState.Request(transition=Transition(id=transition_id))
        response = self._await(self._change, self._change.call_async(request), timeout)
        if response is None:
            raise NodeNotReady(f"change_state of {self.target}: no response within {timeout:g} s")
        return bool(response.success)

    def wait_for_state(self, wanted: str = ACTIVE, timeout: float = TRANSITION_TIMEOUT_S,
                       alive: Callable[[], bool] | None = None, describe: Callable[[], str] | None = None) -> str:
        """Ask until the node reports `wanted`. NodeNotReady when `alive()` turns false (the process exited),
        or on the timeout; `describe()` (e.g. the process's log tail) goes into the message."""
        deadline = time.monotonic() + timeout
        last: str | None = None
        while True:
            if alive is not None and not alive():
                raise NodeNotReady(f"{self.target} exited before it was {wanted}"
                                   + (f": {describe()}" if describe else ""))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NodeNotReady(f"{self.target} was not {wanted} within {timeout:g} s (last state: {last})"
                                   + (f": {describe()}" if describe else ""))
            last = self.state(min(remaining, STATE_QUERY_S)) or last
            if last == wanted:
                return last
            if self._spin is None:
                time.sleep(POLL_S)
