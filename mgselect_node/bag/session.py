"""A private rclpy context + node + executor thread for the bag tools.

Why: `mgselect replay` and `mgselect record` (and tests that call them in-process) must not clash with any
other rclpy use in the same process, and their subscriptions must be served while the main thread sleeps
between publications. Each tool gets its own Context and a MultiThreadedExecutor spinning in a daemon thread.
"""

from __future__ import annotations

import threading
from types import TracebackType

SPIN_TIMEOUT_S = 0.05
JOIN_TIMEOUT_S = 2.0


class RosSession:
    """`with RosSession("mgselect_replay") as session: session.node.create_publisher(...)`."""

    def __init__(self, node_name: str, loopback: bool = False) -> None:
        if loopback:
            from mgselect_node.ros.dds_env import use_loopback

            use_loopback()
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import MultiThreadedExecutor

        self.context = Context()
        rclpy.init(context=self.context, args=[])
        self.node = rclpy.create_node(node_name, context=self.context)
        self.executor = MultiThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"{node_name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
            except Exception:  # context shut down under us while closing
                if self._stop.is_set() or not self.context.ok():
                    return
                raise

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=JOIN_TIMEOUT_S)
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            self.context.shutdown()

    def __enter__(self) -> RosSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
