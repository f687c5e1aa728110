"""FrameInbox: callbacks only store the newest message; the worker converts it once; a camera list change
drops a frame converted for the old cameras."""

from __future__ import annotations

import numpy as np

from mgselect_node.errors import InputError
from mgselect_node.ros.frames import FrameInbox

RGB = np.zeros((2, 2, 3), np.uint8)


def collect(inbox: FrameInbox, convert) -> tuple[list, list]:
    frames, errors = [], []
    inbox.convert(convert, 100, lambda i, rgb, item: frames.append((i, item.msg)),
                  lambda i, reason, item: errors.append((i, reason)))
    return frames, errors


def test_newest_message_is_converted_once_and_errors_are_reported():
    inbox = FrameInbox()
    inbox.reset(2)
    assert inbox.put(0, "old", 1.0) and inbox.put(0, "new", 2.0) and inbox.put(1, "bad", 2.0)
    assert not inbox.put(2, "unknown camera", 2.0)

    def convert(msg, max_pixels):
        if msg == "bad":
            raise InputError("corrupt")
        return RGB
    frames, errors = collect(inbox, convert)
    assert frames == [(0, "new")] and errors == [(1, "corrupt")]
    assert collect(inbox, convert) == ([], [])                  # nothing new: nothing converted again
    received, _, receipts = inbox.snapshot()
    assert received == [2, 1] and list(receipts) == [0]


def test_a_reset_during_conversion_drops_the_frame():
    inbox = FrameInbox()
    inbox.reset(1)
    inbox.put(0, "frame of the old topic", 1.0)

    def convert(msg, max_pixels):
        inbox.reset(1)                                          # image_topics changed meanwhile
        return RGB
    assert collect(inbox, convert) == ([], [])
