"""Compressed frames are sized from their header before decoding; only PNG and JPEG are accepted."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from mgselect_node.errors import InputError
from mgselect_node.ros.image_header import PNG_SIGNATURE, compressed_dimensions

RGB = np.zeros((30, 40, 3), np.uint8)


def encoded(ext: str, *flags: int) -> np.ndarray:
    ok, buf = cv2.imencode(ext, RGB, list(flags))
    assert ok
    return buf.reshape(-1)


def png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR declaring width x height (what a decompression bomb starts with)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(
        ">I", zlib.crc32(b"IHDR" + ihdr))


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF) is rewritten to declare width x height."""
    data = bytearray(encoded(".jpg").tobytes())
    sof = next(i for i in range(2, len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xC0)
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("data, expected", [
    (encoded(".png"), ("png", 40, 30)),
    (encoded(".jpg"), ("jpeg", 40, 30)),
    (encoded(".jpg", cv2.IMWRITE_JPEG_PROGRESSIVE, 1), ("jpeg", 40, 30)),
])
def test_real_frames(data, expected):
    assert compressed_dimensions(data) == expected


def test_bomb_headers_are_read_without_decoding():
    assert compressed_dimensions(np.frombuffer(png_header(8000, 8000), np.uint8)) == ("png", 8000, 8000)
    assert compressed_dimensions(np.frombuffer(jpeg_declaring(8000, 8000), np.uint8)) == ("jpeg", 8000, 8000)


@pytest.mark.parametrize("data, words", [
    (encoded(".bmp"), "neither PNG nor JPEG"),               # cv2 would decode it; untrusted formats are refused
    (np.frombuffer(PNG_SIGNATURE, np.uint8), "IHDR"),
    (np.frombuffer(b"\xff\xd8\xff\xe0\x00\x10JFIF", np.uint8), "no frame header"),
    (np.frombuffer(b"\xff\xd8\x00\x00\x00\x00", np.uint8), "expected a marker"),
])
def test_broken_or_foreign_headers(data, words):
    with pytest.raises(InputError, match=words):
        compressed_dimensions(data)
