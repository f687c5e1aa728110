"""Camera messages -> RGB uint8 arrays, and back (for publishers in tests, demos and benchmarks).

Duck-typed over the message fields (encoding, height, width, step, data, format, header.stamp.sec/nanosec) so
the same code converts rclpy messages, `rosbags` message objects and plain test doubles. Every malformed
message raises InputError saying what was wrong and what was expected; the node turns that into a diagnostic.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mgselect_node.errors import InputError
from mgselect_node.ros.image_header import compressed_dimensions

# encoding -> channels per pixel (8-bit encodings only: the policy consumes 8-bit RGB).
RAW_ENCODINGS: dict[str, int] = {"rgb8": 3, "bgr8": 3, "mono8": 1}
# CompressedImage.format is free text ("jpeg", "png", or image_transport's "bgr8; jpeg compressed bgr8").
COMPRESSED_FORMATS = ("jpeg", "jpg", "png")
NANOSECONDS_PER_SECOND = 1_000_000_000
# Message text echoed into errors (and so into /diagnostics and logs) is cut to this many characters.
MAX_ECHOED_CHARS = 64


def clip(text: object, limit: int = MAX_ECHOED_CHARS) -> str:
    """repr() of an untrusted string, cut to `limit` characters: a 1 MB field must not become a 1 MB reason."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(str(text))} characters)"


def check_pixels(width: int, height: int, max_pixels: int | None, what: str) -> None:
    """InputError for a non-positive size, or more than max_pixels (None: no limit) pixels."""
    if width <= 0 or height <= 0:
        raise InputError(f"{what} is {width}x{height}; expected a positive width and height")
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(f"{what} is {width}x{height} = {width * height} pixels > max_image_pixels {max_pixels}; "
                         "refused before decoding")


def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (or anything with sec/nanosec) -> float seconds."""
    return float(stamp.sec) + float(stamp.nanosec) / NANOSECONDS_PER_SECOND


def header_seconds(msg: Any, fallback_s: float) -> float:
    """The message's header stamp in seconds; `fallback_s` (receipt time) when the stamp is zero (unset)."""
    stamp = msg.header.stamp
    if stamp.sec == 0 and stamp.nanosec == 0:
        return fallback_s
    return stamp_to_seconds(stamp)


def seconds_to_stamp(stamp: Any, seconds: float) -> Any:
    """Write float seconds into a Time-like object (sec, nanosec) and return it."""
    total_ns = round(seconds * NANOSECONDS_PER_SECOND)
    stamp.sec, stamp.nanosec = divmod(total_ns, NANOSECONDS_PER_SECOND)
    return stamp


def _as_bytes(data: Any) -> np.ndarray:
    """Message `data` (bytes, array.array, memoryview, numpy array or list of ints) -> 1-D uint8 view."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8) if data.dtype.itemsize == 1 else data.astype(np.uint8).reshape(-1)
    if isinstance(data, list | tuple):
        return np.asarray(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def is_compressed(msg: Any) -> bool:
    """CompressedImage has `format`; Image has `encoding`."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def image_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """sensor_msgs/Image (rgb8, bgr8, mono8; rows may be padded: `step` is honoured) -> HxWx3 uint8 RGB."""
    encoding = str(msg.encoding).lower()
    channels = RAW_ENCODINGS.get(encoding)
    if channels is None:
        raise InputError(f"unsupported image encoding {clip(msg.encoding)}; expected one of "
                         f"{sorted(RAW_ENCODINGS)}")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    check_pixels(width, height, max_pixels, "image")
    row_bytes = width * channels
    if step < row_bytes:
        raise InputError(f"image step {step} is smaller than width*channels = {row_bytes} for {encoding}")
    data = _as_bytes(msg.data)
    if data.size != height * step:
        raise InputError(
            f"image data has {data.size} bytes; expected height*step = {height}*{step} = {height * step} "
            f"for a {width}x{height} {encoding} image")
    rows = data.reshape(height, step)[:, :row_bytes]
    pixels = rows.reshape(height, width, channels)
    if encoding == "rgb8":
        return np.ascontiguousarray(pixels)
    if encoding == "bgr8":
        return cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(np.ascontiguousarray(pixels[:, :, 0]), cv2.COLOR_GRAY2RGB)


def compressed_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg or png) -> HxWx3 uint8 RGB. The header's size is checked against
    max_pixels before decoding, and the decoded frame must have that size."""
    fmt = str(msg.format).lower()
    if fmt and not any(name in fmt for name in COMPRESSED_FORMATS):
        raise InputError(f"unsupported CompressedImage format {clip(msg.format)}; expected jpeg or png")
    data = _as_bytes(msg.data)
    if data.size == 0:
        raise InputError("CompressedImage has no data")
    try:
        kind, width, height = compressed_dimensions(data)
    except InputError as exc:
        raise InputError(f"CompressedImage ({data.size} bytes) could not be decoded: {exc}") from None
    check_pixels(width, height, max_pixels, f"CompressedImage ({kind})")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"CompressedImage ({kind}, {width}x{height}, {data.size} bytes) could not be decoded: "
                         "corrupt or truncated data")
    if bgr.shape[:2] != (height, width):
        raise InputError(f"CompressedImage ({kind}) decoded to {bgr.shape[1]}x{bgr.shape[0]} but its header says "
                         f"{width}x{height}: corrupt data")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def msg_to_rgb(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """Either camera message type -> HxWx3 uint8 RGB; frames over max_pixels (None: any) are refused."""
    if is_compressed(msg):
        return compressed_to_rgb(msg, max_pixels)
    return image_to_rgb(msg, max_pixels)


def encode_image(rgb: np.ndarray, encoding: str = "rgb8", row_padding: int = 0) -> tuple[int, bytes]:
    """HxWx3 RGB -> (step, data) for a sensor_msgs/Image of `encoding`, rows padded by `row_padding` bytes."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InputError(f"expected an HxWx3 uint8 RGB array, got shape {rgb.shape} dtype {rgb.dtype}")
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    elif encoding == "mono8":
        pixels = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[:, :, None]
    else:
        raise InputError(f"cannot encode {encoding!r}; expected one of {sorted(RAW_ENCODINGS)}")
    height, width, channels = pixels.shape
    if row_padding:
        padded = np.zeros((height, width * channels + row_padding), dtype=np.uint8)
        padded[:, : width * channels] = pixels.reshape(height, -1)
        return width * channels + row_padding, padded.tobytes()
    return width * channels, np.ascontiguousarray(pixels).tobytes()


def fill_image(msg: Any, rgb: np.ndarray, encoding: str = "rgb8", stamp_s: float | None = None,
               row_padding: int = 0) -> Any:
    """Fill a sensor_msgs/Image-like `msg` from an RGB array (publishers in tests, demos, benchmarks)."""
    step, data = encode_image(rgb, encoding, row_padding)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = encoding, 0, step
    msg.data = data
    if stamp_s is not None:
        seconds_to_stamp(msg.header.stamp, stamp_s)
    return msg


def fill_compressed(msg: Any, rgb: np.ndarray, fmt: str = "jpeg", stamp_s: float | None = None) -> Any:
    """Fill a sensor_msgs/CompressedImage-like `msg` with `rgb` encoded as jpeg or png."""
    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if ext is None:
        raise InputError(f"cannot compress to {fmt!r}; expected jpeg or png")
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"cv2 could not encode a {rgb.shape} image as {fmt}")
    msg.format, msg.data = fmt, buf.tobytes()
    if stamp_s is not None:
        seconds_to_stamp(msg.header.stamp, stamp_s)
    return msg
