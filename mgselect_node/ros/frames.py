"""The newest unconverted camera message per camera, handed from the executor to the inference worker.

Why: a camera publishes at 30 Hz, inference needs a frame a few times a second. Converting (and decoding jpeg
or png) in the subscription callback did that work at the camera's rate on the executor thread, competing with
inference for the CPU and the interpreter. The callback now only stores the message; the worker converts the
newest one, once, when an inference needs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mgselect_node.errors import InputError

MS_PER_S = 1000.0

Converter = Callable[[Any, int], np.ndarray]      # (message, max_pixels) -> HxWx3 uint8 RGB, or InputError


@dataclass
class Pending:
    msg: Any
    stamp_s: float          # header stamp (node clock), or the receipt time when the stamp is unset
    received_s: float       # time.monotonic() at receipt


class FrameInbox:
    """Thread-safe: `put` from callbacks, `convert` from the worker. Counts messages per camera."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, Pending] = {}
        self.received: list[int] = []
        self.conversion_ms: dict[int, float] = {}
        self.receipts: dict[int, float] = {}
        self._generation = 0         # bumped by reset: a frame converted for the old cameras is dropped

    def reset(self, num_cameras: int) -> None:
        """Camera list changed: frames of the old topics must never reach the new camera slots."""
        with self._lock:
            self._generation += 1
            self._pending.clear()
            self.conversion_ms.clear()
            self.receipts.clear()
            self.received = [0] * num_cameras

    def put(self, camera: int, msg: Any, stamp_s: float) -> bool:
        """Keep `msg` as the camera's newest; False when the camera index is no longer configured."""
        with self._lock:
            if camera >= len(self.received):
                return False
            self._pending[camera] = Pending(msg, stamp_s, time.monotonic())
            self.received[camera] += 1
            return True

    def convert(self, convert: Converter, max_pixels: int, on_frame: Callable[[int, np.ndarray, Pending], None],
                on_error: Callable[[int, str, Pending], None]) -> None:
        """Convert each camera's newest message once; the callbacks receive the frame or the reason."""
        with self._lock:
            pending, self._pending = self._pending, {}
            generation = self._generation
        for camera, item in pending.items():
            t0 = time.perf_counter()
            try:
                rgb, reason = convert(item.msg, max_pixels), ""
            except InputError as exc:
                rgb, reason = None, str(exc)
            with self._lock:                              # handed over under the lock: reset waits for it
                if generation != self._generation:
                    return                                # the camera list changed during the conversion
                try:
                    if rgb is None:
                        on_error(camera, reason, item)
                        continue
                    on_frame(camera, rgb, item)
                except IndexError:
                    continue
                self.conversion_ms[camera] = (time.perf_counter() - t0) * MS_PER_S
                self.receipts[camera] = item.received_s

    def snapshot(self) -> tuple[list[int], float, dict[int, float]]:
        """(messages received per camera, summed last conversion ms, last receipt per converted camera)."""
        with self._lock:
            return list(self.received), sum(self.conversion_ms.values()), dict(self.receipts)


def labels_for(topics: Sequence[str], camera: int) -> str:
    return topics[camera] if camera < len(topics) else f"camera {camera}"
